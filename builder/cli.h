/* The subcommands. Each takes argv with argv[0] the command name and returns an exit code. */
#ifndef BLD_CLI_H
#define BLD_CLI_H

#include <stdbool.h>

#include "common/cb.h"

struct bld_global {
        const char *root;
        bool debug;
        const char *config;    /* --config FILE */
        const char **mirrors;  /* --registry-mirror (repeatable) */
        size_t nmirrors;
        const char **insecure; /* --insecure-registry (repeatable) */
        size_t ninsecure;
};

typedef int (*bld_command_fn)(const struct bld_global *g, int argc, char **argv);
struct bld_command {
        const char *name;
        bld_command_fn fn;
        const char *help;
};

int bld_cmd_build(const struct bld_global *g, int argc, char **argv);
int bld_cmd_check(const struct bld_global *g, int argc, char **argv);
int bld_cmd_images(const struct bld_global *g, int argc, char **argv);
int bld_cmd_import(const struct bld_global *g, int argc, char **argv);
int bld_cmd_load(const struct bld_global *g, int argc, char **argv);
int bld_cmd_tag(const struct bld_global *g, int argc, char **argv);
int bld_cmd_rm(const struct bld_global *g, int argc, char **argv);
int bld_cmd_inspect(const struct bld_global *g, int argc, char **argv);
int bld_cmd_version(const struct bld_global *g, int argc, char **argv);
int bld_cmd_pull(const struct bld_global *g, int argc, char **argv);
int bld_cmd_push(const struct bld_global *g, int argc, char **argv);
int bld_cmd_login(const struct bld_global *g, int argc, char **argv);
int bld_cmd_logout(const struct bld_global *g, int argc, char **argv);
int bld_cmd_save(const struct bld_global *g, int argc, char **argv);
int bld_cmd_prune(const struct bld_global *g, int argc, char **argv);
int bld_cmd_verify(const struct bld_global *g, int argc, char **argv);
int bld_cmd_compat(const struct bld_global *g, int argc, char **argv);

/* suggest.c: the candidate closest to word (at most 2 edits, or word is a prefix of it), or NULL. */
const char *bld_suggest(const char *word, const char *const *cands, size_t n);
struct option;
/* For an unknown "--flag[=v]": the closest long option name in the getopt table, or NULL. */
const char *bld_suggest_flag(const char *arg, const struct option *opts);

/* The one-line error for what getopt_long() rejected (arg: argv[optind - 1]): a missing value, or an
 * unknown flag with the closest known one. Returns BLD_EXIT_USAGE. */
int bld_flag_error(const char *cmd, const char *arg, int optopt, const struct option *opts);

/* Prints "cubuild: <chain>" (with the raising site under --debug) and returns BLD_EXIT_FAILED. */
int bld_report(const struct bld_global *g, const struct cb_err *err);

#endif

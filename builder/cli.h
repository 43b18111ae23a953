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

/* Prints "cubuild: <chain>" (with the raising site under --debug) and returns BLD_EXIT_FAILED. */
int bld_report(const struct bld_global *g, const struct cb_err *err);

#endif

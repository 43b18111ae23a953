/* The command line, described once: every command's synopsis and flags. `--help`, the getopt tables,
 * docs/cli.md, the man page and the shell completions are all made from these tables, so they cannot
 * drift apart (tests/cli/cli-docs.bats regenerates the committed files and compares). */
#ifndef BLD_CLISPEC_H
#define BLD_CLISPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct bld_flag {
        const char *name;    /* long name without "--" */
        int val;             /* getopt's val: the short letter, or an id >= 256 */
        const char *metavar; /* the value's name ("FILE"); NULL: a switch */
        const char *group;   /* heading in --help ("Build input", ...) */
        const char *help;    /* one line */
        bool hidden;         /* accepted, not shown (aliases) */
};

struct bld_cmdspec {
        const char *name;
        const char *args;    /* after the flags: "CONTEXT", "IMAGE..." */
        const char *summary; /* one line, for the command list */
        const char *text;    /* a paragraph for `COMMAND --help` and the docs; may be NULL */
        const struct bld_flag *flags; /* ends with a zeroed entry */
};

/* NULL for an unknown name; "" gives the global options' spec. */
const struct bld_cmdspec *bld_cmdspec_find(const char *name);
/* All commands, in --help order (the global spec is not among them). */
const struct bld_cmdspec *const *bld_cmdspecs(size_t *ret_n);

/* getopt_long's table and short-option string for a spec ("+" first: stop at the first operand).
 * Both owned by the caller (free()). */
struct option *bld_cmdspec_options(const struct bld_cmdspec *c, char **ret_shortopts);
/* `cubuild COMMAND --help`: synopsis, paragraph, flags grouped. */
void bld_cmdspec_usage(FILE *f, const struct bld_cmdspec *c);
/* The one-line error for an unknown flag or a missing value, with "did you mean"; returns 2. */
int bld_cmdspec_flag_error(const struct bld_cmdspec *c, const char *arg, int optopt);
/* Checks argv[1..] of a hand-parsed command against its spec: the first flag the spec does not
 * know, or that lacks its value, is reported as bld_cmdspec_flag_error() does. 0 when all are known. */
int bld_cmdspec_check_flags(const struct bld_cmdspec *c, int argc, char **argv);

/* The generated documents: "markdown" (docs/cli.md), "man" (docs/cubuild.1), "bash", "zsh". */
int bld_cmdspec_doc(FILE *f, const char *format);

#endif

/* Lint internals shared by check.c and the rule files. */
#ifndef DF_LINT_H
#define DF_LINT_H

#include "parser/df.h"

struct df_lint {
        const struct df_file *f;
        const struct df_check_opts *o;
        size_t rule; /* index of the rule running now */
        bool *skip;  /* per rule, from "# check=skip=" */
        bool error_all;
        struct df_finding *v;
        size_t n, cap;
        size_t *stage_of; /* per instruction: its stage (meta ARGs: 0) */
        /* lazily computed, freed by df_check: the global ARG scope and each stage's image */
        struct df_vars *meta;
        bool meta_done;
        char **stage_img;
        bool *stage_img_done;
};

struct df_lint_rule {
        const char *name;
        int severity;
        const char *description;
        void (*fn)(struct df_lint *l);
};

extern const struct df_lint_rule df_lint_rules[];
extern const size_t df_lint_nrules;

/* Adds a finding for the running rule; severity < 0 takes the rule's default. */
void df_lint_report(struct df_lint *l, unsigned line, int severity, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

unsigned df_lint_check_line(const struct df_file *f);
/* Lines where a continued instruction had an empty line (BuildKit's NoEmptyContinuation). */
size_t df_lint_nempty_continuations(const struct df_file *f);
unsigned df_lint_empty_continuation(const struct df_file *f, size_t i);

/* The image a stage builds on, following FROM <stage> chains, a $VAR base expanded with the ARG
 * defaults; NULL when that fails or gives nothing. Borrowed: valid until df_check() returns. */
const char *df_lint_stage_image(struct df_lint *l, size_t stage);
/* Splits an image reference into repository (lower-cased, docker.io/library/ removed) and tag
 * (NULL when absent); *ret_digest says whether it carries @sha256:... Owned strings. */
void df_lint_split_ref(const char *ref, char **ret_repo, char **ret_tag, bool *ret_digest);
/* The text a RUN executes, for pattern rules: shell text plus heredoc bodies, or the exec args
 * joined by spaces. Owned. */
char *df_lint_run_text(const struct df_instr *in);

/* rules.c / rules_cuda.c */
void df_rule_stage_name_casing(struct df_lint *l);
void df_rule_from_as_casing(struct df_lint *l);
void df_rule_consistent_casing(struct df_lint *l);
void df_rule_json_args(struct df_lint *l);
void df_rule_undefined_arg_in_from(struct df_lint *l);
void df_rule_invalid_default_arg_in_from(struct df_lint *l);
void df_rule_duplicate_stage(struct df_lint *l);
void df_rule_reserved_stage(struct df_lint *l);
void df_rule_multiple_instructions(struct df_lint *l);
void df_rule_maintainer(struct df_lint *l);
void df_rule_workdir_relative(struct df_lint *l);
void df_rule_legacy_kv(struct df_lint *l);
void df_rule_secrets(struct df_lint *l);
void df_rule_platform_const(struct df_lint *l);
void df_rule_redundant_platform(struct df_lint *l);
void df_rule_empty_continuation(struct df_lint *l);
void df_rule_undefined_var(struct df_lint *l);
void df_rule_expose_proto_casing(struct df_lint *l);
void df_rule_expose_format(struct df_lint *l);
void df_rule_cuda_torch_mismatch(struct df_lint *l);
void df_rule_cuda_tag_invalid(struct df_lint *l);
void df_rule_base_unpinned(struct df_lint *l);
void df_rule_apt_recommends(struct df_lint *l);
void df_rule_apt_lists(struct df_lint *l);
void df_rule_apt_upgrade(struct df_lint *l);
void df_rule_pip_cache(struct df_lint *l);
void df_rule_pip_unpinned(struct df_lint *l);
void df_rule_devel_final(struct df_lint *l);
void df_rule_root_user(struct df_lint *l);

#endif

/* libFuzzer target: Dockerfile text through everything parser/ does with it: df_parse, the ARG
 * scopes, expansion of every word BuildKit expands, RUN --mount parsing and df_check. Any crash,
 * leak, sanitizer report or unbounded time is a bug. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parser/df.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void expand_instr(const struct df_file *f, const struct df_instr *in, struct df_vars *scope,
                         const struct df_vars *meta, struct cb_err *err)
{
        char esc = df_file_escape(f);
        if (in->kind == DF_INSTR_ARG) {
                (void) df_arg_apply(f, in, NULL, meta, scope, err);
                cb_err_reset(err);
                return;
        }
        for (size_t i = 0; i < in->nflags; i++) {
                char *v = NULL;
                if (in->flags[i].value && df_expand_word(scope, in->flags[i].value, esc, &v, err) == 0 &&
                    strcmp(in->flags[i].name, "mount") == 0) {
                        struct df_mount m;
                        if (df_mount_parse(v, &m, err) == 0)
                                df_mount_release(&m);
                }
                free(v);
                cb_err_reset(err);
        }
        for (size_t i = 0; i < in->nheredocs; i++) {
                char *b = NULL;
                if (in->heredocs[i].expand &&
                    df_expand_heredoc(scope, in->heredocs[i].body, esc, &b, err) == 0)
                        free(b);
                cb_err_reset(err);
        }
        for (size_t i = 0; i < in->nargs; i++)
                (void) df_instr_heredoc_arg(in, i);
        if (in->kind == DF_INSTR_HEALTHCHECK)
                for (size_t i = 0; i < in->nflags; i++) {
                        uint64_t ns;
                        if (in->flags[i].value)
                                (void) df_duration_parse(in->flags[i].value, &ns);
                }
        if (!df_instr_kind_expands(in->kind))
                return;
        for (size_t i = 0; i < in->nargs; i++) {
                char **w = NULL;
                size_t n = 0;
                if (df_expand_words(scope, in->args[i], esc, &w, &n, err) == 0) {
                        struct df_port p;
                        for (size_t k = 0; in->kind == DF_INSTR_EXPOSE && k < n; k++)
                                (void) df_port_parse(w[k], &p);
                        df_strv_free(w);
                }
                cb_err_reset(err);
        }
        for (size_t i = 0; i < in->nkvs; i++) {
                char *v = NULL;
                if (in->kvs[i].value && df_expand_word(scope, in->kvs[i].value, esc, &v, err) == 0 &&
                    in->kind == DF_INSTR_ENV)
                        df_vars_set(scope, in->kvs[i].key, v);
                free(v);
                cb_err_reset(err);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct cb_err err;
        struct df_file *f = NULL;

        cb_err_init(&err);
        if (df_parse(cb_str_from((const char *) data, size), "Dockerfile", &f, &err) < 0) {
                /* every rejection names the file */
                if (strncmp(cb_err_msg(&err), "Dockerfile", 10) != 0)
                        abort();
                cb_err_release(&err);
                return 0;
        }
        struct df_vars *meta = NULL;
        if (df_file_meta_scope(f, NULL, NULL, &meta, &err) == 0) {
                for (size_t s = 0; s < df_file_nstages(f); s++) {
                        const struct df_stage *st = df_file_stage(f, s);
                        char *img = NULL;
                        if (df_expand_word(meta, st->base, df_file_escape(f), &img, &err) == 0)
                                (void) df_file_stage_by_name(f, img);
                        free(img);
                        cb_err_reset(&err);
                        struct df_vars *scope = df_vars_new();
                        for (size_t i = st->first; i < st->first + st->n; i++)
                                expand_instr(f, df_file_instr(f, i), scope, meta, &err);
                        df_vars_free(scope);
                }
        }
        cb_err_reset(&err);
        df_vars_free(meta);

        struct df_finding *v = NULL;
        size_t n = 0;
        static const char *const env[] = {"PATH=/usr/bin", "HOME=/root", NULL};
        struct df_check_opts o = {.base_cuda_version = (size & 1) ? "11.8.0" : NULL,
                                  .base_env = (size & 2) ? env : NULL};
        if (df_check(f, &o, &v, &n, &err) == 0) {
                struct cb_buf out;
                cb_buf_init(&out, CB_BUF_UNLIMITED);
                (void) df_findings_format(v, n, size & 4, &out);
                (void) df_findings_status(v, n, size & 8);
                cb_buf_release(&out);
                df_findings_free(v, n);
        }
        df_file_free(f);
        cb_err_release(&err);
        return 0;
}

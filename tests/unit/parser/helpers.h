/* Shared helpers of the parser unit tests: parse text or fail the test, expect an error text. */
#ifndef DF_TEST_HELPERS_H
#define DF_TEST_HELPERS_H

/* cmocka needs these first, in this order */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <stdlib.h>
#include <string.h>

#include "parser/df.h"

static inline struct df_file *parse_ok(const char *text)
{
        struct cb_err err;
        struct df_file *f = NULL;
        cb_err_init(&err);
        int r = df_parse(cb_str_c(text), "Dockerfile", &f, &err);
        if (r < 0)
                print_error("unexpected parse error: %s\n", cb_err_msg(&err));
        assert_int_equal(r, 0);
        cb_err_release(&err);
        return f;
}

/* Asserts df_parse fails with code and a message containing want; returns nothing. */
static inline void parse_fails(const char *text, int code, const char *want)
{
        struct cb_err err;
        struct df_file *f = NULL;
        cb_err_init(&err);
        int r = df_parse(cb_str_c(text), "Dockerfile", &f, &err);
        if (r >= 0 || !strstr(cb_err_msg(&err), want))
                print_error("want error containing '%s', got r=%d '%s'\n", want, r, cb_err_msg(&err));
        assert_int_equal(r, code);
        assert_non_null(strstr(cb_err_msg(&err), want));
        assert_null(f);
        cb_err_release(&err);
}

static inline const struct df_instr *instr(const struct df_file *f, size_t i)
{
        const struct df_instr *in = df_file_instr(f, i);
        assert_non_null(in);
        return in;
}

/* Findings of rule in text (parsed with df_check defaults or opts); returns their count and the
 * first one's line in *ret_line. */
static inline size_t findings_of(const char *text, const struct df_check_opts *o, const char *rule,
                                 unsigned *ret_line, int *ret_sev)
{
        struct df_file *f = parse_ok(text);
        struct df_finding *v = NULL;
        size_t n = 0, hits = 0;
        struct cb_err err;
        cb_err_init(&err);
        assert_int_equal(df_check(f, o, &v, &n, &err), 0);
        for (size_t i = 0; i < n; i++)
                if (strcmp(v[i].rule, rule) == 0) {
                        if (!hits && ret_line)
                                *ret_line = v[i].line;
                        if (!hits && ret_sev)
                                *ret_sev = v[i].severity;
                        hits++;
                }
        df_findings_free(v, n);
        df_file_free(f);
        cb_err_release(&err);
        return hits;
}

#endif

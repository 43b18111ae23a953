/* parser/expand.c: BuildKit's shell-word expansion, word splitting, and the depth/size bounds. */
#include "helpers.h"

#include <errno.h>

static struct df_vars *vars(void)
{
        struct df_vars *v = df_vars_new();
        df_vars_set(v, "HOME", "/root");
        df_vars_set(v, "EMPTY", "");
        df_vars_set(v, "SP", "a  b c");
        df_vars_set(v, "CUDA", "11.8.0");
        return v;
}

static void expect(const char *raw, const char *want)
{
        struct df_vars *v = vars();
        struct cb_err err;
        char *out = NULL;
        cb_err_init(&err);
        int r = df_expand_word(v, raw, '\\', &out, &err);
        if (r < 0 || strcmp(out, want) != 0)
                print_error("'%s': want '%s', got r=%d '%s' (%s)\n", raw, want, r, out ? out : "",
                            cb_err_msg(&err));
        assert_int_equal(r, 0);
        assert_string_equal(out, want);
        free(out);
        cb_err_release(&err);
        df_vars_free(v);
}

static void expect_err(const char *raw, int code, const char *want)
{
        struct df_vars *v = vars();
        struct cb_err err;
        char *out = NULL;
        cb_err_init(&err);
        int r = df_expand_word(v, raw, '\\', &out, &err);
        if (r != code || !strstr(cb_err_msg(&err), want))
                print_error("'%s': want error '%s', got r=%d '%s'\n", raw, want, r, cb_err_msg(&err));
        assert_int_equal(r, code);
        assert_non_null(strstr(cb_err_msg(&err), want));
        assert_null(out);
        cb_err_release(&err);
        df_vars_free(v);
}

static void test_plain_references(void **state)
{
        expect("plain", "plain");
        expect("$HOME/x", "/root/x");
        expect("${HOME}x", "/rootx");
        expect("$UNSET-x", "-x");
        expect("a$", "a$");
        expect("$.", "$.");
        expect("cost: $5", "cost: ");
        expect("${CUDA}-runtime", "11.8.0-runtime");
}

static void test_defaults_and_alternatives(void **state)
{
        expect("${UNSET:-def}", "def");
        expect("${EMPTY:-def}", "def");
        expect("${EMPTY-def}", "");
        expect("${UNSET-def}", "def");
        expect("${HOME:+alt}", "alt");
        expect("${EMPTY:+alt}", "");
        expect("${EMPTY+alt}", "alt");
        expect("${UNSET+alt}", "");
        expect("${UNSET:-${ALSO:-${HOME}}}", "/root");
        expect("${HOME:?must be set}", "/root");
        expect("${EMPTY?}", "");
}

static void test_required_variables_fail_with_message(void **state)
{
        expect_err("${UNSET:?set CUDA_VERSION first}", -EINVAL, "UNSET: set CUDA_VERSION first");
        expect_err("${EMPTY:?}", -EINVAL, "EMPTY: is not allowed to be empty");
        expect_err("${UNSET?}", -EINVAL, "UNSET: is not allowed to be unset");
}

static void test_quotes_and_escapes(void **state)
{
        expect("'$HOME'", "$HOME");
        expect("\"$HOME\"", "/root");
        expect("\\$HOME", "$HOME");
        expect("\"a\\\"b\"", "a\"b");
        expect("\"a\\tb\"", "a\\tb");
        expect("a\\tb", "atb");
        expect("'a\\tb'", "a\\tb");
        expect("he'll'o", "hello");
        expect("\"it's\"", "it's");
        expect("trail\\", "trail");
        expect("\"\\\\$HOME\"", "\\/root");
}

static void test_backtick_escape(void **state)
{
        struct cb_err err;
        char *out = NULL;
        cb_err_init(&err);
        assert_int_equal(df_expand_word(NULL, "C:\\dir`$X", '`', &out, &err), 0);
        assert_string_equal(out, "C:\\dir$X");
        free(out);
        cb_err_release(&err);
}

static void test_pattern_operators(void **state)
{
        expect("${CUDA%.*}", "11.8");
        expect("${CUDA%%.*}", "11");
        expect("${CUDA#*.}", "8.0");
        expect("${CUDA##*.}", "0");
        expect("${CUDA/./_}", "11_8.0");
        expect("${CUDA//./_}", "11_8_0");
        expect("${HOME/\\//}", "root");
        expect_err("${CUDA/x}", -EINVAL, "missing '/'");
}

static void test_syntax_errors(void **state)
{
        expect_err("${}", -EINVAL, "bad substitution");
        expect_err("${HOME", -EINVAL, "missing '}'");
        expect_err("${HOME:-x", -EINVAL, "missing '}'");
        expect_err("${HOME:x}", -EINVAL, "unsupported modifier (:x)");
        expect_err("${HOME=x}", -EINVAL, "unsupported modifier (=)");
        expect_err("'open", -EINVAL, "closing single quote");
        expect_err("\"open", -EINVAL, "closing double quote");
}

static void test_thousand_deep_nesting_is_bounded(void **state)
{
        struct cb_buf b;
        cb_buf_init(&b, CB_BUF_UNLIMITED);
        for (int i = 0; i < 1000; i++)
                cb_buf_adds(&b, "${a:-");
        cb_buf_adds(&b, "x");
        for (int i = 0; i < 1000; i++)
                cb_buf_adds(&b, "}");
        expect_err(b.p, -E2BIG, "nested more than 64 deep");
        cb_buf_reset(&b);
        for (int i = 0; i < 60; i++)
                cb_buf_adds(&b, "${a:-");
        cb_buf_adds(&b, "x");
        for (int i = 0; i < 60; i++)
                cb_buf_adds(&b, "}");
        expect(b.p, "x");
        cb_buf_release(&b);
}

static void test_output_size_is_bounded(void **state)
{
        struct df_vars *v = df_vars_new();
        struct cb_err err;
        char *out = NULL;
        char *big = malloc(DF_EXPAND_MAX_OUTPUT / 2 + 1);
        memset(big, 'x', DF_EXPAND_MAX_OUTPUT / 2);
        big[DF_EXPAND_MAX_OUTPUT / 2] = '\0';
        df_vars_set(v, "B", big);
        cb_err_init(&err);
        assert_int_equal(df_expand_word(v, "$B$B$B", '\\', &out, &err), -E2BIG);
        assert_non_null(strstr(cb_err_msg(&err), "exceeds"));
        assert_null(out);
        cb_err_release(&err);
        free(big);
        df_vars_free(v);
}

static void test_pattern_work_is_bounded(void **state)
{
        struct df_vars *v = df_vars_new();
        struct cb_err err;
        char *out = NULL, big[4001];
        memset(big, 'a', 4000);
        big[4000] = '\0';
        df_vars_set(v, "V", big);
        cb_err_init(&err);
        /* no 'b' anywhere: every start and end is tried; this must fail fast, not spin */
        assert_int_equal(df_expand_word(v, "${V//*b/x}", '\\', &out, &err), -E2BIG);
        assert_non_null(strstr(cb_err_msg(&err), "too expensive"));
        cb_err_reset(&err);
        assert_int_equal(df_expand_word(v, "${V%%a*}|${V#a}", '\\', &out, &err), 0);
        assert_int_equal(strlen(out), 1 + 3999);
        free(out);
        cb_err_release(&err);
        df_vars_free(v);
}

static void test_heredoc_bodies_keep_quotes(void **state)
{
        struct df_vars *v = vars();
        struct cb_err err;
        char *out = NULL;
        cb_err_init(&err);
        assert_int_equal(
            df_expand_heredoc(v, "home='$HOME' \"${CUDA%.*}\"\n\\$HOME \\\\ \\n a\\\nb\n", '\\', &out, &err),
            0);
        assert_string_equal(out, "home='/root' \"11.8\"\n$HOME \\ \\n ab\n");
        free(out);
        assert_int_equal(df_expand_heredoc(v, "${UNSET:?no}", '\\', &out, &err), -EINVAL);
        assert_non_null(strstr(cb_err_msg(&err), "UNSET: no"));
        cb_err_release(&err);
        df_vars_free(v);
}

static void expect_words(const char *raw, size_t n, const char *const *want)
{
        struct df_vars *v = vars();
        struct cb_err err;
        char **w = NULL;
        size_t got = 99;
        cb_err_init(&err);
        assert_int_equal(df_expand_words(v, raw, '\\', &w, &got, &err), 0);
        assert_int_equal(got, n);
        for (size_t i = 0; i < n; i++)
                assert_string_equal(w[i], want[i]);
        assert_null(w[n]);
        df_strv_free(w);
        cb_err_release(&err);
        df_vars_free(v);
}

static void test_word_splitting(void **state)
{
        expect_words("a b\tc", 3, (const char *const[]){"a", "b", "c"});
        expect_words("x$SP", 3, (const char *const[]){"xa", "b", "c"});
        expect_words("\"x$SP\"", 1, (const char *const[]){"xa  b c"});
        expect_words("a\\ b 'c d' \"\"", 3, (const char *const[]){"a b", "c d", ""});
        expect_words("   ", 0, NULL);
        expect_words("src/ ${UNSET} /dst", 2, (const char *const[]){"src/", "/dst"});
}

static void test_words_error_frees(void **state)
{
        struct cb_err err;
        char **w = NULL;
        size_t n = 0;
        cb_err_init(&err);
        assert_int_equal(df_expand_words(NULL, "a b 'c", '\\', &w, &n, &err), -EINVAL);
        assert_null(w);
        cb_err_release(&err);
        assert_null(df_strv_free(NULL));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_plain_references),
            cmocka_unit_test(test_defaults_and_alternatives),
            cmocka_unit_test(test_required_variables_fail_with_message),
            cmocka_unit_test(test_quotes_and_escapes),
            cmocka_unit_test(test_backtick_escape),
            cmocka_unit_test(test_pattern_operators),
            cmocka_unit_test(test_syntax_errors),
            cmocka_unit_test(test_thousand_deep_nesting_is_bounded),
            cmocka_unit_test(test_output_size_is_bounded),
            cmocka_unit_test(test_pattern_work_is_bounded),
            cmocka_unit_test(test_heredoc_bodies_keep_quotes),
            cmocka_unit_test(test_word_splitting),
            cmocka_unit_test(test_words_error_frees),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

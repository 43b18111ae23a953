/* parser/ignore.c: .dockerignore with moby/patternmatcher's rules. */
#include "helpers.h"

#include <errno.h>

static struct df_ignore *ig(const char *text)
{
        struct df_ignore *i = NULL;
        struct cb_err err;
        cb_err_init(&err);
        int r = df_ignore_parse(cb_str_c(text), ".dockerignore", &i, &err);
        if (r < 0)
                print_error("%s\n", cb_err_msg(&err));
        assert_int_equal(r, 0);
        cb_err_release(&err);
        return i;
}

static void test_basic_star_and_parent_directories(void **state)
{
        struct df_ignore *i = ig("# comment\n\n  *.pyc  \nbuild/\n/dist\n");
        assert_true(df_ignore_match(i, "a.pyc"));
        assert_false(df_ignore_match(i, "src/a.pyc")); /* '*' stays in one element */
        assert_true(df_ignore_match(i, "build"));
        assert_true(df_ignore_match(i, "build/x/y.o")); /* a matching parent excludes its contents */
        assert_true(df_ignore_match(i, "dist/a"));
        assert_false(df_ignore_match(i, "src/build"));
        assert_false(df_ignore_match(i, "# comment"));
        df_ignore_free(i);
}

static void test_double_star(void **state)
{
        struct df_ignore *i = ig("**/*.pyc\n**/__pycache__\ndocs/**/*.md\nlogs/**\n");
        assert_true(df_ignore_match(i, "a.pyc"));
        assert_true(df_ignore_match(i, "x/y/z.pyc"));
        assert_true(df_ignore_match(i, "pkg/__pycache__/m.cpython-310.pyc"));
        assert_true(df_ignore_match(i, "docs/a.md"));
        assert_true(df_ignore_match(i, "docs/x/y/a.md"));
        assert_false(df_ignore_match(i, "docs/a.txt"));
        assert_true(df_ignore_match(i, "logs/today/x"));
        assert_false(df_ignore_match(i, "src/main.py"));
        df_ignore_free(i);
}

static void test_negation_last_match_wins(void **state)
{
        struct df_ignore *i = ig("*.md\n!README.md\nREADME-secret.md\ndata\n!data/keep\n");
        assert_true(df_ignore_match(i, "CHANGES.md"));
        assert_false(df_ignore_match(i, "README.md"));
        assert_true(df_ignore_match(i, "README-secret.md"));
        assert_true(df_ignore_match(i, "data/x"));
        assert_false(df_ignore_match(i, "data/keep"));
        assert_false(df_ignore_match(i, "data/keep/inner"));
        assert_true(df_ignore_may_reinclude(i, "data"));
        assert_false(df_ignore_may_reinclude(i, "other"));
        df_ignore_free(i);
}

static void test_question_brackets_escapes_and_cleaning(void **state)
{
        struct df_ignore *i = ig("file?.txt\n[ab].c\n[!x]y\n\\*lit\n./a/../b//c/\n");
        assert_true(df_ignore_match(i, "file1.txt"));
        assert_false(df_ignore_match(i, "file10.txt"));
        assert_true(df_ignore_match(i, "a.c"));
        assert_false(df_ignore_match(i, "c.c"));
        assert_true(df_ignore_match(i, "zy"));
        assert_false(df_ignore_match(i, "xy"));
        assert_true(df_ignore_match(i, "*lit"));
        assert_false(df_ignore_match(i, "alit"));
        assert_true(df_ignore_match(i, "b/c"));
        assert_true(df_ignore_match(i, "./b/c/d"));
        df_ignore_free(i);
}

static void test_dots_are_literal(void **state)
{
        struct df_ignore *i = ig(".git\n.env.*\n");
        assert_true(df_ignore_match(i, ".git/HEAD"));
        assert_false(df_ignore_match(i, "xgit"));
        assert_true(df_ignore_match(i, ".env.local"));
        assert_false(df_ignore_match(i, ".envXlocal"));
        df_ignore_free(i);
}

static void test_bad_pattern_reports_line(void **state)
{
        struct df_ignore *i = NULL;
        struct cb_err err;
        cb_err_init(&err);
        assert_int_equal(df_ignore_parse(cb_str_c("ok\n[abc\n"), "ctx/.dockerignore", &i, &err), -EINVAL);
        assert_non_null(strstr(cb_err_msg(&err), "ctx/.dockerignore:2: bad pattern '[abc'"));
        assert_null(i);
        cb_err_release(&err);
}

static void test_empty_and_named_file(void **state)
{
        struct df_ignore *i = ig("");
        assert_false(df_ignore_match(i, "anything"));
        df_ignore_free(i);
        assert_null(df_ignore_free(NULL));
        assert_false(df_ignore_match(NULL, "x"));
        char *p = df_ignore_path_for("docker/Dockerfile.gpu");
        assert_string_equal(p, "docker/Dockerfile.gpu.dockerignore");
        free(p);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_basic_star_and_parent_directories),
            cmocka_unit_test(test_double_star),
            cmocka_unit_test(test_negation_last_match_wins),
            cmocka_unit_test(test_question_brackets_escapes_and_cleaning),
            cmocka_unit_test(test_dots_are_literal),
            cmocka_unit_test(test_bad_pattern_reports_line),
            cmocka_unit_test(test_empty_and_named_file),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

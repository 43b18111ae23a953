/* parser/vars.c: the ordered variable map. */
#include "helpers.h"

static void test_set_get_order_and_replace(void **state)
{
        struct df_vars *v = df_vars_new();
        df_vars_set(v, "B", "1");
        df_vars_set(v, "A", "2");
        df_vars_set(v, "B", "3");
        assert_int_equal(df_vars_count(v), 2);
        assert_string_equal(df_vars_key(v, 0), "B");
        assert_string_equal(df_vars_value(v, 0), "3");
        assert_string_equal(df_vars_key(v, 1), "A");
        assert_string_equal(df_vars_get(v, "A"), "2");
        assert_null(df_vars_get(v, "C"));
        assert_null(df_vars_key(v, 2));
        df_vars_set(v, "N", NULL);
        assert_string_equal(df_vars_get(v, "N"), "");
        df_vars_free(v);
}

static void test_copy_is_independent(void **state)
{
        struct df_vars *v = df_vars_new();
        df_vars_set(v, "A", "1");
        struct df_vars *c = df_vars_copy(v);
        df_vars_set(c, "A", "2");
        df_vars_set(c, "B", "3");
        assert_string_equal(df_vars_get(v, "A"), "1");
        assert_null(df_vars_get(v, "B"));
        assert_string_equal(df_vars_get(c, "A"), "2");
        df_vars_free(v);
        df_vars_free(c);
        c = df_vars_copy(NULL);
        assert_int_equal(df_vars_count(c), 0);
        df_vars_free(c);
}

static void test_unset_keeps_order(void **state)
{
        struct df_vars *v = df_vars_new();
        df_vars_set(v, "A", "1");
        df_vars_set(v, "B", "2");
        df_vars_set(v, "C", "3");
        df_vars_unset(v, "B");
        df_vars_unset(v, "nope");
        assert_int_equal(df_vars_count(v), 2);
        assert_string_equal(df_vars_key(v, 1), "C");
        df_vars_free(v);
}

static void test_null_safety(void **state)
{
        assert_null(df_vars_free(NULL));
        assert_null(df_vars_get(NULL, "A"));
        assert_int_equal(df_vars_count(NULL), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_set_get_order_and_replace),
            cmocka_unit_test(test_copy_is_independent),
            cmocka_unit_test(test_unset_keeps_order),
            cmocka_unit_test(test_null_safety),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

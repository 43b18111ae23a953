/* The JSON writer (kernels/json.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static void test_escapes_quotes_backslashes_and_controls(void **state)
{
        struct kv_sb sb = {0};
        char *s;

        kv_json_escape(&sb, "a\"b\\c\n\t\x01z");
        s = kv_sb_take(&sb);
        assert_string_equal(s, "\"a\\\"b\\\\c\\n\\t\\u0001z\"");
        free(s);
}

static void test_writes_nested_document(void **state)
{
        struct kv_json j = {0};
        char *s;

        kv_json_open(&j, NULL, '{');
        kv_json_str(&j, "name", "x");
        kv_json_null(&j, "gpu");
        kv_json_open(&j, "list", '[');
        kv_json_int(&j, NULL, 1);
        kv_json_bool(&j, NULL, false);
        kv_json_num(&j, NULL, NAN);
        kv_json_close(&j, ']');
        kv_json_open(&j, "empty", '[');
        kv_json_close(&j, ']');
        kv_json_close(&j, '}');
        s = kv_sb_take(&j.sb);
        assert_string_equal(s, "{\n  \"name\": \"x\",\n  \"gpu\": null,\n  \"list\": [\n    1,\n    false,\n "
                               "   null\n  ],\n  \"empty\": []\n}\n");
        free(s);
}

static void test_sb_grows_and_formats(void **state)
{
        struct kv_sb sb = {0};
        char *s;

        for (int i = 0; i < 1000; i++)
                kv_sb_addf(&sb, "%d,", i);
        assert_false(sb.oom);
        s = kv_sb_take(&sb);
        assert_true(strncmp(s, "0,1,2,", 6) == 0);
        assert_non_null(strstr(s, "999,"));
        free(s);
        s = kv_asprintf("%s-%d", "a", 5);
        assert_string_equal(s, "a-5");
        free(s);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_escapes_quotes_backslashes_and_controls),
            cmocka_unit_test(test_writes_nested_document),
            cmocka_unit_test(test_sb_grows_and_formats),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

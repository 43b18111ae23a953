/* Image config helpers: Env replacement keeps order, history entries follow the given time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "builder/imgconfig.h"

static void test_setenv_replaces_in_place_and_appends_new_keys(void **state)
{
        (void) state;
        json_t *cfg = bld_config_new();
        bld_config_setenv(cfg, "PATH", "/bin");
        bld_config_setenv(cfg, "A", "1");
        bld_config_setenv(cfg, "PATH", "/opt/venv/bin:/bin");
        char *s = json_dumps(json_object_get(bld_config_section(cfg), "Env"), JSON_COMPACT);
        assert_string_equal(s, "[\"PATH=/opt/venv/bin:/bin\",\"A=1\"]");
        free(s);
        assert_string_equal(bld_config_getenv(cfg, "A"), "1");
        assert_null(bld_config_getenv(cfg, "PAT"));
        json_decref(cfg);
}

static void test_history_uses_the_given_time_and_marks_empty_layers(void **state)
{
        (void) state;
        json_t *cfg = bld_config_new();
        bld_config_add_history(cfg, 0, "ENV A=1", true, NULL);
        json_t *h = json_array_get(json_object_get(cfg, "history"), 0);
        assert_string_equal(json_string_value(json_object_get(h, "created")), "1970-01-01T00:00:00Z");
        assert_true(json_is_true(json_object_get(h, "empty_layer")));
        json_decref(cfg);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_setenv_replaces_in_place_and_appends_new_keys),
                cmocka_unit_test(test_history_uses_the_given_time_and_marks_empty_layers),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

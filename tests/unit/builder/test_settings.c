/* settings.c: cubuild's own keys of the configuration file (store.keep_storage). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "builder/settings.h"

static int parse(const char *text, struct bld_settings *ret, struct cb_err *err)
{
        return bld_settings_parse(text, strlen(text), "config.yaml", ret, err);
}

static void test_keep_storage_takes_docker_sizes(void **state)
{
        (void) state;
        struct cb_err err;
        cb_err_init(&err);
        struct bld_settings s;
        assert_int_equal(parse("store:\n  keep_storage: 20g\n", &s, &err), 0);
        assert_true(s.has_keep_storage);
        assert_true(s.keep_storage == 20ull << 30);
        assert_int_equal(parse("store: {keep_storage: 512MB}\n", &s, &err), 0);
        assert_true(s.keep_storage == 512ull << 20);
        assert_int_equal(parse("store:\n  keep_storage: 1073741824\n", &s, &err), 0);
        assert_true(s.keep_storage == 1073741824ull);
        uint64_t v;
        assert_int_equal(bld_settings_parse_size("1t", &v), 0);
        assert_true(v == 1ull << 40);
        assert_int_equal(bld_settings_parse_size("lots", &v), -EINVAL);
        assert_int_equal(bld_settings_parse_size("GB", &v), -EINVAL);
        assert_int_equal(bld_settings_parse_size("", &v), -EINVAL);
        cb_err_release(&err);
}

static void test_other_keys_are_left_to_their_readers(void **state)
{
        (void) state;
        struct cb_err err;
        cb_err_init(&err);
        struct bld_settings s = { .has_keep_storage = true };
        assert_int_equal(parse("registries:\n  - prefix: docker.io\n    insecure: true\ncerts_dirs: [/x]\n", &s, &err), 0);
        assert_false(s.has_keep_storage);
        assert_int_equal(parse("", &s, &err), 0);
        assert_false(s.has_keep_storage);
        assert_int_equal(bld_settings_load(NULL, &s, &err), 0);
        assert_false(s.has_keep_storage);
        cb_err_release(&err);
}

static void test_bad_store_section_names_file_line_and_key(void **state)
{
        (void) state;
        struct cb_err err;
        cb_err_init(&err);
        struct bld_settings s = { .has_keep_storage = true, .keep_storage = 7 };
        assert_int_equal(parse("registries: []\nstore:\n  keep_storage: lots\n", &s, &err), -EINVAL);
        assert_string_equal(cb_err_msg(&err), "config.yaml:3: store.keep_storage 'lots' is not a size like 20g");
        assert_true(s.has_keep_storage && s.keep_storage == 7); /* untouched on failure */
        cb_err_reset(&err);
        assert_int_equal(parse("store:\n  keep_storage: 1g\n  gc: true\n", &s, &err), -EINVAL);
        assert_string_equal(cb_err_msg(&err), "config.yaml:3: unknown key 'store.gc' (known: keep_storage)");
        cb_err_reset(&err);
        assert_int_equal(parse("store: 20g\n", &s, &err), -EINVAL);
        assert_string_equal(cb_err_msg(&err), "config.yaml:1: 'store' is a mapping");
        cb_err_reset(&err);
        assert_int_equal(parse("- a\n", &s, &err), -EINVAL);
        cb_err_reset(&err);
        assert_int_equal(parse("store: [\n", &s, &err), -EINVAL);
        assert_non_null(strstr(cb_err_msg(&err), "config.yaml:"));
        cb_err_reset(&err);
        assert_true(bld_settings_load("/nonexistent/config.yaml", &s, &err) < 0);
        cb_err_release(&err);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_keep_storage_takes_docker_sizes),
                cmocka_unit_test(test_other_keys_are_left_to_their_readers),
                cmocka_unit_test(test_bad_store_section_names_file_line_and_key),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

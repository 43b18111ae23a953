/* registry/manifest.c: manifest and index parsing, platform choice. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "registry/internal.h"

#define DA "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define DB "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define DC "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"

static int parse(const char *s, const char *ct, struct reg_manifest *m, struct cb_err *err)
{
        return reg_manifest_parse(s, strlen(s), ct, m, err);
}

static void test_oci_manifest_gives_config_and_layers(void **state)
{
        struct cb_err err;
        cb_err_init(&err);
        struct reg_manifest m;
        const char *j = "{\"schemaVersion\":2,\"mediaType\":\"" REG_MT_OCI_MANIFEST "\","
                        "\"config\":{\"mediaType\":\"x\",\"digest\":\"" DA "\",\"size\":7},"
                        "\"layers\":[{\"mediaType\":\"l\",\"digest\":\"" DB "\",\"size\":100},"
                        "{\"mediaType\":\"l\",\"digest\":\"" DC "\",\"size\":0}]}";
        assert_int_equal(parse(j, NULL, &m, &err), 0);
        assert_false(m.is_index);
        assert_string_equal(m.media_type, REG_MT_OCI_MANIFEST);
        assert_string_equal(m.config.digest, DA);
        assert_int_equal(m.config.size, 7);
        assert_int_equal(m.nitems, 2);
        assert_string_equal(m.items[0].digest, DB);
        assert_int_equal(m.items[1].size, 0);
        reg_manifest_release(&m);
        cb_err_release(&err);
}

static void test_docker_list_without_mediatype_uses_content_type(void **state)
{
        struct cb_err err;
        cb_err_init(&err);
        struct reg_manifest m;
        const char *j = "{\"schemaVersion\":2,\"manifests\":["
                        "{\"digest\":\"" DA "\",\"size\":1,\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}},"
                        "{\"digest\":\"" DB "\",\"size\":2,\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\",\"variant\":\"v8\"}},"
                        "{\"digest\":\"" DC "\",\"size\":3,\"platform\":{\"os\":\"unknown\",\"architecture\":\"unknown\"}}]}";
        assert_int_equal(parse(j, REG_MT_DOCKER_LIST "; charset=utf-8", &m, &err), 0);
        assert_true(m.is_index);
        assert_string_equal(m.media_type, REG_MT_DOCKER_LIST);
        size_t i;
        assert_int_equal(reg_index_choose(&m, "linux/amd64", &i, &err), 0);
        assert_int_equal(i, 0);
        /* arm64 with no variant asked matches v8 */
        assert_int_equal(reg_index_choose(&m, "linux/arm64", &i, &err), 0);
        assert_int_equal(i, 1);
        assert_int_equal(reg_index_choose(&m, "linux/aarch64/v8", &i, &err), 0);
        assert_int_equal(i, 1);
        assert_int_equal(reg_index_choose(&m, "linux/ppc64le", &i, &err), -ENOENT);
        assert_non_null(strstr(cb_err_msg(&err), "offered: linux/amd64, linux/arm64/v8)"));
        assert_int_equal(reg_index_choose(&m, "linux", &i, &err), -EINVAL);
        reg_manifest_release(&m);
        cb_err_release(&err);
}

static void test_arm_variant_must_match(void **state)
{
        struct cb_err err;
        cb_err_init(&err);
        struct reg_manifest m;
        const char *j = "{\"schemaVersion\":2,\"mediaType\":\"" REG_MT_OCI_INDEX "\",\"manifests\":["
                        "{\"digest\":\"" DA "\",\"size\":1,\"platform\":{\"os\":\"linux\",\"architecture\":\"arm\",\"variant\":\"v6\"}},"
                        "{\"digest\":\"" DB "\",\"size\":1,\"platform\":{\"os\":\"linux\",\"architecture\":\"arm\",\"variant\":\"v7\"}}]}";
        assert_int_equal(parse(j, NULL, &m, &err), 0);
        size_t i;
        assert_int_equal(reg_index_choose(&m, "linux/arm/v7", &i, &err), 0);
        assert_int_equal(i, 1);
        assert_int_equal(reg_index_choose(&m, "linux/arm", &i, &err), 0);
        assert_int_equal(i, 0);
        assert_int_equal(reg_index_choose(&m, "linux/arm/v5", &i, &err), -ENOENT);
        reg_manifest_release(&m);
        cb_err_release(&err);
}

static void test_hostile_manifests_are_rejected(void **state)
{
        static const char *const bad[] = {
                "",
                "[]",
                "{\"schemaVersion\":1,\"fsLayers\":[]}",
                "{\"schemaVersion\":2}",
                "{\"schemaVersion\":2,\"mediaType\":\"text/plain\",\"layers\":[]}",
                "{\"schemaVersion\":2,\"layers\":[]}",
                "{\"schemaVersion\":2,\"config\":{\"digest\":\"" DA "\",\"size\":-1},\"layers\":[]}",
                "{\"schemaVersion\":2,\"config\":{\"digest\":\"sha256:../../etc\",\"size\":1},\"layers\":[]}",
                "{\"schemaVersion\":2,\"config\":{\"digest\":\"" DA "\",\"size\":1},\"layers\":[7]}",
                "{\"schemaVersion\":2,\"config\":{\"digest\":\"" DA "\",\"size\":1},\"layers\":{}}",
                "{\"schemaVersion\":2,\"manifests\":[{\"digest\":\"md5:00\",\"size\":1}]}",
                "{\"schemaVersion\":2,\"schemaVersion\":2,\"layers\":[]}",
        };
        for (size_t i = 0; i < CB_ARRAY_SIZE(bad); i++) {
                struct cb_err err;
                cb_err_init(&err);
                struct reg_manifest m = { 0 };
                int r = parse(bad[i], NULL, &m, &err);
                if (r >= 0)
                        fail_msg("accepted: %s", bad[i]);
                assert_true(cb_err_set(&err));
                assert_null(m.items);
                cb_err_release(&err);
        }
}

static void test_host_platform_is_linux(void **state)
{
        char *p = reg_host_platform();
        assert_true(strncmp(p, "linux/", 6) == 0);
        free(p);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_oci_manifest_gives_config_and_layers),
                cmocka_unit_test(test_docker_list_without_mediatype_uses_content_type),
                cmocka_unit_test(test_arm_variant_must_match),
                cmocka_unit_test(test_hostile_manifests_are_rejected),
                cmocka_unit_test(test_host_platform_is_linux),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

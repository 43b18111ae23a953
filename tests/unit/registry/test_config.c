/* registry/config.c: the YAML registries config, mirror and insecure flags, endpoint choice. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "registry/internal.h"

static void endpoints(const struct reg_config *cfg, const char *domain, const char *path, bool pull,
                      struct reg_endpoint **v, size_t *n)
{
        struct cb_err err;
        cb_err_init(&err);
        int r = reg_config_endpoints(cfg, domain, path, pull, v, n, &err);
        if (r < 0)
                fail_msg("%s", cb_err_msg(&err));
        cb_err_release(&err);
}

static void test_no_config_maps_docker_io_to_its_api_host(void **state)
{
        struct reg_config cfg = { 0 };
        struct reg_endpoint *v;
        size_t n;
        endpoints(&cfg, "docker.io", "library/ubuntu", true, &v, &n);
        assert_int_equal(n, 1);
        assert_string_equal(v[0].host, "registry-1.docker.io");
        assert_string_equal(v[0].repo, "library/ubuntu");
        assert_false(v[0].insecure);
        assert_false(v[0].mirror);
        reg_endpoints_free(v, n);
}

static void test_yaml_mirrors_come_first_for_pulls_only(void **state)
{
        const char *y = "store: /var/lib/cubuild   # other sections are not ours\n"
                        "registries:\n"
                        "  - prefix: docker.io\n"
                        "    mirrors:\n"
                        "      - location: 127.0.0.1:5000\n"
                        "        insecure: true\n"
                        "      - mirror.example.com/hub\n"
                        "  - prefix: quay.io/team\n"
                        "    location: registry.internal:5000/quay-team\n"
                        "    insecure: true\n"
                        "  - prefix: evil.example.com\n"
                        "    blocked: true\n"
                        "certs_dirs: [/etc/x/certs.d]\n";
        struct reg_config cfg = { 0 };
        struct cb_err err;
        cb_err_init(&err);
        assert_int_equal(reg_config_parse(y, strlen(y), "cfg.yaml", &cfg, &err), 0);
        assert_int_equal(cfg.ncerts_dirs, 1);
        struct reg_endpoint *v;
        size_t n;
        endpoints(&cfg, "docker.io", "nvidia/cuda", true, &v, &n);
        assert_int_equal(n, 3);
        assert_string_equal(v[0].host, "127.0.0.1:5000");
        assert_string_equal(v[0].repo, "nvidia/cuda");
        assert_true(v[0].insecure && v[0].mirror);
        assert_string_equal(v[1].host, "mirror.example.com");
        assert_string_equal(v[1].repo, "hub/nvidia/cuda");
        assert_false(v[1].insecure);
        assert_string_equal(v[2].host, "registry-1.docker.io");
        assert_false(v[2].mirror);
        reg_endpoints_free(v, n);
        /* pushes never go to mirrors */
        endpoints(&cfg, "docker.io", "nvidia/cuda", false, &v, &n);
        assert_int_equal(n, 1);
        assert_string_equal(v[0].host, "registry-1.docker.io");
        reg_endpoints_free(v, n);
        /* location rewrites the prefix */
        endpoints(&cfg, "quay.io", "team/app", false, &v, &n);
        assert_int_equal(n, 1);
        assert_string_equal(v[0].host, "registry.internal:5000");
        assert_string_equal(v[0].repo, "quay-team/app");
        assert_true(v[0].insecure);
        reg_endpoints_free(v, n);
        /* quay.io/other does not match the quay.io/team prefix */
        endpoints(&cfg, "quay.io", "other/app", false, &v, &n);
        assert_string_equal(v[0].host, "quay.io");
        assert_string_equal(v[0].repo, "other/app");
        reg_endpoints_free(v, n);
        assert_int_equal(reg_config_endpoints(&cfg, "evil.example.com", "x", true, &v, &n, &err), -EACCES);
        assert_non_null(strstr(cb_err_msg(&err), "blocked"));
        reg_config_release(&cfg);
        cb_err_release(&err);
}

static void test_flags_add_mirrors_and_insecure_hosts(void **state)
{
        struct reg_config cfg = { 0 };
        struct cb_err err;
        cb_err_init(&err);
        assert_int_equal(reg_config_add_mirror(&cfg, "http://10.0.0.1:5000/", &err), 0);
        assert_int_equal(reg_config_add_mirror(&cfg, "ghcr.io=mirror.local:5000", &err), 0);
        assert_int_equal(reg_config_add_mirror(&cfg, "bad host!", &err), -EINVAL);
        reg_config_add_insecure(&cfg, "mirror.local:5000");
        struct reg_endpoint *v;
        size_t n;
        endpoints(&cfg, "docker.io", "library/debian", true, &v, &n);
        assert_int_equal(n, 2);
        assert_string_equal(v[0].host, "10.0.0.1:5000");
        assert_true(v[0].insecure); /* http:// implies insecure */
        reg_endpoints_free(v, n);
        endpoints(&cfg, "ghcr.io", "o/r", true, &v, &n);
        assert_int_equal(n, 2);
        assert_string_equal(v[0].host, "mirror.local:5000");
        assert_true(v[0].insecure);
        assert_false(v[1].insecure);
        reg_endpoints_free(v, n);
        reg_config_release(&cfg);
        cb_err_release(&err);
}

static void test_bad_yaml_names_file_and_line(void **state)
{
        static const char *const bad[] = {
                "registries:\n  - prefix: docker.io\n    mirrors: nope\n",
                "registries:\n  - prefix: docker.io\n    insecure: maybe\n",
                "registries:\n  - mirrors: []\n",
                "registries:\n  - prefix: docker.io\n    colour: blue\n",
                "registries: [\n",
                "registries:\n  - prefix: 'bad host'\n",
        };
        for (size_t i = 0; i < CB_ARRAY_SIZE(bad); i++) {
                struct reg_config cfg = { 0 };
                struct cb_err err;
                cb_err_init(&err);
                int r = reg_config_parse(bad[i], strlen(bad[i]), "c.yaml", &cfg, &err);
                if (r != -EINVAL)
                        fail_msg("accepted: %s", bad[i]);
                assert_true(strncmp(cb_err_msg(&err), "c.yaml:", 7) == 0);
                reg_config_release(&cfg);
                cb_err_release(&err);
        }
}

static void test_loopback_hosts(void **state)
{
        assert_true(reg_host_is_loopback("127.0.0.1:5000"));
        assert_true(reg_host_is_loopback("localhost"));
        assert_true(reg_host_is_loopback("[::1]:5000"));
        assert_false(reg_host_is_loopback("localhost.example.com"));
        assert_false(reg_host_is_loopback("10.0.0.1:5000"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_no_config_maps_docker_io_to_its_api_host),
                cmocka_unit_test(test_yaml_mirrors_come_first_for_pulls_only),
                cmocka_unit_test(test_flags_add_mirrors_and_insecure_hosts),
                cmocka_unit_test(test_bad_yaml_names_file_and_line),
                cmocka_unit_test(test_loopback_hosts),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

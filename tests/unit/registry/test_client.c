/* registry/client.c: options, config loading and the blob-location memory used for mounts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "registry/internal.h"

static void test_defaults(void **state)
{
        struct cb_err err;
        cb_err_init(&err);
        struct reg_client *c = NULL;
        assert_int_equal(reg_client_new(NULL, &c, &err), 0);
        assert_int_equal(c->max_conns, 6);
        assert_int_equal(c->max_retries, 5);
        assert_int_equal(c->chunk_size, 64u * 1024u * 1024u);
        assert_true(strncmp(c->platform, "linux/", 6) == 0);
        /* the system certs.d roots are always searched, last */
        assert_string_equal(c->cfg.certs_dirs[c->cfg.ncerts_dirs - 1], "/etc/containers/certs.d");
        struct reg_stats st;
        reg_client_stats(c, &st);
        assert_int_equal(st.requests, 0);
        assert_null(reg_client_free(c));
        assert_null(reg_client_free(NULL));
        cb_err_release(&err);
}

static void test_bad_config_and_mirror_are_errors(void **state)
{
        struct cb_err err;
        cb_err_init(&err);
        struct reg_client *c = NULL;
        struct reg_opts o = { .config_path = "/nonexistent/cubuild.yaml" };
        assert_int_equal(reg_client_new(&o, &c, &err), -ENOENT);
        assert_non_null(strstr(cb_err_msg(&err), "/nonexistent/cubuild.yaml"));
        assert_null(c);
        const char *m[] = { "docker.io=not a host" };
        struct reg_opts o2 = { .mirrors = m, .nmirrors = 1 };
        assert_int_equal(reg_client_new(&o2, &c, &err), -EINVAL);
        assert_non_null(strstr(cb_err_msg(&err), "registry mirror 'docker.io=not a host'"));
        cb_err_release(&err);
}

static void test_options_and_known_blobs(void **state)
{
        struct cb_err err;
        cb_err_init(&err);
        const char *certs[] = { "/my/certs.d" };
        const char *ins[] = { "reg.internal:5000" };
        struct reg_opts o = { .platform = "linux/arm64", .max_conns = 2, .certs_dirs = certs, .ncerts_dirs = 1,
                              .insecure = ins, .ninsecure = 1 };
        struct reg_client *c = NULL;
        assert_int_equal(reg_client_new(&o, &c, &err), 0);
        assert_string_equal(c->platform, "linux/arm64");
        assert_int_equal(c->max_conns, 2);
        assert_string_equal(c->cfg.certs_dirs[0], "/my/certs.d");
        struct reg_endpoint *v;
        size_t n;
        assert_int_equal(reg_config_endpoints(&c->cfg, "reg.internal:5000", "a/b", false, &v, &n, &err), 0);
        assert_true(v[0].insecure);
        reg_endpoints_free(v, n);
        const char *d = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        assert_null(reg_client_known_repo(c, "h:5000", d));
        reg_client_note_blob(c, "h:5000", "base/img", d);
        assert_string_equal(reg_client_known_repo(c, "h:5000", d), "base/img");
        assert_null(reg_client_known_repo(c, "other:5000", d));
        reg_client_free(c);
        cb_err_release(&err);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_bad_config_and_mirror_are_errors),
                cmocka_unit_test(test_options_and_known_blobs),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* registry/auth.c: WWW-Authenticate parsing, docker's config.json and credential helpers, login and
 * logout. Helpers are small shell scripts put first on PATH for the test. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "registry/internal.h"

struct fx {
        char dir[64];
        char *cfg;
};

static void write_file(const char *path, const char *text, mode_t mode)
{
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
        chmod(path, mode);
}

static int setup(void **state)
{
        struct fx *fx = cb_xcalloc(1, sizeof(*fx));
        snprintf(fx->dir, sizeof(fx->dir), "/tmp/reg-auth-XXXXXX");
        assert_non_null(mkdtemp(fx->dir));
        fx->cfg = cb_xasprintf("%s/config.json", fx->dir);
        /* a credential helper: "get" answers for reg.example only; "store"/"erase" log their input */
        _cleanup_free_ char *helper = cb_xasprintf("%s/docker-credential-fake", fx->dir);
        _cleanup_free_ char *script = cb_xasprintf(
                "#!/bin/sh\n"
                "in=$(cat)\n"
                "case \"$1\" in\n"
                "get) if [ \"$in\" = reg.example ]; then echo '{\"ServerURL\":\"reg.example\",\"Username\":\"hu\",\"Secret\":\"hs\"}';\n"
                "     else echo 'credentials not found in native keychain'; exit 1; fi ;;\n"
                "store|erase) printf '%%s %%s\\n' \"$1\" \"$in\" >>%s/helper.log ;;\n"
                "esac\n",
                fx->dir);
        write_file(helper, script, 0755);
        _cleanup_free_ char *path = cb_xasprintf("%s:%s", fx->dir, getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
        setenv("PATH", path, 1);
        unsetenv("REGISTRY_AUTH_FILE");
        unsetenv("DOCKER_CONFIG");
        *state = fx;
        return 0;
}

static int teardown(void **state)
{
        struct fx *fx = *state;
        (void) cb_rm_rf(AT_FDCWD, fx->dir, NULL);
        free(fx->cfg);
        free(fx);
        return 0;
}

static void test_bearer_challenge_params(void **state)
{
        struct reg_challenge ch;
        assert_int_equal(reg_challenge_parse("Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
                                             "scope=\"repository:library/ubuntu:pull\", error=\"insufficient_scope\"",
                                             &ch),
                         0);
        assert_int_equal(ch.scheme, REG_AUTH_BEARER);
        assert_string_equal(ch.realm, "https://auth.docker.io/token");
        assert_string_equal(ch.service, "registry.docker.io");
        assert_string_equal(ch.scope, "repository:library/ubuntu:pull");
        assert_string_equal(ch.error, "insufficient_scope");
        reg_challenge_release(&ch);
        assert_int_equal(reg_challenge_parse("basic realm=\"a \\\"q\\\" b\"", &ch), 0);
        assert_int_equal(ch.scheme, REG_AUTH_BASIC);
        assert_string_equal(ch.realm, "a \"q\" b");
        reg_challenge_release(&ch);
        assert_int_equal(reg_challenge_parse("bearer realm=http://x/t,service=s", &ch), 0);
        assert_string_equal(ch.realm, "http://x/t");
        assert_string_equal(ch.service, "s");
        reg_challenge_release(&ch);
        assert_int_equal(reg_challenge_parse("Negotiate abc", &ch), -EINVAL);
        assert_int_equal(reg_challenge_parse("Bearer service=\"s\"", &ch), -EINVAL);
        assert_int_equal(reg_challenge_parse("Bearer realm=\"unterminated", &ch), -EINVAL);
        assert_int_equal(reg_challenge_parse("Bearer realm", &ch), -EINVAL);
}

static void lookup_ok(const char *cfg, const char *reg, const char *user, const char *secret)
{
        struct cb_err err;
        cb_err_init(&err);
        struct reg_cred c = { 0 };
        int r = reg_auth_lookup(cfg, reg, &c, &err);
        if (r != 0)
                fail_msg("%s: %d %s", reg, r, cb_err_msg(&err));
        assert_string_equal(c.user, user);
        assert_string_equal(c.secret, secret);
        reg_cred_release(&c);
        cb_err_release(&err);
}

static void test_auths_entries_in_every_spelling(void **state)
{
        struct fx *fx = *state;
        /* "dTE6cDE=" is base64 of "u1:p1"; "dTI6cDI6Yw==" of "u2:p2:c" (a password may hold ':') */
        write_file(fx->cfg,
                   "{\"auths\":{\"https://index.docker.io/v1/\":{\"auth\":\"dTE6cDE=\"},"
                   "\"http://127.0.0.1:5000\":{\"auth\":\"dTI6cDI6Yw==\"},"
                   "\"plain.example\":{\"username\":\"u3\",\"password\":\"p3\"},"
                   "\"broken.example\":{\"auth\":\"!!!!\"}}}",
                   0600);
        lookup_ok(fx->cfg, "docker.io", "u1", "p1");
        lookup_ok(fx->cfg, "registry-1.docker.io", "u1", "p1");
        lookup_ok(fx->cfg, "127.0.0.1:5000", "u2", "p2:c");
        lookup_ok(fx->cfg, "plain.example", "u3", "p3");
        struct cb_err err;
        cb_err_init(&err);
        struct reg_cred c = { 0 };
        assert_int_equal(reg_auth_lookup(fx->cfg, "other.example", &c, &err), -ENOENT);
        assert_int_equal(reg_auth_lookup(fx->cfg, "broken.example", &c, &err), -EBADMSG);
        assert_non_null(strstr(cb_err_msg(&err), "broken.example"));
        assert_null(strstr(cb_err_msg(&err), "!!!!"));
        cb_err_release(&err);
}

static void test_credential_helpers(void **state)
{
        struct fx *fx = *state;
        write_file(fx->cfg, "{\"credHelpers\":{\"reg.example\":\"fake\"},\"credsStore\":\"fake\",\"auths\":{}}", 0600);
        lookup_ok(fx->cfg, "reg.example", "hu", "hs");
        struct cb_err err;
        cb_err_init(&err);
        struct reg_cred c = { 0 };
        /* the store answers "not found": no credentials, not an error */
        assert_int_equal(reg_auth_lookup(fx->cfg, "none.example", &c, &err), -ENOENT);
        write_file(fx->cfg, "{\"credHelpers\":{\"reg.example\":\"missing\"}}", 0600);
        assert_true(reg_auth_lookup(fx->cfg, "reg.example", &c, &err) < 0);
        assert_non_null(strstr(cb_err_msg(&err), "docker-credential-missing"));
        cb_err_release(&err);
}

static void test_env_chooses_the_file(void **state)
{
        struct fx *fx = *state;
        _cleanup_free_ char *p = NULL;
        setenv("DOCKER_CONFIG", "/d", 1);
        p = reg_auth_file_path(NULL);
        assert_string_equal(p, "/d/config.json");
        free(p);
        setenv("REGISTRY_AUTH_FILE", "/r/auth.json", 1);
        p = reg_auth_file_path(NULL);
        assert_string_equal(p, "/r/auth.json");
        free(p);
        p = reg_auth_file_path(fx->cfg);
        assert_string_equal(p, fx->cfg);
        unsetenv("REGISTRY_AUTH_FILE");
        unsetenv("DOCKER_CONFIG");
}

static void test_login_logout_keep_other_keys(void **state)
{
        struct fx *fx = *state;
        struct cb_err err;
        cb_err_init(&err);
        write_file(fx->cfg, "{\"auths\":{\"docker.io\":{\"auth\":\"b2xkOm9sZA==\"}},\"psFormat\":\"table\"}", 0644);
        assert_int_equal(reg_login(fx->cfg, "docker.io", "alice", "pw", &err), 0);
        assert_int_equal(reg_login(fx->cfg, "127.0.0.1:5000", "bob", "x:y", &err), 0);
        lookup_ok(fx->cfg, "docker.io", "alice", "pw");
        lookup_ok(fx->cfg, "127.0.0.1:5000", "bob", "x:y");
        struct stat st;
        assert_int_equal(stat(fx->cfg, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        struct cb_buf b;
        cb_buf_init(&b, CB_BUF_UNLIMITED);
        assert_int_equal(cb_read_file(AT_FDCWD, fx->cfg, 1 << 20, &b, &err), 0);
        assert_non_null(strstr(b.p, "\"psFormat\": \"table\""));
        assert_non_null(strstr(b.p, "https://index.docker.io/v1/"));
        assert_null(strstr(b.p, "\"docker.io\"")); /* the alias was folded into docker's key */
        cb_buf_release(&b);
        assert_int_equal(reg_logout(fx->cfg, "docker.io", &err), 0);
        struct reg_cred c = { 0 };
        assert_int_equal(reg_auth_lookup(fx->cfg, "docker.io", &c, &err), -ENOENT);
        assert_int_equal(reg_logout(fx->cfg, "docker.io", &err), -ENOENT);
        assert_non_null(strstr(cb_err_msg(&err), "not logged in to 'docker.io'"));
        lookup_ok(fx->cfg, "127.0.0.1:5000", "bob", "x:y");
        assert_int_equal(reg_login(fx->cfg, "r", "a:b", "p", &err), -EINVAL);
        cb_err_release(&err);
}

static void test_login_through_a_helper_stores_no_secret_in_the_file(void **state)
{
        struct fx *fx = *state;
        struct cb_err err;
        cb_err_init(&err);
        write_file(fx->cfg, "{\"credsStore\":\"fake\"}", 0600);
        assert_int_equal(reg_login(fx->cfg, "reg2.example", "carol", "topsecret", &err), 0);
        struct cb_buf b;
        cb_buf_init(&b, CB_BUF_UNLIMITED);
        assert_int_equal(cb_read_file(AT_FDCWD, fx->cfg, 1 << 20, &b, &err), 0);
        assert_null(strstr(b.p, "topsecret"));
        assert_non_null(strstr(b.p, "reg2.example"));
        cb_buf_reset(&b);
        _cleanup_free_ char *log = cb_xasprintf("%s/helper.log", fx->dir);
        assert_int_equal(cb_read_file(AT_FDCWD, log, 1 << 20, &b, &err), 0);
        assert_non_null(strstr(b.p, "store {\"ServerURL\":\"reg2.example\",\"Username\":\"carol\",\"Secret\":\"topsecret\"}"));
        assert_int_equal(reg_logout(fx->cfg, "reg2.example", &err), 0);
        cb_buf_reset(&b);
        assert_int_equal(cb_read_file(AT_FDCWD, log, 1 << 20, &b, &err), 0);
        assert_non_null(strstr(b.p, "erase reg2.example"));
        cb_buf_release(&b);
        cb_err_release(&err);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_bearer_challenge_params),
                cmocka_unit_test_setup_teardown(test_auths_entries_in_every_spelling, setup, teardown),
                cmocka_unit_test_setup_teardown(test_credential_helpers, setup, teardown),
                cmocka_unit_test_setup_teardown(test_env_chooses_the_file, setup, teardown),
                cmocka_unit_test_setup_teardown(test_login_logout_keep_other_keys, setup, teardown),
                cmocka_unit_test_setup_teardown(test_login_through_a_helper_stores_no_secret_in_the_file, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

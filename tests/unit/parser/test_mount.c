/* parser/mount.c: RUN --mount options. */
#include "helpers.h"

#include <errno.h>

static void test_cache_mount_all_keys(void **state)
{
        struct df_mount m;
        struct cb_err err;
        cb_err_init(&err);
        assert_int_equal(
            df_mount_parse("type=cache,target=/root/.cache/pip,id=pip,sharing=locked,mode=0755,uid=1000,"
                           "gid=100,from=builder,source=/c",
                           &m, &err),
            0);
        assert_int_equal(m.type, DF_MOUNT_CACHE);
        assert_string_equal(m.target, "/root/.cache/pip");
        assert_string_equal(m.id, "pip");
        assert_int_equal(m.sharing, DF_SHARING_LOCKED);
        assert_true(m.has_mode);
        assert_int_equal(m.mode, 0755);
        assert_int_equal(m.uid, 1000);
        assert_int_equal(m.gid, 100);
        assert_string_equal(m.from, "builder");
        assert_string_equal(m.source, "/c");
        assert_false(m.readonly);
        df_mount_release(&m);
        cb_err_release(&err);
}

static void test_bind_defaults_readonly_and_rw_override(void **state)
{
        struct df_mount m;
        struct cb_err err;
        cb_err_init(&err);
        assert_int_equal(df_mount_parse("target=/src,dst=/src2", &m, &err), 0);
        assert_int_equal(m.type, DF_MOUNT_BIND);
        assert_string_equal(m.target, "/src2");
        assert_true(m.readonly);
        df_mount_release(&m);
        assert_int_equal(df_mount_parse("type=bind,destination=/x,rw", &m, &err), 0);
        assert_false(m.readonly);
        df_mount_release(&m);
        assert_int_equal(df_mount_parse("type=bind,target=/x,readonly=false", &m, &err), 0);
        assert_false(m.readonly);
        df_mount_release(&m);
        cb_err_release(&err);
}

static void test_secret_ssh_tmpfs_defaults(void **state)
{
        struct df_mount m;
        struct cb_err err;
        cb_err_init(&err);
        assert_int_equal(df_mount_parse("type=secret,id=pip.conf,required", &m, &err), 0);
        assert_string_equal(m.target, "/run/secrets/pip.conf");
        assert_true(m.required);
        df_mount_release(&m);
        assert_int_equal(df_mount_parse("type=secret,target=/etc/ssl/ca.pem", &m, &err), 0);
        assert_string_equal(m.id, "ca.pem");
        df_mount_release(&m);
        assert_int_equal(df_mount_parse("type=secret,id=tok,env=TOKEN", &m, &err), 0);
        assert_string_equal(m.env, "TOKEN");
        df_mount_release(&m);
        assert_int_equal(df_mount_parse("type=ssh", &m, &err), 0);
        assert_string_equal(m.target, "/run/buildkit/ssh_agent.0");
        df_mount_release(&m);
        assert_int_equal(df_mount_parse("type=tmpfs,target=/tmp,size=64m", &m, &err), 0);
        assert_int_equal(m.size, 64u << 20);
        df_mount_release(&m);
        assert_int_equal(df_mount_parse("type=cache,target=/var/cache/apt", &m, &err), 0);
        assert_string_equal(m.id, "/var/cache/apt");
        df_mount_release(&m);
        cb_err_release(&err);
}

static void fails(const char *v, const char *want)
{
        struct df_mount m;
        struct cb_err err;
        cb_err_init(&err);
        assert_int_equal(df_mount_parse(v, &m, &err), -EINVAL);
        if (!strstr(cb_err_msg(&err), want))
                print_error("'%s': got '%s'\n", v, cb_err_msg(&err));
        assert_non_null(strstr(cb_err_msg(&err), want));
        cb_err_release(&err);
}

static void test_errors_name_the_key(void **state)
{
        fails("type=volume,target=/x", "unknown type 'volume'");
        fails("type=cache", "target= is required");
        fails("type=cache,target=/x,sharing=sometimes", "sharing='sometimes'");
        fails("type=cache,target=/x,mode=999", "mode='999'");
        fails("type=cache,target=/x,uid=me", "uid='me'");
        fails("type=tmpfs,target=/x,size=big", "size='big'");
        fails("target=/x,colour=blue", "unknown key 'colour'");
        fails("target=/x,ro=maybe", "is not a boolean");
        fails("type=secret", "a secret needs id= or target=");
        fails("target", "'target' needs a value");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_cache_mount_all_keys),
            cmocka_unit_test(test_bind_defaults_readonly_and_rw_override),
            cmocka_unit_test(test_secret_ssh_tmpfs_defaults),
            cmocka_unit_test(test_errors_name_the_key),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

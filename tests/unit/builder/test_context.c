/* context.c: --build-context NAME=SRC forms, local directory contexts (.dockerignore, lookup, a stage
 * of the same name winning). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "builder/context.h"
#include "builder/steps.h"
#include "parser/df.h"

static int check(const char *spec, char **ret_msg)
{
        struct cb_err err;
        cb_err_init(&err);
        int r = bld_nctx_check(spec, &err);
        *ret_msg = cb_xstrdup(cb_err_set(&err) ? cb_err_msg(&err) : "");
        cb_err_release(&err);
        return r;
}

static void test_check_accepts_images_layouts_and_directories(void **state)
{
        (void) state;
        static const char *const ok[] = {
                "base=docker-image://debian:bookworm", "base=docker-image://sha256:0123",
                "base=oci-layout:///srv/layout:v1",  "src=./dir",
                "src=/abs/dir",                       "src=dir:with:colons",
        };
        for (size_t i = 0; i < CB_ARRAY_SIZE(ok); i++) {
                char *m = NULL;
                assert_int_equal(check(ok[i], &m), 0);
                free(m);
        }
}

static void test_check_refuses_git_urls_and_malformed_specs(void **state)
{
        (void) state;
        static const char *const git[] = {
                "x=https://github.com/moby/buildkit.git", "x=git@github.com:moby/buildkit.git",
                "x=http://example.com/ctx.tar.gz",        "x=git://example.com/repo",
                "x=github.com/moby/buildkit",             "x=repo.git#main",
        };
        char *m = NULL;
        for (size_t i = 0; i < CB_ARRAY_SIZE(git); i++) {
                assert_int_equal(check(git[i], &m), -ENOTSUP);
                assert_non_null(strstr(m, "Git and URL contexts are not supported"));
                free(m);
        }
        static const char *const bad[] = { "noequals", "=dir", "x=", "x=docker-image://", "x=foo://bar",
                                           "x=target:other" };
        for (size_t i = 0; i < CB_ARRAY_SIZE(bad); i++) {
                assert_int_equal(check(bad[i], &m), -EINVAL);
                assert_non_null(strstr(m, "--build-context '"));
                free(m);
        }
}


static void write_file(const char *dir, const char *name, const char *text)
{
        char *p = cb_xasprintf("%s/%s", dir, name);
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(cb_write_all(fd, text, strlen(text)), 0);
        close(fd);
        free(p);
}

static void test_directory_contexts_open_with_their_dockerignore(void **state)
{
        (void) state;
        const char *base = getenv("TMPDIR");
        char *dir = cb_xasprintf("%s/cb-ctx-XXXXXX", base && base[0] ? base : "/tmp");
        assert_non_null(mkdtemp(dir));
        char *plain = cb_xasprintf("%s/plain", dir), *ign = cb_xasprintf("%s/ign", dir);
        assert_int_equal(mkdir(plain, 0755), 0);
        assert_int_equal(mkdir(ign, 0755), 0);
        write_file(ign, ".dockerignore", "*.key\n");
        char *s1 = cb_xasprintf("plain=%s", plain), *s2 = cb_xasprintf("tools=%s", ign);
        const char *specs[] = { s1, s2 };
        struct bld_opts o;
        bld_opts_init(&o);
        o.build_contexts = specs;
        o.nbuild_contexts = 2;
        struct bld_stage st[1];
        memset(st, 0, sizeof(st));
        struct bld_ctx b;
        memset(&b, 0, sizeof(b));
        b.opts = &o;
        b.stages = st;
        b.nstages = 1;
        struct cb_err err;
        cb_err_init(&err);
        assert_int_equal(bld_nctxs_open(&b, &err), 0);
        const struct bld_nctx *p = bld_nctx_find(&b, "plain"), *t = bld_nctx_find(&b, "tools");
        assert_non_null(p);
        assert_non_null(t);
        assert_null(bld_nctx_find(&b, "Tools"));
        assert_int_equal(p->kind, BLD_NCTX_DIR);
        assert_true(p->fd >= 0);
        assert_null(p->ignore);
        assert_non_null(t->ignore);
        assert_true(df_ignore_match(t->ignore, "id.key"));
        assert_false(df_ignore_match(t->ignore, "a.txt"));
        assert_ptr_equal(bld_nctx_dir_for(&b, "tools"), t);
        /* an earlier stage named like the context is what --from=tools means */
        st[0].name = cb_xstrdup("tools");
        st[0].built = true;
        assert_null(bld_nctx_dir_for(&b, "tools"));
        assert_ptr_equal(bld_nctx_dir_for(&b, "plain"), p);
        free(st[0].name);
        bld_nctxs_release(&b);
        assert_int_equal(b.nnctx, 0);

        /* a missing directory names the context */
        char *s3 = cb_xasprintf("gone=%s/missing", dir);
        const char *specs2[] = { s3 };
        o.build_contexts = specs2;
        o.nbuild_contexts = 1;
        assert_int_equal(bld_nctxs_open(&b, &err), -ENOENT);
        assert_non_null(strstr(cb_err_msg(&err), "--build-context gone: open directory '"));
        bld_nctxs_release(&b);
        cb_err_release(&err);
        struct cb_err e2;
        cb_err_init(&e2);
        (void) cb_rm_rf(AT_FDCWD, dir, &e2);
        cb_err_release(&e2);
        free(s1);
        free(s2);
        free(s3);
        free(plain);
        free(ign);
        free(dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_check_accepts_images_layouts_and_directories),
                cmocka_unit_test(test_check_refuses_git_urls_and_malformed_specs),
                cmocka_unit_test(test_directory_contexts_open_with_their_dockerignore),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* RUN helpers: the output tail in error messages, USER lookup in an image's passwd/group. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "builder/run.h"

static void test_tail_keeps_the_last_lines_indented(void **state)
{
        (void) state;
        struct bld_run_ctx rc;
        bld_run_ctx_init(&rc, true);
        const char *out = "one\ntwo\nthree\nfour\n";
        bld_run_on_output(&rc, out, strlen(out));
        char *t = bld_run_tail(&rc, 2);
        assert_string_equal(t, "  | three\n  | four");
        free(t);
        bld_run_ctx_release(&rc);
}

static void test_tail_of_huge_output_stays_bounded(void **state)
{
        (void) state;
        struct bld_run_ctx rc;
        char line[100];
        bld_run_ctx_init(&rc, true);
        for (int i = 0; i < 100000; i++) {
                int n = snprintf(line, sizeof(line), "line %d\n", i);
                bld_run_on_output(&rc, line, (size_t) n);
        }
        assert_true(rc.tail.len <= 2 * 8192);
        char *t = bld_run_tail(&rc, 1);
        assert_string_equal(t, "  | line 99999");
        free(t);
        bld_run_ctx_release(&rc);
}

static char root[] = "/tmp/cb-users-XXXXXX";

static void write_at(const char *rel, const char *text)
{
        char p[4096];
        (void) snprintf(p, sizeof(p), "%s/%s", root, rel);
        assert_int_equal(cb_write_file_atomic(AT_FDCWD, p, text, strlen(text), 0644, NULL), 0);
}

static void test_user_names_resolve_through_the_images_files(void **state)
{
        (void) state;
        assert_non_null(mkdtemp(root));
        char etc[4096];
        (void) snprintf(etc, sizeof(etc), "%s/etc", root);
        assert_int_equal(mkdir(etc, 0755), 0);
        write_at("etc/passwd", "root:x:0:0:root:/root:/bin/bash\napp:x:1000:1001::/home/app:/bin/sh\n");
        write_at("etc/group", "root:x:0:\nstaff:x:50:\napp:x:1001:\n");
        uid_t u;
        gid_t g;
        struct cb_err err;
        cb_err_init(&err);
        assert_int_equal(bld_resolve_user(root, "app", &u, &g, &err), 0);
        assert_int_equal(u, 1000);
        assert_int_equal(g, 1001);
        assert_int_equal(bld_resolve_user(root, "app:staff", &u, &g, &err), 0);
        assert_int_equal(g, 50);
        assert_int_equal(bld_resolve_user(root, "4242:7", &u, &g, &err), 0);
        assert_int_equal(u, 4242);
        assert_int_equal(g, 7);
        assert_int_equal(bld_resolve_user(root, "nobody-here", &u, &g, &err), -ENOENT);
        assert_non_null(strstr(cb_err_msg(&err), "'nobody-here'"));
        assert_int_equal(bld_resolve_user(root, "app:nogroup", &u, &g, &err), -ENOENT);
        assert_non_null(strstr(cb_err_msg(&err), "'nogroup'"));
        cb_err_release(&err);
        (void) cb_rm_rf(AT_FDCWD, root, NULL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_tail_keeps_the_last_lines_indented),
                cmocka_unit_test(test_tail_of_huge_output_stays_bounded),
                cmocka_unit_test(test_user_names_resolve_through_the_images_files),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

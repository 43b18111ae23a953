/* fd helpers: bounded reads (a regression: a read near max overran the buffer), atomic writes. */
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

#include "common/cb.h"

static char dir[] = "/tmp/cb-fd-XXXXXX";

static void write_n(const char *name, size_t n)
{
        char *p = cb_xmalloc(n);
        memset(p, 'x', n);
        assert_int_equal(cb_write_file_atomic(AT_FDCWD, name, p, n, 0644, NULL), 0);
        free(p);
}

static void test_read_file_exactly_max_is_fine_one_more_is_e2big(void **state)
{
        (void) state;
        assert_non_null(mkdtemp(dir));
        char a[256], b2[256];
        (void) snprintf(a, sizeof(a), "%s/a", dir);
        (void) snprintf(b2, sizeof(b2), "%s/b", dir);
        write_n(a, 4096);
        write_n(b2, 4097);
        struct cb_buf b;
        struct cb_err err;
        cb_err_init(&err);
        cb_buf_init(&b, 1);
        assert_int_equal(cb_read_file(AT_FDCWD, a, 4096, &b, &err), 0);
        assert_int_equal(b.len, 4096);
        assert_int_equal(b.p[4096], '\0');
        cb_buf_release(&b);
        cb_buf_init(&b, 1);
        assert_int_equal(cb_read_file(AT_FDCWD, b2, 4096, &b, &err), -E2BIG);
        assert_non_null(strstr(cb_err_msg(&err), "larger than 4096"));
        cb_buf_release(&b);
        /* small max, large file: never writes past the buffer (ASan checks) */
        cb_buf_init(&b, 1);
        assert_int_equal(cb_read_file(AT_FDCWD, a, 100, &b, &err), -E2BIG);
        cb_buf_release(&b);
        cb_err_release(&err);
}

static void test_write_file_atomic_replaces_and_leaves_no_temp(void **state)
{
        (void) state;
        char p[256];
        (void) snprintf(p, sizeof(p), "%s/f", dir);
        assert_int_equal(cb_write_file_atomic(AT_FDCWD, p, "one", 3, 0600, NULL), 0);
        assert_int_equal(cb_write_file_atomic(AT_FDCWD, p, "two!", 4, 0600, NULL), 0);
        struct cb_buf b;
        cb_buf_init(&b, 100);
        assert_int_equal(cb_read_file(AT_FDCWD, p, 100, &b, NULL), 0);
        assert_string_equal(b.p, "two!");
        cb_buf_release(&b);
        struct cb_err err;
        cb_err_init(&err);
        assert_int_equal(cb_rm_rf(AT_FDCWD, dir, &err), 0);
        struct stat st;
        assert_int_not_equal(stat(dir, &st), 0);
        cb_err_release(&err);
}

static void test_missing_file_names_the_path(void **state)
{
        (void) state;
        struct cb_buf b;
        struct cb_err err;
        cb_buf_init(&b, 10);
        cb_err_init(&err);
        assert_int_equal(cb_read_file(AT_FDCWD, "/nonexistent/x", 10, &b, &err), -ENOENT);
        assert_string_equal(cb_err_msg(&err), "open '/nonexistent/x': No such file or directory");
        cb_buf_release(&b);
        cb_err_release(&err);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_read_file_exactly_max_is_fine_one_more_is_e2big),
                cmocka_unit_test(test_write_file_atomic_replaces_and_leaves_no_temp),
                cmocka_unit_test(test_missing_file_names_the_path),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

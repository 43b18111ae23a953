/* The error chain: raise, wrap, errno text, digests. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "common/cb.h"

static void test_wrap_builds_one_readable_chain(void **state)
{
        (void) state;
        struct cb_err err;
        cb_err_init(&err);
        assert_int_equal(cb_fail(&err, ENOENT, "open '%s'", "app/"), -ENOENT);
        cb_wrap(&err, "COPY");
        cb_wrap(&err, "%s:%u", "Dockerfile", 14u);
        assert_string_equal(cb_err_msg(&err), "Dockerfile:14: COPY: open 'app/': No such file or directory");
        assert_int_equal(err.errnum, ENOENT);
        assert_int_equal(cb_failc(&err, -EBADMSG, "digest mismatch"), -EBADMSG);
        assert_string_equal(cb_err_msg(&err), "digest mismatch");
        cb_err_release(&err);
}

static void test_sha256_of_known_input(void **state)
{
        (void) state;
        char d[CB_DIGEST_STR_LEN];
        cb_sha256_digest("abc", 3, d);
        assert_string_equal(d, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_true(cb_digest_valid(d));
        assert_false(cb_digest_valid("sha256:BA7816"));
        struct cb_sha256 *h = cb_sha256_new();
        cb_sha256_update(h, "a", 1);
        cb_sha256_update(h, "bc", 2);
        char d2[CB_DIGEST_STR_LEN];
        cb_sha256_final(h, d2);
        cb_sha256_free(h);
        assert_string_equal(d, d2);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_wrap_builds_one_readable_chain),
                cmocka_unit_test(test_sha256_of_known_input),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

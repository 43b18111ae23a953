/* digest.c: sha256 strings, and the raw form and back. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/cb.h"

static void test_raw_round_trip(void **state)
{
        (void) state;
        char d[CB_DIGEST_STR_LEN], back[CB_DIGEST_STR_LEN];
        unsigned char raw[CB_SHA256_LEN];
        cb_sha256_digest("abc", 3, d);
        assert_string_equal(d, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_int_equal(cb_digest_to_raw(d, raw), 0);
        assert_int_equal(raw[0], 0xba);
        assert_int_equal(raw[CB_SHA256_LEN - 1], 0xad);
        cb_digest_from_raw(raw, back);
        assert_string_equal(back, d);
}

static void test_to_raw_refuses_what_is_no_digest(void **state)
{
        (void) state;
        unsigned char raw[CB_SHA256_LEN];
        assert_int_equal(cb_digest_to_raw("sha256:BA7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", raw),
                         -EINVAL);
        assert_int_equal(cb_digest_to_raw("sha256:ba78", raw), -EINVAL);
        assert_int_equal(cb_digest_to_raw("sha512:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", raw),
                         -EINVAL);
        assert_int_equal(cb_digest_to_raw(NULL, raw), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_raw_round_trip),
                cmocka_unit_test(test_to_raw_refuses_what_is_no_digest),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* cb_buf: invariants (p never NULL, NUL-terminated), the max cap, take. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/cb.h"

static void test_empty_buffer_is_a_valid_empty_string(void **state)
{
        (void) state;
        struct cb_buf b;
        cb_buf_init(&b, 16);
        assert_non_null(b.p);
        assert_string_equal(b.p, "");
        cb_buf_release(&b);
}

static void test_growth_past_max_fails_and_keeps_content(void **state)
{
        (void) state;
        struct cb_buf b;
        cb_buf_init(&b, 8);
        assert_int_equal(cb_buf_adds(&b, "12345678"), 0);
        assert_int_equal(cb_buf_addc(&b, '9'), -E2BIG);
        assert_string_equal(b.p, "12345678");
        assert_int_equal(cb_buf_addf(&b, "%d", 5), -E2BIG);
        cb_buf_release(&b);
}

static void test_addf_formats_long_strings(void **state)
{
        (void) state;
        struct cb_buf b;
        char big[1000];
        memset(big, 'a', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        cb_buf_init(&b, CB_BUF_UNLIMITED);
        assert_int_equal(cb_buf_addf(&b, "<%s>", big), 0);
        assert_int_equal(b.len, 1001);
        assert_int_equal(b.p[1001], '\0');
        size_t n;
        char *p = cb_buf_take(&b, &n);
        assert_int_equal(n, 1001);
        assert_string_equal(b.p, "");
        free(p);
        cb_buf_release(&b);
}

static void test_parse_u64_rejects_junk_and_overflow(void **state)
{
        (void) state;
        uint64_t v;
        assert_int_equal(cb_parse_u64(cb_str_c("42"), 100, &v), 0);
        assert_int_equal(v, 42);
        assert_int_equal(cb_parse_u64(cb_str_c("42x"), 100, &v), -EINVAL);
        assert_int_equal(cb_parse_u64(cb_str_c(""), 100, &v), -EINVAL);
        assert_int_equal(cb_parse_u64(cb_str_c("101"), 100, &v), -ERANGE);
        assert_int_equal(cb_parse_u64(cb_str_c("18446744073709551616"), UINT64_MAX, &v), -ERANGE);
        assert_int_equal(cb_parse_size(cb_str_c("8g"), &v), 0);
        assert_int_equal(v, 8ull << 30);
        unsigned m;
        assert_int_equal(cb_parse_mode(cb_str_c("0755"), &m), 0);
        assert_int_equal(m, 0755);
        assert_int_equal(cb_parse_mode(cb_str_c("0855"), &m), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_empty_buffer_is_a_valid_empty_string),
                cmocka_unit_test(test_growth_past_max_fails_and_keeps_content),
                cmocka_unit_test(test_addf_formats_long_strings),
                cmocka_unit_test(test_parse_u64_rejects_junk_and_overflow),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

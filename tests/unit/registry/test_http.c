/* registry/http.c: the retry policy's arithmetic and where credentials may go. The transfer engine
 * itself runs against real registries in tests/cli/registry-*.bats. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "registry/internal.h"

static void test_backoff_doubles_with_jitter_and_caps(void **state)
{
        for (int k = 0; k < 200; k++) {
                int d1 = reg_backoff_ms(250, 1);
                assert_in_range(d1, 125, 250);
                int d3 = reg_backoff_ms(250, 3);
                assert_in_range(d3, 500, 1000);
                int big = reg_backoff_ms(250, 40);
                assert_in_range(big, 15000, 30000);
        }
        /* jitter: 200 draws of the third step are not all equal */
        int first = reg_backoff_ms(1000, 3), differ = 0;
        for (int k = 0; k < 200; k++)
                differ |= reg_backoff_ms(1000, 3) != first;
        assert_true(differ);
}

static void test_retry_after_seconds_and_dates(void **state)
{
        assert_int_equal(reg_retry_after_ms(NULL), -1);
        assert_int_equal(reg_retry_after_ms(""), -1);
        assert_int_equal(reg_retry_after_ms("junk"), -1);
        assert_int_equal(reg_retry_after_ms("0"), 0);
        assert_int_equal(reg_retry_after_ms("3"), 3000);
        assert_int_equal(reg_retry_after_ms("3600"), 60000); /* capped */
        assert_int_equal(reg_retry_after_ms("-5"), -1);
        assert_int_equal(reg_retry_after_ms("Wed, 21 Oct 2015 07:28:00 GMT"), 0); /* in the past */
        char future[64];
        time_t t = time(NULL) + 30;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(future, sizeof(future), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        assert_in_range(reg_retry_after_ms(future), 28000, 30000);
}

static void test_credentials_stay_on_the_registry_host(void **state)
{
        assert_true(reg_url_same_host("/v2/a/blobs/uploads/x?_state=1", "reg.example"));
        assert_true(reg_url_same_host("https://reg.example/v2/a/blobs/uploads/x", "reg.example"));
        assert_true(reg_url_same_host("https://REG.example:443/v2/", "reg.example"));
        assert_true(reg_url_same_host("http://127.0.0.1:5000/v2/x", "127.0.0.1:5000"));
        assert_false(reg_url_same_host("https://storage.example/v2/x", "reg.example"));
        assert_false(reg_url_same_host("https://reg.example.evil.com/v2/x", "reg.example"));
        assert_false(reg_url_same_host("https://reg.example:8443/v2/x", "reg.example"));
        assert_false(reg_url_same_host("http://127.0.0.1:5001/v2/x", "127.0.0.1:5000"));
        assert_false(reg_url_same_host("reg.example/v2/x", "reg.example"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_backoff_doubles_with_jitter_and_caps),
                cmocka_unit_test(test_retry_after_seconds_and_dates),
                cmocka_unit_test(test_credentials_stay_on_the_registry_host),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

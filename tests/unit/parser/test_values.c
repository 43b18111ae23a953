/* parser/values.c: HEALTHCHECK durations and EXPOSE port specs. */
#include "helpers.h"

#include <errno.h>

static void dur(const char *s, uint64_t want)
{
        uint64_t ns = 1;
        int r = df_duration_parse(s, &ns);
        if (r < 0 || ns != want)
                print_error("'%s': r=%d ns=%llu want %llu\n", s, r, (unsigned long long) ns,
                            (unsigned long long) want);
        assert_int_equal(r, 0);
        assert_true(ns == want);
}

static void test_durations(void **state)
{
        dur("30s", 30000000000ull);
        dur("1m30s", 90000000000ull);
        dur("1.5h", 5400000000000ull);
        dur("250ms", 250000000ull);
        dur("0", 0);
        dur("0s", 0);
        dur("10us", 10000ull);
        dur("3ns", 3);
        uint64_t ns;
        assert_int_equal(df_duration_parse("30", &ns), -EINVAL);
        assert_int_equal(df_duration_parse("s", &ns), -EINVAL);
        assert_int_equal(df_duration_parse("5d", &ns), -EINVAL);
        assert_int_equal(df_duration_parse("", &ns), -EINVAL);
        assert_int_equal(df_duration_parse("99999999999999999999h", &ns), -ERANGE);
}

static void test_healthcheck_durations_are_checked_at_parse(void **state)
{
        parse_fails("FROM a\nHEALTHCHECK --interval=30 CMD x\n", -EINVAL,
                    "--interval='30' is not a duration");
        parse_fails("FROM a\nHEALTHCHECK --timeout=10us CMD x\n", -EINVAL,
                    "--timeout='10us' is shorter than 1ms");
        struct df_file *f = parse_ok("FROM a\nHEALTHCHECK --interval=$IV --start-period=0s CMD x\n");
        df_file_free(f);
}

static void test_ports(void **state)
{
        struct df_port p;
        assert_int_equal(df_port_parse("8888", &p), 0);
        assert_int_equal(p.first, 8888);
        assert_int_equal(p.last, 8888);
        assert_string_equal(p.proto, "tcp");
        assert_int_equal(df_port_parse("8000-8010/UDP", &p), 0);
        assert_int_equal(p.first, 8000);
        assert_int_equal(p.last, 8010);
        assert_string_equal(p.proto, "udp");
        assert_int_equal(df_port_parse("9/sctp", &p), 0);
        assert_int_equal(df_port_parse("127.0.0.1:80:80", &p), -EINVAL);
        assert_int_equal(df_port_parse("70000", &p), -EINVAL);
        assert_int_equal(df_port_parse("90-80", &p), -EINVAL);
        assert_int_equal(df_port_parse("80/icmp", &p), -EINVAL);
        assert_int_equal(df_port_parse("", &p), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_durations),
            cmocka_unit_test(test_healthcheck_durations_are_checked_at_parse),
            cmocka_unit_test(test_ports),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

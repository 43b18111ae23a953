/* The static report's data and small parsers (kernels/compat-data.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <string.h>

#include "compat.h"

static void test_driver_parse(void **state)
{
        (void) state;
        assert_true(kv_driver_parse("535") == (uint64_t) 535 << 32);
        assert_true(kv_driver_parse("525.60.13") == ((uint64_t) 525 << 32 | 60 << 16 | 13));
        assert_true(kv_driver_parse("570.26") < kv_driver_parse("570.124.06"));
        assert_true(kv_driver_parse("535") > kv_driver_parse("525.60.13"));
        assert_true(kv_driver_parse("450.80.02") < kv_driver_parse("470"));
        assert_true(kv_driver_parse("") == 0);
        assert_true(kv_driver_parse("r535") == 0);
        assert_true(kv_driver_parse("535.") == 0);
        assert_true(kv_driver_parse("535.1.2.3") == 0);
        assert_true(kv_driver_parse(NULL) == 0);
}

static void test_driver_tables(void **state)
{
        (void) state;
        /* NVIDIA's release notes: toolkit drivers and minor-version compatibility */
        assert_string_equal(kv_cuda_min_driver(11080), "520.61.05");
        assert_string_equal(kv_cuda_min_driver(12000), "525.60.13");
        assert_string_equal(kv_cuda_min_driver(12040), "550.54.14");
        assert_string_equal(kv_cuda_min_driver(13000), "580.65.06");
        assert_string_equal(kv_cuda_min_driver(12070), "570.26"); /* 12.7 had no Linux release */
        assert_null(kv_cuda_min_driver(7050));
        assert_string_equal(kv_cuda_min_driver_compat(11), "450.80.02");
        assert_string_equal(kv_cuda_min_driver_compat(12), "525.60.13");
        assert_string_equal(kv_cuda_min_driver_compat(13), "580.65.06");
        assert_string_equal(kv_cuda_min_driver_compat(10), "410.48");
        assert_null(kv_cuda_min_driver_compat(14));
        assert_int_equal(kv_ptx_isa_cuda(7, 8), 11080);
        assert_int_equal(kv_ptx_isa_cuda(8, 4), 12040);
        assert_int_equal(kv_ptx_isa_cuda(9, 0), 13000);
        assert_int_equal(kv_ptx_isa_cuda(9, 9), 0);
}

static void test_arch_parse(void **state)
{
        (void) state;
        assert_int_equal(kv_arch_parse("sm_90", 5), 90);
        assert_int_equal(kv_arch_parse("compute_75", 10), 75);
        assert_int_equal(kv_arch_parse("86", 2), 86);
        assert_int_equal(kv_arch_parse("8.6", 3), 86);
        assert_int_equal(kv_arch_parse("12.0", 4), 120);
        assert_int_equal(kv_arch_parse("sm_120", 6), 120);
        assert_int_equal(kv_arch_parse("sm_90,sm_80", 5), 90);
        assert_int_equal(kv_arch_parse("sm_", 3), 0);
        assert_int_equal(kv_arch_parse("sm_9", 4), 0);
        assert_int_equal(kv_arch_parse("ampere", 6), 0);
        assert_int_equal(kv_arch_parse("sm_9000", 7), 0);
        assert_string_equal(kv_arch_family(70), "Volta");
        assert_string_equal(kv_arch_family(75), "Turing");
        assert_string_equal(kv_arch_family(86), "Ampere");
        assert_string_equal(kv_arch_family(89), "Ada");
        assert_string_equal(kv_arch_family(90), "Hopper");
        assert_string_equal(kv_arch_family(120), "Blackwell");
        assert_string_equal(kv_arch_family(52), "Maxwell");
        assert_string_equal(kv_arch_family(61), "Pascal");
}

static void test_entry_runs(void **state)
{
        struct kv_fatbin_entry sass80 = {KV_FATBIN_SASS, 80, KV_ARCH_PLAIN, 0, 0, false};
        struct kv_fatbin_entry sass90a = {KV_FATBIN_SASS, 90, KV_ARCH_SPECIFIC, 0, 0, false};
        struct kv_fatbin_entry ptx70 = {KV_FATBIN_PTX, 70, KV_ARCH_PLAIN, 7, 8, true};
        struct kv_fatbin_entry ptx100f = {KV_FATBIN_PTX, 100, KV_ARCH_FAMILY, 9, 0, true};

        (void) state;
        /* SASS: same major, a minor at least the cubin's */
        assert_int_equal(kv_fatbin_entry_runs(&sass80, 80), KV_RUN_NATIVE);
        assert_int_equal(kv_fatbin_entry_runs(&sass80, 86), KV_RUN_NATIVE);
        assert_int_equal(kv_fatbin_entry_runs(&sass80, 89), KV_RUN_NATIVE);
        assert_int_equal(kv_fatbin_entry_runs(&sass80, 75), KV_RUN_NONE);
        assert_int_equal(kv_fatbin_entry_runs(&sass80, 90), KV_RUN_NONE);
        assert_int_equal(kv_fatbin_entry_runs(&sass90a, 90), KV_RUN_NATIVE);
        /* PTX: any GPU at least its target */
        assert_int_equal(kv_fatbin_entry_runs(&ptx70, 70), KV_RUN_JIT);
        assert_int_equal(kv_fatbin_entry_runs(&ptx70, 120), KV_RUN_JIT);
        assert_int_equal(kv_fatbin_entry_runs(&ptx70, 61), KV_RUN_NONE);
        assert_int_equal(kv_fatbin_entry_runs(&ptx100f, 103), KV_RUN_JIT);
        assert_int_equal(kv_fatbin_entry_runs(&ptx100f, 120), KV_RUN_NONE);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_driver_parse),
            cmocka_unit_test(test_driver_tables),
            cmocka_unit_test(test_arch_parse),
            cmocka_unit_test(test_entry_runs),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* CPU references and their comparisons (kernels/ref.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <string.h>

#include "kv.h"

static void test_vadd_adds_elementwise(void **state)
{
        float a[3] = {1, 2.5f, -3}, b[3] = {0.5f, -2.5f, 1e-8f}, c[3];

        kv_ref_vadd(a, b, c, 3);
        assert_true(c[0] == 1.5f && c[1] == 0.0f && c[2] == -3.0f + 1e-8f);
}

static void test_sgemm_matches_hand_computed_product(void **state)
{
        /* [1 2 3; 4 5 6] (2x3) * [7 8; 9 10; 11 12] (3x2) = [58 64; 139 154] */
        float a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {7, 8, 9, 10, 11, 12};
        double c[4], bound[4];

        kv_ref_sgemm(a, b, c, bound, 2, 2, 3);
        assert_true(c[0] == 58 && c[1] == 64 && c[2] == 139 && c[3] == 154);
        assert_true(bound[0] == 58 && bound[3] == 154); /* all positive: sum|a*b| == the product */
}

static void test_sgemm_bound_sums_absolute_products(void **state)
{
        float a[2] = {1, -1}, b[2] = {2, 2};
        double c, bound;

        kv_ref_sgemm(a, b, &c, &bound, 1, 1, 2);
        assert_true(c == 0.0 && bound == 4.0);
}

static void test_gemm_check_accepts_within_tolerance_rejects_beyond(void **state)
{
        size_t k = 512;
        double ref[2] = {10.0, -3.0}, bound[2] = {100.0, 100.0};
        double tol = KV_GEMM_RTOL * (double) k * FLT_EPSILON * 100.0 + KV_GEMM_ATOL;
        float got[2] = {(float) (10.0 + tol * 0.5), -3.0f};
        struct kv_mismatch mm;

        assert_true(kv_gemm_check(got, ref, bound, 1, 2, k, &mm));
        assert_int_equal(mm.count, 0);
        got[1] = (float) (-3.0 - tol * 4);
        assert_false(kv_gemm_check(got, ref, bound, 1, 2, k, &mm));
        assert_int_equal(mm.count, 1);
        assert_int_equal(mm.index, 1);
        assert_true(fabs(mm.tol - tol) < 1e-12);
}

static void test_gemm_check_rejects_nan(void **state)
{
        double ref[1] = {1.0}, bound[1] = {1.0};
        float got[1] = {NAN};
        struct kv_mismatch mm;

        assert_false(kv_gemm_check(got, ref, bound, 1, 1, 1, &mm));
        assert_int_equal(mm.count, 1);
}

static void test_exact_check_reports_first_difference(void **state)
{
        float want[4] = {1, 2, 3, 4}, got[4] = {1, 2, 3.0000002f, 5};
        struct kv_mismatch mm;

        assert_false(kv_exact_check(got, want, 4, &mm));
        assert_int_equal(mm.count, 2);
        assert_int_equal(mm.index, 2);
        assert_true(kv_exact_check(want, want, 4, NULL));
}

static void test_fill_is_reproducible_and_in_range(void **state)
{
        float a[1000], b[1000], c[1000];

        kv_fill(a, 1000, 7);
        kv_fill(b, 1000, 7);
        kv_fill(c, 1000, 8);
        assert_memory_equal(a, b, sizeof(a));
        assert_true(memcmp(a, c, sizeof(a)) != 0);
        for (size_t i = 0; i < 1000; i++)
                assert_true(a[i] >= -1.0f && a[i] < 1.0f);
}

/* The tiled order of summation on a GPU must stay inside the stated tolerance: emulate it on the CPU
 * (float accumulation in 16-wide tiles) for the verifier's problem size. */
static void test_tolerance_admits_float_tiled_accumulation(void **state)
{
        enum { M = 33, N = 25, K = 511 };
        static float a[M * K], b[K * N], got[M * N];
        static double ref[M * N], bound[M * N];

        kv_fill(a, M * K, 3);
        kv_fill(b, K * N, 4);
        kv_ref_sgemm(a, b, ref, bound, M, N, K);
        for (size_t i = 0; i < M; i++)
                for (size_t j = 0; j < N; j++) {
                        float acc = 0;

                        for (size_t t = 0; t < K; t += KV_GEMM_TILE)
                                for (size_t p = t; p < t + KV_GEMM_TILE && p < K; p++)
                                        acc = fmaf(a[i * K + p], b[p * N + j], acc);
                        got[i * N + j] = acc;
                }
        assert_true(kv_gemm_check(got, ref, bound, M, N, K, NULL));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_vadd_adds_elementwise),
            cmocka_unit_test(test_sgemm_matches_hand_computed_product),
            cmocka_unit_test(test_sgemm_bound_sums_absolute_products),
            cmocka_unit_test(test_gemm_check_accepts_within_tolerance_rejects_beyond),
            cmocka_unit_test(test_gemm_check_rejects_nan),
            cmocka_unit_test(test_exact_check_reports_first_difference),
            cmocka_unit_test(test_fill_is_reproducible_and_in_range),
            cmocka_unit_test(test_tolerance_admits_float_tiled_accumulation),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

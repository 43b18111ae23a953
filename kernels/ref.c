/* CPU references for the verifier's kernels, and the comparisons with their stated tolerances. */
#include "kv.h"

#include <float.h>
#include <math.h>

void kv_ref_vadd(const float *a, const float *b, float *c, size_t n)
{
        for (size_t i = 0; i < n; i++)
                c[i] = a[i] + b[i];
}

void kv_ref_sgemm(const float *a, const float *b, double *c, double *ret_bound, size_t m, size_t n, size_t k)
{
        for (size_t i = 0; i < m; i++) {
                double *crow = c + i * n;
                double *brow_bound = ret_bound ? ret_bound + i * n : NULL;

                for (size_t j = 0; j < n; j++) {
                        crow[j] = 0.0;
                        if (brow_bound)
                                brow_bound[j] = 0.0;
                }
                /* i-p-j order walks B and C by rows: the cache-friendly loop for row-major data. */
                for (size_t p = 0; p < k; p++) {
                        double aip = a[i * k + p];
                        const float *brow = b + p * n;

                        for (size_t j = 0; j < n; j++) {
                                double prod = aip * (double) brow[j];
                                crow[j] += prod;
                                if (brow_bound)
                                        brow_bound[j] += fabs(prod);
                        }
                }
        }
}

static void mismatch_note(struct kv_mismatch *mm, size_t i, double got, double want, double tol)
{
        double e = fabs(got - want);

        if (e > mm->max_err || isnan(e))
                mm->max_err = e;
        if (!(e <= tol)) { /* NaN fails too */
                if (mm->count == 0) {
                        mm->index = i;
                        mm->got = got;
                        mm->want = want;
                        mm->tol = tol;
                }
                mm->count++;
        }
}

bool kv_gemm_check(const float *got, const double *ref, const double *bound, size_t m, size_t n, size_t k,
                   struct kv_mismatch *ret)
{
        struct kv_mismatch mm = {0};
        double scale = KV_GEMM_RTOL * (double) k * FLT_EPSILON;

        for (size_t i = 0; i < m * n; i++)
                mismatch_note(&mm, i, got[i], ref[i], scale * bound[i] + KV_GEMM_ATOL);
        if (ret)
                *ret = mm;
        return mm.count == 0;
}

bool kv_exact_check(const float *got, const float *want, size_t n, struct kv_mismatch *ret)
{
        struct kv_mismatch mm = {0};

        for (size_t i = 0; i < n; i++)
                mismatch_note(&mm, i, got[i], want[i], 0.0);
        if (ret)
                *ret = mm;
        return mm.count == 0;
}

void kv_fill(float *p, size_t n, uint64_t seed)
{
        uint64_t s = seed;

        for (size_t i = 0; i < n; i++) {
                /* Knuth's MMIX LCG; the top 24 bits give an exactly representable float. */
                s = s * 6364136223846793005ull + 1442695040888963407ull;
                p[i] = (float) ((double) (s >> 40) / (double) (1u << 23) - 1.0);
        }
}

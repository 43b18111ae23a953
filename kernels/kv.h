/* kv.h: the GPU verifier's public interface.
 *
 * The verifier is a program (cubuild-verify) that the builder bind-mounts into a built rootfs as
 * KV_VERIFY_PATH and runs there, with the GPU injected (see gpu.h), as
 *
 *     /.cubuild/verify --report /.cubuild/report.json
 *
 * It loads libcuda.so.1 with dlopen(), runs the embedded kernels (vector add, tiled SGEMM) through
 * the driver API and checks them against the CPU references below; then exercises the image's own
 * libcudart, libcublas and torch when the image has them. Its exit status says what happened
 * (KV_EXIT_*) and the JSON report says why. It needs nothing but the C library, so it runs in any
 * glibc >= 2.31 image.
 *
 * This header also holds the plain functions the verifier is made of that make sense without a GPU
 * (CPU references, comparison, PTX and image selection), so that tests can check them.
 * kernels/ includes nothing else of ours.
 */
#ifndef CUBUILD_KV_H
#define CUBUILD_KV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Exit statuses of cubuild-verify. 3 matches the builder's "GPU verification failed". */
#define KV_EXIT_PASS 0
#define KV_EXIT_ERROR 1 /* the verifier itself could not run (cannot write the report, ...) */
#define KV_EXIT_USAGE 2
#define KV_EXIT_FAIL 3   /* a check failed; the report says which and why */
#define KV_EXIT_NO_GPU 4 /* no driver or no device: nothing was verified */

/* Where the builder puts the verifier and wants the report, inside the rootfs. */
#define KV_VERIFY_PATH "/.cubuild/verify"
#define KV_REPORT_PATH "/.cubuild/report.json"

/* The report's "schema" field; bump when a field changes meaning. */
#define KV_REPORT_SCHEMA "cubuild.verify/v1"

/* The SGEMM kernel's tile edge; the host launches KV_GEMM_TILE x KV_GEMM_TILE thread blocks. */
#define KV_GEMM_TILE 16

/* ---- CPU references ---- */

/* c[i] = a[i] + b[i]. */
void kv_ref_vadd(const float *a, const float *b, float *c, size_t n);

/* Row-major C[m x n] = A[m x k] * B[k x n], accumulated in double. When ret_bound is not NULL it
 * receives, per element, sum_k |a_ik * b_kj|, which kv_gemm_check() scales into the tolerance. */
void kv_ref_sgemm(const float *a, const float *b, double *c, double *ret_bound, size_t m, size_t n, size_t k);

/* The stated gemm tolerance: |got - ref| <= KV_GEMM_RTOL * k * FLT_EPSILON * sum_k|a*b| + KV_GEMM_ATOL.
 * k * FLT_EPSILON * sum|a*b| is the classic worst-case error bound of a float dot product of length
 * k (Higham, ch. 3); the factor 2 leaves room for a different summation order (tiles, FMA). */
#define KV_GEMM_RTOL 2.0
#define KV_GEMM_ATOL 1e-6

struct kv_mismatch {
        size_t index; /* first element outside the tolerance */
        double got;
        double want;
        double tol;
        size_t count;   /* how many elements are outside it */
        double max_err; /* largest |got - want| over all elements */
};

/* Compares got (m*n floats) with ref and bound from kv_ref_sgemm(). Returns true when every element
 * is within the tolerance; *ret (may be NULL) is always filled, count 0 on success. */
bool kv_gemm_check(const float *got, const double *ref, const double *bound, size_t m, size_t n, size_t k,
                   struct kv_mismatch *ret);

/* Exact comparison (vector add is one IEEE rounding on both sides). Same contract as above. */
bool kv_exact_check(const float *got, const float *want, size_t n, struct kv_mismatch *ret);

/* Fills p[0..n) with reproducible values in [-1, 1) from seed (a 64-bit LCG). */
void kv_fill(float *p, size_t n, uint64_t seed);

/* ---- embedded kernel images ---- */

enum kv_image_kind {
        KV_IMAGE_PTX,   /* text, NUL-terminated, JIT-compiled by the driver */
        KV_IMAGE_CUBIN, /* SASS for one architecture */
};

struct kv_image {
        enum kv_image_kind kind;
        unsigned sm;               /* 70 for PTX targeting sm_70, 90 for an sm_90 cubin */
        const unsigned char *data; /* static storage */
        size_t len;                /* bytes, without the PTX's terminating NUL */
};

/* The images compiled into this program (static storage). */
const struct kv_image *kv_images(size_t *ret_count);

/* The best image for a device of compute capability major.minor: a cubin of the same major and
 * the highest minor <= the device's, else the PTX when its target <= the device. NULL when none
 * fits (a device older than sm_70). */
const struct kv_image *kv_image_pick(const struct kv_image *images, size_t count, unsigned major,
                                     unsigned minor);

/* The PTX image, NULL when none is embedded. */
const struct kv_image *kv_image_ptx(const struct kv_image *images, size_t count);

/* Parses the ".version X.Y" and ".target sm_NN" lines of PTX text (len bytes). Returns 0, or -EINVAL
 * when either line is missing or malformed. */
int kv_ptx_info(const char *ptx, size_t len, unsigned *ret_major, unsigned *ret_minor, unsigned *ret_sm);

/* ---- versions ---- */

/* CUDA encodes versions as 1000 * major + 10 * minor (12040 is 12.4). Writes "12.4" into buf. */
void kv_cuda_version_str(int v, char *buf, size_t len);

/* Whether an "sm_XY"/"compute_XY" arch list (comma-separated, as torch.cuda.get_arch_list() joined)
 * can run on compute capability major.minor: an sm_ entry of the same major and minor <= the
 * device's (SASS is compatible within a major), or a compute_ entry <= the device (PTX JIT).
 * Returns the matching entry's kind: 2 for an exact sm_ match, 1 for a compatible one (SASS of a
 * lower minor, or PTX), 0 for none. */
int kv_arch_list_supports(const char *list, unsigned major, unsigned minor);

#endif

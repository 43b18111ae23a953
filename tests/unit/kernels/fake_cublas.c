/* A stand-in libcublas for tests: column-major SGEMM on the CPU over the fake driver's "device"
 * pointers (plain host memory). */
#include <stdlib.h>

int cublasCreate_v2(void **h)
{
        *h = malloc(1);
        return *h ? 0 : 1;
}

int cublasDestroy_v2(void *h)
{
        free(h);
        return 0;
}

int cublasGetVersion_v2(void *h, int *v)
{
        *v = 120402;
        return 0;
}

int cublasGetProperty(int type, int *v)
{
        *v = type == 0 ? 12 : type == 1 ? 4 : 2;
        return 0;
}

int cublasSgemm_v2(void *h, int ta, int tb, int m, int n, int k, const float *alpha, const float *a, int lda,
                   const float *b, int ldb, const float *beta, float *c, int ldc)
{
        if (ta != 0 || tb != 0)
                return 7; /* CUBLAS_STATUS_INVALID_VALUE: the verifier only uses N, N */
        for (int j = 0; j < n; j++)
                for (int i = 0; i < m; i++) {
                        float acc = 0;

                        for (int p = 0; p < k; p++)
                                acc += a[i + (size_t) p * lda] * b[p + (size_t) j * ldb];
                        c[i + (size_t) j * ldc] = *alpha * acc + *beta * c[i + (size_t) j * ldc];
                }
        return 0;
}

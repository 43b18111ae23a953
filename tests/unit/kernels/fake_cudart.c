/* A stand-in libcudart for tests, reporting FAKE_CUDART_VERSION (compile-time). Like the real one,
 * every call fails with cudaErrorInsufficientDriver (35) when its major is newer than the driver's
 * (read from the fake libcuda's FAKE_CUDA_VERSION). */
#include <stdlib.h>
#include <string.h>

static int insufficient(void)
{
        const char *d = getenv("FAKE_CUDA_VERSION");
        int drv = d ? (int) strtol(d, NULL, 10) : 13000;

        return FAKE_CUDART_VERSION / 1000 > drv / 1000;
}

int cudaRuntimeGetVersion(int *v)
{
        *v = FAKE_CUDART_VERSION;
        return 0;
}

int cudaDriverGetVersion(int *v)
{
        const char *d = getenv("FAKE_CUDA_VERSION");

        *v = d ? (int) strtol(d, NULL, 10) : 13000;
        return 0;
}

int cudaGetDeviceCount(int *n)
{
        if (insufficient())
                return 35;
        *n = 1;
        return 0;
}

int cudaSetDevice(int d)
{
        return insufficient() ? 35 : 0;
}

int cudaMalloc(void **p, size_t n)
{
        if (insufficient())
                return 35;
        *p = malloc(n);
        return *p ? 0 : 2;
}

int cudaFree(void *p)
{
        free(p);
        return 0;
}

int cudaMemcpy(void *d, const void *s, size_t n, int kind)
{
        memcpy(d, s, n);
        return 0;
}

const char *cudaGetErrorString(int e)
{
        return e == 35 ? "CUDA driver version is insufficient for CUDA runtime version" : "fake error";
}

const char *cudaGetErrorName(int e)
{
        return e == 35 ? "cudaErrorInsufficientDriver" : "cudaErrorFake";
}

/* A stand-in libcuda.so.1 for tests: the verifier's only mock, at the driver-API boundary. It
 * "runs" the verifier's kernels on the CPU, so the whole pass path can be tested without a GPU, and
 * FAKE_CUDA_MODE picks a failure:
 *   ok (default)  nodevice (cuInit says CUDA_ERROR_NO_DEVICE)  initfail (cuInit says 999)
 *   wrong (the SGEMM result is off in one element)  wrong1 (the same, on device 1 only)
 *   nojit (PTX images fail to load, with a log)
 * FAKE_CUDA_COUNT is the number of devices (1).
 * FAKE_CUDA_CC is the compute capability ("9.0"), FAKE_CUDA_VERSION the driver's CUDA (13000). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int CUresult;
typedef unsigned long long CUdeviceptr;

static const char *mode(void)
{
        const char *m = getenv("FAKE_CUDA_MODE");

        return m ? m : "ok";
}

static int env_int(const char *name, int def)
{
        const char *v = getenv(name);

        return v ? (int) strtol(v, NULL, 10) : def;
}

CUresult cuInit(unsigned flags)
{
        if (strcmp(mode(), "nodevice") == 0)
                return 100;
        if (strcmp(mode(), "initfail") == 0)
                return 999;
        return 0;
}

CUresult cuDriverGetVersion(int *v)
{
        *v = env_int("FAKE_CUDA_VERSION", 13000);
        return 0;
}

static int current = 0; /* the device whose primary context is current */

CUresult cuDeviceGetCount(int *n)
{
        *n = env_int("FAKE_CUDA_COUNT", 1);
        return 0;
}

CUresult cuDeviceGet(int *d, int i)
{
        *d = i;
        return 0;
}

CUresult cuDeviceGetName(char *name, int len, int d)
{
        if (d == 0)
                snprintf(name, (size_t) len, "Fake GPU");
        else
                snprintf(name, (size_t) len, "Fake GPU %d", d);
        return 0;
}

CUresult cuDeviceGetAttribute(int *v, int attr, int d)
{
        const char *cc = getenv("FAKE_CUDA_CC");
        int major = 9, minor = 0;

        if (cc)
                sscanf(cc, "%d.%d", &major, &minor);
        *v = attr == 75 ? major : attr == 76 ? minor : attr == 16 ? 4 : 0;
        return 0;
}

CUresult cuDeviceTotalMem_v2(size_t *b, int d)
{
        *b = (size_t) 1 << 30;
        return 0;
}

CUresult cuDevicePrimaryCtxRetain(void **ctx, int d)
{
        *ctx = (void *) (uintptr_t) (0x100 + d);
        return 0;
}

CUresult cuDevicePrimaryCtxRelease_v2(int d)
{
        return 0;
}

CUresult cuCtxSetCurrent(void *ctx)
{
        current = (int) ((uintptr_t) ctx - 0x100);
        return 0;
}

CUresult cuCtxSynchronize(void)
{
        return 0;
}

CUresult cuModuleLoadDataEx(void **mod, const void *image, unsigned n, int *opts, void **vals)
{
        const char *p = image;

        if (memcmp(p, "\177ELF", 4) == 0) {
                *mod = (void *) 0x2;
                return 0;
        }
        if (!strstr(p, ".version") || !strstr(p, ".entry kv_sgemm"))
                return 200; /* CUDA_ERROR_INVALID_IMAGE */
        if (strcmp(mode(), "nojit") == 0) {
                for (unsigned i = 0; i < n; i++)
                        if (opts[i] == 5)
                                snprintf(vals[i], 64, "ptxas fatal: fake JIT refuses");
                return 218; /* CUDA_ERROR_INVALID_PTX */
        }
        *mod = (void *) 0x3;
        return 0;
}

CUresult cuModuleUnload(void *mod)
{
        return 0;
}

CUresult cuModuleGetFunction(void **fn, void *mod, const char *name)
{
        if (strcmp(name, "kv_vadd") == 0)
                *fn = (void *) 0x10;
        else if (strcmp(name, "kv_sgemm") == 0)
                *fn = (void *) 0x20;
        else
                return 500; /* CUDA_ERROR_NOT_FOUND */
        return 0;
}

CUresult cuMemAlloc_v2(CUdeviceptr *p, size_t n)
{
        void *m = malloc(n);

        if (!m)
                return 2;
        *p = (CUdeviceptr) (uintptr_t) m;
        return 0;
}

CUresult cuMemFree_v2(CUdeviceptr p)
{
        free((void *) (uintptr_t) p);
        return 0;
}

CUresult cuMemcpyHtoD_v2(CUdeviceptr d, const void *h, size_t n)
{
        memcpy((void *) (uintptr_t) d, h, n);
        return 0;
}

CUresult cuMemcpyDtoH_v2(void *h, CUdeviceptr d, size_t n)
{
        memcpy(h, (void *) (uintptr_t) d, n);
        return 0;
}

#define DPTR(i) ((float *) (uintptr_t) * (CUdeviceptr *) params[i])

CUresult cuLaunchKernel(void *fn, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                        unsigned bz, unsigned shmem, void *stream, void **params, void **extra)
{
        if (fn == (void *) 0x10) {
                unsigned n = *(unsigned *) params[3];
                float *a = DPTR(0), *b = DPTR(1), *c = DPTR(2);

                if ((unsigned long) gx * bx < n)
                        return 1; /* a launch too small would leave elements unwritten */
                for (unsigned i = 0; i < n; i++)
                        c[i] = a[i] + b[i];
                return 0;
        }
        if (fn == (void *) 0x20) {
                unsigned m = *(unsigned *) params[3], n = *(unsigned *) params[4],
                         k = *(unsigned *) params[5];
                float *a = DPTR(0), *b = DPTR(1), *c = DPTR(2);

                if ((unsigned long) gx * bx < n || (unsigned long) gy * by < m)
                        return 1;
                for (unsigned i = 0; i < m; i++)
                        for (unsigned j = 0; j < n; j++) {
                                float acc = 0;

                                for (unsigned p = 0; p < k; p++)
                                        acc += a[(size_t) i * k + p] * b[(size_t) p * n + j];
                                c[(size_t) i * n + j] = acc;
                        }
                if (strcmp(mode(), "wrong") == 0 || (strcmp(mode(), "wrong1") == 0 && current == 1))
                        c[(size_t) (m / 2) * n + n / 2] += 0.5f;
                return 0;
        }
        return 1;
}

CUresult cuGetErrorName(CUresult r, const char **s)
{
        *s = r == 100 ? "CUDA_ERROR_NO_DEVICE" : r == 999 ? "CUDA_ERROR_UNKNOWN" : "CUDA_ERROR_FAKE";
        return 0;
}

CUresult cuGetErrorString(CUresult r, const char **s)
{
        *s = "fake driver error";
        return 0;
}

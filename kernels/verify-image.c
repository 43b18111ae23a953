/* The verifier's checks of what the image ships: its libcudart (device count, a memcpy round trip)
 * and its libcublas (an SGEMM compared with the CPU reference and with our kernel). Both are found in
 * the image's library directories and loaded with dlopen(), so the verifier itself links neither. */
#include "verify.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Where images keep CUDA libraries: the loader's path, the CUDA toolkit layout, Debian's multiarch
 * directory, and the pip wheels (nvidia-cuda-runtime-cuXX, nvidia-cublas-cuXX) under any Python. */
static const char *const default_dirs[] = {
    "/usr/local/cuda/lib64",
    "/usr/local/cuda/targets/x86_64-linux/lib",
    "/usr/local/cuda/targets/sbsa-linux/lib",
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib64",
    "/usr/lib",
    "/usr/local/lib",
    "/opt/conda/lib",
    "/usr/local/lib/python3*/dist-packages/nvidia/*/lib",
    "/usr/local/lib/python3*/site-packages/nvidia/*/lib",
    "/usr/lib/python3/dist-packages/nvidia/*/lib",
    "/opt/conda/lib/python3*/site-packages/nvidia/*/lib",
    "/opt/*/lib/python3*/site-packages/nvidia/*/lib",
    "/opt/*/.venv/lib/python3*/site-packages/nvidia/*/lib",
    "/opt/*/*/lib/python3*/site-packages/nvidia/*/lib",
    "/opt/*/*/lib/python3*/site-packages/nvidia/cu*/lib",
    "/usr/local/lib/python3*/dist-packages/nvidia/cu*/lib",
};

/* The first match of dir/prefix* whose name is prefix or prefix.<version>; among several in one
 * directory, the last in glob order (the longest version string of equal prefix). */
static char *find_in(const char *dir, const char *prefix)
{
        char *pat = kv_asprintf("%s/%s*", dir, prefix);
        glob_t g;
        char *found = NULL;

        if (!pat)
                return NULL;
        if (glob(pat, 0, NULL, &g) == 0) {
                for (size_t i = 0; i < g.gl_pathc; i++) {
                        const char *base = strrchr(g.gl_pathv[i], '/');
                        const char *rest = base ? base + 1 + strlen(prefix) : "";

                        /* "libcudart.so.11.0" yes, "libcudart.so" yes, "libcudart_static.a" no */
                        if (*rest != '\0' && *rest != '.')
                                continue;
                        if (access(g.gl_pathv[i], R_OK) != 0)
                                continue;
                        free(found);
                        found = strdup(g.gl_pathv[i]);
                }
                globfree(&g);
        }
        free(pat);
        return found;
}

char *find_image_lib(struct verify *v, const char *prefix)
{
        char *found = NULL;

        if (v->n_lib_paths) {
                for (size_t i = 0; i < v->n_lib_paths && !found; i++)
                        found = find_in(v->lib_paths[i], prefix);
                return found;
        }
        /* LD_LIBRARY_PATH first: it is what the image's own programs would load. */
        for (const char *d = getenv("LD_LIBRARY_PATH"); d && *d && !found;) {
                const char *colon = strchr(d, ':');
                char *dir = strndup(d, colon ? (size_t) (colon - d) : strlen(d));

                if (dir && dir[0] == '/')
                        found = find_in(dir, prefix);
                free(dir);
                d = colon ? colon + 1 : NULL;
        }
        for (size_t i = 0; i < sizeof(default_dirs) / sizeof(default_dirs[0]) && !found; i++) {
                glob_t g;

                if (!strchr(default_dirs[i], '*')) {
                        found = find_in(default_dirs[i], prefix);
                        continue;
                }
                if (glob(default_dirs[i], GLOB_ONLYDIR, NULL, &g) != 0)
                        continue;
                for (size_t j = 0; j < g.gl_pathc && !found; j++)
                        found = find_in(g.gl_pathv[j], prefix);
                globfree(&g);
        }
        return found;
}

/* cudart's types and calls, as cuda_runtime_api.h has them. */
#define cudaErrorInsufficientDriver 35
#define cudaMemcpyHostToDevice 1
#define cudaMemcpyDeviceToHost 2
#define cudaMemcpyDeviceToDevice 3
struct cudart_api {
        int (*RuntimeGetVersion)(int *);
        int (*DriverGetVersion)(int *);
        int (*GetDeviceCount)(int *);
        int (*SetDevice)(int);
        int (*Malloc)(void **, size_t);
        int (*Free)(void *);
        int (*Memcpy)(void *, const void *, size_t, int);
        const char *(*GetErrorString)(int);
        const char *(*GetErrorName)(int);
};

static const char *rt_err(const struct cudart_api *rt, int e, char *buf, size_t len)
{
        const char *name = rt->GetErrorName ? rt->GetErrorName(e) : NULL;
        const char *str = rt->GetErrorString ? rt->GetErrorString(e) : NULL;

        snprintf(buf, len, "%s (%d)%s%s", name ? name : "cudaError", e, str ? ": " : "", str ? str : "");
        return buf;
}

#define ROUNDTRIP_BYTES (4u << 20)

void verify_cudart(struct verify *v)
{
        char *path = find_image_lib(v, "libcudart.so");
        struct cudart_api rt = {0};
        void *lib;
        double t0 = now_ms();
        int rtv = 0, n = 0, e;
        char rs[32], ds[32], eb[256];
        unsigned char *h1 = NULL, *h2 = NULL;
        void *d1 = NULL, *d2 = NULL;
        const char *step;

        if (!path) {
                check_add(v, "cudart", CHECK_SKIP, 0, "the image has no libcudart.so*");
                return;
        }
        v->cudart_path = path;
        lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (!lib) {
                const char *de = dlerror();

                check_add(v, "cudart", CHECK_FAIL, now_ms() - t0, "dlopen %s: %s", path, de ? de : "?");
                return;
        }
        *(void **) &rt.RuntimeGetVersion = dlsym(lib, "cudaRuntimeGetVersion");
        *(void **) &rt.DriverGetVersion = dlsym(lib, "cudaDriverGetVersion");
        *(void **) &rt.GetDeviceCount = dlsym(lib, "cudaGetDeviceCount");
        *(void **) &rt.SetDevice = dlsym(lib, "cudaSetDevice");
        *(void **) &rt.Malloc = dlsym(lib, "cudaMalloc");
        *(void **) &rt.Free = dlsym(lib, "cudaFree");
        *(void **) &rt.Memcpy = dlsym(lib, "cudaMemcpy");
        *(void **) &rt.GetErrorString = dlsym(lib, "cudaGetErrorString");
        *(void **) &rt.GetErrorName = dlsym(lib, "cudaGetErrorName");
        if (!rt.RuntimeGetVersion || !rt.GetDeviceCount || !rt.SetDevice || !rt.Malloc || !rt.Free ||
            !rt.Memcpy) {
                check_add(v, "cudart", CHECK_FAIL, now_ms() - t0,
                          "%s lacks the runtime API (cudaMalloc, cudaMemcpy, ...)", path);
                return;
        }
        rt.RuntimeGetVersion(&rtv);
        kv_cuda_version_str(rtv, rs, sizeof(rs));
        v->cudart_version = strdup(rs);
        kv_cuda_version_str(v->driver_cuda, ds, sizeof(ds));
        /* CUDA's minor version compatibility lets a 12.4 runtime run on a 12.0 driver; a newer major
         * never runs (the calls fail with cudaErrorInsufficientDriver). Say so before calling. */
        if (rtv / 1000 > v->driver_cuda / 1000) {
                check_add(
                    v, "cudart", CHECK_FAIL, now_ms() - t0,
                    "the image's CUDA runtime %s (%s) is newer than this driver supports (driver %s supports "
                    "CUDA %s): the image needs a driver for CUDA >= %d.0, or a base image for CUDA <= %s",
                    rs, path, v->driver_version ? v->driver_version : "of unknown version", ds, rtv / 1000,
                    ds);
                return;
        }
        step = "cudaGetDeviceCount";
        if ((e = rt.GetDeviceCount(&n)) != 0)
                goto out_err;
        step = "cudaSetDevice(0)";
        if ((e = rt.SetDevice(0)) != 0)
                goto out_err;
        h1 = malloc(ROUNDTRIP_BYTES);
        h2 = malloc(ROUNDTRIP_BYTES);
        if (!h1 || !h2) {
                check_add(v, "cudart", CHECK_FAIL, now_ms() - t0, "out of host memory");
                goto out_free;
        }
        for (size_t i = 0; i < ROUNDTRIP_BYTES; i++)
                h1[i] = (unsigned char) (i * 131u + (i >> 12));
        memset(h2, 0, ROUNDTRIP_BYTES);
        step = "cudaMalloc";
        if ((e = rt.Malloc(&d1, ROUNDTRIP_BYTES)) != 0 || (e = rt.Malloc(&d2, ROUNDTRIP_BYTES)) != 0)
                goto out_err;
        step = "cudaMemcpy";
        if ((e = rt.Memcpy(d1, h1, ROUNDTRIP_BYTES, cudaMemcpyHostToDevice)) != 0 ||
            (e = rt.Memcpy(d2, d1, ROUNDTRIP_BYTES, cudaMemcpyDeviceToDevice)) != 0 ||
            (e = rt.Memcpy(h2, d2, ROUNDTRIP_BYTES, cudaMemcpyDeviceToHost)) != 0)
                goto out_err;
        if (memcmp(h1, h2, ROUNDTRIP_BYTES) != 0)
                check_add(
                    v, "cudart", CHECK_FAIL, now_ms() - t0,
                    "CUDA runtime %s: a %u-byte host->device->device->host round trip came back different",
                    rs, ROUNDTRIP_BYTES);
        else
                check_add(
                    v, "cudart", CHECK_PASS, now_ms() - t0,
                    "CUDA runtime %s (%s): %d device(s), %u MiB host->device->device->host round trip intact",
                    rs, path, n, ROUNDTRIP_BYTES >> 20);
        goto out_free;

out_err:
        if (e == cudaErrorInsufficientDriver)
                check_add(v, "cudart", CHECK_FAIL, now_ms() - t0,
                          "%s: the image's CUDA runtime %s (%s) is newer than this driver supports (CUDA %s)",
                          step, rs, path, ds);
        else
                check_add(v, "cudart", CHECK_FAIL, now_ms() - t0, "CUDA runtime %s: %s: %s", rs, step,
                          rt_err(&rt, e, eb, sizeof(eb)));
out_free:
        if (d1)
                rt.Free(d1);
        if (d2)
                rt.Free(d2);
        free(h1);
        free(h2);
        /* lib stays loaded: torch or cuBLAS in this process may share its state */
}

/* cuBLAS v2 API, as cublas_api.h has it. */
typedef struct cublasContext *cublasHandle_t;
#define CUBLAS_OP_N 0

void verify_cublas(struct verify *v)
{
        char *path = find_image_lib(v, "libcublas.so");
        char *lt_path = NULL;
        void *lib, *lt = NULL;
        int (*create)(cublasHandle_t *);
        int (*destroy)(cublasHandle_t);
        int (*get_version)(cublasHandle_t, int *);
        int (*get_property)(int, int *);
        int maj = 0, min = 0, patch = 0;
        int (*sgemm)(cublasHandle_t, int, int, int, int, int, const float *, const float *, int,
                     const float *, int, const float *, float *, int);
        cublasHandle_t h = NULL;
        int m = VERIFY_GEMM_M, n = VERIFY_GEMM_N, k = VERIFY_GEMM_K, ver = 0, e;
        CUdeviceptr da = 0, db = 0, dc = 0;
        float alpha = 1.0f, beta = 0.0f, *c = NULL;
        struct kv_mismatch mm, mm_ours;
        double t0 = now_ms(), ours_max = 0;
        char eb[256], vs[32];
        const char *step;
        CUresult r;

        if (!path) {
                check_add(v, "cublas", CHECK_SKIP, 0, "the image has no libcublas.so*");
                return;
        }
        v->cublas_path = path;
        /* libcublas needs libcublasLt of the same release; load it from the same place first, so that
         * a directory missing from the loader's path does not fail the check. */
        lt_path = find_image_lib(v, "libcublasLt.so");
        if (lt_path)
                lt = dlopen(lt_path, RTLD_NOW | RTLD_GLOBAL);
        free(lt_path);
        (void) lt;
        lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (!lib) {
                const char *de = dlerror();

                check_add(v, "cublas", CHECK_FAIL, now_ms() - t0, "dlopen %s: %s", path, de ? de : "?");
                return;
        }
        *(void **) &create = dlsym(lib, "cublasCreate_v2");
        *(void **) &destroy = dlsym(lib, "cublasDestroy_v2");
        *(void **) &get_version = dlsym(lib, "cublasGetVersion_v2");
        *(void **) &sgemm = dlsym(lib, "cublasSgemm_v2");
        *(void **) &get_property = dlsym(lib, "cublasGetProperty");
        if (!create || !destroy || !get_version || !sgemm) {
                check_add(v, "cublas", CHECK_FAIL, now_ms() - t0, "%s lacks the cuBLAS v2 API", path);
                return;
        }
        if (!v->gemm_ref || !v->gemm_c) {
                check_add(v, "cublas", CHECK_SKIP, 0, "our SGEMM did not run, nothing to compare with");
                return;
        }
        /* cublasGetVersion()'s encoding changed in 12.0 (major * 1000 + ... before, * 10000 after,
         * and 11.11.3 reads as 12103); the property query is unambiguous and needs no handle. */
        if (get_property && get_property(0, &maj) == 0 && get_property(1, &min) == 0 &&
            get_property(2, &patch) == 0) {
                snprintf(vs, sizeof(vs), "%d.%d.%d", maj, min, patch);
                v->cublas_version = strdup(vs);
        } else {
                snprintf(vs, sizeof(vs), "of unknown version");
        }
        step = "cublasCreate";
        if ((e = create(&h)) != 0)
                goto out_blas;
        if (!v->cublas_version && get_version(h, &ver) == 0) {
                snprintf(vs, sizeof(vs), "%d", ver);
                v->cublas_version = strdup(vs);
        }
        c = malloc((size_t) m * n * sizeof(float));
        if (!c) {
                check_add(v, "cublas", CHECK_FAIL, now_ms() - t0, "out of host memory");
                goto out_free;
        }
        step = "cuMemAlloc";
        if ((r = v->cu.MemAlloc(&da, (size_t) m * k * sizeof(float))) != CUDA_SUCCESS ||
            (r = v->cu.MemAlloc(&db, (size_t) k * n * sizeof(float))) != CUDA_SUCCESS ||
            (r = v->cu.MemAlloc(&dc, (size_t) m * n * sizeof(float))) != CUDA_SUCCESS)
                goto out_cuda;
        step = "cuMemcpyHtoD";
        if ((r = v->cu.MemcpyHtoD(da, v->gemm_a, (size_t) m * k * sizeof(float))) != CUDA_SUCCESS ||
            (r = v->cu.MemcpyHtoD(db, v->gemm_b, (size_t) k * n * sizeof(float))) != CUDA_SUCCESS)
                goto out_cuda;
        /* cuBLAS is column-major: row-major C = A B is column-major C^T = B^T A^T, i.e. sgemm with the
         * operands swapped and the dimensions n, m. */
        step = "cublasSgemm";
        if ((e = sgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, n, m, k, &alpha, (const float *) (uintptr_t) db, n,
                       (const float *) (uintptr_t) da, k, &beta, (float *) (uintptr_t) dc, n)) != 0)
                goto out_blas;
        step = "cuCtxSynchronize";
        if ((r = v->cu.CtxSynchronize()) != CUDA_SUCCESS)
                goto out_cuda;
        step = "cuMemcpyDtoH";
        if ((r = v->cu.MemcpyDtoH(c, dc, (size_t) m * n * sizeof(float))) != CUDA_SUCCESS)
                goto out_cuda;
        for (size_t i = 0; i < (size_t) m * n; i++) {
                double d = (double) c[i] - (double) v->gemm_c[i];

                if (d < 0)
                        d = -d;
                if (d > ours_max || d != d)
                        ours_max = d;
        }
        kv_gemm_check(v->gemm_c, v->gemm_ref, v->gemm_bound, m, n, k, &mm_ours);
        if (kv_gemm_check(c, v->gemm_ref, v->gemm_bound, m, n, k, &mm))
                check_add(v, "cublas", CHECK_PASS, now_ms() - t0,
                          "cuBLAS %s (%s): %dx%dx%d cublasSgemm within the CPU tolerance (max |err| %.3g); "
                          "max |cuBLAS - our kernel| %.3g",
                          vs, path, m, n, k, mm.max_err, ours_max);
        else
                check_add(v, "cublas", CHECK_FAIL, now_ms() - t0,
                          "cuBLAS %s (%s): cublasSgemm has %zu of %d elements outside the CPU tolerance; "
                          "first at (%zu,%zu): got %.9g, want %.9g; max |cuBLAS - our kernel| %.3g",
                          vs, path, mm.count, m * n, mm.index / (size_t) n, mm.index % (size_t) n, mm.got,
                          mm.want, ours_max);
        goto out_free;

out_blas:
        check_add(v, "cublas", CHECK_FAIL, now_ms() - t0, "cuBLAS %s (%s): %s returned status %d", vs, path,
                  step, e);
        goto out_free;
out_cuda:
        check_add(v, "cublas", CHECK_FAIL, now_ms() - t0, "%s: %s", step, cu_errstr(v, r, eb, sizeof(eb)));
out_free:
        if (da)
                v->cu.MemFree(da);
        if (db)
                v->cu.MemFree(db);
        if (dc)
                v->cu.MemFree(dc);
        if (h)
                destroy(h);
        free(c);
}

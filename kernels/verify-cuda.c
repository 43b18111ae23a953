/* The verifier's driver-API part: load libcuda.so.1, describe the GPU, load our kernel images and
 * run vector add and the tiled SGEMM against the CPU references. */
#include "verify.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define JIT_LOG 8192
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Where GPU injection puts the driver (gpu.h's KV_PLAN_LIB_DIR; kernels/ headers are separate
 * programs' here) and where distributions install it. */
static const char *const libcuda_fallbacks[] = {
    "/usr/local/nvidia/lib64/libcuda.so.1",
    "/usr/lib/x86_64-linux-gnu/libcuda.so.1",
    "/usr/lib/aarch64-linux-gnu/libcuda.so.1",
    "/usr/lib64/libcuda.so.1",
};

const char *cu_errstr(struct verify *v, CUresult r, char *buf, size_t len)
{
        const char *name = NULL, *str = NULL;

        if (v->cu.GetErrorName)
                v->cu.GetErrorName(r, &name);
        if (v->cu.GetErrorString)
                v->cu.GetErrorString(r, &str);
        snprintf(buf, len, "%s (%d)%s%s", name ? name : "CUDA error", r, str ? ": " : "", str ? str : "");
        return buf;
}

static void *sym(struct verify *v, const char *name, bool required, struct kv_sb *missing)
{
        void *p = dlsym(v->cu.lib, name);

        if (!p && required)
                kv_sb_addf(missing, "%s%s", missing->len ? ", " : "", name);
        return p;
}

/* The driver's own version ("580.95.05"): NVML when the utility libraries are injected, else the
 * kernel module's /proc file. Both are optional: the report says null when neither is there. */
static char *driver_version(void)
{
        void *nvml = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
        char *buf = NULL, *p, *q;
        long n;

        if (nvml) {
                int (*init)(void) = (int (*)(void)) dlsym(nvml, "nvmlInit_v2");
                int (*get)(char *, unsigned) =
                    (int (*)(char *, unsigned)) dlsym(nvml, "nvmlSystemGetDriverVersion");
                int (*shutdown)(void) = (int (*)(void)) dlsym(nvml, "nvmlShutdown");
                char ver[96] = "";

                if (init && get && init() == 0) {
                        if (get(ver, sizeof(ver)) != 0)
                                ver[0] = '\0';
                        if (shutdown)
                                shutdown();
                }
                dlclose(nvml);
                if (ver[0])
                        return strdup(ver);
        }
        /* "NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.95.05  Thu ..." */
        n = kv_read_file(AT_FDCWD, "/proc/driver/nvidia/version", 1 << 16, &buf);
        if (n < 0)
                return NULL;
        p = strstr(buf, "Kernel Module");
        if (p) {
                p += strlen("Kernel Module");
                while (*p == ' ' || *p == '\t')
                        p++;
                for (q = p; (*q >= '0' && *q <= '9') || *q == '.'; q++)
                        ;
                if (q > p) {
                        char *ver = strndup(p, (size_t) (q - p));

                        free(buf);
                        return ver;
                }
        }
        free(buf);
        return NULL;
}

bool verify_driver(struct verify *v)
{
        struct kv_sb missing = {0};
        double t0 = now_ms();
        char eb[256];
        CUresult r;
        int n = 0;
        size_t mem = 0;

        v->cu.lib = dlopen(v->libcuda, RTLD_NOW | RTLD_LOCAL);
        if (!v->cu.lib) {
                const char *e = dlerror();
                char *first = kv_asprintf("%s", e ? e : "not found");

                /* An image whose config does not put the injected directory on LD_LIBRARY_PATH:
                 * look where injection puts the driver, and tell child processes (torch). */
                for (size_t i = 0; !v->libcuda_given && !v->cu.lib && i < ARRAY_SIZE(libcuda_fallbacks);
                     i++) {
                        v->cu.lib = dlopen(libcuda_fallbacks[i], RTLD_NOW | RTLD_LOCAL);
                        v->libcuda_off_path = v->cu.lib != NULL;
                }
                if (!v->cu.lib) {
                        v->no_gpu = true;
                        v->no_gpu_reason = kv_asprintf(
                            "cannot load the CUDA driver %s (%s): no NVIDIA driver injected into this rootfs",
                            v->libcuda, first ? first : "not found");
                        free(first);
                        return false;
                }
                free(first);
        }
        {
                struct link_map *lm = NULL;

                if (dlinfo(v->cu.lib, RTLD_DI_LINKMAP, &lm) == 0 && lm && lm->l_name && lm->l_name[0])
                        v->libcuda_path = strdup(lm->l_name);
        }
        v->cu.Init = sym(v, "cuInit", true, &missing);
        v->cu.DriverGetVersion = sym(v, "cuDriverGetVersion", true, &missing);
        v->cu.DeviceGetCount = sym(v, "cuDeviceGetCount", true, &missing);
        v->cu.DeviceGet = sym(v, "cuDeviceGet", true, &missing);
        v->cu.DeviceGetName = sym(v, "cuDeviceGetName", true, &missing);
        v->cu.DeviceGetAttribute = sym(v, "cuDeviceGetAttribute", true, &missing);
        v->cu.DeviceTotalMem = sym(v, "cuDeviceTotalMem_v2", true, &missing);
        v->cu.DevicePrimaryCtxRetain = sym(v, "cuDevicePrimaryCtxRetain", true, &missing);
        v->cu.DevicePrimaryCtxRelease = sym(v, "cuDevicePrimaryCtxRelease_v2", false, &missing);
        if (!v->cu.DevicePrimaryCtxRelease)
                v->cu.DevicePrimaryCtxRelease = sym(v, "cuDevicePrimaryCtxRelease", true, &missing);
        v->cu.CtxSetCurrent = sym(v, "cuCtxSetCurrent", true, &missing);
        v->cu.CtxSynchronize = sym(v, "cuCtxSynchronize", true, &missing);
        v->cu.ModuleLoadDataEx = sym(v, "cuModuleLoadDataEx", true, &missing);
        v->cu.ModuleUnload = sym(v, "cuModuleUnload", true, &missing);
        v->cu.ModuleGetFunction = sym(v, "cuModuleGetFunction", true, &missing);
        v->cu.MemAlloc = sym(v, "cuMemAlloc_v2", true, &missing);
        v->cu.MemFree = sym(v, "cuMemFree_v2", true, &missing);
        v->cu.MemcpyHtoD = sym(v, "cuMemcpyHtoD_v2", true, &missing);
        v->cu.MemcpyDtoH = sym(v, "cuMemcpyDtoH_v2", true, &missing);
        v->cu.LaunchKernel = sym(v, "cuLaunchKernel", true, &missing);
        v->cu.GetErrorName = sym(v, "cuGetErrorName", false, &missing);
        v->cu.GetErrorString = sym(v, "cuGetErrorString", false, &missing);
        if (missing.len || missing.oom) {
                check_add(v, "driver", CHECK_FAIL, now_ms() - t0, "%s lacks driver API entry points: %s",
                          v->libcuda, missing.p ? missing.p : "?");
                kv_sb_release(&missing);
                return false;
        }
        kv_sb_release(&missing);

        r = v->cu.Init(0);
        if (r == CUDA_ERROR_NO_DEVICE) {
                v->no_gpu = true;
                v->no_gpu_reason = kv_asprintf("cuInit: %s", cu_errstr(v, r, eb, sizeof(eb)));
                return false;
        }
        if (r != CUDA_SUCCESS) {
                check_add(v, "driver", CHECK_FAIL, now_ms() - t0, "cuInit: %s",
                          cu_errstr(v, r, eb, sizeof(eb)));
                return false;
        }
        v->cu.DriverGetVersion(&v->driver_cuda);
        v->driver_version = driver_version();
        r = v->cu.DeviceGetCount(&n);
        if (r != CUDA_SUCCESS || n == 0) {
                v->no_gpu = true;
                v->no_gpu_reason = r != CUDA_SUCCESS
                                       ? kv_asprintf("cuDeviceGetCount: %s", cu_errstr(v, r, eb, sizeof(eb)))
                                       : kv_asprintf("the driver sees no CUDA device");
                return false;
        }
        v->device_count = n;
        if ((r = v->cu.DeviceGet(&v->dev, 0)) != CUDA_SUCCESS ||
            (r = v->cu.DeviceGetName(v->gpu_name, (int) sizeof(v->gpu_name), v->dev)) != CUDA_SUCCESS ||
            (r = v->cu.DeviceGetAttribute(&v->cc_major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR,
                                          v->dev)) != CUDA_SUCCESS ||
            (r = v->cu.DeviceGetAttribute(&v->cc_minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR,
                                          v->dev)) != CUDA_SUCCESS ||
            (r = v->cu.DeviceGetAttribute(&v->sm_count, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, v->dev)) !=
                CUDA_SUCCESS ||
            (r = v->cu.DeviceTotalMem(&mem, v->dev)) != CUDA_SUCCESS) {
                check_add(v, "driver", CHECK_FAIL, now_ms() - t0, "querying device 0: %s",
                          cu_errstr(v, r, eb, sizeof(eb)));
                return false;
        }
        v->gpu_name[sizeof(v->gpu_name) - 1] = '\0';
        v->mem_bytes = mem;
        r = v->cu.DevicePrimaryCtxRetain(&v->ctx, v->dev);
        if (r == CUDA_SUCCESS) {
                v->ctx_retained = true;
                r = v->cu.CtxSetCurrent(v->ctx);
        }
        if (r != CUDA_SUCCESS) {
                check_add(v, "driver", CHECK_FAIL, now_ms() - t0, "creating a context on %s: %s", v->gpu_name,
                          cu_errstr(v, r, eb, sizeof(eb)));
                return false;
        }
        kv_cuda_version_str(v->driver_cuda, eb, sizeof(eb));
        check_add(v, "driver", CHECK_PASS, now_ms() - t0,
                  "%d device(s); device 0: %s, sm_%d%d, %zu MiB; driver %s, CUDA %s", n, v->gpu_name,
                  v->cc_major, v->cc_minor, mem >> 20,
                  v->driver_version ? v->driver_version : "version unknown", eb);
        return true;
}

void verify_driver_close(struct verify *v)
{
        if (v->ctx_retained)
                v->cu.DevicePrimaryCtxRelease(v->dev);
        v->ctx_retained = false;
        /* libcuda stays loaded: unloading a driver with live threads is not worth the risk at exit */
}

/* Loads an image. On failure, *ret_msg gets the reason with the JIT's error log. */
static CUresult load_module(struct verify *v, const struct kv_image *im, CUmodule *ret, char **ret_msg)
{
        char *log = calloc(1, JIT_LOG);
        int opts[2] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
        void *vals[2] = {log, (void *) (size_t) JIT_LOG};
        char eb[256];
        CUresult r;

        r = v->cu.ModuleLoadDataEx(ret, im->data, log ? 2 : 0, opts, vals);
        if (r != CUDA_SUCCESS)
                *ret_msg = kv_asprintf(
                    "cuModuleLoadDataEx(%s sm_%u): %s%s%s", im->kind == KV_IMAGE_PTX ? "ptx" : "cubin",
                    im->sm, cu_errstr(v, r, eb, sizeof(eb)), log && log[0] ? ": " : "", log ? log : "");
        free(log);
        return r;
}

struct dbufs {
        CUdeviceptr a, b, c;
};

static void dbufs_free(struct verify *v, struct dbufs *d)
{
        if (d->a)
                v->cu.MemFree(d->a);
        if (d->b)
                v->cu.MemFree(d->b);
        if (d->c)
                v->cu.MemFree(d->c);
        d->a = d->b = d->c = 0;
}

static CUresult dbufs_alloc(struct verify *v, struct dbufs *d, size_t na, size_t nb, size_t nc)
{
        CUresult r;

        if ((r = v->cu.MemAlloc(&d->a, na * sizeof(float))) != CUDA_SUCCESS ||
            (r = v->cu.MemAlloc(&d->b, nb * sizeof(float))) != CUDA_SUCCESS ||
            (r = v->cu.MemAlloc(&d->c, nc * sizeof(float))) != CUDA_SUCCESS)
                dbufs_free(v, d);
        return r;
}

/* Vector add through module mod; name is the check's name. */
static void run_vadd(struct verify *v, CUmodule mod, const char *name, const char *what)
{
        size_t n = VERIFY_VADD_N;
        float *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float));
        float *c = malloc(n * sizeof(float)), *want = malloc(n * sizeof(float));
        struct dbufs d = {0};
        struct kv_mismatch mm;
        CUfunction fn;
        unsigned un = (unsigned) n;
        void *params[] = {&d.a, &d.b, &d.c, &un};
        double t0 = now_ms();
        char eb[256];
        const char *step;
        CUresult r;

        if (!a || !b || !c || !want) {
                check_add(v, name, CHECK_FAIL, 0, "out of host memory");
                goto out_free;
        }
        kv_fill(a, n, 1);
        kv_fill(b, n, 2);
        kv_ref_vadd(a, b, want, n);
        memset(c, 0xff, n * sizeof(float)); /* NaNs: a kernel that writes nothing cannot pass */

        step = "cuModuleGetFunction(kv_vadd)";
        if ((r = v->cu.ModuleGetFunction(&fn, mod, "kv_vadd")) != CUDA_SUCCESS)
                goto out_cuda;
        step = "cuMemAlloc";
        if ((r = dbufs_alloc(v, &d, n, n, n)) != CUDA_SUCCESS)
                goto out_cuda;
        step = "cuMemcpyHtoD";
        if ((r = v->cu.MemcpyHtoD(d.a, a, n * sizeof(float))) != CUDA_SUCCESS ||
            (r = v->cu.MemcpyHtoD(d.b, b, n * sizeof(float))) != CUDA_SUCCESS ||
            (r = v->cu.MemcpyHtoD(d.c, c, n * sizeof(float))) != CUDA_SUCCESS)
                goto out_cuda;
        step = "cuLaunchKernel(kv_vadd)";
        if ((r = v->cu.LaunchKernel(fn, (un + 255) / 256, 1, 1, 256, 1, 1, 0, NULL, params, NULL)) !=
            CUDA_SUCCESS)
                goto out_cuda;
        step = "cuCtxSynchronize";
        if ((r = v->cu.CtxSynchronize()) != CUDA_SUCCESS)
                goto out_cuda;
        step = "cuMemcpyDtoH";
        if ((r = v->cu.MemcpyDtoH(c, d.c, n * sizeof(float))) != CUDA_SUCCESS)
                goto out_cuda;
        if (kv_exact_check(c, want, n, &mm))
                check_add(v, name, CHECK_PASS, now_ms() - t0, "%zu floats from %s, bit-exact with the CPU", n,
                          what);
        else
                check_add(v, name, CHECK_FAIL, now_ms() - t0,
                          "%zu of %zu floats differ from the CPU (tolerance 0, one IEEE rounding); first at "
                          "%zu: got %.9g, want %.9g",
                          mm.count, n, mm.index, mm.got, mm.want);
        goto out_free;

out_cuda:
        check_add(v, name, CHECK_FAIL, now_ms() - t0, "%s: %s", step, cu_errstr(v, r, eb, sizeof(eb)));
out_free:
        dbufs_free(v, &d);
        free(a);
        free(b);
        free(c);
        free(want);
}

/* The gemm inputs and CPU reference, computed once and kept for cuBLAS. */
static bool gemm_prepare(struct verify *v)
{
        size_t m = VERIFY_GEMM_M, n = VERIFY_GEMM_N, k = VERIFY_GEMM_K;

        if (v->gemm_ref)
                return true;
        v->gemm_a = malloc(m * k * sizeof(float));
        v->gemm_b = malloc(k * n * sizeof(float));
        v->gemm_c = malloc(m * n * sizeof(float));
        v->gemm_ref = malloc(m * n * sizeof(double));
        v->gemm_bound = malloc(m * n * sizeof(double));
        if (!v->gemm_a || !v->gemm_b || !v->gemm_c || !v->gemm_ref || !v->gemm_bound)
                return false;
        kv_fill(v->gemm_a, m * k, 3);
        kv_fill(v->gemm_b, k * n, 4);
        kv_ref_sgemm(v->gemm_a, v->gemm_b, v->gemm_ref, v->gemm_bound, m, n, k);
        return true;
}

static void run_sgemm(struct verify *v, CUmodule mod, const char *name, const char *what)
{
        unsigned m = VERIFY_GEMM_M, n = VERIFY_GEMM_N, k = VERIFY_GEMM_K;
        struct dbufs d = {0};
        struct kv_mismatch mm;
        CUfunction fn;
        void *params[] = {&d.a, &d.b, &d.c, &m, &n, &k};
        double t0 = now_ms(), tref;
        char eb[256];
        const char *step;
        CUresult r;

        if (!gemm_prepare(v)) {
                check_add(v, name, CHECK_FAIL, 0, "out of host memory");
                return;
        }
        tref = now_ms() - t0;
        t0 = now_ms();
        for (size_t i = 0; i < (size_t) m * n; i++)
                v->gemm_c[i] = __builtin_nanf("");
        step = "cuModuleGetFunction(kv_sgemm)";
        if ((r = v->cu.ModuleGetFunction(&fn, mod, "kv_sgemm")) != CUDA_SUCCESS)
                goto out_cuda;
        step = "cuMemAlloc";
        if ((r = dbufs_alloc(v, &d, (size_t) m * k, (size_t) k * n, (size_t) m * n)) != CUDA_SUCCESS)
                goto out_cuda;
        step = "cuMemcpyHtoD";
        if ((r = v->cu.MemcpyHtoD(d.a, v->gemm_a, (size_t) m * k * sizeof(float))) != CUDA_SUCCESS ||
            (r = v->cu.MemcpyHtoD(d.b, v->gemm_b, (size_t) k * n * sizeof(float))) != CUDA_SUCCESS ||
            (r = v->cu.MemcpyHtoD(d.c, v->gemm_c, (size_t) m * n * sizeof(float))) != CUDA_SUCCESS)
                goto out_cuda;
        step = "cuLaunchKernel(kv_sgemm)";
        if ((r = v->cu.LaunchKernel(fn, (n + KV_GEMM_TILE - 1) / KV_GEMM_TILE,
                                    (m + KV_GEMM_TILE - 1) / KV_GEMM_TILE, 1, KV_GEMM_TILE, KV_GEMM_TILE, 1,
                                    0, NULL, params, NULL)) != CUDA_SUCCESS)
                goto out_cuda;
        step = "cuCtxSynchronize";
        if ((r = v->cu.CtxSynchronize()) != CUDA_SUCCESS)
                goto out_cuda;
        step = "cuMemcpyDtoH";
        if ((r = v->cu.MemcpyDtoH(v->gemm_c, d.c, (size_t) m * n * sizeof(float))) != CUDA_SUCCESS)
                goto out_cuda;
        if (kv_gemm_check(v->gemm_c, v->gemm_ref, v->gemm_bound, m, n, k, &mm))
                check_add(v, name, CHECK_PASS, now_ms() - t0,
                          "%ux%ux%u tiled SGEMM from %s matches the CPU reference (double) within |err| <= "
                          "%.0f*k*FLT_EPSILON*sum|a*b| + %g; max |err| %.3g (CPU reference %.0f ms)",
                          m, n, k, what, KV_GEMM_RTOL, KV_GEMM_ATOL, mm.max_err, tref);
        else
                check_add(
                    v, name, CHECK_FAIL, now_ms() - t0,
                    "%ux%ux%u SGEMM from %s: %zu of %u elements outside |err| <= %.0f*k*FLT_EPSILON*sum|a*b| "
                    "+ %g; first at (%zu,%zu): got %.9g, want %.9g, tolerance %.3g",
                    m, n, k, what, mm.count, m * n, KV_GEMM_RTOL, KV_GEMM_ATOL, mm.index / n, mm.index % n,
                    mm.got, mm.want, mm.tol);
        dbufs_free(v, &d);
        return;

out_cuda:
        check_add(v, name, CHECK_FAIL, now_ms() - t0, "%s: %s", step, cu_errstr(v, r, eb, sizeof(eb)));
        dbufs_free(v, &d);
}

void verify_kernels(struct verify *v)
{
        size_t n_images;
        const struct kv_image *images = kv_images(&n_images);
        const struct kv_image *best =
            kv_image_pick(images, n_images, (unsigned) v->cc_major, (unsigned) v->cc_minor);
        const struct kv_image *ptx = kv_image_ptx(images, n_images);
        CUmodule mod = NULL;
        char *msg = NULL, what[64];
        double t0 = now_ms();

        if (!best) {
                check_add(v, "module_load", CHECK_FAIL, 0,
                          "no embedded kernel image runs on sm_%d%d (the PTX targets sm_%u)", v->cc_major,
                          v->cc_minor, ptx ? ptx->sm : 0);
                return;
        }
        snprintf(what, sizeof(what), "%s sm_%u", best->kind == KV_IMAGE_PTX ? "PTX" : "cubin", best->sm);
        if (load_module(v, best, &mod, &msg) != CUDA_SUCCESS) {
                check_add(v, "module_load", CHECK_FAIL, now_ms() - t0, "%s", msg ? msg : "?");
                free(msg);
                return;
        }
        v->image = best;
        check_add(v, "module_load", CHECK_PASS, now_ms() - t0, "loaded the %s image with cuModuleLoadDataEx",
                  what);
        run_vadd(v, mod, "vector_add", what);
        run_sgemm(v, mod, "sgemm", what);
        v->cu.ModuleUnload(mod);

        /* The PTX path is what older and newer GPUs than our cubins rely on: prove the driver JITs it. */
        if (best->kind == KV_IMAGE_PTX || !ptx) {
                check_add(v, "ptx_jit", CHECK_SKIP, 0,
                          best->kind == KV_IMAGE_PTX ? "the kernels above already ran from the PTX"
                                                     : "no PTX embedded");
                return;
        }
        t0 = now_ms();
        if (load_module(v, ptx, &mod, &msg) != CUDA_SUCCESS) {
                check_add(v, "ptx_jit", CHECK_FAIL, now_ms() - t0, "%s", msg ? msg : "?");
                free(msg);
                return;
        }
        {
                unsigned ma = 0, mi = 0, sm = 0;

                kv_ptx_info((const char *) ptx->data, ptx->len, &ma, &mi, &sm);
                snprintf(what, sizeof(what), "PTX ISA %u.%u sm_%u (JIT)", ma, mi, sm);
        }
        run_sgemm(v, mod, "ptx_jit", what);
        v->cu.ModuleUnload(mod);
}

/* Check names for devices 1.. (static: checks keep the pointer). */
static const char *const other_gpu_checks[] = {"gpu1", "gpu2", "gpu3", "gpu4", "gpu5", "gpu6", "gpu7"};

/* The SGEMM on every other visible device: a mixed machine can hold GPUs of different architectures,
 * and each must run the image's kernels. Device 0 had the full set of checks above. */
void verify_other_gpus(struct verify *v)
{
        size_t n_images;
        const struct kv_image *images = kv_images(&n_images);
        char eb[256], what[320];

        for (int d = 1; d < v->device_count; d++) {
                const char *name =
                    (size_t) d <= ARRAY_SIZE(other_gpu_checks) ? other_gpu_checks[d - 1] : NULL;
                const struct kv_image *best;
                char gpu[256] = "";
                int major = 0, minor = 0;
                CUdevice dev;
                CUcontext ctx = NULL;
                CUmodule mod = NULL;
                char *msg = NULL;
                double t0 = now_ms();
                CUresult r;

                if (!name) {
                        check_add(v, "gpu8+", CHECK_SKIP, 0, "devices %d to %d not checked (8 at most)", d,
                                  v->device_count - 1);
                        break;
                }
                if ((r = v->cu.DeviceGet(&dev, d)) != CUDA_SUCCESS ||
                    (r = v->cu.DeviceGetName(gpu, (int) sizeof(gpu) - 1, dev)) != CUDA_SUCCESS ||
                    (r = v->cu.DeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR,
                                                  dev)) != CUDA_SUCCESS ||
                    (r = v->cu.DeviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR,
                                                  dev)) != CUDA_SUCCESS ||
                    (r = v->cu.DevicePrimaryCtxRetain(&ctx, dev)) != CUDA_SUCCESS) {
                        check_add(v, name, CHECK_FAIL, now_ms() - t0, "device %d: %s", d,
                                  cu_errstr(v, r, eb, sizeof(eb)));
                        continue;
                }
                best = kv_image_pick(images, n_images, (unsigned) major, (unsigned) minor);
                if (!best) {
                        check_add(v, name, CHECK_FAIL, 0,
                                  "device %d (%s, sm_%d%d): no embedded kernel image runs on it", d, gpu,
                                  major, minor);
                } else if ((r = v->cu.CtxSetCurrent(ctx)) != CUDA_SUCCESS) {
                        check_add(v, name, CHECK_FAIL, now_ms() - t0, "device %d: cuCtxSetCurrent: %s", d,
                                  cu_errstr(v, r, eb, sizeof(eb)));
                } else if (load_module(v, best, &mod, &msg) != CUDA_SUCCESS) {
                        check_add(v, name, CHECK_FAIL, now_ms() - t0, "device %d (%s): %s", d, gpu,
                                  msg ? msg : "?");
                        free(msg);
                } else {
                        snprintf(what, sizeof(what), "%s sm_%u on device %d (%s, sm_%d%d)",
                                 best->kind == KV_IMAGE_PTX ? "PTX" : "cubin", best->sm, d, gpu, major,
                                 minor);
                        run_sgemm(v, mod, name, what);
                        v->cu.ModuleUnload(mod);
                }
                v->cu.CtxSetCurrent(v->ctx);
                v->cu.DevicePrimaryCtxRelease(dev);
        }
}

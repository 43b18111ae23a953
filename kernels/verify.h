/* verify.h: the verifier program's own parts (cubuild-verify); not for other modules. */
#ifndef CUBUILD_KV_VERIFY_H
#define CUBUILD_KV_VERIFY_H

#include "internal.h"
#include "kv.h"

#include <stdbool.h>
#include <stddef.h>

/* Driver API types and the few constants we use, as cuda.h declares them (we do not include it:
 * the verifier builds where no CUDA toolkit is installed). */
typedef int CUresult;
typedef int CUdevice;
typedef struct CUctx_st *CUcontext;
typedef struct CUmod_st *CUmodule;
typedef struct CUfunc_st *CUfunction;
typedef struct CUstream_st *CUstream;
typedef unsigned long long CUdeviceptr;
#define CUDA_SUCCESS 0
#define CUDA_ERROR_NO_DEVICE 100
#define CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT 16
#define CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR 75
#define CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR 76
#define CU_JIT_INFO_LOG_BUFFER 3
#define CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES 4
#define CU_JIT_ERROR_LOG_BUFFER 5
#define CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES 6

struct cu_api {
        void *lib;
        CUresult (*Init)(unsigned);
        CUresult (*DriverGetVersion)(int *);
        CUresult (*DeviceGetCount)(int *);
        CUresult (*DeviceGet)(CUdevice *, int);
        CUresult (*DeviceGetName)(char *, int, CUdevice);
        CUresult (*DeviceGetAttribute)(int *, int, CUdevice);
        CUresult (*DeviceTotalMem)(size_t *, CUdevice);
        CUresult (*DevicePrimaryCtxRetain)(CUcontext *, CUdevice);
        CUresult (*DevicePrimaryCtxRelease)(CUdevice);
        CUresult (*CtxSetCurrent)(CUcontext);
        CUresult (*CtxSynchronize)(void);
        CUresult (*ModuleLoadDataEx)(CUmodule *, const void *, unsigned, int *, void **);
        CUresult (*ModuleUnload)(CUmodule);
        CUresult (*ModuleGetFunction)(CUfunction *, CUmodule, const char *);
        CUresult (*MemAlloc)(CUdeviceptr *, size_t);
        CUresult (*MemFree)(CUdeviceptr);
        CUresult (*MemcpyHtoD)(CUdeviceptr, const void *, size_t);
        CUresult (*MemcpyDtoH)(void *, CUdeviceptr, size_t);
        CUresult (*LaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                                 unsigned, CUstream, void **, void **);
        CUresult (*GetErrorName)(CUresult, const char **);   /* optional */
        CUresult (*GetErrorString)(CUresult, const char **); /* optional */
};

enum check_result { CHECK_PASS, CHECK_FAIL, CHECK_SKIP };

struct check {
        const char *name;
        enum check_result result;
        double ms;
        char *detail; /* owned */
};

#define MAX_CHECKS 32
#define MAX_LIB_PATHS 32

struct verify {
        /* options */
        const char *report_path;              /* NULL: stdout */
        const char *libcuda;                  /* name or path given to dlopen() */
        bool libcuda_given;                   /* --libcuda: no fallback search */
        const char *lib_paths[MAX_LIB_PATHS]; /* --lib-path: where to look for the image's libraries */
        size_t n_lib_paths;
        const char *python; /* --python: NULL searches, "none" skips torch */
        unsigned torch_timeout_s;
        bool quiet;

        /* what was found */
        struct cu_api cu;
        bool no_gpu;
        char *no_gpu_reason;
        char gpu_name[256];
        int cc_major, cc_minor, sm_count, device_count;
        size_t mem_bytes;
        int driver_cuda;       /* cuDriverGetVersion(): 13000 */
        char *driver_version;  /* "580.95.05" from NVML or /proc; NULL when unknown */
        char *libcuda_path;    /* the file the loader opened, NULL when unknown */
        bool libcuda_off_path; /* found only by our fallback: children need LD_LIBRARY_PATH */
        CUdevice dev;
        CUcontext ctx;
        bool ctx_retained;
        const struct kv_image *image; /* the one the kernels ran from */

        char *cudart_path, *cudart_version;
        char *cublas_path, *cublas_version;
        char *torch_version, *torch_cuda;

        /* our kernel's gemm output and the CPU reference, kept for cuBLAS to be compared with */
        float *gemm_a, *gemm_b, *gemm_c;
        double *gemm_ref, *gemm_bound;

        struct check checks[MAX_CHECKS];
        size_t n_checks;
};

/* The gemm problem: not multiples of the tile, so the edge handling is exercised. */
#define VERIFY_GEMM_M 333
#define VERIFY_GEMM_N 257
#define VERIFY_GEMM_K 511
#define VERIFY_VADD_N (1u << 22)

double now_ms(void);
struct check *check_add(struct verify *v, const char *name, enum check_result r, double ms, const char *fmt,
                        ...) __attribute__((format(printf, 5, 6)));

const char *cu_errstr(struct verify *v, CUresult r, char *buf, size_t len);

/* verify-cuda.c: load the driver, describe the GPU, run our kernels. Returns false when there is no
 * GPU (v->no_gpu set) or the driver failed (a failed check recorded). */
bool verify_driver(struct verify *v);
void verify_kernels(struct verify *v);
void verify_other_gpus(struct verify *v);
void verify_driver_close(struct verify *v);

/* verify-image.c: the image's libcudart and libcublas. */
void verify_cudart(struct verify *v);
void verify_cublas(struct verify *v);
/* Finds the first file matching "<dir>/<prefix>*" in the search dirs; malloc'd path or NULL. */
char *find_image_lib(struct verify *v, const char *prefix);

/* verify-torch.c: python3 -c "import torch; ..." */
void verify_torch(struct verify *v);

#endif

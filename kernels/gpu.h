/* gpu.h: the GPU injection plan, as nvidia-container-toolkit computes it.
 *
 * Given the host's driver root, the image's NVIDIA_VISIBLE_DEVICES and NVIDIA_DRIVER_CAPABILITIES,
 * the plan lists what the builder's sandbox must make visible in a rootfs for CUDA to work there:
 * the device nodes and the driver's user-space libraries (found through the driver root's
 * /etc/ld.so.cache, plus the driver libraries those load) and a few tools. Each entry is a mount:
 * a host path and where it goes in the container. The sandbox bind-mounts every entry read-only, on
 * top of a tmpfs for the KV_MOUNT_DIR entries, and sets LD_LIBRARY_PATH to include the library
 * directory (kv_plan_lib_dir()); nothing of it is ever part of a committed layer. Plain C and libc:
 * kernels/ includes nothing else of ours, so errors come back as a struct kv_err.
 */
#ifndef CUBUILD_KV_GPU_H
#define CUBUILD_KV_GPU_H

#include <stdbool.h>
#include <stddef.h>

struct kv_err {
        int errnum; /* errno-style code of the failure, 0 when none */
        char *msg;  /* owned; NULL when none. "no libcuda.so.1 in /etc/ld.so.cache of '/'" */
};
void kv_err_release(struct kv_err *err);

/* Capabilities, as NVIDIA_DRIVER_CAPABILITIES names them. */
#define KV_CAP_COMPUTE (1u << 0)
#define KV_CAP_UTILITY (1u << 1)
#define KV_CAP_VIDEO (1u << 2)
#define KV_CAP_GRAPHICS (1u << 3)
#define KV_CAP_DISPLAY (1u << 4)
#define KV_CAP_COMPAT32 (1u << 5)
#define KV_CAP_NGX (1u << 6)
#define KV_CAP_ALL 0x7fu
/* The toolkit's default when the image does not set the variable. */
#define KV_CAP_DEFAULT (KV_CAP_COMPUTE | KV_CAP_UTILITY)

/* Parses "compute,utility" / "all" (empty or NULL gives KV_CAP_DEFAULT). Unknown names are an
 * error (-EINVAL, named in err), as the toolkit rejects them. */
int kv_caps_parse(const char *s, unsigned *ret, struct kv_err *err);

struct kv_plan_opts {
        const char *driver_root;     /* where the driver's files are; NULL = "/" */
        const char *dev_root;        /* where /dev/nvidia* are; NULL = "/" */
        const char *proc_root;       /* for /proc/driver/nvidia/gpus (UUIDs, PCI order); NULL = "/proc" */
        const char *ldcache;         /* NULL = <driver_root>/etc/ld.so.cache */
        const char *visible_devices; /* NVIDIA_VISIBLE_DEVICES; NULL (unset) = "all" for verification */
        const char *capabilities;    /* NVIDIA_DRIVER_CAPABILITIES; NULL = compute,utility */
        const char *lib_dir;         /* container directory for libraries; NULL = KV_PLAN_LIB_DIR */
        const char *bin_dir;         /* container directory for tools; NULL = KV_PLAN_BIN_DIR */
};
/* The directories nvidia/cuda images already put on LD_LIBRARY_PATH and PATH. */
#define KV_PLAN_LIB_DIR "/usr/local/nvidia/lib64"
#define KV_PLAN_BIN_DIR "/usr/local/nvidia/bin"

enum kv_mount_kind {
        KV_MOUNT_DIR, /* make container_path an empty tmpfs (host_path NULL), before the others */
        KV_MOUNT_DEV, /* bind the character device host_path at container_path */
        KV_MOUNT_LIB, /* bind the library file host_path read-only at container_path */
        KV_MOUNT_BIN, /* bind the program host_path read-only at container_path */
};

struct kv_mount {
        enum kv_mount_kind kind;
        const char *host_path;      /* absolute, symlinks resolved (the real file); NULL for DIR */
        const char *container_path; /* absolute inside the rootfs */
};

struct kv_plan;

/* Computes the plan. Returns 0; -ENODEV when the driver root has no NVIDIA device (no
 * /dev/nvidiactl, or NVIDIA_VISIBLE_DEVICES selects none that exist); -ENOENT when a required
 * library (libcuda.so.1 for compute, libnvidia-ml.so.1 for utility) is missing; -EINVAL for a bad
 * variable; -EBADMSG for an unreadable ld.so.cache. "void", "none" and "" as NVIDIA_VISIBLE_DEVICES
 * give an empty plan (0 mounts) as the toolkit does for "void"; "none" keeps the libraries.
 * On success *ret is owned by the caller: kv_plan_free(). */
int kv_plan_new(const struct kv_plan_opts *opts, struct kv_plan **ret, struct kv_err *err);
struct kv_plan *kv_plan_free(struct kv_plan *plan);

size_t kv_plan_count(const struct kv_plan *plan);
/* Borrowed: valid until kv_plan_free(plan). */
const struct kv_mount *kv_plan_mount(const struct kv_plan *plan, size_t i);
/* The container library directory to add to LD_LIBRARY_PATH (borrowed). */
const char *kv_plan_lib_dir(const struct kv_plan *plan);
/* Device minors selected, in order ("/dev/nvidia0" has minor 0); borrowed, count in *ret_n. */
const unsigned *kv_plan_gpus(const struct kv_plan *plan, size_t *ret_n);
/* The driver version read from libcuda's real file name (libcuda.so.580.95.05), or NULL. */
const char *kv_plan_driver_version(const struct kv_plan *plan);

/* The plan as a JSON document (malloc'd, NUL-terminated; the caller frees it), NULL on OOM. */
char *kv_plan_json(const struct kv_plan *plan);

#endif

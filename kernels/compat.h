/* compat.h: the static CUDA compatibility report.
 *
 * From an image's root filesystem, reading files only (nothing in it is executed), it says on which
 * NVIDIA drivers and GPUs the image will run: the CUDA runtime, cuBLAS, cuDNN and NCCL versions (from
 * library file names, pip's *.dist-info directories and the image's CUDA_VERSION), torch's version and
 * CUDA build (torch/version.py), and for every ELF file that carries CUDA code (an .nv_fatbin section),
 * the SASS architectures and PTX versions of its fatbinaries, read from the fatbinary headers only:
 * payloads, compressed or not, are never read. From those it derives the minimum driver (NVIDIA's table,
 * kept as data in compat.c) and, per GPU architecture, whether all of the image's CUDA code runs there
 * natively, through the driver's PTX JIT, or not at all, and why.
 *
 * The walk opens every directory with O_NOFOLLOW beneath the root's fd and never follows a symlink:
 * a symlink counts only by its name (libcudart.so.12 -> libcudart.so.12.4.127). It reads ELF and
 * fatbinary headers with pread() and counts every byte it reads (kv_compat_bytes_read()).
 *
 * Plain C and libc: kernels/ includes nothing else of ours; errors come back as a struct kv_err.
 */
#ifndef CUBUILD_KV_COMPAT_H
#define CUBUILD_KV_COMPAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gpu.h" /* struct kv_err */

/* The report's "schema" field. */
#define KV_COMPAT_SCHEMA "cubuild.compat/v1"

/* ---- fatbinaries ---- */

enum kv_fatbin_kind {
        KV_FATBIN_PTX = 1,  /* PTX text for a virtual architecture, JIT-compiled by the driver */
        KV_FATBIN_SASS = 2, /* a cubin: machine code for one real architecture */
};

/* Architecture variants, from the entry's flags: plain code, "sm_90a" (runs on exactly that
 * architecture) or "sm_100f" (runs within its family). */
enum kv_arch_variant {
        KV_ARCH_PLAIN = 0,
        KV_ARCH_SPECIFIC = 'a',
        KV_ARCH_FAMILY = 'f',
};

/* One entry of a fatbinary, as its header says (payloads are never read). */
struct kv_fatbin_entry {
        enum kv_fatbin_kind kind;
        unsigned sm;        /* 90 for sm_90 / compute_90 */
        unsigned variant;   /* enum kv_arch_variant */
        unsigned ptx_major; /* PTX ISA version (PTX entries only): 7.8 for CUDA 11.8 */
        unsigned ptx_minor;
        bool compressed;
};

/* How a GPU of one architecture runs a piece of CUDA code. Ordered: the worst wins. */
enum kv_run {
        KV_RUN_NONE = 0,   /* no SASS it can run and no PTX it can JIT */
        KV_RUN_JIT = 1,    /* only through the driver's PTX JIT */
        KV_RUN_NATIVE = 2, /* SASS for it (same major, minor <= the GPU's) */
};

/* Whether a GPU of architecture dev_sm (86 for compute capability 8.6) can run entry e. */
enum kv_run kv_fatbin_entry_runs(const struct kv_fatbin_entry *e, unsigned dev_sm);

/* Reads the fatbinaries of the ELF file at fd: ELF header, section headers, the section-name table
 * and the fatbinary container and entry headers in .nv_fatbin, nothing else. Calls fn once per
 * fatbinary (a translation unit's code: entries[0..n)). *ret_bytes_read (may be NULL) gets the bytes
 * read. Returns the number of fatbinaries (0: an ELF file without CUDA code), -ENOEXEC for a file that
 * is not a 64-bit little-endian ELF, -EBADMSG for a malformed one, or -errno. */
typedef void (*kv_fatbin_fn)(void *ud, const struct kv_fatbin_entry *entries, size_t n);
int kv_fatbin_scan(int fd, kv_fatbin_fn fn, void *ud, uint64_t *ret_bytes_read);

/* ---- versions and drivers ---- */

/* NVIDIA driver versions ("525.60.13") as comparable numbers: major << 32 | minor << 16 | patch.
 * Returns 0 for text that is not a driver version ("535" alone is 535.0.0). */
uint64_t kv_driver_parse(const char *s);

/* The minimum Linux x86_64 driver of a CUDA toolkit release (cuda = 1000 * major + 10 * minor, as
 * kv_cuda_version_str()), from NVIDIA's table; NULL when the release is not in it. */
const char *kv_cuda_min_driver(int cuda);
/* The minimum driver of a CUDA major release under minor-version compatibility (11: 450.80.02,
 * 12: 525.60.13, 13: 580.65.06); for majors before 11, the release's own minimum. NULL if unknown. */
const char *kv_cuda_min_driver_compat(int major);
/* The CUDA release that introduced PTX ISA major.minor (7.8 -> 11080), 0 when unknown. */
int kv_ptx_isa_cuda(unsigned major, unsigned minor);

/* Parses "sm_90", "compute_90", "90", "9.0" into 90. Returns 0 when it is none of those. */
unsigned kv_arch_parse(const char *s, size_t len);
/* The architecture family users know ("Hopper" for 90), "unknown" when none. */
const char *kv_arch_family(unsigned sm);

/* ---- the scan ---- */

struct kv_compat_opts {
        const char *cuda_version;        /* the image config's CUDA_VERSION ("11.8.0"), or NULL */
        const char *nvidia_require_cuda; /* the image config's NVIDIA_REQUIRE_CUDA, or NULL */
        const char *require_arch;        /* "sm_80,sm_90": checked by kv_compat_require(); may be NULL */
        const char *require_driver;      /* "535" or "535.104.05": idem; may be NULL */
        /* A tree scanned as if it were at extra_path ("/opt/venv") in the image under root_fd, where
         * nothing is at that path: an image's last layer read where it was copied from instead of being
         * unpacked. The caller vouches that no component of extra_path is a *.dist-info directory and that
         * it is not under /proc or /sys. NULL: none (extra_fd is then not used). */
        const char *extra_path;
        int extra_fd;
};

struct kv_compat;

/* Scans the tree under root_fd. Returns 0 (*ret owned by the caller: kv_compat_free()), -EINVAL for
 * a bad require_arch or require_driver (named in err), or -errno when root_fd cannot be read.
 * Unreadable files inside the tree are counted and skipped, not errors. */
int kv_compat_scan(int root_fd, const struct kv_compat_opts *opts, struct kv_compat **ret, struct kv_err *err);
struct kv_compat *kv_compat_free(struct kv_compat *c);

/* The report as a JSON object (the verification report's "static" section); malloc'd, NUL-terminated,
 * the caller frees it; NULL on OOM. */
char *kv_compat_json(const struct kv_compat *c);
/* A short human summary (a few lines of at most ~100 columns, each starting with prefix); malloc'd. */
char *kv_compat_summary(const struct kv_compat *c, const char *prefix);
/* Checks opts->require_arch and opts->require_driver. Returns 0 when both hold (or were not given),
 * 1 when one does not: *ret_msg (malloc'd) is one line naming the file and the missing architecture,
 * or the driver the image needs. -ENOMEM on OOM. */
int kv_compat_require(const struct kv_compat *c, char **ret_msg);

/* Whether an entry of a layer (path relative to the root, no leading "/", as "usr/lib/x"; mode with
 * its S_IF* type; size of a regular file) would change nothing in the report of a tree that gains it
 * but the scan's regular_files and image_bytes counters: a directory no *.dist-info, a symlink or
 * regular file no library name (lib*.so*), no torch/version.py, no nvcc, no ELF candidate; nothing
 * under the root's proc or sys, nor deeper than the walk goes. Anything else (a device, so an overlay
 * whiteout too) is not inert. Whiteouts, opaque directories and shadowing are the caller's to check. */
bool kv_compat_entry_inert(const char *path, unsigned mode, uint64_t size);
/* The summary's last line ("PREFIXN files with CUDA code; read X MB of Y MB (Z%)\n"), as
 * kv_compat_summary() writes it from the scan's counters; malloc'd, NULL on OOM. */
char *kv_compat_counts_line(const char *prefix, size_t cuda_files, uint64_t bytes_read, uint64_t image_bytes);

/* Counters, for benchmarks and tests. */
uint64_t kv_compat_bytes_read(const struct kv_compat *c);
uint64_t kv_compat_image_bytes(const struct kv_compat *c); /* sum of the regular files' sizes */
size_t kv_compat_cuda_files(const struct kv_compat *c);     /* ELF files with an .nv_fatbin section */
/* The verdict for dev_sm over all of the image's CUDA code (KV_RUN_NATIVE when it has none); dev_sm
 * must be one of the report's architectures (KV_COMPAT_ARCHS, or given in require_arch), else -1. */
int kv_compat_verdict(const struct kv_compat *c, unsigned dev_sm);

#endif

/* GPU verification of an image (builder/ side of kernels/). Internal to builder/. */
#ifndef BLD_VERIFY_H
#define BLD_VERIFY_H

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>

#include "common/cb.h"
#include "layers/layer.h"

#define BLD_VERIFY_ARTIFACT_TYPE "application/vnd.cubuild.verify.report.v1+json"
/* The code a failed verification returns; the CLI maps it to exit status 3. */
#define BLD_E_VERIFY (-EPROTO)

struct bld_verify_opts {
        const char *policy;      /* "auto" (default), "require", "skip" */
        const char *required_by; /* what made "require" the policy, for its message (NULL: --verify require) */
        const char *report_path; /* --verify-report FILE, or NULL */
        const char *const *tags; /* canonical names: the report's referrers index is tagged beside them */
        size_t ntags;
        bool quiet;
        /* the static compatibility report (kernels/compat.h), always made: its gaps against these
         * fail the build like a failed verification (BLD_E_VERIFY) */
        const char *require_arch;   /* --require-arch sm_80,sm_90, or NULL */
        const char *require_driver; /* --require-driver 535, or NULL */
        const struct bld_compat_extra *extra; /* bld_compat_image()'s, or NULL */
        json_t **ret_report;        /* when not NULL, gets a reference to the whole report */
};
/* Owned: the verifier program to bind into images, or NULL when none is found. */
char *bld_verifier_path(void);
/* Verifies the image (manifest_digest may be NULL: then nothing is stored). Returns 0 on pass or
 * skip, BLD_E_VERIFY when verification failed or was required and impossible, < 0 otherwise. */
int bld_verify_image(struct layer_store *s, const char *tmp_dir, const char *manifest_digest, json_t *config,
                     const struct layer_desc *layers, size_t n, const struct bld_verify_opts *vo, struct cb_err *err);

/* The static compatibility report of an image, from its layers mounted read-only (nothing in it runs).
 * *ret_static (owned) gets the report's "static" section; *ret_summary (owned, may be NULL) a few
 * lines for people; *ret_gap (owned) one line when require_arch / require_driver (may be NULL) are not
 * met, else NULL. Returns 0, -EINVAL for a bad requirement, < 0 when the image cannot be read. */
/* compat_memo.c: the static report remembered by what decides it: the cubuild version, the CUDA
 * environment, the --require-* options and every layer's diff_id (cache/compat/ in the store). */
void bld_compat_memo_key(const struct layer_desc *layers, size_t n, const char *cuda_version,
                         const char *nvidia_require_cuda, const char *require_arch, const char *require_driver,
                         char ret[CB_DIGEST_STR_LEN]);
bool bld_compat_memo_get(struct layer_store *s, const char *key, json_t **ret_static, char **ret_summary,
                         char **ret_gap);
void bld_compat_memo_put(struct layer_store *s, const char *key, json_t *static_report, const char *summary,
                         const char *gap);
/* The prefix of the summary's lines. */
#define BLD_COMPAT_PREFIX "compat: "
/* What the report depends on besides the layers (strings may be NULL). */
struct bld_compat_memo_opts {
        const char *cuda_version;        /* the config's CUDA_VERSION */
        const char *nvidia_require_cuda; /* the config's NVIDIA_REQUIRE_CUDA */
        const char *require_arch;
        const char *require_driver;
};
/* The memo of layers[0..n), else the memo of a shorter prefix layers[0..k) (k >= n - 4) when each layer
 * above it only adds entries the report merely counts (kv_compat_entry_inert()) at paths that no layer
 * below it holds: then that report with its counters increased by those layers' regular files and bytes,
 * remembered as layers[0..n)'s. Reads the layers' entries (layer_store_walk_entries()); mounts nothing.
 * Outputs as bld_compat_memo_get(); false when neither is found or the layers above do not qualify. */
bool bld_compat_memo_lookup(struct layer_store *s, const struct layer_desc *layers, size_t n,
                            const struct bld_compat_memo_opts *o, json_t **ret_static, char **ret_summary,
                            char **ret_gap);
/* Remembers the report of layers[0..n) (summary with BLD_COMPAT_PREFIX), and that of each prefix
 * layers[0..k) (k >= n - 4) for which bld_compat_memo_lookup() would derive this one, so that the next
 * build changing only its last steps finds it. Failures only lose the shortcut. */
void bld_compat_memo_save(struct layer_store *s, const struct layer_desc *layers, size_t n,
                          const struct bld_compat_memo_opts *o, json_t *static_report, const char *summary,
                          const char *gap);
/* How many of layers[0..n) a scan must mount when bld_compat_memo_lookup() found nothing: n - 1 when the
 * top layer only adds entries the report counts, at paths the others (unpacked first: the mount needs them
 * anyway) do not hold; then *ret_files and *ret_bytes get its regular files and bytes, and its blob is read
 * for its tar headers only, never extracted. Else n. */
size_t bld_compat_memo_scan_layers(struct layer_store *s, const struct layer_desc *layers, size_t n,
                                   uint64_t *ret_files, uint64_t *ret_bytes);
/* Turns the report of the layers bld_compat_memo_scan_layers() chose into that of layers[0..n), in place
 * (*static_report and *summary are replaced), and remembers it. < 0 as bld_compat_memo_shift(). */
int bld_compat_memo_extend(struct layer_store *s, const struct layer_desc *layers, size_t n,
                           const struct bld_compat_memo_opts *o, uint64_t files, uint64_t bytes,
                           json_t **static_report, char **summary, const char *gap);
/* static_report and summary (BLD_COMPAT_PREFIX) with the scan's regular_files and image_bytes moved by
 * files and bytes, in the JSON, in its summary and in summary's last line. *ret_static (json_decref())
 * and *ret_summary (free()) are owned. -EBADMSG when the report lacks the counters, a summary's last line
 * is not the counts line they give, or a counter would drop below zero. */
int bld_compat_memo_shift(json_t *static_report, const char *summary, int64_t files, int64_t bytes,
                          json_t **ret_static, char **ret_summary);
/* The image's last layer read where a COPY took it from instead of being unpacked (builder/copy_direct.c:
 * bld_copy_direct_source()). */
struct bld_compat_extra {
        const char *diff_id; /* the layer it stands for */
        int fd;              /* the directory the layer holds unchanged */
        const char *path;    /* its path in the image ("/opt/venv") */
};
/* The static report of the image layers[0..n): remembered, derived (above), or scanned. extra (may be
 * NULL) stands for layers[n - 1] when that one is not unpacked: the others are mounted, and the scan
 * reads extra's tree in its place. */
int bld_compat_image(struct layer_store *s, const char *tmp_dir, json_t *config, const struct layer_desc *layers,
                     size_t n, const struct bld_compat_extra *extra, const char *require_arch,
                     const char *require_driver, json_t **ret_static, char **ret_summary, char **ret_gap,
                     struct cb_err *err);

#endif

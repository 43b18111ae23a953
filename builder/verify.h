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
int bld_compat_image(struct layer_store *s, const char *tmp_dir, json_t *config, const struct layer_desc *layers,
                     size_t n, const char *require_arch, const char *require_driver, json_t **ret_static,
                     char **ret_summary, char **ret_gap, struct cb_err *err);

#endif

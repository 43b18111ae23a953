/* Audit: what an image records about how it was made, and the image-level diff used by `cubuild diff`
 * and `cubuild rebuild-check`. Internal to builder/. docs/audit.md describes the keys. */
#ifndef BLD_AUDIT_H
#define BLD_AUDIT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "common/cb.h"
#include "registry/reg.h"

/* Manifest annotation keys. The final stage's base uses the OCI standard keys; the rest is ours. */
#define BLD_AN_BASE_NAME "org.opencontainers.image.base.name"
#define BLD_AN_BASE_DIGEST "org.opencontainers.image.base.digest"
#define BLD_AN_PREFIX "dev.cubuild."
#define BLD_AN_FROM "dev.cubuild.from."           /* + stage index: "REF@DIGEST" or "scratch" */
#define BLD_AN_DOCKERFILE "dev.cubuild.dockerfile.digest"
#define BLD_AN_CONTEXT "dev.cubuild.context.digest"
#define BLD_AN_ARG "dev.cubuild.build-arg."       /* + name: value */
#define BLD_AN_LABEL "dev.cubuild.label."         /* + name: --label value */
#define BLD_AN_TARGET "dev.cubuild.target"
#define BLD_AN_SDE "dev.cubuild.source-date-epoch"
#define BLD_AN_COMPRESSION "dev.cubuild.compression"
#define BLD_AN_VERSION "dev.cubuild.version"
/* + name: a --build-context, "dir sha256:<Merkle digest>", "oci-layout sha256:<manifest>" or
 * "docker-image REF" (the FROM annotations hold the digest an image context resolved to) */
#define BLD_AN_NCTX "dev.cubuild.build-context."

struct df_ignore;
struct bld_ctx;
struct layer_store;

/* The Merkle digest of a build context after .dockerignore (ig may be NULL): every directory's digest
 * is the sha256 of its entries sorted by name ("TYPE MODE NAME\0" then the child's digest, the file's
 * content sha256 or the link target); mtimes and owners are left out, as the build cache leaves them
 * out. The context's own digest is the root directory's. */
struct bld_file_memo;
/* memo (may be NULL): file digests the build already took (filememo.h). */
int bld_audit_context_digest(int ctx_fd, const struct df_ignore *ig, struct bld_file_memo *memo,
                             char ret[CB_DIGEST_STR_LEN], struct cb_err *err);

/* The annotations a build records (owned, json_decref()): per-stage bases, Dockerfile and context
 * digests, build args, --label values, target, SOURCE_DATE_EPOCH, compression, version. */
int bld_audit_inputs(struct bld_ctx *b, const void *dockerfile, size_t dockerfile_len, size_t target,
                     json_t **ret, struct cb_err *err);

/* The recorded inputs of a manifest as one object (keys without their prefix: "dockerfile.digest",
 * "from.0", "build-arg.V", "base.name"...), or NULL when it records none. Owned. */
json_t *bld_audit_inputs_json(json_t *manifest);
/* Prints the recorded inputs of a manifest as a readable block to f (nothing when it has none). */
void bld_audit_print_inputs(FILE *f, json_t *manifest);

/* --- attestations (audit_attest.c) --- */
#define BLD_ATTEST_INTOTO "application/vnd.in-toto+json"
#define BLD_ATTEST_SPDX "application/spdx+json"
/* Adds SLSA v1 provenance and an SPDX 2.3 SBOM as referrers of the image manifest to its referrers
 * index (bld_referrers_save(): the digest key, and "<repo>:sha256-<hex>" for each of tags, canonical
 * names, which may be none), keeping what the index already holds (the GPU report). started/finished:
 * Unix seconds. */
int bld_audit_attest(struct layer_store *s, const char *manifest_digest, const char *const *tags, size_t ntags,
                     int64_t started, int64_t finished, bool provenance, bool sbom, struct cb_err *err);

/* --- the referrers index in the store (audit_referrers.c) --- */
/* Owned: the store's key for an image's referrers index, "sha256-<hex>" (the fallback tag, no repo). */
char *bld_referrers_key(const char *manifest_digest);
/* The referrers index of manifest_digest: under its digest key, else the fallback tag of one of names
 * (canonical), else of any name in the store. -ENOENT when there is none. */
int bld_referrers_find(struct layer_store *s, const char *manifest_digest, const char *const *names, size_t nnames,
                       char ret_index[CB_DIGEST_STR_LEN]);
/* Owned (json_decref()): the referrers index as bld_referrers_find() finds it, or a new empty one. */
json_t *bld_referrers_load(struct layer_store *s, const char *manifest_digest, const char *const *names,
                           size_t nnames);
/* Tags the stored index idx as manifest_digest's referrers: the digest key and each name's
 * "<repo>:sha256-<hex>". */
int bld_referrers_tag_index(struct layer_store *s, const char *manifest_digest, const char *const *names,
                            size_t nnames, const char *idx, struct cb_err *err);
/* Stores index and tags it under the digest key and each name's "<repo>:sha256-<hex>". */
int bld_referrers_save(struct layer_store *s, const char *manifest_digest, const char *const *names, size_t nnames,
                       json_t *index, struct cb_err *err);
/* Untags the referrers indexes whose subject no name in the store holds any more (an image built or
 * pulled without a name, or whose names were removed), so that prune can collect them. */
int bld_referrers_prune(struct layer_store *s, struct cb_err *err);
/* After a pull of rr (manifest_digest): its referrers into the store, tagged under the digest key and
 * name's fallback tag (name may be NULL). *ret_api (may be NULL): whether the registry's referrers API
 * answered. -ENOENT when the registry has none. */
struct reg_client;
int bld_audit_pull_referrers(struct layer_store *s, struct reg_client *c, const struct reg_ref *rr,
                             const char *manifest_digest, const char *name, bool *ret_api, struct cb_err *err);

/* bld_audit_pull_referrers() for `cubuild pull`: a failure is a warning on stderr (the image is pulled
 * all the same); none is no news. */
void bld_pull_referrers_or_warn(struct layer_store *s, struct reg_client *c, const struct reg_ref *rr,
                                const char *manifest_digest, const char *name, bool quiet);

/* --- image diff (audit_diff.c) --- */
enum bld_diff_format { BLD_DIFF_TEXT, BLD_DIFF_JSON };
struct bld_diff_opts {
        enum bld_diff_format format;
        bool no_files;  /* manifests and configs only */
        FILE *out;      /* text lines go here as they are found */
};
/* Compares the image manifest_a in store sa with manifest_b in store sb (which may be the same store).
 * Returns the number of differences (>= 0) or < 0 on trouble. With BLD_DIFF_JSON the document is
 * printed at the end. */
long bld_diff_images(struct layer_store *sa, const char *manifest_a, struct layer_store *sb, const char *manifest_b,
                     const struct bld_diff_opts *o, struct cb_err *err);

/* --- opening images wherever they are (cmd_diff.c) --- */
struct bld_image_sides {
        struct layer_store *store;   /* the user's store (--root), opened by the caller */
        struct layer_store *scratch; /* a store inside the user's store's work directory, opened on
                                        demand for images from layouts, archives and registries */
        struct reg_opts reg;
};
/* spec: a store name or digest, oci:DIR[:TAG], oci-archive:FILE, docker-archive:FILE, docker://REF.
 * *ret_store is borrowed from sd. */
int bld_audit_open_image(struct bld_image_sides *sd, const char *spec, struct layer_store **ret_store,
                         char ret_digest[CB_DIGEST_STR_LEN], struct cb_err *err);
/* Whether spec names an image outside the store (oci:, oci-archive:, docker-archive:, docker://). */
bool bld_audit_is_transport(const char *spec);
/* Borrowed: the scratch store, opened when needed; NULL on failure. */
struct layer_store *bld_audit_scratch_store(struct bld_image_sides *sd, struct cb_err *err);
void bld_image_sides_release(struct bld_image_sides *sd);

/* The commands (main.c's table). */
struct bld_global;
int bld_cmd_diff(const struct bld_global *g, int argc, char **argv);
int bld_cmd_rebuild_check(const struct bld_global *g, int argc, char **argv);
int bld_cmd_attestations(const struct bld_global *g, int argc, char **argv);

#endif

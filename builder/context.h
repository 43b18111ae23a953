/* Named build contexts: `--build-context NAME=VALUE` with docker buildx's meaning. Internal to builder/.
 *
 *   NAME=docker-image://REF          FROM NAME and COPY --from=NAME use image REF (store, else registry)
 *   NAME=oci-layout://PATH[:TAG|@DIGEST]
 *                                    the image in the OCI layout at PATH (TAG: the manifest whose
 *                                    org.opencontainers.image.ref.name is TAG, default "latest", else
 *                                    the layout's only manifest), imported into the store at build start
 *   NAME=DIR (relative or absolute)  a local directory: COPY --from=NAME and RUN --mount=type=bind,from=NAME
 *                                    read it, with DIR/.dockerignore applied, files owned by 0:0 as the
 *                                    main context's are; the cache key covers the files read. FROM NAME
 *                                    starts from its files (one layer, as COPY --from=NAME / / on scratch)
 * A named context also replaces the Dockerfile stage of the same name (build.c), as BuildKit's does.
 * Git URLs and https tarballs are refused with a message that says so. */
#ifndef BLD_CONTEXT_H
#define BLD_CONTEXT_H

#include <stdbool.h>

#include "common/cb.h"

struct bld_ctx;
struct df_ignore;

enum bld_nctx_kind {
        BLD_NCTX_IMAGE,      /* docker-image:// */
        BLD_NCTX_OCI_LAYOUT, /* oci-layout:// */
        BLD_NCTX_DIR,        /* a local directory */
};

struct bld_nctx {
        char *name;  /* owned */
        enum bld_nctx_kind kind;
        char *value; /* owned: the reference (IMAGE), the layout or the directory path */
        char image[CB_DIGEST_STR_LEN]; /* OCI_LAYOUT: the imported manifest digest */
        int fd;                        /* DIR: the directory, open; -1 otherwise */
        struct df_ignore *ignore;      /* DIR: its .dockerignore, or NULL; owned */
};

/* Checks the form of one --build-context argument ("NAME=VALUE") without touching the disk; on a
 * form cubuild refuses, -EINVAL (a malformed argument) or -ENOTSUP (a git or https context) with the
 * message in err. */
int bld_nctx_check(const char *spec, struct cb_err *err);
/* Opens b->opts->build_contexts into b->nctx: directories opened and their .dockerignore read, OCI
 * layouts imported into b->store (which must be open). Release with bld_nctxs_release(). */
int bld_nctxs_open(struct bld_ctx *b, struct cb_err *err);
void bld_nctxs_release(struct bld_ctx *b);
/* Borrowed: the named context NAME (exact match), or NULL. */
const struct bld_nctx *bld_nctx_find(const struct bld_ctx *b, const char *name);
/* Borrowed: the local directory context that a --from=NAME reads, or NULL when NAME is not one or a
 * built stage has that name (a stage the context replaced is that context already). */
const struct bld_nctx *bld_nctx_dir_for(const struct bld_ctx *b, const char *from);

#endif

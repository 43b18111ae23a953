/* Build state shared by build.c, steps.c, copy.c and outputs.c. Internal to builder/. */
#ifndef BLD_STEPS_H
#define BLD_STEPS_H

#include <jansson.h>
#include <sys/types.h>

#include "builder/bld.h"
#include "layers/layer.h"
#include "parser/df.h"

struct bld_stage {
        char *name;        /* AS name, lower-case, or NULL */
        json_t *config;    /* the image config as it grows */
        struct layer_desc *layers;
        size_t nlayers, cap;
        struct df_vars *vars; /* ENV and ARG values for expansion */
        struct df_vars *args; /* ARGs declared in the stage (RUN sees them, the image does not) */
        char *base_ref;
        char base_digest[CB_DIGEST_STR_LEN];
        bool built;
        bool cmd_set_here; /* a CMD in this stage, which a later ENTRYPOINT keeps */
        char key[CB_DIGEST_STR_LEN]; /* cache key of the last instruction, chained from the base */
        int64_t last_time;           /* when the last layer was made: history and created follow it */
};

struct bld_ctx {
        const struct bld_opts *opts;
        struct layer_store *store;
        struct df_file *df;
        char *df_name;
        struct df_ignore *ignore;
        struct df_vars *meta;       /* ARGs before the first FROM, for FROM lines */
        struct df_vars *build_args; /* --build-arg values */
        int ctx_fd;
        char *tmp_dir;
        struct bld_stage *stages;
        size_t nstages;
        size_t step, nsteps;
        size_t steps_run, steps_cached;
        struct bld_progress *pg; /* owned by bld_build(): every message of the build goes through it */
        char build_id[40];       /* names this build's failure logs: ROOT/logs/<build_id>/ */
        struct bld_cache_remote *remote; /* --cache-from/--cache-to, or NULL */
        struct bld_nctx *nctx;           /* --build-context NAME=VALUE, opened (builder/context.h) */
        size_t nnctx;
        struct bld_file_memo *memo;      /* context file digests, taken once per build */
        /* the last layer a COPY wrote straight from a source directory whose files it carries unchanged
         * (no --chmod, --exclude or .dockerignore): the static CUDA report reads them there rather than
         * unpacking that layer (bld_copy_direct_source()) */
        struct bld_direct_src {
                char diff_id[CB_DIGEST_STR_LEN]; /* "" when none */
                char *from;                      /* --from (a stage, image or named context), or NULL */
                char *src;                       /* the source directory, from its root */
                char *dest;                      /* where the layer puts it: "/opt/venv" */
        } direct_src;
};

void bld_stage_add_layer(struct bld_stage *st, const struct layer_desc *l);
int64_t bld_ctx_time(const struct bld_ctx *b);
/* Owned: the reference in its canonical form ("docker.io/library/x:latest"); NULL on error. */
char *bld_ref_normalize(const char *name, struct cb_err *err);
int bld_step(struct bld_ctx *b, struct bld_stage *st, const struct df_instr *in, struct cb_err *err);
/* Copies into merged; or, with hash set (merged NULL), feeds the sources' identity into hash. With direct
 * set, a copy to a new destination may instead write its layer straight from the sources, committed with
 * those options (builder/copy_direct.c): then it returns 1 and *ret_layer is the layer, and merged is
 * left as it was. */
int bld_copy(struct bld_ctx *b, struct bld_stage *st, const struct df_instr *in, const char *merged,
             struct cb_sha256 *hash, const struct layer_commit_opts *direct, struct layer_desc *ret_layer,
             struct cb_err *err);
/* mkdir -p of path inside the rootfs at root_fd, every component resolved in it (symlinks of the
 * image followed there, never out); the directories it creates are owned by uid:gid, mode 0755. */
int bld_mkdirs_in_root(int root_fd, const char *path, uid_t uid, gid_t gid, struct cb_err *err);
/* What a --from names, as a digest: a stage's cache key or an image's manifest digest. */
int bld_source_identity(struct bld_ctx *b, const char *from, char ret[CB_DIGEST_STR_LEN], struct cb_err *err);
/* An image a FROM or --from names, as a manifest digest: a --build-context NAME=docker-image://REF
 * mapping first, then the store (unless --pull), then the registry. */
int bld_resolve_image(struct bld_ctx *b, const char *name, char ret_digest[CB_DIGEST_STR_LEN], struct cb_err *err);
int bld_pull(struct bld_ctx *b, const char *ref, char ret_digest[CB_DIGEST_STR_LEN], struct cb_err *err);
int bld_outputs(struct bld_ctx *b, const char *digest, struct cb_err *err);
/* "gzip", "zstd", "none" (NULL: gzip, the outputs' default) */
enum layer_compression bld_compression_of(const char *name);
/* Whether the build's final image gets compressed layers in the store: an explicit --compression, --push, or an
 * -o type=oci|oci-archive output (a docker-archive carries uncompressed layers either way). */
bool bld_outputs_compressed(const struct bld_opts *o);
/* jobs.c: the stage graph and the schedule (--jobs) */
typedef int (*bld_stage_fn)(struct bld_ctx *b, size_t stage, struct cb_err *err);
/* deps: i flags (entries 0..i-1 written), set for each earlier stage that stage i of the Dockerfile reads
 * (FROM, --from, --mount from=); i may be past b->nstages. */
void bld_stage_deps(struct bld_ctx *b, size_t i, bool *deps);
/* needed: b->nstages flags; the target and every stage it reads, transitively. */
void bld_mark_needed(struct bld_ctx *b, size_t target, bool *needed);
/* Builds the needed stages with fn, up to jobs at once (forked children for the concurrent ones), in an
 * order that respects the graph; b->step numbering is the sequential one. */
int bld_build_stages(struct bld_ctx *b, const bool *needed, unsigned jobs, bld_stage_fn fn, struct cb_err *err);
struct reg_blob_sink;
void bld_blob_sink_init(struct reg_blob_sink *s, struct layer_store *store);

#endif

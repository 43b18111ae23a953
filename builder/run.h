/* RUN's extras: --mount binds (secret, cache, bind, tmpfs), output capture, USER lookup. */
#ifndef BLD_RUN_H
#define BLD_RUN_H

#include "builder/internal.h"
#include "builder/steps.h"

struct bld_run_ctx {
        struct bld_bind *binds;
        size_t nbinds, cap;
        char **owned; /* strings the binds point into */
        size_t nowned, owned_cap;
        struct cb_buf tail; /* the last bytes of output, for the error message */
        char *gpu_devices;  /* RUN --device=nvidia.com/gpu=X: X, else NULL */
        struct bld_rootfs *mounts; /* bind sources mounted for the step (--from stages, rw overlays) */
        size_t nmounts;
        char **scratch; /* directories made for the step (removed after the mounts go) */
        size_t nscratch;
        bool quiet;
        struct bld_progress *pg; /* borrowed: output goes there as LOG events (NULL: stderr unless quiet) */
        size_t step;
        int log_fd;    /* the step's whole output, kept when it fails (-1: none) */
        char *log_path; /* owned: where log_fd writes, in the step's tmp/ directory */
        char **targets; /* owned: the step's mount targets, for bld_sandbox_trim_upper() */
        size_t ntargets;
};
void bld_run_ctx_init(struct bld_run_ctx *rc, bool quiet);
void bld_run_ctx_release(struct bld_run_ctx *rc);
/* Parses the instruction's --mount flags into binds (secrets from --secret, caches in the store). */
int bld_run_prepare(struct bld_ctx *b, struct bld_stage *st, const struct df_instr *in, struct bld_rootfs *fs,
                    struct bld_run_ctx *rc, struct cb_err *err);
/* Feeds what the step's bind mounts read into h, for its cache key: a --from stage's or image's
 * identity, the context files under a bind's source (after .dockerignore). Returns how many binds
 * it hashed (0: none, h untouched). */
int bld_run_inputs(struct bld_ctx *b, struct bld_stage *st, const struct df_instr *in, struct cb_sha256 *h,
                   struct cb_err *err);
/* copy.c: mounts the rootfs of what a --from names (an earlier stage by name or index, else an
 * image from the store or a registry) into fs; release it with bld_rootfs_release(). */
int bld_stage_rootfs(struct bld_ctx *b, const char *from, struct bld_rootfs *fs, struct cb_err *err);
/* copy.c: hashes the context entry rel (a file or a tree, .dockerignore applied) as COPY does. */
int bld_copy_hash_context(struct bld_ctx *b, const char *rel, struct cb_sha256 *h, struct cb_err *err);
struct bld_nctx;
/* The same for a named local directory context (nc NULL: the main context), its .dockerignore applied. */
int bld_copy_hash_nctx(struct bld_ctx *b, const struct bld_nctx *nc, const char *rel, struct cb_sha256 *h,
                       struct cb_err *err);
void bld_run_on_output(void *ud, const char *p, size_t n);
/* on_tick of the sandbox: redraws the progress display. */
void bld_run_on_tick(void *ud);
/* Starts the step's log file at dir/run.log. */
int bld_run_log_open(struct bld_run_ctx *rc, const char *dir, struct cb_err *err);
/* Moves the log into the store, as root/logs/<build_id>/<step>.log; *ret_path owned (free()). */
int bld_run_log_keep(struct bld_run_ctx *rc, const char *root, const char *build_id, char **ret_path,
                     struct cb_err *err);
/* Adds a bind (strings must outlive rc: borrowed). */
void bld_run_add_bind(struct bld_run_ctx *rc, const struct bld_bind *b);
/* Owned: the last `lines` lines of output, indented. */
char *bld_run_tail(const struct bld_run_ctx *rc, unsigned lines);
/* USER "name[:group]" or "uid[:gid]" against the rootfs's /etc/passwd and /etc/group. */
int bld_resolve_user(const char *rootfs, const char *spec, uid_t *ret_uid, gid_t *ret_gid, struct cb_err *err);
/* A Go duration as docker takes them ("30s", "1m30s", "500ms", "1h") in nanoseconds. */
int bld_duration_ns(const char *s, int64_t *ret);
int bld_step_healthcheck(struct bld_ctx *b, struct bld_stage *st, const struct df_instr *in, struct cb_err *err);

#endif

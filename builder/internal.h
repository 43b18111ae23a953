/* builder/ internals shared between its files; nothing outside builder/ includes this. */
#ifndef BLD_INTERNAL_H
#define BLD_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/cb.h"

/* --- rootfs.c: an overlay of read-only lower directories and a fresh upper directory --- */
struct bld_rootfs {
        char *dir;    /* owned: tmp/<id>/ holding upper/, work/, merged/ */
        char *upper;  /* owned */
        char *merged; /* owned: where the overlay is mounted */
        bool mounted;
};
/* lowers: absolute paths, top-most first (may be empty: an empty lower is made). tmp_dir: the
 * store's tmp/ directory, on the same filesystem as the layers. */
int bld_rootfs_mount(struct bld_rootfs *fs, const char *tmp_dir, const char *const *lowers, size_t n,
                     struct cb_err *err);
struct layer_store;
struct layer_desc;
/* Unpacks layers (bottom first, as an image lists them) and mounts them as fs's lowers, top-most first. */
int bld_rootfs_mount_layers(struct bld_rootfs *fs, struct layer_store *s, const char *tmp_dir,
                            const struct layer_desc *layers, size_t n, struct cb_err *err);
/* The entries of a directory ("." and ".." left out), sorted by name: the order every tree walk of the
 * builder follows, so hashes and layers do not depend on readdir's order. *ret owned (names and array).
 * -errno on failure. dir_fd stays open and usable. */
int bld_dir_names(int dir_fd, char ***ret, size_t *ret_n);
/* Unmounts (if mounted); the upper directory stays for committing. */
int bld_rootfs_unmount(struct bld_rootfs *fs, struct cb_err *err);
/* Unmounts and removes everything under fs->dir. NULL-safe on a zeroed struct. */
void bld_rootfs_release(struct bld_rootfs *fs);

/* openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) of path (absolute or not) inside root_fd, with
 * O_CLOEXEC added: ".." and symlinks in the image cannot lead out. -1 with errno on failure. */
int bld_open_in_root(int root_fd, const char *path, int flags, mode_t mode);

/* Value of key in a "k=v,k2=v2" option list (--mount, --secret, --output); "" for a bare key.
 * Owned (free()), NULL when absent. */
char *bld_opt_get(const char *list, const char *key);

/* Owned: the OCI 1.1 referrers fallback tag of an image, "REPO:sha256-<hex>", for name
 * ("docker.io/library/x:tag") and its manifest digest. */
char *bld_referrers_tag(const char *name, const char *manifest_digest);
/* referrers.c: the referrers stored for name@from_digest, rewritten to refer to to_digest (the same image
 * in another manifest: its build layers compressed for an output) and tagged for it; 0 when it has none. */
int bld_referrers_retarget(struct layer_store *s, const char *name, const char *from_digest, const char *to_digest,
                           struct cb_err *err);

/* --- ulimit.c --- */
struct bld_ulimit {
        int resource; /* RLIMIT_* */
        unsigned long long soft, hard; /* RLIM_INFINITY for unlimited */
};
/* "nofile=1024[:2048]" (docker's --ulimit); -ENOENT for an unknown type, -EINVAL, -ERANGE soft > hard. */
int bld_ulimit_parse(const char *s, struct bld_ulimit *ret);

/* --- sandbox.c: RUN in mount/pid/ipc/uts namespaces over a mounted rootfs --- */
struct bld_bind {
        const char *src;  /* host path; NULL: an empty tmpfs at dest */
        const char *dest; /* absolute path inside the rootfs */
        bool readonly;
        bool is_dir;
};
struct bld_run_spec {
        const char *rootfs;          /* the merged directory */
        char *const *argv;           /* argv[0] resolved through PATH inside the rootfs */
        char *const *envp;
        const char *cwd;             /* created when missing */
        uid_t uid;
        gid_t gid;
        const gid_t *groups;
        size_t ngroups;
        bool network_none;
        const char *hostname;
        const char *etc_dir;          /* host dir holding resolv.conf, hosts, hostname to bind in */
        const struct bld_bind *binds; /* extra mounts (secrets, caches, GPU) */
        size_t nbinds;
        uint64_t shm_size;            /* bytes; 0: 64 MiB as docker */
        const struct bld_ulimit *ulimits; /* --ulimit, set before exec */
        size_t nulimits;
        uint64_t timeout_ms;          /* 0: none; else the whole tree is killed after this long */
        bool interactive;             /* stdin, stdout, stderr are ours (a debug shell); no on_output */
        /* the step's stdout and stderr, as they come */
        void (*on_output)(void *ud, const char *p, size_t n);
        /* called about every 100 ms while the step runs (progress redraws) */
        void (*on_tick)(void *ud);
        void *ud;
};
/* Runs the command and waits. *ret_status: the exit status (0..255), or 128+N when killed by
 * signal N. Mount points the sandbox had to create in the rootfs are removed again afterwards so
 * that they never reach a layer. Returns < 0 when the sandbox could not be set up, -ETIMEDOUT
 * when timeout_ms passed and -EINTR when bld_sandbox_interrupt() was called: in both cases every
 * process of the step is dead and reaped when it returns. */
int bld_sandbox_run(const struct bld_run_spec *s, int *ret_status, struct cb_err *err);
/* After the overlay is unmounted: removes from its upper directory (upper_fd) the ancestors of the
 * mount targets dests that are left empty and not opaque. Creating a mount point (an /etc/hosts
 * the image lacks, a cache mount's target) copies its parents up; without this they would reach
 * the layer although the step changed nothing in them. */
void bld_sandbox_trim_upper(int upper_fd, char *const *dests, size_t n);
/* The mount targets every step has, for bld_sandbox_trim_upper(). */
extern const char *const bld_sandbox_etc_files[3];
/* Called once at start: the builder's own mount namespace, so every mount it makes vanishes with it. */
int bld_sandbox_init(struct cb_err *err);
/* Kill whatever RUN step is in flight (from a signal handler). */
void bld_sandbox_kill_current(void);
/* Async-signal-safe: records signal sig (bld_interrupted() returns it from then on) and kills the
 * RUN step in flight; the build unwinds (unmounting, removing its tmp/ work) at its next check.
 * While an interactive shell runs, SIGINT is left to the shell. */
void bld_sandbox_interrupt(int sig);
/* The signal that interrupted the build, 0 when none did. */
int bld_interrupted(void);

#endif

/* RUN's extras: the --mount flags (secret, cache, bind), the output stream and USER lookup. */
#include "builder/run.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "builder/context.h"
#include "builder/imgconfig.h"
#include "builder/progress.h"

#define TAIL_MAX 8192
#define LOGS_KEEP 50

void bld_run_ctx_init(struct bld_run_ctx *rc, bool quiet)
{
        memset(rc, 0, sizeof(*rc));
        cb_buf_init(&rc->tail, CB_BUF_UNLIMITED);
        rc->quiet = quiet;
        rc->log_fd = -1;
}

void bld_run_ctx_release(struct bld_run_ctx *rc)
{
        for (size_t i = 0; i < rc->nowned; i++)
                free(rc->owned[i]);
        free(rc->owned);
        free(rc->binds);
        free(rc->gpu_devices);
        for (size_t i = rc->nmounts; i-- > 0;)
                bld_rootfs_release(&rc->mounts[i]);
        free(rc->mounts);
        for (size_t i = 0; i < rc->nscratch; i++) {
                struct cb_err e2;
                cb_err_init(&e2);
                (void) cb_rm_rf(AT_FDCWD, rc->scratch[i], &e2);
                cb_err_release(&e2);
                free(rc->scratch[i]);
        }
        free(rc->scratch);
        cb_buf_release(&rc->tail);
        if (rc->log_fd >= 0)
                (void) close(rc->log_fd);
        free(rc->log_path);
        for (size_t i = 0; i < rc->ntargets; i++)
                free(rc->targets[i]);
        free(rc->targets);
        memset(rc, 0, sizeof(*rc));
        rc->log_fd = -1;
}

static char *own(struct bld_run_ctx *rc, char *s)
{
        if (rc->nowned == rc->owned_cap) {
                rc->owned_cap = rc->owned_cap ? rc->owned_cap * 2 : 8;
                rc->owned = cb_xrealloc(rc->owned, rc->owned_cap * sizeof(char *));
        }
        rc->owned[rc->nowned++] = s;
        return s;
}

static void add_bind(struct bld_run_ctx *rc, const char *src, const char *dest, bool ro, bool dir)
{
        if (rc->nbinds == rc->cap) {
                rc->cap = rc->cap ? rc->cap * 2 : 4;
                rc->binds = cb_xrealloc(rc->binds, rc->cap * sizeof(*rc->binds));
        }
        rc->binds[rc->nbinds++] = (struct bld_bind){ .src = src, .dest = dest, .readonly = ro, .is_dir = dir };
}

void bld_run_add_bind(struct bld_run_ctx *rc, const struct bld_bind *b)
{
        add_bind(rc, b->src, b->dest, b->readonly, b->is_dir);
}

void bld_run_on_output(void *ud, const char *p, size_t n)
{
        struct bld_run_ctx *rc = ud;
        if (rc->log_fd >= 0 && cb_write_all(rc->log_fd, p, n) < 0) {
                /* a full disk costs the log, not the step */
                (void) close(rc->log_fd);
                rc->log_fd = -1;
        }
        if (rc->pg)
                bld_progress_log(rc->pg, rc->step, p, n);
        else if (!rc->quiet)
                (void) cb_write_all(STDERR_FILENO, p, n);
        (void) cb_buf_add(&rc->tail, p, n);
        if (rc->tail.len > 2 * TAIL_MAX) {
                memmove(rc->tail.p, rc->tail.p + rc->tail.len - TAIL_MAX, TAIL_MAX);
                cb_buf_truncate(&rc->tail, TAIL_MAX);
        }
}

void bld_run_on_tick(void *ud)
{
        struct bld_run_ctx *rc = ud;
        bld_progress_tick(rc->pg);
}

int bld_run_log_open(struct bld_run_ctx *rc, const char *dir, struct cb_err *err)
{
        char *path = cb_xasprintf("%s/run.log", dir);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
                int e = errno;
                free(path);
                return cb_fail(err, e, "create the step's log");
        }
        if (rc->log_fd >= 0)
                (void) close(rc->log_fd);
        free(rc->log_path);
        rc->log_fd = fd;
        rc->log_path = path;
        return 0;
}

static int name_cmp(const void *a, const void *b)
{
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* logs/ keeps the failure logs of the last LOGS_KEEP builds (names sort by time) */
static void prune_logs(const char *root)
{
        _cleanup_free_ char *path = cb_xasprintf("%s/logs", root);
        DIR *d = opendir(path);
        if (!d)
                return;
        char **names = NULL;
        size_t n = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                names = cb_xrealloc(names, (n + 1) * sizeof(char *));
                names[n++] = cb_xstrdup(de->d_name);
        }
        if (n > LOGS_KEEP) {
                qsort(names, n, sizeof(char *), name_cmp);
                for (size_t i = 0; i < n - LOGS_KEEP; i++)
                        (void) cb_rm_rf(dirfd(d), names[i], NULL);
        }
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
        (void) closedir(d);
}

int bld_run_log_keep(struct bld_run_ctx *rc, const char *root, const char *build_id, char **ret_path,
                     struct cb_err *err)
{
        if (!rc->log_path)
                return cb_failc(err, -ENOENT, "the step has no log");
        if (rc->log_fd >= 0) {
                int r = close(rc->log_fd);
                rc->log_fd = -1;
                if (r < 0)
                        return cb_fail(err, errno, "write the step's log");
        }
        _cleanup_free_ char *dir = cb_xasprintf("%s/logs/%s", root, build_id);
        int r = cb_mkdir_p(AT_FDCWD, dir, 0755, err);
        if (r < 0)
                return r;
        prune_logs(root);
        char *dest = cb_xasprintf("%s/%zu.log", dir, rc->step);
        /* tmp/ is in the store, so this is a rename on one filesystem */
        if (rename(rc->log_path, dest) < 0) {
                int e = errno;
                free(dest);
                return cb_fail(err, e, "keep the step's log in '%s'", dir);
        }
        *ret_path = dest;
        return 0;
}

char *bld_run_tail(const struct bld_run_ctx *rc, unsigned lines)
{
        const char *p = rc->tail.p;
        size_t len = rc->tail.len;
        while (len > 0 && p[len - 1] == '\n')
                len--;
        size_t start = len;
        unsigned seen = 0;
        while (start > 0) {
                if (p[start - 1] == '\n' && ++seen == lines)
                        break;
                start--;
        }
        struct cb_buf out;
        cb_buf_init(&out, CB_BUF_UNLIMITED);
        for (size_t i = start; i < len;) {
                const char *nl = memchr(p + i, '\n', len - i);
                size_t e = nl ? (size_t) (nl - p) : len;
                (void) cb_buf_addf(&out, "  | %.*s%s", (int) (e - i), p + i, e < len ? "\n" : "");
                i = e + 1;
        }
        return cb_buf_take(&out, NULL);
}

static char *opt_dup(const char *list, const char *key)
{
        return bld_opt_get(list, key);
}

static char *opt_dup2(const char *list, const char *k1, const char *k2, const char *k3)
{
        char *v = opt_dup(list, k1);
        if (!v && k2)
                v = opt_dup(list, k2);
        if (!v && k3)
                v = opt_dup(list, k3);
        return v;
}

/* --secret id=ID,src=PATH | id=ID,env=VAR (docker buildx's forms; a bare id=X,PATH is not one) */
static int find_secret(struct bld_ctx *b, const char *id, struct bld_rootfs *fs, char **ret_path,
                       struct cb_err *err)
{
        for (size_t i = 0; i < b->opts->nsecrets; i++) {
                const char *spec = b->opts->secrets[i];
                _cleanup_free_ char *sid = opt_dup(spec, "id");
                if (!sid || strcmp(sid, id) != 0)
                        continue;
                _cleanup_free_ char *src = opt_dup2(spec, "src", "source", NULL);
                _cleanup_free_ char *env = opt_dup(spec, "env");
                if (src) {
                        if (access(src, R_OK) < 0)
                                return cb_fail(err, errno, "--secret id=%s: read '%s'", id, src);
                        *ret_path = CB_TAKE_PTR(src);
                        return 0;
                }
                const char *val = env ? getenv(env) : getenv(id);
                if (!val)
                        return cb_failc(err, -ENOENT, "--secret id=%s: environment variable '%s' is not set", id,
                                        env ? env : id);
                char *path = cb_xasprintf("%s/secret-%s", fs->dir, id);
                int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0400);
                if (fd < 0 || cb_write_all(fd, val, strlen(val)) < 0) {
                        int e = errno;
                        if (fd >= 0)
                                (void) close(fd);
                        free(path);
                        return cb_fail(err, e, "--secret id=%s: write the secret file", id);
                }
                (void) close(fd);
                *ret_path = path;
                return 0;
        }
        return -ENOENT;
}

/* A mount of its own (a --from stage, or an overlay over the context) that lives as long as rc. */
static struct bld_rootfs *own_rootfs(struct bld_run_ctx *rc)
{
        rc->mounts = cb_xrealloc(rc->mounts, (rc->nmounts + 1) * sizeof(*rc->mounts));
        struct bld_rootfs *fs = &rc->mounts[rc->nmounts++];
        memset(fs, 0, sizeof(*fs));
        return fs;
}

/* Fills mask_fd with overlay whiteouts (0/0 character devices) for what .dockerignore excludes
 * under the context directory src_fd (rel: its path from the context root). Directories are made
 * in the mask only on the way to a whiteout, with their source's owner, mode and times, since the
 * top layer's directory attributes are what the overlay shows. *ret_any: something was made. */
static int mask_ignored(const struct df_ignore *ig, int src_fd, const char *rel, int mask_fd, unsigned depth,
                        bool *ret_any, struct cb_err *err)
{
        if (depth > 256)
                return cb_failc(err, -ELOOP, "'%s': directories nested deeper than 256", rel);
        int dfd = fcntl(src_fd, F_DUPFD_CLOEXEC, 3);
        DIR *d = dfd < 0 ? NULL : fdopendir(dfd);
        if (!d) {
                int e = errno;
                if (dfd >= 0)
                        (void) close(dfd);
                return cb_fail(err, e, "open directory '%s'", *rel ? rel : ".");
        }
        int r = 0;
        struct dirent *de;
        while (r >= 0 && (de = readdir(d))) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                        continue;
                _cleanup_free_ char *crel = *rel ? cb_xasprintf("%s/%s", rel, de->d_name) : cb_xstrdup(de->d_name);
                struct stat st;
                if (fstatat(src_fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                bool ign = df_ignore_match(ig, crel);
                bool dir = S_ISDIR(st.st_mode);
                if (ign && !(dir && df_ignore_may_reinclude(ig, crel))) {
                        if (mknodat(mask_fd, de->d_name, S_IFCHR | 0000, makedev(0, 0)) < 0)
                                r = cb_fail(err, errno, "whiteout for '%s'", crel);
                        *ret_any = true;
                        continue;
                }
                if (!dir)
                        continue;
                if (mkdirat(mask_fd, de->d_name, 0755) < 0) {
                        r = cb_fail(err, errno, "mkdir '%s'", crel);
                        break;
                }
                bool any = false;
                {
                        int dflags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
                        _cleanup_close_ int s2 = openat(src_fd, de->d_name, dflags);
                        _cleanup_close_ int m2 = openat(mask_fd, de->d_name, dflags);
                        if (s2 < 0 || m2 < 0)
                                r = cb_fail(err, errno, "open directory '%s'", crel);
                        else
                                r = mask_ignored(ig, s2, crel, m2, depth + 1, &any, err);
                }
                if (r >= 0 && !any) {
                        (void) unlinkat(mask_fd, de->d_name, AT_REMOVEDIR);
                } else if (r >= 0) {
                        struct timespec ts[2] = { st.st_atim, st.st_mtim };
                        (void) fchownat(mask_fd, de->d_name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW);
                        (void) fchmodat(mask_fd, de->d_name, st.st_mode & 07777, 0);
                        (void) utimensat(mask_fd, de->d_name, ts, AT_SYMLINK_NOFOLLOW);
                        *ret_any = true;
                }
        }
        (void) closedir(d);
        return r;
}

/* RUN --mount=type=bind[,from=STAGE|IMAGE][,source=P][,rw]: P is resolved inside the context or the
 * stage's rootfs (".." and symlinks cannot leave it). Read-only by default; rw, as in BuildKit,
 * lets the step write but throws the writes away: the bind then comes from an overlay whose upper
 * directory is discarded with the step (a --from rootfs is such an overlay already). */
static int mount_bind(struct bld_ctx *b, const struct df_instr *in, const char *spec, char *target,
                      struct bld_run_ctx *rc, struct cb_err *err)
{
        own(rc, target);
        _cleanup_free_ char *from = opt_dup(spec, "from");
        _cleanup_free_ char *source = opt_dup2(spec, "source", "src", NULL);
        _cleanup_free_ char *rw = opt_dup2(spec, "rw", "readwrite", NULL);
        _cleanup_free_ char *ro = opt_dup2(spec, "readonly", "ro", NULL);
        bool writable = (rw && strcmp(rw, "false") != 0) || (ro && strcmp(ro, "false") == 0);
        const char *s = source && *source ? source : "/";
        _cleanup_close_ int root = -1;
        int r = 0;
        /* a named local directory context is bound as the main context is */
        const struct bld_nctx *nc = from ? bld_nctx_dir_for(b, from) : NULL;
        int ctx_fd = nc ? nc->fd : b->ctx_fd;
        const struct df_ignore *ig = nc ? nc->ignore : b->ignore;
        if (from && !nc) {
                struct bld_rootfs *fs = own_rootfs(rc);
                r = bld_stage_rootfs(b, from, fs, err);
                if (r >= 0 && (root = open(fs->merged, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
                        r = cb_fail(err, errno, "open '%s'", fs->merged);
        } else if (writable || ig) {
                char self[64];
                char ctx[4096];
                (void) snprintf(self, sizeof(self), "/proc/self/fd/%d", ctx_fd);
                ssize_t n = readlink(self, ctx, sizeof(ctx) - 1);
                if (n < 0)
                        return cb_fail(err, errno, "%s:%u: RUN --mount=type=bind: the context's path", b->df_name,
                                       in->start_line);
                ctx[n] = '\0';
                const char *lowers[] = { NULL, ctx };
                size_t nl = 0;
                if (ig) {
                        /* BuildKit binds the context as .dockerignore leaves it: a lower layer of
                         * whiteouts above the context hides what it excludes */
                        char *mask = cb_xasprintf("%s/bindmask-XXXXXX", b->tmp_dir);
                        if (!mkdtemp(mask)) {
                                int e = errno;
                                free(mask);
                                return cb_fail(err, e, "mkdtemp in '%s'", b->tmp_dir);
                        }
                        rc->scratch = cb_xrealloc(rc->scratch, (rc->nscratch + 1) * sizeof(char *));
                        rc->scratch[rc->nscratch++] = mask;
                        _cleanup_close_ int mfd = open(mask, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                        _cleanup_close_ int cfd = fcntl(ctx_fd, F_DUPFD_CLOEXEC, 3);
                        bool any = false;
                        r = mfd < 0 || cfd < 0 ? cb_fail(err, errno, "open '%s'", mask)
                                               : mask_ignored(ig, cfd, "", mfd, 0, &any, err);
                        if (r < 0) {
                                cb_wrap(err, "%s:%u: RUN --mount=type=bind: .dockerignore", b->df_name, in->start_line);
                                return r;
                        }
                        lowers[0] = mask;
                        nl = 1;
                }
                struct bld_rootfs *fs = own_rootfs(rc);
                r = bld_rootfs_mount(fs, b->tmp_dir, nl ? lowers : lowers + 1, nl + 1, err);
                if (r >= 0 && (root = open(fs->merged, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
                        r = cb_fail(err, errno, "open '%s'", fs->merged);
        } else if ((root = fcntl(ctx_fd, F_DUPFD_CLOEXEC, 3)) < 0) {
                r = cb_fail(err, errno, "dup");
        }
        if (r < 0) {
                cb_wrap(err, "%s:%u: RUN --mount=type=bind", b->df_name, in->start_line);
                return r;
        }
        _cleanup_close_ int sfd = bld_open_in_root(root, s, O_PATH, 0);
        struct stat stt;
        if (sfd < 0 || fstat(sfd, &stt) < 0)
                return cb_fail(err, errno, "%s:%u: RUN --mount=type=bind: source '%s'%s%s", b->df_name,
                               in->start_line, s, from ? " in " : "", from ? from : "");
        char self[64];
        char real[4096];
        (void) snprintf(self, sizeof(self), "/proc/self/fd/%d", sfd);
        ssize_t n = readlink(self, real, sizeof(real) - 1);
        if (n < 0)
                return cb_fail(err, errno, "%s:%u: RUN --mount=type=bind: source '%s'", b->df_name, in->start_line, s);
        real[n] = '\0';
        add_bind(rc, own(rc, cb_xstrdup(real)), target, !writable, S_ISDIR(stt.st_mode));
        return 0;
}

int bld_run_inputs(struct bld_ctx *b, struct bld_stage *st, const struct df_instr *in, struct cb_sha256 *h,
                   struct cb_err *err)
{
        (void) st;
        int n = 0;
        for (size_t i = 0; i < in->nflags; i++) {
                const struct df_flag *f = &in->flags[i];
                if (strcmp(f->name, "mount") != 0 || !f->value)
                        continue;
                _cleanup_free_ char *type = opt_dup(f->value, "type");
                if (type && strcmp(type, "bind") != 0)
                        continue;
                _cleanup_free_ char *from = opt_dup(f->value, "from");
                _cleanup_free_ char *source = opt_dup2(f->value, "source", "src", NULL);
                int r;
                const struct bld_nctx *nc = from ? bld_nctx_dir_for(b, from) : NULL;
                if (from && !nc) {
                        char id[CB_DIGEST_STR_LEN];
                        r = bld_source_identity(b, from, id, err);
                        if (r >= 0)
                                cb_sha256_update(h, id, strlen(id) + 1);
                } else {
                        if (nc) {
                                cb_sha256_update(h, "context\n", 8);
                                cb_sha256_update(h, nc->name, strlen(nc->name) + 1);
                        }
                        r = bld_copy_hash_nctx(b, nc, source && *source ? source : ".", h, err);
                }
                if (r < 0) {
                        cb_wrap(err, "%s:%u: RUN --mount=type=bind", b->df_name, in->start_line);
                        return r;
                }
                n++;
        }
        return n;
}

static int mount_flag(struct bld_ctx *b, const struct df_instr *in, const char *spec, struct bld_rootfs *fs,
                      struct bld_run_ctx *rc, struct cb_err *err)
{
        _cleanup_free_ char *type = opt_dup(spec, "type");
        const char *t = type ? type : "bind";
        _cleanup_free_ char *target = opt_dup2(spec, "target", "dst", "destination");
        if (strcmp(t, "secret") == 0) {
                _cleanup_free_ char *id = opt_dup(spec, "id");
                if (!id && target) {
                        const char *slash = strrchr(target, '/');
                        id = cb_xstrdup(slash ? slash + 1 : target);
                }
                if (!id)
                        return cb_failc(err, -EINVAL, "%s:%u: RUN --mount=type=secret needs id= or target=",
                                        b->df_name, in->start_line);
                _cleanup_free_ char *req = opt_dup(spec, "required");
                char *src = NULL;
                int r = find_secret(b, id, fs, &src, err);
                if (r == -ENOENT && !cb_err_set(err)) {
                        if (req && strcmp(req, "false") != 0)
                                return cb_failc(err, -ENOENT, "%s:%u: RUN: secret '%s' is required but no --secret "
                                                "id=%s was given", b->df_name, in->start_line, id, id);
                        return 0; /* BuildKit: a missing optional secret is skipped */
                }
                if (r < 0) {
                        cb_wrap(err, "%s:%u: RUN", b->df_name, in->start_line);
                        return r;
                }
                char *dest = target ? CB_TAKE_PTR(target) : cb_xasprintf("/run/secrets/%s", id);
                add_bind(rc, own(rc, src), own(rc, dest), true, false);
                return 0;
        }
        if (!target)
                return cb_failc(err, -EINVAL, "%s:%u: RUN --mount=type=%s needs target=", b->df_name,
                                in->start_line, t);
        if (strcmp(t, "cache") == 0) {
                _cleanup_free_ char *id = opt_dup(spec, "id");
                const char *key = id ? id : target;
                /* cache dirs are named by the digest of their id: any id is a safe file name */
                char dg[CB_DIGEST_STR_LEN];
                cb_sha256_digest(key, strlen(key), dg);
                _cleanup_free_ char *rel = cb_xasprintf("cache-mounts/%.16s", dg + 7);
                int r = cb_mkdir_p(layer_store_root_fd(b->store), rel, 0755, err);
                if (r < 0)
                        return r;
                (void) utimensat(layer_store_root_fd(b->store), rel, NULL, 0); /* last use, for prune's LRU */
                char *src = cb_xasprintf("%s/%s", layer_store_root(b->store), rel);
                _cleanup_free_ char *ro = opt_dup2(spec, "readonly", "ro", NULL);
                add_bind(rc, own(rc, src), own(rc, CB_TAKE_PTR(target)), ro && strcmp(ro, "false") != 0, true);
                return 0;
        }
        if (strcmp(t, "tmpfs") == 0) {
                add_bind(rc, NULL, own(rc, CB_TAKE_PTR(target)), false, true);
                return 0;
        }
        if (strcmp(t, "bind") == 0)
                return mount_bind(b, in, spec, CB_TAKE_PTR(target), rc, err);
        return cb_failc(err, -ENOTSUP, "%s:%u: RUN --mount=type=%s is not supported", b->df_name, in->start_line, t);
}

int bld_run_prepare(struct bld_ctx *b, struct bld_stage *st, const struct df_instr *in, struct bld_rootfs *fs,
                    struct bld_run_ctx *rc, struct cb_err *err)
{
        (void) st;
        for (size_t i = 0; i < in->nflags; i++) {
                const struct df_flag *f = &in->flags[i];
                if (strcmp(f->name, "mount") == 0) {
                        int r = mount_flag(b, in, f->value ? f->value : "", fs, rc, err);
                        if (r < 0)
                                return r;
                } else if (strcmp(f->name, "network") == 0) {
                        if (f->value && strcmp(f->value, "none") && strcmp(f->value, "host") &&
                            strcmp(f->value, "default"))
                                return cb_failc(err, -EINVAL, "%s:%u: RUN --network=%s: use none, host or default",
                                                b->df_name, in->start_line, f->value);
                } else if (strcmp(f->name, "security") == 0 && f->value && strcmp(f->value, "sandbox") == 0) {
                        continue;
                } else if (strcmp(f->name, "device") == 0) {
                        /* BuildKit's CDI names: nvidia.com/gpu=all, nvidia.com/gpu=0 */
                        const char *v = f->value ? f->value : "";
                        if (strncmp(v, "nvidia.com/gpu=", 15) != 0 || !v[15])
                                return cb_failc(err, -ENOTSUP, "%s:%u: RUN --device=%s: only nvidia.com/gpu=all|N "
                                                "is supported", b->df_name, in->start_line, v);
                        free(rc->gpu_devices);
                        rc->gpu_devices = cb_xstrdup(v + 15);
                } else {
                        return cb_failc(err, -ENOTSUP, "%s:%u: RUN --%s is not supported", b->df_name,
                                        in->start_line, f->name);
                }
        }
        return 0;
}

/* One field of a passwd/group line. */
static bool field(const char *line, unsigned idx, struct cb_str *ret)
{
        const char *p = line;
        for (unsigned i = 0; i < idx; i++) {
                p = strchr(p, ':');
                if (!p)
                        return false;
                p++;
        }
        const char *e = strpbrk(p, ":\n");
        *ret = cb_str_from(p, e ? (size_t) (e - p) : strlen(p));
        return true;
}

/* Looks name up in rootfs's /etc/<db>: returns its id (field 2) and, for passwd, its gid (field 3). */
static int lookup(const char *rootfs, const char *db, const char *name, uint64_t *ret_id, uint64_t *ret_gid)
{
        _cleanup_free_ char *path = cb_xasprintf("%s/etc/%s", rootfs, db);
        struct cb_buf text;
        cb_buf_init(&text, 16u << 20);
        if (cb_read_file(AT_FDCWD, path, 16u << 20, &text, NULL) < 0) {
                cb_buf_release(&text);
                return -ENOENT;
        }
        int r = -ENOENT;
        for (const char *l = text.p; l && *l;) {
                struct cb_str f0, f2, f3;
                if (field(l, 0, &f0) && cb_str_eq_c(f0, name) && field(l, 2, &f2) &&
                    cb_parse_u64(f2, UINT32_MAX, ret_id) == 0) {
                        if (ret_gid && !(field(l, 3, &f3) && cb_parse_u64(f3, UINT32_MAX, ret_gid) == 0))
                                *ret_gid = *ret_id;
                        r = 0;
                        break;
                }
                l = strchr(l, '\n');
                if (l)
                        l++;
        }
        cb_buf_release(&text);
        return r;
}

int bld_resolve_user(const char *rootfs, const char *spec, uid_t *ret_uid, gid_t *ret_gid, struct cb_err *err)
{
        const char *colon = strchr(spec, ':');
        _cleanup_free_ char *user = colon ? cb_xstrndup(spec, (size_t) (colon - spec)) : cb_xstrdup(spec);
        uint64_t uid, gid = 0, pgid;
        if (cb_parse_u64(cb_str_c(user), UINT32_MAX, &uid) == 0) {
                /* a numeric uid: its primary group from passwd when it has an entry, else 0 */
                gid = 0;
        } else if (lookup(rootfs, "passwd", user, &uid, &pgid) == 0) {
                gid = pgid;
        } else {
                return cb_failc(err, -ENOENT, "unable to find user '%s' in the image's /etc/passwd", user);
        }
        if (colon) {
                const char *g = colon + 1;
                if (cb_parse_u64(cb_str_c(g), UINT32_MAX, &gid) < 0 && lookup(rootfs, "group", g, &gid, NULL) < 0)
                        return cb_failc(err, -ENOENT, "unable to find group '%s' in the image's /etc/group", g);
        }
        *ret_uid = (uid_t) uid;
        *ret_gid = (gid_t) gid;
        return 0;
}

/* Docker's Healthcheck: Test ["CMD", ...] / ["CMD-SHELL", "..."] / ["NONE"], durations in ns. */
int bld_duration_ns(const char *s, int64_t *ret)
{
        /* Go durations as docker takes them: 30s, 1m30s, 500ms, 1h */
        int64_t total = 0;
        const char *p = s;
        if (!*p)
                return -EINVAL;
        while (*p) {
                char *end;
                double v = strtod(p, &end);
                if (end == p)
                        return -EINVAL;
                int64_t mult;
                if (strncmp(end, "ms", 2) == 0) {
                        mult = 1000000;
                        end += 2;
                } else if (strncmp(end, "us", 2) == 0) {
                        mult = 1000;
                        end += 2;
                } else if (strncmp(end, "ns", 2) == 0) {
                        mult = 1;
                        end += 2;
                } else if (*end == 's') {
                        mult = 1000000000;
                        end++;
                } else if (*end == 'm') {
                        mult = 60000000000;
                        end++;
                } else if (*end == 'h') {
                        mult = 3600000000000;
                        end++;
                } else {
                        return -EINVAL;
                }
                if (v < 0 || v * (double) mult > 9e18 - (double) total)
                        return -EINVAL;
                total += (int64_t) (v * (double) mult);
                p = end;
        }
        *ret = total;
        return 0;
}

int bld_step_healthcheck(struct bld_ctx *b, struct bld_stage *st, const struct df_instr *in, struct cb_err *err)
{
        json_t *c = bld_config_section(st->config);
        if (in->none) {
                json_object_set_new(c, "Healthcheck", json_pack("{s:[s]}", "Test", "NONE"));
                return 0;
        }
        json_t *hc = json_object();
        json_t *test = json_array();
        if (in->json) {
                json_array_append_new(test, json_string("CMD"));
                for (size_t i = 0; i < in->nargs; i++)
                        json_array_append_new(test, json_string(in->args[i]));
        } else {
                json_array_append_new(test, json_string("CMD-SHELL"));
                json_array_append_new(test, json_string(in->nargs ? in->args[0] : ""));
        }
        json_object_set_new(hc, "Test", test);
        static const struct {
                const char *flag, *key;
        } durs[] = { { "interval", "Interval" },
                     { "timeout", "Timeout" },
                     { "start-period", "StartPeriod" },
                     { "start-interval", "StartInterval" } };
        for (size_t i = 0; i < in->nflags; i++) {
                const struct df_flag *f = &in->flags[i];
                bool done = false;
                for (size_t k = 0; k < CB_ARRAY_SIZE(durs); k++) {
                        if (strcmp(f->name, durs[k].flag) != 0)
                                continue;
                        int64_t ns;
                        if (!f->value || bld_duration_ns(f->value, &ns) < 0) {
                                json_decref(hc);
                                return cb_failc(err, -EINVAL, "%s:%u: HEALTHCHECK --%s: '%s' is not a duration",
                                                b->df_name, in->start_line, f->name, f->value ? f->value : "");
                        }
                        json_object_set_new(hc, durs[k].key, json_integer(ns));
                        done = true;
                }
                if (done)
                        continue;
                if (strcmp(f->name, "retries") == 0) {
                        uint64_t n;
                        if (!f->value || cb_parse_u64(cb_str_c(f->value), INT32_MAX, &n) < 0) {
                                json_decref(hc);
                                return cb_failc(err, -EINVAL, "%s:%u: HEALTHCHECK --retries: '%s' is not a count",
                                                b->df_name, in->start_line, f->value ? f->value : "");
                        }
                        json_object_set_new(hc, "Retries", json_integer((json_int_t) n));
                        continue;
                }
                json_decref(hc);
                return cb_failc(err, -EINVAL, "%s:%u: HEALTHCHECK: unknown flag --%s", b->df_name, in->start_line,
                                f->name);
        }
        json_object_set_new(c, "Healthcheck", hc);
        return 0;
}

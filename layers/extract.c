/* Secure extraction of layer tarballs. Every entry's parent directory is resolved inside the root
 * (openat2 RESOLVE_IN_ROOT, or an O_NOFOLLOW component walk that resolves each symlink against the root
 * where openat2 is unavailable); the entry itself is then created with *at() calls relative to that parent
 * and never followed. Names with ".." components are rejected, a leading "/" is dropped (as tar(1) does).
 * OCI whiteouts are applied (APPLY) or turned into overlay whiteouts (OVERLAY). */
#include "layers/layer.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "layers/internal.h"

#define DEFAULT_MAX_ENTRIES 10000000ull
#define DEFAULT_MAX_TOTAL (1ull << 40)
#define DEFAULT_MAX_NAME 4096
#define MAX_SYMLINKS 40

/* Test hook: pretend openat2 is missing so the fallback walk is exercised. */
bool layer_extract_no_openat2;

void layer_extract_opts_init(struct layer_extract_opts *o)
{
        memset(o, 0, sizeof(*o));
        o->mode = LAYER_EXTRACT_APPLY;
}

/* ---- path resolution inside the root ---- */

static int chase_fallback(int root_fd, const char *path, int *ret_fd)
{
        struct cb_buf rest;
        cb_buf_init(&rest, 1024 * 1024);
        if (cb_buf_adds(&rest, path) < 0) {
                cb_buf_release(&rest);
                return -ENAMETOOLONG;
        }
        int *stack = NULL;
        size_t depth = 0, cap = 0;
        unsigned links = 0;
        int r = 0;
        size_t pos = 0;
#define TOP (depth ? stack[depth - 1] : root_fd)
        while (pos < rest.len) {
                size_t end = pos;
                while (end < rest.len && rest.p[end] != '/')
                        end++;
                _cleanup_free_ char *c = cb_xstrndup(rest.p + pos, end - pos);
                pos = end < rest.len ? end + 1 : end;
                if (!c[0] || !strcmp(c, "."))
                        continue;
                if (!strcmp(c, "..")) {
                        if (depth)
                                (void) close(stack[--depth]);
                        continue;
                }
                struct stat st;
                if (fstatat(TOP, c, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        r = -errno;
                        break;
                }
                if (S_ISLNK(st.st_mode)) {
                        if (++links > MAX_SYMLINKS) {
                                r = -ELOOP;
                                break;
                        }
                        char target[PATH_MAX + 1];
                        ssize_t n = readlinkat(TOP, c, target, PATH_MAX);
                        if (n < 0) {
                                r = -errno;
                                break;
                        }
                        target[n] = '\0';
                        struct cb_buf nr;
                        cb_buf_init(&nr, 1024 * 1024);
                        if (cb_buf_adds(&nr, target) < 0 || cb_buf_addc(&nr, '/') < 0 ||
                            cb_buf_add(&nr, rest.p + pos, rest.len - pos) < 0) {
                                cb_buf_release(&nr);
                                r = -ENAMETOOLONG;
                                break;
                        }
                        cb_buf_release(&rest);
                        rest = nr;
                        pos = 0;
                        if (target[0] == '/')
                                while (depth)
                                        (void) close(stack[--depth]);
                        continue;
                }
                int fd = openat(TOP, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0) {
                        r = -errno;
                        break;
                }
                if (depth == cap) {
                        cap = cap ? cap * 2 : 16;
                        stack = cb_xrealloc(stack, cap * sizeof(*stack));
                }
                stack[depth++] = fd;
        }
        if (r == 0) {
                int fd = fcntl(TOP, F_DUPFD_CLOEXEC, 3);
                if (fd < 0)
                        r = -errno;
                else
                        *ret_fd = fd;
        }
#undef TOP
        while (depth)
                (void) close(stack[--depth]);
        free(stack);
        cb_buf_release(&rest);
        return r;
}

/* Opens the directory at path (relative, already cleaned) inside root. Returns 0 or -errno. */
static int open_dir_in_root(int root_fd, const char *path, int *ret_fd)
{
        if (!path[0]) {
                int fd = fcntl(root_fd, F_DUPFD_CLOEXEC, 3);
                if (fd < 0)
                        return -errno;
                *ret_fd = fd;
                return 0;
        }
        if (!layer_extract_no_openat2) {
                struct open_how how = {
                        .flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
                        .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
                };
                for (;;) {
                        long fd = syscall(SYS_openat2, root_fd, path, &how, sizeof(how));
                        if (fd >= 0) {
                                *ret_fd = (int) fd;
                                return 0;
                        }
                        if (errno == EAGAIN || errno == EINTR)
                                continue;
                        if (errno != ENOSYS && errno != EPERM)
                                return -errno;
                        break; /* no openat2 (old kernel, seccomp): walk by hand */
                }
        }
        return chase_fallback(root_fd, path, ret_fd);
}

/* Like open_dir_in_root, creating missing directories (0755, root-owned) on the way. */
static int mkdir_in_root(int root_fd, const char *path, int *ret_fd, unsigned depth)
{
        int r = open_dir_in_root(root_fd, path, ret_fd);
        if (r != -ENOENT || depth > 4096)
                return r;
        const char *slash = strrchr(path, '/');
        _cleanup_free_ char *parent = slash ? cb_xstrndup(path, (size_t) (slash - path)) : cb_xstrdup("");
        const char *base = slash ? slash + 1 : path;
        _cleanup_close_ int pfd = -1;
        r = mkdir_in_root(root_fd, parent, &pfd, depth + 1);
        if (r < 0)
                return r;
        if (mkdirat(pfd, base, 0755) < 0 && errno != EEXIST)
                return -errno;
        return open_dir_in_root(root_fd, path, ret_fd);
}

int layer_open_in_root(int root_fd, const char *path, int flags)
{
        if (!layer_extract_no_openat2) {
                struct open_how how = { .flags = (uint64_t) (flags | O_CLOEXEC),
                                        .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
                for (;;) {
                        long fd = syscall(SYS_openat2, root_fd, path, &how, sizeof(how));
                        if (fd >= 0)
                                return (int) fd;
                        if (errno == EAGAIN || errno == EINTR)
                                continue;
                        if (errno != ENOSYS && errno != EPERM)
                                return -errno;
                        break;
                }
        }
        const char *slash = strrchr(path, '/');
        _cleanup_free_ char *dir = slash ? cb_xstrndup(path, (size_t) (slash - path)) : cb_xstrdup("");
        _cleanup_close_ int dfd = -1;
        int r = open_dir_in_root(root_fd, dir, &dfd);
        if (r < 0)
                return r;
        int fd = openat(dfd, slash ? slash + 1 : path, flags | O_CLOEXEC | O_NOFOLLOW);
        return fd < 0 ? -errno : fd;
}

/* ---- names ---- */

/* Cleans a tar name into out: leading "/" and "./" dropped, empty and "." components dropped, ".." rejected. */
static int clean_name(const char *raw, size_t max, struct cb_buf *out)
{
        cb_buf_reset(out);
        if (!raw)
                return -EINVAL;
        size_t rl = strlen(raw);
        if (rl > max)
                return -ENAMETOOLONG;
        const char *p = raw;
        while (*p) {
                while (*p == '/')
                        p++;
                const char *e = p;
                while (*e && *e != '/')
                        e++;
                size_t n = (size_t) (e - p);
                if (n == 0)
                        break;
                if (n == 1 && p[0] == '.') {
                        p = e;
                        continue;
                }
                if (n == 2 && p[0] == '.' && p[1] == '.')
                        return -EINVAL;
                if (out->len && cb_buf_addc(out, '/') < 0)
                        return -ENAMETOOLONG;
                if (cb_buf_add(out, p, n) < 0)
                        return -ENAMETOOLONG;
                p = e;
        }
        return 0;
}

/* ---- path set (what this layer created), for opaque markers and same-layer whiteouts ---- */

struct pset {
        char **v;
        size_t n, cap;
};

static uint64_t str_hash(const char *s)
{
        uint64_t h = 1469598103934665603ull;
        for (; *s; s++)
                h = (h ^ (unsigned char) *s) * 1099511628211ull;
        return h;
}

static char **pset_slot(struct pset *p, const char *s)
{
        for (size_t i = str_hash(s) & (p->cap - 1);; i = (i + 1) & (p->cap - 1))
                if (!p->v[i] || !strcmp(p->v[i], s))
                        return &p->v[i];
}

static void pset_add(struct pset *p, const char *s)
{
        if (p->n * 2 >= p->cap) {
                struct pset np = { .cap = p->cap ? p->cap * 2 : 1024 };
                np.v = cb_xcalloc(np.cap, sizeof(char *));
                for (size_t i = 0; i < p->cap; i++)
                        if (p->v[i])
                                *pset_slot(&np, p->v[i]) = p->v[i];
                np.n = p->n;
                free(p->v);
                *p = np;
        }
        char **sl = pset_slot(p, s);
        if (!*sl) {
                *sl = cb_xstrdup(s);
                p->n++;
        }
}

static bool pset_has(struct pset *p, const char *s)
{
        return p->cap && *pset_slot(p, s) != NULL;
}

static void pset_release(struct pset *p)
{
        for (size_t i = 0; i < p->cap; i++)
                free(p->v[i]);
        free(p->v);
        memset(p, 0, sizeof(*p));
}

/* ---- extraction ---- */

struct dirtime {
        char *path;
        struct timespec mtime;
        mode_t mode;
};

struct xt {
        int root_fd;
        struct layer_extract_opts o;
        struct cb_err *err;
        struct archive *a;
        struct layer_source *src;
        int src_r;
        bool is_root;
        struct pset created;
        struct dirtime *dirs;
        size_t ndirs, capdirs;
        uint64_t entries, total;
        struct cb_buf name, link;
        char *zero;
};

static la_ssize_t read_cb(struct archive *a, void *ctx, const void **buf)
{
        struct xt *x = ctx;
        ssize_t n = layer_source_read(x->src, buf, x->err);
        if (n < 0) {
                x->src_r = (int) n;
                archive_set_error(a, EIO, "%s", cb_err_msg(x->err));
                return -1;
        }
        return (la_ssize_t) n;
}

static int xfail(struct xt *x, int code, const char *what)
{
        return cb_failc(x->err, code, "entry '%s': %s", x->name.p, what);
}

static const char *entry_path(struct archive_entry *e)
{
        const char *p = archive_entry_pathname_utf8(e);
        return p ? p : archive_entry_pathname(e);
}

static const char *entry_hardlink(struct archive_entry *e)
{
        const char *p = archive_entry_hardlink_utf8(e);
        return p ? p : archive_entry_hardlink(e);
}

static const char *entry_symlink(struct archive_entry *e)
{
        const char *p = archive_entry_symlink_utf8(e);
        return p ? p : archive_entry_symlink(e);
}

static int remove_existing(struct xt *x, int pfd, const char *base, bool keep_dir, bool *ret_is_dir)
{
        struct stat st;
        *ret_is_dir = false;
        if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                if (errno == ENOENT)
                        return 0;
                return cb_fail(x->err, errno, "stat '%s'", x->name.p);
        }
        if (S_ISDIR(st.st_mode) && keep_dir) {
                *ret_is_dir = true;
                return 0;
        }
        return cb_rm_rf(pfd, base, x->err);
}

static void set_xattrs(struct xt *x, struct archive_entry *e, int fd, int pfd, const char *base, bool is_link)
{
        const char *name;
        const void *val;
        size_t size;
        archive_entry_xattr_reset(e);
        while (archive_entry_xattr_next(e, &name, &val, &size) == ARCHIVE_OK) {
                if (!name || layer_xattr_is_overlay(name))
                        continue; /* a layer may not speak for overlayfs (redirect, metacopy, opaque) */
                if (fd >= 0) {
                        (void) fsetxattr(fd, name, val, size, 0);
                } else if (!is_link) {
                        continue;
                } else {
                        char proc[64];
                        int k = snprintf(proc, sizeof(proc), "/proc/self/fd/%d/", pfd);
                        if (k < 0 || (size_t) k >= sizeof(proc))
                                continue;
                        _cleanup_free_ char *p = cb_xasprintf("%s%s", proc, base);
                        (void) lsetxattr(p, name, val, size, 0);
                }
        }
}

static mode_t perm_of(struct xt *x, struct archive_entry *e)
{
        mode_t m = archive_entry_perm(e) & 07777;
        if (!x->o.keep_setuid)
                m &= ~(mode_t) (S_ISUID | S_ISGID);
        return m;
}

static int write_data(struct xt *x, int fd, int64_t size)
{
        for (;;) {
                const void *buf;
                size_t len;
                la_int64_t off;
                int ar = archive_read_data_block(x->a, &buf, &len, &off);
                if (ar == ARCHIVE_EOF)
                        break;
                if (ar < ARCHIVE_WARN) {
                        if (x->src_r < 0)
                                return x->src_r;
                        return cb_failc(x->err, -EBADMSG, "'%s': %s", x->name.p, archive_error_string(x->a));
                }
                /* all-zero blocks become holes: sparse files stay sparse on disk without tar sparse headers */
                const char *p = buf;
                size_t done = 0;
                while (done < len) {
                        size_t n = len - done > 65536 ? 65536 : len - done;
                        if (n == 65536 && memcmp(p + done, x->zero, n) == 0) {
                                done += n;
                                continue;
                        }
                        ssize_t w = pwrite(fd, p + done, n, (off_t) off + (off_t) done);
                        if (w < 0) {
                                if (errno == EINTR)
                                        continue;
                                return cb_fail(x->err, errno, "write '%s'", x->name.p);
                        }
                        done += (size_t) w;
                }
        }
        if (ftruncate(fd, (off_t) size) < 0)
                return cb_fail(x->err, errno, "truncate '%s'", x->name.p);
        return 0;
}

static int do_opaque(struct xt *x, const char *dir)
{
        _cleanup_close_ int dfd = -1;
        int r = mkdir_in_root(x->root_fd, dir, &dfd, 0);
        if (r < 0)
                return cb_fail(x->err, -r, "open '%s'", dir[0] ? dir : "/");
        if (x->o.mode == LAYER_EXTRACT_OVERLAY) {
                r = layer_mark_opaque(dfd, x->err);
                if (r < 0)
                        cb_wrap(x->err, "'%s'", dir);
                return r;
        }
        int d2 = fcntl(dfd, F_DUPFD_CLOEXEC, 3);
        if (d2 < 0)
                return cb_fail(x->err, errno, "dup");
        DIR *d = fdopendir(d2);
        if (!d) {
                int e = errno;
                (void) close(d2);
                return cb_fail(x->err, e, "opendir '%s'", dir);
        }
        struct dirent *de;
        struct cb_buf p;
        cb_buf_init(&p, CB_BUF_UNLIMITED);
        r = 0;
        while ((de = readdir(d))) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                        continue;
                cb_buf_reset(&p);
                if (dir[0])
                        (void) cb_buf_addf(&p, "%s/", dir);
                (void) cb_buf_adds(&p, de->d_name);
                if (pset_has(&x->created, p.p))
                        continue;
                r = cb_rm_rf(dfd, de->d_name, x->err);
                if (r < 0)
                        break;
        }
        cb_buf_release(&p);
        (void) closedir(d);
        return r;
}

static int do_entry(struct xt *x, struct archive_entry *e)
{
        const char *raw = entry_path(e);
        int r = clean_name(raw, x->o.max_name_len, &x->name);
        if (r == -ENAMETOOLONG)
                return cb_failc(x->err, -ENAMETOOLONG, "entry name longer than %zu bytes", x->o.max_name_len);
        if (r < 0)
                return cb_failc(x->err, -EINVAL, "entry '%s': name escapes the root or is invalid",
                                raw ? raw : "(none)");
        if (!x->name.len)
                return 0; /* "./" itself: the root keeps its own metadata */
        if (++x->entries > x->o.max_entries)
                return cb_failc(x->err, -E2BIG, "more than %llu entries", (unsigned long long) x->o.max_entries);
        mode_t type = archive_entry_filetype(e);
        const char *hl = entry_hardlink(e);
        if (!hl && type == AE_IFREG) {
                int64_t sz = archive_entry_size(e);
                if (sz < 0 || (uint64_t) sz > x->o.max_total_size - x->total)
                        return cb_failc(x->err, -E2BIG, "layer content larger than %llu bytes at '%s'",
                                        (unsigned long long) x->o.max_total_size, x->name.p);
                x->total += (uint64_t) sz;
        }
        const char *slash = strrchr(x->name.p, '/');
        _cleanup_free_ char *parent = slash ? cb_xstrndup(x->name.p, (size_t) (slash - x->name.p)) : cb_xstrdup("");
        const char *base = slash ? slash + 1 : x->name.p;

        if (!strncmp(base, LAYER_WH_PREFIX, strlen(LAYER_WH_PREFIX))) {
                if (!strcmp(base, LAYER_WH_OPAQUE))
                        return do_opaque(x, parent);
                const char *victim = base + strlen(LAYER_WH_PREFIX);
                if (!strncmp(victim, LAYER_WH_PREFIX, strlen(LAYER_WH_PREFIX)))
                        return 0; /* aufs metadata (.wh..wh.plnk and friends): nothing to apply */
                if (!victim[0] || !strcmp(victim, ".") || !strcmp(victim, ".."))
                        return xfail(x, -EINVAL, "invalid whiteout");
                struct cb_buf vp;
                cb_buf_init(&vp, CB_BUF_UNLIMITED);
                if (parent[0])
                        (void) cb_buf_addf(&vp, "%s/", parent);
                (void) cb_buf_adds(&vp, victim);
                bool same_layer = pset_has(&x->created, vp.p);
                cb_buf_release(&vp);
                if (same_layer)
                        return 0; /* image-spec: a whiteout hides only lower layers' entries */
                _cleanup_close_ int pfd = -1;
                r = open_dir_in_root(x->root_fd, parent, &pfd);
                if (r == -ENOENT && x->o.mode == LAYER_EXTRACT_APPLY)
                        return 0; /* nothing to hide */
                if (r == -ENOENT)
                        r = mkdir_in_root(x->root_fd, parent, &pfd, 0);
                if (r < 0)
                        return cb_fail(x->err, -r, "open parent of '%s'", x->name.p);
                r = cb_rm_rf(pfd, victim, x->err);
                if (r < 0)
                        return r;
                if (x->o.mode == LAYER_EXTRACT_OVERLAY) {
                        r = layer_make_overlay_whiteout(pfd, victim, x->err);
                        if (r < 0)
                                cb_wrap(x->err, "'%s'", x->name.p);
                }
                return r;
        }

        _cleanup_close_ int pfd = -1;
        r = mkdir_in_root(x->root_fd, parent, &pfd, 0);
        if (r < 0)
                return cb_fail(x->err, -r, "open parent directory of '%s'", x->name.p);
        pset_add(&x->created, x->name.p);
        bool chown_ok = x->is_root && !x->o.no_chown;
        uid_t uid = (uid_t) archive_entry_uid(e);
        gid_t gid = (gid_t) archive_entry_gid(e);
        struct timespec ts[2] = { { 0, 0 }, { archive_entry_mtime(e), archive_entry_mtime_nsec(e) } };
        ts[0] = ts[1];

        if (hl) {
                r = clean_name(hl, x->o.max_name_len, &x->link);
                if (r < 0 || !x->link.len)
                        return xfail(x, -EINVAL, "hard link target escapes the root or is invalid");
                const char *ts_ = strrchr(x->link.p, '/');
                _cleanup_free_ char *tparent = ts_ ? cb_xstrndup(x->link.p, (size_t) (ts_ - x->link.p)) : cb_xstrdup("");
                const char *tbase = ts_ ? ts_ + 1 : x->link.p;
                _cleanup_close_ int tfd = -1;
                r = open_dir_in_root(x->root_fd, tparent, &tfd);
                if (r < 0)
                        return cb_fail(x->err, -r, "hard link '%s' to '%s'", x->name.p, x->link.p);
                struct stat tst;
                if (fstatat(tfd, tbase, &tst, AT_SYMLINK_NOFOLLOW) < 0)
                        return cb_fail(x->err, errno, "hard link '%s' to '%s'", x->name.p, x->link.p);
                if (S_ISDIR(tst.st_mode))
                        return xfail(x, -EINVAL, "hard link to a directory");
                bool is_dir;
                /* a link to itself: nothing to do (and removing it first would lose the file) */
                struct stat cur;
                if (fstatat(pfd, base, &cur, AT_SYMLINK_NOFOLLOW) == 0 && cur.st_dev == tst.st_dev &&
                    cur.st_ino == tst.st_ino)
                        return 0;
                r = remove_existing(x, pfd, base, false, &is_dir);
                if (r < 0)
                        return r;
                if (linkat(tfd, tbase, pfd, base, 0) < 0)
                        return cb_fail(x->err, errno, "hard link '%s' to '%s'", x->name.p, x->link.p);
                return 0;
        }

        bool is_dir = false;
        r = remove_existing(x, pfd, base, type == AE_IFDIR, &is_dir);
        if (r < 0)
                return r;
        switch (type) {
        case AE_IFREG: {
                _cleanup_close_ int fd =
                        openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
                if (fd < 0)
                        return cb_fail(x->err, errno, "create '%s'", x->name.p);
                r = write_data(x, fd, archive_entry_size(e));
                if (r < 0)
                        return r;
                if (chown_ok && fchown(fd, uid, gid) < 0)
                        return cb_fail(x->err, errno, "chown '%s'", x->name.p);
                if (fchmod(fd, perm_of(x, e)) < 0)
                        return cb_fail(x->err, errno, "chmod '%s'", x->name.p);
                /* after chown, which clears security.capability */
                set_xattrs(x, e, fd, pfd, base, false);
                if (futimens(fd, ts) < 0)
                        return cb_fail(x->err, errno, "set times of '%s'", x->name.p);
                if (close(CB_TAKE_FD(fd)) < 0)
                        return cb_fail(x->err, errno, "close '%s'", x->name.p);
                return 0;
        }
        case AE_IFDIR: {
                if (!is_dir && mkdirat(pfd, base, 0700) < 0)
                        return cb_fail(x->err, errno, "mkdir '%s'", x->name.p);
                _cleanup_close_ int fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0)
                        return cb_fail(x->err, errno, "open '%s'", x->name.p);
                if (chown_ok && fchown(fd, uid, gid) < 0)
                        return cb_fail(x->err, errno, "chown '%s'", x->name.p);
                /* not root: keep the directory writable for the entries that follow; the final mode is set with
                 * the mtime at the end */
                if (fchmod(fd, perm_of(x, e) | (x->is_root ? 0 : S_IRWXU)) < 0)
                        return cb_fail(x->err, errno, "chmod '%s'", x->name.p);
                set_xattrs(x, e, fd, pfd, base, false);
                if (x->ndirs == x->capdirs) {
                        x->capdirs = x->capdirs ? x->capdirs * 2 : 256;
                        x->dirs = cb_xrealloc(x->dirs, x->capdirs * sizeof(*x->dirs));
                }
                x->dirs[x->ndirs].path = cb_xstrdup(x->name.p);
                x->dirs[x->ndirs].mtime = ts[1];
                x->dirs[x->ndirs].mode = perm_of(x, e);
                x->ndirs++;
                return 0;
        }
        case AE_IFLNK: {
                const char *target = entry_symlink(e);
                if (!target || strlen(target) > PATH_MAX)
                        return xfail(x, -EINVAL, "invalid symlink target");
                if (symlinkat(target, pfd, base) < 0)
                        return cb_fail(x->err, errno, "symlink '%s'", x->name.p);
                if (chown_ok && fchownat(pfd, base, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
                        return cb_fail(x->err, errno, "chown '%s'", x->name.p);
                set_xattrs(x, e, -1, pfd, base, true);
                if (utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0)
                        return cb_fail(x->err, errno, "set times of '%s'", x->name.p);
                return 0;
        }
        case AE_IFCHR:
        case AE_IFBLK:
        case AE_IFIFO: {
                if (type != AE_IFIFO && !x->is_root)
                        return 0; /* device nodes only as root (docker and podman rootless skip them too) */
                mode_t m = (type == AE_IFCHR ? S_IFCHR : type == AE_IFBLK ? S_IFBLK : S_IFIFO) | perm_of(x, e);
                dev_t dev = type == AE_IFIFO ? 0 : makedev(archive_entry_rdevmajor(e), archive_entry_rdevminor(e));
                if (mknodat(pfd, base, m, dev) < 0)
                        return cb_fail(x->err, errno, "mknod '%s'", x->name.p);
                if (chown_ok && fchownat(pfd, base, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
                        return cb_fail(x->err, errno, "chown '%s'", x->name.p);
                if (fchmodat(pfd, base, perm_of(x, e), 0) < 0 && errno != ENOTSUP)
                        return cb_fail(x->err, errno, "chmod '%s'", x->name.p);
                if (utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0)
                        return cb_fail(x->err, errno, "set times of '%s'", x->name.p);
                return 0;
        }
        default:
                return xfail(x, -EINVAL, "unsupported entry type");
        }
}

/* Directory mtimes (and modes, for non-root) last, deepest first; when a directory appeared twice the later
 * entry wins, and a path that is no longer a directory (replaced, whited out) is skipped. */
static int finish_dirs(struct xt *x)
{
        struct pset done = { 0 };
        int r = 0;
        for (size_t i = x->ndirs; i-- > 0 && r == 0;) {
                if (pset_has(&done, x->dirs[i].path))
                        continue;
                pset_add(&done, x->dirs[i].path);
                int fd = layer_open_in_root(x->root_fd, x->dirs[i].path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
                if (fd == -ENOENT || fd == -ENOTDIR || fd == -ELOOP)
                        continue;
                if (fd < 0) {
                        r = cb_fail(x->err, -fd, "open '%s'", x->dirs[i].path);
                        break;
                }
                struct timespec ts[2] = { x->dirs[i].mtime, x->dirs[i].mtime };
                if (!x->is_root && fchmod(fd, x->dirs[i].mode) < 0)
                        r = cb_fail(x->err, errno, "chmod '%s'", x->dirs[i].path);
                else if (futimens(fd, ts) < 0)
                        r = cb_fail(x->err, errno, "set times of '%s'", x->dirs[i].path);
                (void) close(fd);
        }
        pset_release(&done);
        return r;
}

int layer_extract_fd_opts(int root_fd, int tar_fd, const struct layer_extract_opts *o, struct cb_err *err)
{
        struct xt x = { .root_fd = root_fd, .err = err };
        if (o)
                x.o = *o;
        else
                layer_extract_opts_init(&x.o);
        if (!x.o.max_entries)
                x.o.max_entries = DEFAULT_MAX_ENTRIES;
        if (!x.o.max_total_size)
                x.o.max_total_size = DEFAULT_MAX_TOTAL;
        if (!x.o.max_name_len)
                x.o.max_name_len = DEFAULT_MAX_NAME;
        x.is_root = geteuid() == 0;
        cb_buf_init(&x.name, CB_BUF_UNLIMITED);
        cb_buf_init(&x.link, CB_BUF_UNLIMITED);
        x.zero = cb_xcalloc(1, 65536);
        int r = layer_source_new(tar_fd, &x.src, err);
        if (r < 0)
                goto out;
        x.a = archive_read_new();
        if (!x.a) {
                r = cb_failc(err, -ENOMEM, "archive_read_new failed");
                goto out;
        }
        (void) archive_read_support_format_tar(x.a);
        if (archive_read_open(x.a, &x, NULL, read_cb, NULL) != ARCHIVE_OK) {
                r = x.src_r < 0 ? x.src_r : cb_failc(err, -EBADMSG, "not a tar stream: %s", archive_error_string(x.a));
                goto out;
        }
        for (;;) {
                struct archive_entry *e;
                int ar = archive_read_next_header(x.a, &e);
                if (ar == ARCHIVE_EOF)
                        break;
                if (ar < ARCHIVE_WARN) {
                        r = x.src_r < 0 ? x.src_r
                                        : cb_failc(err, -EBADMSG, "corrupt tar stream after %llu entries: %s",
                                                   (unsigned long long) x.entries, archive_error_string(x.a));
                        goto out;
                }
                r = do_entry(&x, e);
                if (r < 0)
                        goto out;
        }
        r = finish_dirs(&x);
        if (r < 0)
                goto out;
        char diff_id[CB_DIGEST_STR_LEN], digest[CB_DIGEST_STR_LEN];
        /* after the end-of-archive marker only padding belongs (tar(1) pads to 10 KiB records, some writers
         * more): refuse a stream that goes on, rather than decompress it for as long as it lasts */
        layer_source_limit_rest(x.src, 64u << 20);
        r = layer_source_finish(x.src, diff_id, digest, err);
        if (r < 0)
                goto out;
        if (x.o.ret_diff_id)
                memcpy(x.o.ret_diff_id, diff_id, CB_DIGEST_STR_LEN);
        if (x.o.ret_digest)
                memcpy(x.o.ret_digest, digest, CB_DIGEST_STR_LEN);
out:
        if (x.a)
                archive_read_free(x.a);
        layer_source_free(x.src);
        pset_release(&x.created);
        for (size_t i = 0; i < x.ndirs; i++)
                free(x.dirs[i].path);
        free(x.dirs);
        cb_buf_release(&x.name);
        cb_buf_release(&x.link);
        free(x.zero);
        if (r < 0)
                cb_wrap(err, "extract layer");
        return r;
}

int layer_extract_fd(int root_fd, int tar_fd, enum layer_extract_mode mode, struct cb_err *err)
{
        struct layer_extract_opts o;
        layer_extract_opts_init(&o);
        o.mode = mode;
        o.keep_setuid = true;
        return layer_extract_fd_opts(root_fd, tar_fd, &o, err);
}

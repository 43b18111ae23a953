/* Layer commit: a directory tree (an overlay upperdir or a plain directory) -> a deterministic PAX tar
 * (entries sorted by byte order per directory, numeric ids only, mtimes clamped to SOURCE_DATE_EPOCH, xattrs
 * sorted, overlay whiteouts translated to OCI .wh. entries) -> the compressing sink, one streaming pass. */
#include "layers/layer.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "layers/internal.h"

#define MAX_DEPTH 2048
#define XATTR_LIST_MAX_BYTES (64u * 1024u)

void layer_commit_opts_init(struct layer_commit_opts *o)
{
        memset(o, 0, sizeof(*o));
        o->compression = LAYER_GZIP;
        o->level = -1;
        o->source_date_epoch = -1;
        o->overlay_whiteouts = false;
}

/* (dev, ino) -> first path, for hard links; only inodes with st_nlink > 1 go in. Open addressing. */
struct link_slot {
        dev_t dev;
        ino_t ino;
        char *path;
};
struct link_map {
        struct link_slot *v;
        size_t n, cap;
};

static size_t link_hash(dev_t dev, ino_t ino)
{
        uint64_t h = (uint64_t) ino * 0x9E3779B97F4A7C15ull ^ (uint64_t) dev;
        return (size_t) (h ^ (h >> 29));
}

static struct link_slot *link_find(struct link_map *m, dev_t dev, ino_t ino)
{
        if (m->cap == 0)
                return NULL;
        for (size_t i = link_hash(dev, ino) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
                struct link_slot *s = &m->v[i];
                if (!s->path)
                        return s;
                if (s->dev == dev && s->ino == ino)
                        return s;
        }
}

static void link_grow(struct link_map *m)
{
        struct link_map nm = { .cap = m->cap ? m->cap * 2 : 256 };
        nm.v = cb_xcalloc(nm.cap, sizeof(*nm.v));
        for (size_t i = 0; i < m->cap; i++) {
                if (!m->v[i].path)
                        continue;
                struct link_slot *s = link_find(&nm, m->v[i].dev, m->v[i].ino);
                *s = m->v[i];
                nm.n++;
        }
        free(m->v);
        *m = nm;
}

static void link_release(struct link_map *m)
{
        for (size_t i = 0; i < m->cap; i++)
                free(m->v[i].path);
        free(m->v);
        m->v = NULL;
        m->n = m->cap = 0;
}

struct tarw {
        struct archive *a;
        struct archive_entry *e;
        struct layer_sink *sink;
        struct cb_err *err;
        int sink_r;
        const struct layer_commit_opts *o;
        struct link_map links;
        char *chunk;
        struct cb_buf path;
        uint64_t written, reported; /* tar bytes, and how many the progress callback has seen */
        /* a layer_writer's tree (layer_writer_add_tree()): entries are offered to visit, named from
         * path[tree_base], and carry no xattrs; one entry added alone (descend false) is not walked into */
        layer_tree_visit visit;
        void *visit_ud;
        size_t tree_base;
        bool no_xattrs, no_descend;
};

#define PROGRESS_STEP (4u << 20)

static la_ssize_t write_cb(struct archive *a, void *ctx, const void *p, size_t len)
{
        struct tarw *t = ctx;
        int r = layer_sink_write(t->sink, p, len, t->err);
        if (r < 0) {
                t->sink_r = r;
                archive_set_error(a, -r, "layer sink write failed");
                return -1;
        }
        t->written += len;
        if (t->o->progress && t->written - t->reported >= PROGRESS_STEP) {
                t->reported = t->written;
                t->o->progress(t->o->progress_ud, t->written);
        }
        return (la_ssize_t) len;
}

static int arch_fail(struct tarw *t, const char *what)
{
        if (t->sink_r < 0)
                return t->sink_r;
        int e = archive_errno(t->a);
        return cb_failc(t->err, e > 0 ? -e : -EIO, "tar: %s '%s': %s", what, t->path.p,
                        archive_error_string(t->a) ? archive_error_string(t->a) : "error");
}

static void set_time(struct tarw *t, struct archive_entry *e, const struct stat *st)
{
        int64_t sec = st->st_mtim.tv_sec;
        long nsec = st->st_mtim.tv_nsec;
        if (t->o->source_date_epoch >= 0) {
                /* clamp, as BuildKit's rewrite-timestamp and reproducible-builds.org ask; sub-seconds dropped
                 * so no PAX mtime record is needed for them */
                nsec = 0;
                if (sec > t->o->source_date_epoch)
                        sec = t->o->source_date_epoch;
        }
        archive_entry_set_mtime(e, (time_t) sec, nsec);
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Adds the xattrs of dir_fd/name (or of fd when >= 0), sorted by name, minus overlayfs' own. */
static int add_xattrs(struct tarw *t, struct archive_entry *e, int dir_fd, const char *name, int fd)
{
        char list[XATTR_LIST_MAX_BYTES];
        char proc[64];
        ssize_t n;
        if (fd >= 0) {
                n = flistxattr(fd, list, sizeof(list));
        } else {
                int k = snprintf(proc, sizeof(proc), "/proc/self/fd/%d/", dir_fd);
                if (k < 0 || (size_t) k >= sizeof(proc))
                        return 0;
                _cleanup_free_ char *p = cb_xasprintf("%s%s", proc, name);
                n = llistxattr(p, list, sizeof(list));
        }
        if (n <= 0)
                return 0; /* ENOTSUP, none, or a filesystem without xattrs: nothing to carry */
        size_t cnt = 0;
        char *names[1024];
        for (char *p = list; p < list + n && cnt < CB_ARRAY_SIZE(names); p += strlen(p) + 1) {
                /* an upper directory written with redirect_dir or metacopy holds renames and metadata-only
                 * copies whose data lives in a lower layer: its tar would silently lose content */
                if (t->o->overlay_whiteouts && (strstr(p, ".overlay.redirect") || strstr(p, ".overlay.metacopy")) &&
                    layer_xattr_is_overlay(p))
                        return cb_failc(t->err, -ENOTSUP,
                                        "'%s' carries %s: mount the overlay with redirect_dir=off,metacopy=off",
                                        t->path.p, p);
                if (!*p || layer_xattr_is_overlay(p))
                        continue;
                names[cnt++] = p;
        }
        if (cnt > 1)
                qsort(names, cnt, sizeof(names[0]), cmp_str);
        _cleanup_free_ char *val = cb_xmalloc(XATTR_LIST_MAX_BYTES);
        for (size_t i = 0; i < cnt; i++) {
                ssize_t vl;
                if (fd >= 0) {
                        vl = fgetxattr(fd, names[i], val, XATTR_LIST_MAX_BYTES);
                } else {
                        _cleanup_free_ char *p = cb_xasprintf("%s%s", proc, name);
                        vl = lgetxattr(p, names[i], val, XATTR_LIST_MAX_BYTES);
                }
                if (vl < 0)
                        continue;
                archive_entry_xattr_add_entry(e, names[i], val, (size_t) vl);
        }
        return 0;
}

static int write_header(struct tarw *t, struct archive_entry *e)
{
        if (archive_write_header(t->a, e) < ARCHIVE_WARN)
                return arch_fail(t, "write header");
        return 0;
}

/* A whiteout or opaque marker: an empty regular file, mode 0, owned by 0:0 (containerd's shape). */
static int write_marker(struct tarw *t, const char *path, const struct stat *st)
{
        struct archive_entry *e = t->e;
        archive_entry_clear(e);
        archive_entry_copy_pathname(e, path);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0);
        archive_entry_set_size(e, 0);
        set_time(t, e, st);
        return write_header(t, e);
}

static int write_file_data(struct tarw *t, int fd, uint64_t size)
{
        uint64_t left = size;
        while (left > 0) {
                size_t want = left > LAYER_IO_CHUNK ? LAYER_IO_CHUNK : (size_t) left;
                ssize_t n = read(fd, t->chunk, want);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return cb_fail(t->err, errno, "read '%s'", t->path.p);
                }
                if (n == 0)
                        break; /* shrank while we read: libarchive pads the entry with zeros */
                if (archive_write_data(t->a, t->chunk, (size_t) n) < 0)
                        return arch_fail(t, "write data");
                left -= (uint64_t) n;
        }
        return 0;
}

struct dent {
        char *name;    /* on disk */
        char *tarname; /* the last path component in the tar */
        struct stat st;
        bool whiteout;
};

static int cmp_dent(const void *a, const void *b)
{
        const struct dent *x = a, *y = b;
        return strcmp(x->tarname, y->tarname);
}

static int walk(struct tarw *t, int dir_fd, unsigned depth);
static int diff_walk(struct tarw *t, int base_fd, int dir_fd, unsigned depth);

/* Writes d (and, for a directory, what is under it). base_dir_fd >= 0: the directory of the base tree that
 * corresponds to dir_fd, for the copy-and-compare differ; hdr false: d is an unchanged directory whose
 * children still need comparing, so only they are written. */
static int emit(struct tarw *t, int dir_fd, struct dent *d, unsigned depth, int base_dir_fd, bool hdr)
{
        size_t base = t->path.len;
        /* declared before the first goto: a jump must never skip a cleanup variable's initialisation */
        _cleanup_close_ int fd = -1;
        if (cb_buf_adds(&t->path, d->tarname) < 0)
                return cb_failc(t->err, -ENAMETOOLONG, "path too long under '%s'", t->path.p);
        int r = 0;
        if (d->whiteout) {
                r = write_marker(t, t->path.p, &d->st);
                goto out;
        }
        if (t->visit && !t->visit(t->visit_ud, t->path.p + t->tree_base, &d->st))
                goto out;
        struct archive_entry *e = t->e;
        archive_entry_clear(e);
        archive_entry_copy_pathname(e, t->path.p);
        archive_entry_set_mode(e, d->st.st_mode);
        archive_entry_set_uid(e, d->st.st_uid);
        archive_entry_set_gid(e, d->st.st_gid);
        set_time(t, e, &d->st);
        mode_t type = d->st.st_mode & S_IFMT;
        if (type != S_IFDIR && d->st.st_nlink > 1) {
                if (t->links.n * 2 >= t->links.cap)
                        link_grow(&t->links);
                struct link_slot *s = link_find(&t->links, d->st.st_dev, d->st.st_ino);
                if (s->path) {
                        archive_entry_copy_hardlink(e, s->path);
                        archive_entry_set_size(e, 0);
                        r = write_header(t, e);
                        goto out;
                }
                s->dev = d->st.st_dev;
                s->ino = d->st.st_ino;
                s->path = cb_xstrdup(t->path.p);
                t->links.n++;
        }
        switch (type) {
        case S_IFREG:
                if (!d->name) /* layer_writer_add() of an empty file (it refuses others without a source) */
                        break;
                fd = openat(dir_fd, d->name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
                if (fd < 0) {
                        r = cb_fail(t->err, errno, "open '%s'", t->path.p);
                        goto out;
                }
                archive_entry_set_size(e, d->st.st_size);
                break;
        case S_IFDIR:
                if (!d->name)
                        break; /* layer_writer_add() of a directory made of metadata alone */
                fd = openat(dir_fd, d->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0) {
                        r = cb_fail(t->err, errno, "open '%s'", t->path.p);
                        goto out;
                }
                break;
        case S_IFLNK: {
                /* heap, not stack: emit() recurses once per directory level */
                _cleanup_free_ char *target = cb_xmalloc(PATH_MAX + 1);
                ssize_t n = d->name ? readlinkat(dir_fd, d->name, target, PATH_MAX) : (errno = EINVAL, -1);
                if (n < 0) {
                        r = cb_fail(t->err, errno, "readlink '%s'", t->path.p);
                        goto out;
                }
                target[n] = '\0';
                archive_entry_copy_symlink(e, target);
                break;
        }
        case S_IFCHR:
        case S_IFBLK:
                archive_entry_set_rdevmajor(e, major(d->st.st_rdev));
                archive_entry_set_rdevminor(e, minor(d->st.st_rdev));
                break;
        case S_IFIFO:
                break;
        default:
                /* sockets have no tar form; tar(1) and buildah skip them too */
                goto out;
        }
        if (hdr) {
                r = t->no_xattrs || !d->name ? 0 : add_xattrs(t, e, dir_fd, d->name, fd);
                if (r < 0)
                        goto out;
                r = write_header(t, e);
                if (r < 0)
                        goto out;
        }
        if (type == S_IFREG) {
                r = fd >= 0 ? write_file_data(t, fd, (uint64_t) d->st.st_size) : 0;
        } else if (type == S_IFDIR && !t->no_descend) {
                if (hdr && t->o->overlay_whiteouts && layer_dir_is_opaque(fd)) {
                        size_t l = t->path.len;
                        if (cb_buf_adds(&t->path, "/" LAYER_WH_OPAQUE) < 0) {
                                r = cb_failc(t->err, -ENAMETOOLONG, "path too long");
                                goto out;
                        }
                        /* first in its directory, before any entry of this layer, so tools that apply opaque
                         * markers by emptying the directory keep what this layer adds */
                        r = write_marker(t, t->path.p, &d->st);
                        cb_buf_truncate(&t->path, l);
                        if (r < 0)
                                goto out;
                }
                if (cb_buf_addc(&t->path, '/') < 0) {
                        r = cb_failc(t->err, -ENAMETOOLONG, "path too long");
                        goto out;
                }
                if (base_dir_fd >= 0) {
                        _cleanup_close_ int bfd =
                                openat(base_dir_fd, d->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (bfd < 0) {
                                r = cb_fail(t->err, errno, "open base '%s'", t->path.p);
                                goto out;
                        }
                        r = diff_walk(t, bfd, fd, depth + 1);
                } else {
                        r = walk(t, fd, depth + 1);
                }
        }
out:
        cb_buf_truncate(&t->path, base);
        return r;
}

static void dents_free(struct dent *v, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                free(v[i].name);
                free(v[i].tarname);
        }
        free(v);
}

/* Lists dir_fd sorted by tar name (overlay whiteouts translated when translate). *ret owned: dents_free(). */
static int list_dir(struct tarw *t, int dir_fd, bool translate, unsigned depth, struct dent **ret, size_t *ret_n)
{
        if (depth > MAX_DEPTH)
                return cb_failc(t->err, -ELOOP, "directory tree deeper than %d levels at '%s'", MAX_DEPTH, t->path.p);
        int dfd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 3);
        if (dfd < 0)
                return cb_fail(t->err, errno, "dup");
        DIR *dir = fdopendir(dfd);
        if (!dir) {
                int e = errno;
                (void) close(dfd);
                return cb_fail(t->err, e, "opendir '%s'", t->path.len ? t->path.p : ".");
        }
        rewinddir(dir);
        struct dent *v = NULL;
        size_t n = 0, cap = 0;
        int r = 0;
        struct dirent *de;
        while ((de = readdir(dir))) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                        continue;
                if (n == cap) {
                        cap = cap ? cap * 2 : 64;
                        v = cb_xrealloc(v, cap * sizeof(*v));
                }
                struct dent *d = &v[n];
                memset(d, 0, sizeof(*d));
                if (fstatat(dir_fd, de->d_name, &d->st, AT_SYMLINK_NOFOLLOW) < 0) {
                        if (errno == ENOENT)
                                continue; /* removed while we walked */
                        r = cb_fail(t->err, errno, "stat '%s%s'", t->path.p, de->d_name);
                        break;
                }
                d->name = cb_xstrdup(de->d_name);
                if (translate && layer_is_overlay_whiteout(d->st.st_mode, d->st.st_rdev)) {
                        d->whiteout = true;
                        d->tarname = cb_xasprintf(LAYER_WH_PREFIX "%s", de->d_name);
                } else {
                        d->tarname = cb_xstrdup(de->d_name);
                }
                n++;
        }
        (void) closedir(dir);
        if (r < 0) {
                dents_free(v, n);
                return r;
        }
        if (n > 1)
                qsort(v, n, sizeof(*v), cmp_dent);
        *ret = v;
        *ret_n = n;
        return 0;
}

static int walk(struct tarw *t, int dir_fd, unsigned depth)
{
        struct dent *v = NULL;
        size_t n = 0;
        int r = list_dir(t, dir_fd, t->o->overlay_whiteouts, depth, &v, &n);
        for (size_t i = 0; i < n && r == 0; i++)
                r = emit(t, dir_fd, &v[i], depth, -1, true);
        dents_free(v, n);
        return r;
}

/* ---- copy-and-compare ---- */

static bool link_differs(int afd, const char *an, int bfd, const char *bn)
{
        char a[PATH_MAX + 1], b[PATH_MAX + 1];
        ssize_t x = readlinkat(afd, an, a, PATH_MAX), y = readlinkat(bfd, bn, b, PATH_MAX);
        return x != y || x < 0 || memcmp(a, b, (size_t) x) != 0;
}

/* Whether an entry present in both trees changed. Contents with equal size and mtime are taken as equal,
 * as docker's naive differ and buildah's do: comparing bytes would read both trees in full. */
static bool entry_changed(const struct stat *a, const struct stat *b)
{
        if ((a->st_mode & S_IFMT) != (b->st_mode & S_IFMT) || a->st_mode != b->st_mode || a->st_uid != b->st_uid ||
            a->st_gid != b->st_gid || a->st_mtim.tv_sec != b->st_mtim.tv_sec ||
            a->st_mtim.tv_nsec != b->st_mtim.tv_nsec)
                return true;
        if (S_ISDIR(a->st_mode))
                return false;
        return a->st_size != b->st_size || a->st_rdev != b->st_rdev;
}

enum step_kind { STEP_NEW, STEP_GONE, STEP_DIR_CHILDREN };
struct step {
        const char *tarname;
        enum step_kind kind;
        struct dent *d; /* new side (base side for STEP_GONE) */
        bool hdr;
};

static int cmp_step(const void *a, const void *b)
{
        return strcmp(((const struct step *) a)->tarname, ((const struct step *) b)->tarname);
}

static int diff_walk(struct tarw *t, int base_fd, int dir_fd, unsigned depth)
{
        struct dent *bv = NULL, *nv = NULL;
        size_t bn = 0, nn = 0;
        int r = list_dir(t, base_fd, false, depth, &bv, &bn);
        if (r == 0)
                r = list_dir(t, dir_fd, false, depth, &nv, &nn);
        struct step *steps = cb_xcalloc(bn + nn + 1, sizeof(*steps));
        _cleanup_free_ char **gone = cb_xcalloc(bn + 1, sizeof(char *));
        size_t ns = 0, ng = 0;
        for (size_t i = 0, j = 0; r == 0 && (i < bn || j < nn);) {
                int c = i == bn ? 1 : j == nn ? -1 : strcmp(bv[i].name, nv[j].name);
                if (c < 0) {
                        gone[ng] = cb_xasprintf(LAYER_WH_PREFIX "%s", bv[i].name);
                        steps[ns++] = (struct step){ gone[ng++], STEP_GONE, &bv[i], true };
                        i++;
                } else if (c > 0) {
                        steps[ns++] = (struct step){ nv[j].tarname, STEP_NEW, &nv[j], true };
                        j++;
                } else {
                        const struct stat *a = &bv[i].st, *b = &nv[j].st;
                        bool both_dirs = S_ISDIR(a->st_mode) && S_ISDIR(b->st_mode);
                        bool changed = entry_changed(a, b) ||
                                       (S_ISLNK(b->st_mode) && link_differs(base_fd, bv[i].name, dir_fd, nv[j].name));
                        if (both_dirs)
                                steps[ns++] = (struct step){ nv[j].tarname, STEP_DIR_CHILDREN, &nv[j], changed };
                        else if (changed)
                                steps[ns++] = (struct step){ nv[j].tarname, STEP_NEW, &nv[j], true };
                        i++;
                        j++;
                }
        }
        if (r == 0 && ns > 1)
                qsort(steps, ns, sizeof(*steps), cmp_step);
        for (size_t k = 0; k < ns && r == 0; k++) {
                struct step *st = &steps[k];
                if (st->kind == STEP_GONE) {
                        size_t base = t->path.len;
                        if (cb_buf_adds(&t->path, st->tarname) < 0)
                                r = cb_failc(t->err, -ENAMETOOLONG, "path too long");
                        else
                                r = write_marker(t, t->path.p, &st->d->st);
                        cb_buf_truncate(&t->path, base);
                } else if (st->kind == STEP_DIR_CHILDREN) {
                        r = emit(t, dir_fd, st->d, depth, base_fd, st->hdr);
                } else {
                        r = emit(t, dir_fd, st->d, depth, -1, true);
                }
        }
        for (size_t k = 0; k < ng; k++)
                free(gone[k]);
        free(steps);
        dents_free(bv, bn);
        dents_free(nv, nn);
        return r;
}

/* Sets up t's tar stream into sink (deterministic PAX, 64 KiB blocks). tarw_close() releases it. */
static int tarw_open(struct tarw *t, struct layer_sink *sink, const struct layer_commit_opts *o, struct cb_err *err)
{
        *t = (struct tarw){ .sink = sink, .err = err, .o = o };
        t->a = archive_write_new();
        t->e = archive_entry_new();
        t->chunk = cb_xmalloc(LAYER_IO_CHUNK);
        cb_buf_init(&t->path, 64 * 1024);
        if (!t->a || !t->e)
                return cb_failc(err, -ENOMEM, "libarchive allocation failed");
        if (archive_write_set_format_pax(t->a) != ARCHIVE_OK ||
            archive_write_set_options(t->a, "xattrheader=SCHILY") != ARCHIVE_OK ||
            archive_write_set_bytes_per_block(t->a, 64 * 1024) != ARCHIVE_OK ||
            archive_write_set_bytes_in_last_block(t->a, 1) != ARCHIVE_OK)
                return cb_failc(err, -EIO, "libarchive setup: %s", archive_error_string(t->a));
        if (archive_write_open2(t->a, t, NULL, write_cb, NULL, NULL) != ARCHIVE_OK)
                return arch_fail(t, "open");
        return 0;
}

static void tarw_close(struct tarw *t)
{
        archive_write_free(t->a);
        archive_entry_free(t->e);
        link_release(&t->links);
        cb_buf_release(&t->path);
        free(t->chunk);
        t->a = NULL;
        t->e = NULL;
        t->chunk = NULL;
}

/* Writes the tar of dir_fd into sink; with base_fd >= 0 only what differs from base_fd. */
static int tar_tree(int base_fd, int dir_fd, struct layer_sink *sink, const struct layer_commit_opts *o,
                    uint64_t *ret_tar_size, struct cb_err *err)
{
        struct tarw t;
        int r = tarw_open(&t, sink, o, err);
        if (r == 0)
                r = base_fd >= 0 ? diff_walk(&t, base_fd, dir_fd, 0) : walk(&t, dir_fd, 0);
        if (r == 0 && archive_write_close(t.a) != ARCHIVE_OK)
                r = arch_fail(&t, "close");
        if (ret_tar_size)
                *ret_tar_size = t.written;
        tarw_close(&t);
        return r;
}

static int write_tar_limit(int base_fd, int dir_fd, int out_fd, const struct layer_commit_opts *o,
                           uint64_t write_limit, bool *ret_dropped, uint64_t *ret_tar_size,
                           char ret_diff_id[CB_DIGEST_STR_LEN], char ret_digest[CB_DIGEST_STR_LEN], uint64_t *ret_size,
                           struct cb_err *err)
{
        struct layer_sink *k;
        int r = layer_sink_new(o->compression, o->level, out_fd, &k, err);
        if (r < 0)
                return r;
        layer_sink_limit_writes(k, write_limit);
        char diff_id[CB_DIGEST_STR_LEN], digest[CB_DIGEST_STR_LEN];
        uint64_t size = 0;
        r = tar_tree(base_fd, dir_fd, k, o, ret_tar_size, err);
        if (r == 0)
                r = layer_sink_finish(k, diff_id, digest, &size, err);
        if (ret_dropped)
                *ret_dropped = layer_sink_dropped(k);
        layer_sink_free(k);
        if (r < 0)
                return r;
        if (ret_diff_id)
                memcpy(ret_diff_id, diff_id, CB_DIGEST_STR_LEN);
        if (ret_digest)
                memcpy(ret_digest, digest, CB_DIGEST_STR_LEN);
        if (ret_size)
                *ret_size = size;
        return 0;
}

static int write_tar(int base_fd, int dir_fd, int out_fd, const struct layer_commit_opts *o,
                     char ret_diff_id[CB_DIGEST_STR_LEN], char ret_digest[CB_DIGEST_STR_LEN], uint64_t *ret_size,
                     struct cb_err *err)
{
        return write_tar_limit(base_fd, dir_fd, out_fd, o, UINT64_MAX, NULL, NULL, ret_diff_id, ret_digest, ret_size,
                               err);
}

int layer_tar_dir_limit(int dir_fd, int out_fd, const struct layer_commit_opts *o, uint64_t write_limit,
                        bool *ret_dropped, struct layer_desc *ret, uint64_t *ret_tar_size, struct cb_err *err)
{
        memset(ret, 0, sizeof(*ret));
        int r = write_tar_limit(-1, dir_fd, out_fd, o, write_limit, ret_dropped, ret_tar_size, ret->diff_id,
                                ret->digest, &ret->size, err);
        if (r == 0) {
                const char *mt = layer_compression_media_type(o->compression);
                memcpy(ret->media_type, mt, strlen(mt) + 1);
        }
        return r;
}

int layer_write_tar_fd(int dir_fd, int out_fd, const struct layer_commit_opts *o, char ret_diff_id[CB_DIGEST_STR_LEN],
                       char ret_digest[CB_DIGEST_STR_LEN], uint64_t *ret_size, struct cb_err *err)
{
        struct layer_commit_opts def;
        if (!o) {
                layer_commit_opts_init(&def);
                o = &def;
        }
        return write_tar(-1, dir_fd, out_fd, o, ret_diff_id, ret_digest, ret_size, err);
}

/* The written blob w becomes d's (frees w; a blob already stored is kept as it is). */
static int keep_blob(struct layer_store *s, struct layer_blob_writer *w, struct layer_desc *d,
                     enum layer_compression c, struct layer_desc *ret, struct cb_err *err)
{
        int r = 0;
        if (layer_store_has_blob(s, d->digest))
                layer_blob_writer_abort(w);
        else if ((r = layer_blob_writer_commit_hashed(w, d->digest, err)) < 0)
                return r;
        const char *mt = layer_compression_media_type(c);
        memcpy(d->media_type, mt, strlen(mt) + 1);
        *ret = *d;
        return 0;
}

static int commit(struct layer_store *s, int base_fd, int dir_fd, const struct layer_commit_opts *o,
                  struct layer_desc *ret, struct cb_err *err)
{
        struct layer_blob_writer *w;
        int r = layer_store_blob_begin(s, &w, err);
        if (r < 0)
                return r;
        struct layer_desc d;
        memset(&d, 0, sizeof(d));
        r = write_tar(base_fd, dir_fd, layer_blob_writer_fd(w), o, d.diff_id, d.digest, &d.size, err);
        if (r < 0) {
                layer_blob_writer_abort(w);
                cb_wrap(err, "commit layer");
                return r;
        }
        return keep_blob(s, w, &d, o->compression, ret, err);
}

int layer_commit_dir(struct layer_store *s, int dir_fd, const struct layer_commit_opts *o, struct layer_desc *ret,
                     struct cb_err *err)
{
        struct layer_commit_opts def;
        if (!o) {
                layer_commit_opts_init(&def);
                o = &def;
        }
        return commit(s, -1, dir_fd, o, ret, err);
}

int layer_commit_diff(struct layer_store *s, int base_fd, int dir_fd, const struct layer_commit_opts *o,
                      struct layer_desc *ret, struct cb_err *err)
{
        struct layer_commit_opts co;
        if (o)
                co = *o;
        else
                layer_commit_opts_init(&co);
        co.overlay_whiteouts = false;
        if (base_fd < 0)
                return cb_failc(err, -EBADF, "commit diff: no base directory");
        return commit(s, base_fd, dir_fd, &co, ret, err);
}

/* ---- a layer written entry by entry (layer_writer) ---- */

struct layer_writer {
        struct layer_store *s;
        struct layer_commit_opts o;
        struct layer_blob_writer *blob;
        struct layer_sink *sink;
        struct tarw t;
};

void layer_writer_abort(struct layer_writer *w)
{
        if (!w)
                return;
        tarw_close(&w->t);
        layer_sink_free(w->sink);
        layer_blob_writer_abort(w->blob);
        free(w);
}

int layer_writer_begin(struct layer_store *s, const struct layer_commit_opts *o, struct layer_writer **ret,
                       struct cb_err *err)
{
        struct layer_writer *w = cb_xcalloc(1, sizeof(*w));
        w->s = s;
        if (o)
                w->o = *o;
        else
                layer_commit_opts_init(&w->o);
        w->o.overlay_whiteouts = false;
        int r = layer_store_blob_begin(s, &w->blob, err);
        if (r == 0)
                r = layer_sink_new(w->o.compression, w->o.level, layer_blob_writer_fd(w->blob), &w->sink, err);
        if (r == 0)
                r = tarw_open(&w->t, w->sink, &w->o, err);
        if (r < 0) {
                layer_writer_abort(w);
                return r;
        }
        *ret = w;
        return 0;
}

int layer_writer_add(struct layer_writer *w, const char *path, const struct stat *st, int src_dir_fd,
                     const char *src_name, bool xattrs, struct cb_err *err)
{
        struct tarw *t = &w->t;
        t->err = err;
        t->visit = NULL;
        t->tree_base = 0;
        t->no_xattrs = !xattrs;
        t->no_descend = true;
        cb_buf_truncate(&t->path, 0);
        _cleanup_free_ char *tarname = cb_xstrdup(path);
        struct dent d = { .name = (char *) src_name, .tarname = tarname, .st = *st };
        if (src_dir_fd < 0 && (S_ISLNK(st->st_mode) || (S_ISREG(st->st_mode) && st->st_size > 0)))
                return cb_failc(err, -EINVAL, "layer entry '%s': its data needs a source", path);
        return emit(t, src_dir_fd, &d, 0, -1, true);
}

int layer_writer_add_tree(struct layer_writer *w, const char *path, int dir_fd, layer_tree_visit visit, void *ud,
                          struct cb_err *err)
{
        struct tarw *t = &w->t;
        t->err = err;
        t->no_xattrs = true;
        t->no_descend = false;
        cb_buf_truncate(&t->path, 0);
        if ((*path && cb_buf_addf(&t->path, "%s/", path) < 0))
                return cb_failc(err, -ENAMETOOLONG, "path too long: '%s'", path);
        t->tree_base = t->path.len;
        t->visit = visit;
        t->visit_ud = ud;
        int r = walk(t, dir_fd, 0);
        t->visit = NULL;
        return r;
}

int layer_writer_commit(struct layer_writer *w, struct layer_desc *ret, struct cb_err *err)
{
        struct layer_desc d;
        memset(&d, 0, sizeof(d));
        w->t.err = err;
        int r = archive_write_close(w->t.a) != ARCHIVE_OK ? arch_fail(&w->t, "close") : 0;
        if (r == 0)
                r = layer_sink_finish(w->sink, d.diff_id, d.digest, &d.size, err);
        if (r < 0) {
                layer_writer_abort(w);
                cb_wrap(err, "commit layer");
                return r;
        }
        struct layer_blob_writer *blob = CB_TAKE_PTR(w->blob);
        r = keep_blob(w->s, blob, &d, w->o.compression, ret, err);
        layer_writer_abort(w); /* what is left: the tar stream and the sink */
        return r;
}

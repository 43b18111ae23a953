/* A layer's entries without extracting it: from its unpacked directory when the store has one, else
 * from the tar headers of its blob (libarchive skips the data; seeks over it in an uncompressed blob).
 * Entries stream to a callback, so a layer of any size costs one path buffer and one directory stream
 * per level. Also: which of a set of unpacked layers already hold a path. */
#include "layers/layer.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "layers/internal.h"

/* Deeper trees than this are refused rather than walked with one open directory per level. */
#define ENTRIES_MAX_DEPTH 256
#define ENTRIES_PATH_MAX (64u * 1024u)

int layer_store_open_unpacked(struct layer_store *s, const struct layer_desc *l, struct cb_err *err)
{
        if (!cb_digest_valid(l->diff_id))
                return cb_failc(err, -EINVAL, "invalid layer descriptor");
        int fd = openat(s->layers_fd, l->diff_id + 7, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
                int e = errno;
                if (e == ENOENT)
                        return -ENOENT;
                return cb_fail(err, e, "open layers/%.12s", l->diff_id + 7);
        }
        return fd;
}

/* ---- from the unpacked directory (overlay form) ---- */

static void closedirp(DIR **d)
{
        if (*d)
                (void) closedir(*d);
}

struct dir_walk {
        layer_entry_fn fn;
        void *ud;
        struct cb_buf path;
        struct cb_err *err;
};

static int walk_dir(struct dir_walk *w, int dfd, int depth)
{
        _cleanup_(closedirp) DIR *d = fdopendir(dfd);
        if (!d) {
                int e = errno;
                close(dfd);
                return cb_fail(w->err, e, "read '%s'", w->path.len ? w->path.p : ".");
        }
        size_t base = w->path.len;
        struct dirent *de;
        for (errno = 0; (de = readdir(d)); errno = 0) {
                const char *name = de->d_name;
                if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
                        continue;
                struct stat st;
                if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        return cb_fail(w->err, errno, "stat '%s/%s'", w->path.p, name);
                cb_buf_truncate(&w->path, base);
                if ((base && cb_buf_addc(&w->path, '/') < 0) || cb_buf_adds(&w->path, name) < 0)
                        return cb_failc(w->err, -ENAMETOOLONG, "a path in the layer is too long");
                int sub = -1;
                struct layer_entry e = {
                    .path = w->path.p,
                    .mode = st.st_mode,
                    .size = S_ISREG(st.st_mode) ? (uint64_t) st.st_size : 0,
                };
                if (layer_is_overlay_whiteout(st.st_mode, st.st_rdev)) {
                        e.flags |= LAYER_ENTRY_WHITEOUT;
                } else if (S_ISDIR(st.st_mode)) {
                        sub = openat(dirfd(d), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (sub < 0)
                                return cb_fail(w->err, errno, "open '%s'", w->path.p);
                        if (layer_dir_is_opaque(sub))
                                e.flags |= LAYER_ENTRY_OPAQUE;
                }
                int r = w->fn(w->ud, &e);
                if (r != 0) {
                        if (sub >= 0)
                                close(sub);
                        return r;
                }
                if (sub >= 0) {
                        if (depth + 1 >= ENTRIES_MAX_DEPTH) {
                                close(sub);
                                return cb_failc(w->err, -ELOOP, "'%s': deeper than %d levels", w->path.p,
                                                ENTRIES_MAX_DEPTH);
                        }
                        r = walk_dir(w, sub, depth + 1);
                        if (r != 0)
                                return r;
                }
        }
        if (errno != 0)
                return cb_fail(w->err, errno, "read '%s'", base ? w->path.p : ".");
        cb_buf_truncate(&w->path, base);
        return 0;
}

/* ---- from the blob (tar form: image-spec whiteouts) ---- */

static void archive_freep(struct archive **a)
{
        if (*a)
                archive_read_free(*a);
}

/* "./usr/lib/" -> "usr/lib"; "./" -> "" (the root itself). Rejects ".." components. */
static int clean_path(const char *in, struct cb_buf *out)
{
        cb_buf_reset(out);
        while (*in) {
                size_t len = strcspn(in, "/");
                if (len == 2 && in[0] == '.' && in[1] == '.')
                        return -EBADMSG;
                if (len && !(len == 1 && in[0] == '.') &&
                    ((out->len && cb_buf_addc(out, '/') < 0) || cb_buf_add(out, in, len) < 0))
                        return -ENAMETOOLONG;
                in += len;
                while (*in == '/')
                        in++;
        }
        return 0;
}

static int walk_tar(int fd, layer_entry_fn fn, void *ud, struct cb_buf *path, struct cb_err *err)
{
        _cleanup_(archive_freep) struct archive *a = archive_read_new();
        if (!a)
                return cb_failc(err, -ENOMEM, "libarchive");
        archive_read_support_filter_all(a);
        archive_read_support_format_tar(a);
        if (archive_read_open_fd(a, fd, LAYER_IO_CHUNK) != ARCHIVE_OK)
                return cb_failc(err, -EBADMSG, "read layer: %s", archive_error_string(a));
        struct archive_entry *ae;
        int ar;
        while ((ar = archive_read_next_header(a, &ae)) == ARCHIVE_OK || ar == ARCHIVE_WARN) {
                const char *raw = archive_entry_pathname(ae);
                if (!raw || clean_path(raw, path) < 0)
                        return cb_failc(err, -EBADMSG, "layer entry '%s': bad path", raw ? raw : "");
                const char *slash = strrchr(path->p, '/');
                const char *name = slash ? slash + 1 : path->p;
                struct layer_entry e = {
                    .path = path->p,
                    .mode = archive_entry_mode(ae),
                    .size = archive_entry_size_is_set(ae) && archive_entry_size(ae) > 0
                                ? (uint64_t) archive_entry_size(ae)
                                : 0,
                };
                if (strcmp(name, LAYER_WH_OPAQUE) == 0) {
                        /* the entry names its directory */
                        cb_buf_truncate(path, slash ? (size_t) (slash - path->p) : 0);
                        e.path = path->p;
                        e.mode = S_IFDIR | 0755;
                        e.size = 0;
                        e.flags = LAYER_ENTRY_OPAQUE;
                } else if (strncmp(name, LAYER_WH_PREFIX, strlen(LAYER_WH_PREFIX)) == 0) {
                        size_t at = (size_t) (name - path->p);
                        memmove(path->p + at, name + strlen(LAYER_WH_PREFIX),
                                strlen(name + strlen(LAYER_WH_PREFIX)) + 1);
                        path->len -= strlen(LAYER_WH_PREFIX);
                        e.mode = S_IFCHR;
                        e.size = 0;
                        e.flags = LAYER_ENTRY_WHITEOUT;
                } else if (archive_entry_hardlink(ae)) {
                        e.mode = S_IFREG | (e.mode & 07777);
                        e.size = 0;
                        e.flags = LAYER_ENTRY_HARDLINK;
                }
                if (!S_ISREG(e.mode))
                        e.size = 0;
                if (!*e.path && !e.flags)
                        continue; /* "./": the root itself, which an unpacked layer does not list either */
                int r = fn(ud, &e);
                if (r != 0)
                        return r;
                /* headers only: libarchive seeks over the data of an uncompressed blob */
                if (archive_read_data_skip(a) != ARCHIVE_OK)
                        return cb_failc(err, -EBADMSG, "read layer: %s", archive_error_string(a));
        }
        if (ar != ARCHIVE_EOF)
                return cb_failc(err, -EBADMSG, "read layer: %s", archive_error_string(a));
        return 0;
}

int layer_store_walk_entries(struct layer_store *s, const struct layer_desc *l, layer_entry_fn fn, void *ud,
                             struct cb_err *err)
{
        struct cb_buf path;
        cb_buf_init(&path, ENTRIES_PATH_MAX);
        int r;
        int dfd = layer_store_open_unpacked(s, l, err);
        if (dfd >= 0) {
                struct dir_walk w = {.fn = fn, .ud = ud, .path = path, .err = err};
                r = walk_dir(&w, dfd, 0);
                path = w.path;
        } else if (dfd == -ENOENT) {
                _cleanup_close_ int bfd = layer_store_open_blob(s, l->digest, NULL, err);
                r = bfd < 0 ? bfd : walk_tar(bfd, fn, ud, &path, err);
        } else {
                r = dfd;
        }
        cb_buf_release(&path);
        if (r < 0 && !cb_err_msg(err)[0])
                cb_failc(err, r, "layer %.19s", l->diff_id);
        return r;
}

/* ---- which unpacked layers hold a path ---- */

struct layer_presence {
        int *fds;        /* the layers' unpacked directories */
        int *parent_fds; /* their directory at parent (O_PATH), or -errno */
        size_t n;
        struct cb_buf parent; /* the parent path parent_fds are for */
        bool parent_valid;
};

struct layer_presence *layer_presence_free(struct layer_presence *p)
{
        if (!p)
                return NULL;
        for (size_t i = 0; i < p->n; i++) {
                if (p->fds[i] >= 0)
                        close(p->fds[i]);
                if (p->parent_fds[i] >= 0)
                        close(p->parent_fds[i]);
        }
        free(p->fds);
        free(p->parent_fds);
        cb_buf_release(&p->parent);
        free(p);
        return NULL;
}

int layer_presence_new(struct layer_store *s, const struct layer_desc *layers, size_t n,
                       struct layer_presence **ret, struct cb_err *err)
{
        struct layer_presence *p = cb_xcalloc(1, sizeof(*p));
        p->fds = cb_xcalloc(n ? n : 1, sizeof(int));
        p->parent_fds = cb_xcalloc(n ? n : 1, sizeof(int));
        cb_buf_init(&p->parent, ENTRIES_PATH_MAX);
        for (size_t i = 0; i < n; i++)
                p->fds[i] = p->parent_fds[i] = -1;
        p->n = n;
        for (size_t i = 0; i < n; i++) {
                int fd = layer_store_open_unpacked(s, &layers[i], err);
                if (fd < 0) {
                        layer_presence_free(p);
                        return fd;
                }
                p->fds[i] = fd;
        }
        *ret = p;
        return 0;
}

/* An O_PATH fd on root_fd/path that crosses no symlink and stays beneath root_fd, or -errno. */
static int open_beneath(int root_fd, const char *path)
{
        struct open_how how = {
            .flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
            .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
        };
        long fd = syscall(SYS_openat2, root_fd, *path ? path : ".", &how, sizeof(how));
        return fd < 0 ? -errno : (int) fd;
}

int layer_presence_check(struct layer_presence *p, const char *path, bool is_dir)
{
        const char *slash = strrchr(path, '/');
        const char *leaf = slash ? slash + 1 : path;
        size_t plen = slash ? (size_t) (slash - path) : 0;
        if (!*leaf || strcmp(leaf, ".") == 0 || strcmp(leaf, "..") == 0)
                return -EINVAL;
        /* entries come grouped by directory: resolve each parent once per layer */
        if (!p->parent_valid || p->parent.len != plen || memcmp(p->parent.p, path, plen) != 0) {
                cb_buf_reset(&p->parent);
                p->parent_valid = cb_buf_add(&p->parent, path, plen) >= 0;
                if (!p->parent_valid)
                        return -ENAMETOOLONG;
                for (size_t i = 0; i < p->n; i++) {
                        if (p->parent_fds[i] >= 0)
                                close(p->parent_fds[i]);
                        p->parent_fds[i] = open_beneath(p->fds[i], p->parent.p);
                }
        }
        int present = 0;
        for (size_t i = 0; i < p->n; i++) {
                int pfd = p->parent_fds[i];
                if (pfd == -ENOENT)
                        continue; /* no parent, no child */
                if (pfd < 0)
                        return pfd; /* a symlink or a non-directory on the way, or worse */
                struct stat st;
                if (fstatat(pfd, leaf, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        if (errno == ENOENT)
                                continue;
                        return -errno;
                }
                if (!is_dir || !S_ISDIR(st.st_mode))
                        present = 1;
        }
        return present;
}

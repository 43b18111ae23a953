/* File trees of layer tars (streamed through libarchive) and of flattened images; tree comparison. */
#include "layers/diff.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "layers/internal.h"

#define SCAN_BLOCK (1u << 20)
#define XATTR_INLINE_MAX 128

static const char zeros[4096];

struct layer_tree {
        struct layer_tree_entry **v;
        size_t n, cap;
        bool owns; /* the entries are ours to free (a scanned layer), not borrowed (a flattened view) */
        uint64_t mem;
};

static struct layer_tree *tree_new(bool owns)
{
        struct layer_tree *t = cb_xcalloc(1, sizeof(*t));
        t->owns = owns;
        return t;
}

static void tree_push(struct layer_tree *t, struct layer_tree_entry *e)
{
        if (t->n == t->cap) {
                t->cap = t->cap ? t->cap * 2 : 256;
                t->v = cb_xrealloc(t->v, t->cap * sizeof(*t->v));
        }
        t->v[t->n++] = e;
}

struct layer_tree *layer_tree_free(struct layer_tree *t)
{
        if (!t)
                return NULL;
        if (t->owns)
                for (size_t i = 0; i < t->n; i++)
                        free(t->v[i]);
        free(t->v);
        free(t);
        return NULL;
}

size_t layer_tree_count(const struct layer_tree *t)
{
        return t ? t->n : 0;
}

const struct layer_tree_entry *layer_tree_get(const struct layer_tree *t, size_t i)
{
        return i < t->n ? t->v[i] : NULL;
}

uint64_t layer_tree_mem(const struct layer_tree *t)
{
        return t->mem + t->cap * sizeof(*t->v);
}

/* "a/./b/" -> "a/b"; leading "./" and "/" dropped. Owned; "" for the root. */
static char *clean_path(const char *p)
{
        struct cb_buf b;
        cb_buf_init(&b, CB_BUF_UNLIMITED);
        while (*p) {
                while (*p == '/')
                        p++;
                const char *e = strchr(p, '/');
                size_t n = e ? (size_t) (e - p) : strlen(p);
                if (n == 0)
                        break;
                if (!(n == 1 && p[0] == '.')) {
                        if (b.len)
                                (void) cb_buf_addc(&b, '/');
                        (void) cb_buf_add(&b, p, n);
                }
                p += n;
        }
        if (!b.p)
                (void) cb_buf_adds(&b, "");
        return cb_buf_take(&b, NULL);
}

static void escape_value(struct cb_buf *b, const unsigned char *p, size_t n)
{
        if (n > XATTR_INLINE_MAX) {
                char dg[CB_DIGEST_STR_LEN];
                cb_sha256_digest(p, n, dg);
                (void) cb_buf_adds(b, dg);
                return;
        }
        for (size_t i = 0; i < n; i++) {
                if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\' && p[i] != '=')
                        (void) cb_buf_addc(b, (char) p[i]);
                else
                        (void) cb_buf_addf(b, "\\x%02x", p[i]);
        }
}

static int str_cmp(const void *a, const void *b)
{
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* "name=value\n" lines, sorted; NULL when the entry has none (overlayfs' own xattrs left out). */
static char *entry_xattrs(struct archive_entry *ae)
{
        if (archive_entry_xattr_reset(ae) == 0)
                return NULL;
        char **lines = NULL;
        size_t n = 0;
        const char *name;
        const void *value;
        size_t size;
        while (archive_entry_xattr_next(ae, &name, &value, &size) == ARCHIVE_OK) {
                if (!name || layer_xattr_is_overlay(name))
                        continue;
                struct cb_buf b;
                cb_buf_init(&b, CB_BUF_UNLIMITED);
                (void) cb_buf_adds(&b, name);
                (void) cb_buf_addc(&b, '=');
                escape_value(&b, value, size);
                (void) cb_buf_addc(&b, '\n');
                lines = cb_xrealloc(lines, (n + 1) * sizeof(char *));
                lines[n++] = cb_buf_take(&b, NULL);
        }
        if (n == 0) {
                free(lines);
                return NULL;
        }
        qsort(lines, n, sizeof(char *), str_cmp);
        struct cb_buf all;
        cb_buf_init(&all, CB_BUF_UNLIMITED);
        for (size_t i = 0; i < n; i++) {
                (void) cb_buf_adds(&all, lines[i]);
                free(lines[i]);
        }
        free(lines);
        return cb_buf_take(&all, NULL);
}

static char entry_type(struct archive_entry *ae, const char *path)
{
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        if (archive_entry_hardlink(ae))
                return 'h';
        switch (archive_entry_filetype(ae)) {
        case AE_IFREG:
                if (!strcmp(base, LAYER_WH_OPAQUE))
                        return 'o';
                if (!strncmp(base, LAYER_WH_PREFIX, strlen(LAYER_WH_PREFIX)))
                        return 'w';
                return 'f';
        case AE_IFDIR:
                return 'd';
        case AE_IFLNK:
                return 'l';
        case AE_IFCHR:
                return 'c';
        case AE_IFBLK:
                return 'b';
        case AE_IFIFO:
                return 'p';
        default:
                return '?';
        }
}

static struct layer_tree_entry *entry_new(const char *path, const char *link, const char *xattrs, uint64_t *mem)
{
        size_t pl = strlen(path) + 1, ll = link ? strlen(link) + 1 : 0, xl = xattrs ? strlen(xattrs) + 1 : 0;
        size_t total = sizeof(struct layer_tree_entry) + pl + ll + xl;
        struct layer_tree_entry *e = cb_xcalloc(1, total);
        char *p = (char *) (e + 1);
        memcpy(p, path, pl);
        e->path = p;
        p += pl;
        if (link) {
                memcpy(p, link, ll);
                e->link = p;
                p += ll;
        }
        if (xattrs) {
                memcpy(p, xattrs, xl);
                e->xattrs = p;
        }
        *mem += total;
        return e;
}

static int entry_cmp(const void *a, const void *b)
{
        const struct layer_tree_entry *x = *(struct layer_tree_entry *const *) a;
        const struct layer_tree_entry *y = *(struct layer_tree_entry *const *) b;
        int c = strcmp(x->path, y->path);
        if (c)
                return c;
        return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Sorts and keeps the last of duplicate paths (a later tar entry replaces an earlier one). */
static void tree_sort(struct layer_tree *t)
{
        if (t->n > 1)
                qsort(t->v, t->n, sizeof(*t->v), entry_cmp);
        size_t k = 0;
        for (size_t i = 0; i < t->n; i++) {
                if (i + 1 < t->n && !strcmp(t->v[i]->path, t->v[i + 1]->path)) {
                        if (t->owns)
                                free(t->v[i]);
                        continue;
                }
                t->v[k++] = t->v[i];
        }
        t->n = k;
}

int layer_tree_scan_fd(int fd, struct layer_tree **ret, struct cb_err *err)
{
        struct archive *a = archive_read_new();
        struct layer_tree *t = tree_new(true);
        int r = 0;
        (void) archive_read_support_filter_gzip(a);
        (void) archive_read_support_filter_zstd(a);
        (void) archive_read_support_filter_none(a);
        (void) archive_read_support_format_tar(a);
        if (archive_read_open_fd(a, fd, SCAN_BLOCK) != ARCHIVE_OK) {
                r = cb_failc(err, -EBADMSG, "layer: %s", archive_error_string(a));
                goto out;
        }
        struct archive_entry *ae;
        for (size_t seq = 0;; seq++) {
                int ar = archive_read_next_header(a, &ae);
                if (ar == ARCHIVE_EOF)
                        break;
                if (ar < ARCHIVE_WARN) {
                        r = cb_failc(err, -EBADMSG, "layer: %s", archive_error_string(a));
                        goto out;
                }
                const char *raw = archive_entry_pathname(ae);
                if (!raw) {
                        r = cb_failc(err, -EBADMSG, "layer: entry %zu has no name", seq);
                        goto out;
                }
                _cleanup_free_ char *path = clean_path(raw);
                if (!*path) {
                        (void) archive_read_data_skip(a);
                        continue;
                }
                _cleanup_free_ char *xattrs = entry_xattrs(ae);
                _cleanup_free_ char *hl = archive_entry_hardlink(ae) ? clean_path(archive_entry_hardlink(ae)) : NULL;
                const char *link = hl ? hl : archive_entry_symlink(ae);
                struct layer_tree_entry *e = entry_new(path, link, xattrs, &t->mem);
                e->type = entry_type(ae, path);
                e->mode = (uint32_t) archive_entry_perm(ae) | ((uint32_t) archive_entry_mode(ae) & 07000);
                e->uid = (uint32_t) archive_entry_uid(ae);
                e->gid = (uint32_t) archive_entry_gid(ae);
                e->mtime = archive_entry_mtime(ae);
                e->mtime_nsec = archive_entry_mtime_nsec(ae);
                e->seq = seq;
                if (e->type == 'c' || e->type == 'b') {
                        e->rdev_major = (uint32_t) archive_entry_rdevmajor(ae);
                        e->rdev_minor = (uint32_t) archive_entry_rdevminor(ae);
                }
                tree_push(t, e);
                if (e->type != 'f' && e->type != 'w' && e->type != 'o') {
                        (void) archive_read_data_skip(a);
                        continue;
                }
                struct cb_sha256 *h = cb_sha256_new();
                const void *buf;
                size_t len;
                int64_t off;
                uint64_t size = 0;
                while ((ar = archive_read_data_block(a, &buf, &len, &off)) == ARCHIVE_OK) {
                        /* sparse files: the holes read as zeros */
                        while ((uint64_t) off > size) {
                                size_t z = (uint64_t) off - size > sizeof(zeros) ? sizeof(zeros) : (size_t) ((uint64_t) off - size);
                                cb_sha256_update(h, zeros, z);
                                size += z;
                        }
                        cb_sha256_update(h, buf, len);
                        size += len;
                }
                if (ar != ARCHIVE_EOF) {
                        cb_sha256_free(h);
                        r = cb_failc(err, -EBADMSG, "layer: '%s': %s", path, archive_error_string(a));
                        goto out;
                }
                while (size < (uint64_t) archive_entry_size(ae)) {
                        uint64_t left = (uint64_t) archive_entry_size(ae) - size;
                        size_t z = left > sizeof(zeros) ? sizeof(zeros) : (size_t) left;
                        cb_sha256_update(h, zeros, z);
                        size += z;
                }
                e->size = size;
                cb_sha256_final(h, e->sha256);
                cb_sha256_free(h);
        }
        tree_sort(t);
        *ret = CB_TAKE_PTR(t);
out:
        (void) archive_read_free(a);
        layer_tree_free(t);
        return r;
}

/* --- flattening --- */

struct kill_set {
        char **v; /* sorted */
        size_t n;
};

static bool kill_has(const struct kill_set *k, const char *p, size_t len)
{
        size_t lo = 0, hi = k->n;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c = strncmp(k->v[mid], p, len);
                if (c == 0 && k->v[mid][len] != '\0')
                        c = 1;
                if (c == 0)
                        return true;
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return false;
}

/* Hidden by this layer: p itself is whited out, or one of its parents is whited out, opaque, or
 * replaced by something that is no directory. */
static bool hidden(const struct kill_set *self, const struct kill_set *below, const char *p)
{
        if (kill_has(self, p, strlen(p)))
                return true;
        for (const char *s = strchr(p, '/'); s; s = strchr(s + 1, '/'))
                if (kill_has(below, p, (size_t) (s - p)))
                        return true;
        return false;
}

static void kill_add(char ***v, size_t *n, char *s)
{
        *v = cb_xrealloc(*v, (*n + 1) * sizeof(char *));
        (*v)[(*n)++] = s;
}

struct layer_tree *layer_tree_flatten(struct layer_tree *const *layers, size_t n)
{
        struct layer_tree *cur = tree_new(false);
        for (size_t li = 0; li < n; li++) {
                const struct layer_tree *L = layers[li];
                struct kill_set self = { 0 }, below = { 0 };
                for (size_t i = 0; i < L->n; i++) {
                        const struct layer_tree_entry *e = L->v[i];
                        const char *slash = strrchr(e->path, '/');
                        size_t dl = slash ? (size_t) (slash - e->path) : 0;
                        if (e->type == 'w') {
                                /* "dir/.wh.name" -> "dir/name", gone with its children */
                                const char *name = (slash ? slash + 1 : e->path) + strlen(LAYER_WH_PREFIX);
                                char *t = dl ? cb_xasprintf("%.*s/%s", (int) dl, e->path, name) : cb_xstrdup(name);
                                kill_add(&self.v, &self.n, cb_xstrdup(t));
                                kill_add(&below.v, &below.n, t);
                        } else if (e->type == 'o') {
                                kill_add(&below.v, &below.n, cb_xstrndup(e->path, dl));
                        } else if (e->type != 'd') {
                                kill_add(&below.v, &below.n, cb_xstrdup(e->path));
                        }
                }
                if (self.n > 1)
                        qsort(self.v, self.n, sizeof(char *), str_cmp);
                if (below.n > 1)
                        qsort(below.v, below.n, sizeof(char *), str_cmp);
                struct layer_tree *next = tree_new(false);
                size_t i = 0, j = 0;
                while (i < cur->n || j < L->n) {
                        struct layer_tree_entry *lo = i < cur->n ? cur->v[i] : NULL;
                        struct layer_tree_entry *up = j < L->n ? L->v[j] : NULL;
                        if (up && (up->type == 'w' || up->type == 'o')) {
                                j++;
                                continue;
                        }
                        int c = !lo ? 1 : !up ? -1 : strcmp(lo->path, up->path);
                        if (lo && c < 0) {
                                if (!hidden(&self, &below, lo->path))
                                        tree_push(next, lo);
                                i++;
                        } else if (up) {
                                tree_push(next, up);
                                j++;
                                if (c == 0)
                                        i++;
                        } else {
                                break;
                        }
                }
                for (size_t k = 0; k < self.n; k++)
                        free(self.v[k]);
                for (size_t k = 0; k < below.n; k++)
                        free(below.v[k]);
                free(self.v);
                free(below.v);
                layer_tree_free(cur);
                cur = next;
        }
        for (size_t li = 0; li < n; li++)
                cur->mem += layers[li]->mem;
        return cur;
}

/* --- comparison --- */

static const char *type_name(char t)
{
        switch (t) {
        case 'f':
                return "file";
        case 'd':
                return "directory";
        case 'l':
                return "symlink";
        case 'h':
                return "hardlink";
        case 'c':
                return "char device";
        case 'b':
                return "block device";
        case 'p':
                return "fifo";
        case 'w':
                return "whiteout";
        case 'o':
                return "opaque marker";
        default:
                return "unknown";
        }
}

static size_t compare_entries(const struct layer_tree_entry *a, const struct layer_tree_entry *b,
                              layer_tree_diff_fn fn, void *ud)
{
        size_t n = 0;
        char x[64], y[64];
        if (a->type != b->type) {
                fn(ud, a->path, "type", type_name(a->type), type_name(b->type));
                return 1;
        }
        if (a->mode != b->mode) {
                (void) snprintf(x, sizeof(x), "%04o", a->mode);
                (void) snprintf(y, sizeof(y), "%04o", b->mode);
                fn(ud, a->path, "mode", x, y);
                n++;
        }
        if (a->uid != b->uid) {
                (void) snprintf(x, sizeof(x), "%" PRIu32, a->uid);
                (void) snprintf(y, sizeof(y), "%" PRIu32, b->uid);
                fn(ud, a->path, "uid", x, y);
                n++;
        }
        if (a->gid != b->gid) {
                (void) snprintf(x, sizeof(x), "%" PRIu32, a->gid);
                (void) snprintf(y, sizeof(y), "%" PRIu32, b->gid);
                fn(ud, a->path, "gid", x, y);
                n++;
        }
        if (a->size != b->size) {
                (void) snprintf(x, sizeof(x), "%" PRIu64, a->size);
                (void) snprintf(y, sizeof(y), "%" PRIu64, b->size);
                fn(ud, a->path, "size", x, y);
                n++;
        }
        if (strcmp(a->sha256, b->sha256)) {
                fn(ud, a->path, "content", a->sha256, b->sha256);
                n++;
        }
        if ((a->link || b->link) && (!a->link || !b->link || strcmp(a->link, b->link))) {
                fn(ud, a->path, "link", a->link ? a->link : "", b->link ? b->link : "");
                n++;
        }
        if ((a->xattrs || b->xattrs) && (!a->xattrs || !b->xattrs || strcmp(a->xattrs, b->xattrs))) {
                _cleanup_free_ char *xa = cb_xstrdup(a->xattrs ? a->xattrs : "");
                _cleanup_free_ char *xb = cb_xstrdup(b->xattrs ? b->xattrs : "");
                /* one line: "name=value; name=value" */
                for (char *p = xa; *p; p++)
                        if (*p == '\n')
                                *p = p[1] ? ';' : '\0';
                for (char *p = xb; *p; p++)
                        if (*p == '\n')
                                *p = p[1] ? ';' : '\0';
                fn(ud, a->path, "xattrs", xa, xb);
                n++;
        }
        if (a->mtime != b->mtime || a->mtime_nsec != b->mtime_nsec) {
                (void) snprintf(x, sizeof(x), "%" PRId64 ".%09ld", a->mtime, a->mtime_nsec);
                (void) snprintf(y, sizeof(y), "%" PRId64 ".%09ld", b->mtime, b->mtime_nsec);
                fn(ud, a->path, "mtime", x, y);
                n++;
        }
        if (a->rdev_major != b->rdev_major || a->rdev_minor != b->rdev_minor) {
                (void) snprintf(x, sizeof(x), "%" PRIu32 ":%" PRIu32, a->rdev_major, a->rdev_minor);
                (void) snprintf(y, sizeof(y), "%" PRIu32 ":%" PRIu32, b->rdev_major, b->rdev_minor);
                fn(ud, a->path, "rdev", x, y);
                n++;
        }
        return n;
}

size_t layer_tree_diff(const struct layer_tree *a, const struct layer_tree *b, layer_tree_diff_fn fn, void *ud)
{
        size_t i = 0, j = 0, n = 0;
        while (i < a->n || j < b->n) {
                const struct layer_tree_entry *x = i < a->n ? a->v[i] : NULL;
                const struct layer_tree_entry *y = j < b->n ? b->v[j] : NULL;
                int c = !x ? 1 : !y ? -1 : strcmp(x->path, y->path);
                if (x && c < 0) {
                        fn(ud, x->path, "presence", type_name(x->type), NULL);
                        n++;
                        i++;
                } else if (y && c > 0) {
                        fn(ud, y->path, "presence", NULL, type_name(y->type));
                        n++;
                        j++;
                } else if (x && y) {
                        n += compare_entries(x, y, fn, ud);
                        i++;
                        j++;
                } else {
                        break;
                }
        }
        return n;
}

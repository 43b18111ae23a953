/* `cubuild prune`: the build cache's and cache mounts' garbage collection on top of layers/gc.c. */
#include "builder/prune.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "builder/audit.h"
#include "builder/cache.h"

static uint64_t du_fd(int fd, unsigned depth)
{
        uint64_t bytes = 0;
        DIR *d = fdopendir(fd);
        if (!d) {
                (void) close(fd);
                return 0;
        }
        struct dirent *de;
        while ((de = readdir(d))) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                        continue;
                struct stat sb;
                if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                bytes += (uint64_t) sb.st_blocks * 512;
                if (S_ISDIR(sb.st_mode) && depth < 64) {
                        int c = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (c >= 0)
                                bytes += du_fd(c, depth + 1);
                }
        }
        (void) closedir(d);
        return bytes;
}

/* Allocated bytes of dir_fd/path, itself included (0 when absent). */
static uint64_t du(int dir_fd, const char *path)
{
        struct stat sb;
        if (fstatat(dir_fd, path, &sb, AT_SYMLINK_NOFOLLOW) < 0)
                return 0;
        uint64_t bytes = (uint64_t) sb.st_blocks * 512;
        if (S_ISDIR(sb.st_mode)) {
                int fd = openat(dir_fd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd >= 0)
                        bytes += du_fd(fd, 0);
        }
        return bytes;
}

uint64_t bld_store_total(struct layer_store *s)
{
        static const char *const parts[] = { "blobs", "layers", "cache", "cache-mounts" };
        uint64_t t = 0;
        for (size_t i = 0; i < CB_ARRAY_SIZE(parts); i++)
                t += du(layer_store_root_fd(s), parts[i]);
        return t;
}

/* A removable entry: a cache record (digest set when it is valid) or a cache mount dir. */
struct cand {
        char *path; /* relative to the store root */
        bool mount;
        int64_t mtime_ns;
        uint64_t own_bytes; /* the record file, or the mount dir */
        char digest[CB_DIGEST_STR_LEN], diff_id[CB_DIGEST_STR_LEN];
        bool removed;
};

struct cands {
        struct cand *v;
        size_t n, cap;
};

static void cands_release(struct cands *c)
{
        for (size_t i = 0; i < c->n; i++)
                free(c->v[i].path);
        free(c->v);
}

static struct cand *cands_add(struct cands *c)
{
        if (c->n == c->cap) {
                c->cap = c->cap ? c->cap * 2 : 32;
                c->v = cb_xrealloc(c->v, c->cap * sizeof(*c->v));
        }
        struct cand *x = &c->v[c->n++];
        memset(x, 0, sizeof(*x));
        return x;
}

static int list_dir(struct layer_store *s, const char *dir, bool mounts, struct cands *c, struct cb_err *err)
{
        int fd = openat(layer_store_root_fd(s), dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : cb_fail(err, errno, "open '%s'", dir);
        DIR *d = fdopendir(fd);
        if (!d) {
                int e = errno;
                (void) close(fd);
                return cb_fail(err, e, "open '%s'", dir);
        }
        struct dirent *de;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                if (!mounts && strlen(de->d_name) != CB_SHA256_HEX_LEN)
                        continue; /* not a record (e.g. a temporary file of an atomic write) */
                struct stat sb;
                if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                struct cand *x = cands_add(c);
                x->path = cb_xasprintf("%s/%s", dir, de->d_name);
                x->mount = mounts;
                x->mtime_ns = (int64_t) sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
                x->own_bytes = mounts ? du(layer_store_root_fd(s), x->path) : (uint64_t) sb.st_blocks * 512;
                if (!mounts) {
                        char key[CB_DIGEST_STR_LEN];
                        struct bld_cache_entry e;
                        (void) snprintf(key, sizeof(key), "sha256:%.64s", de->d_name);
                        if (bld_cache_get(s, key, &e)) {
                                memcpy(x->digest, e.layer.digest, CB_DIGEST_STR_LEN);
                                memcpy(x->diff_id, e.layer.diff_id, CB_DIGEST_STR_LEN);
                        }
                }
        }
        (void) closedir(d);
        return 0;
}

static int cmp_lru(const void *a, const void *b)
{
        const struct cand *x = a, *y = b;
        if (x->mtime_ns != y->mtime_ns)
                return x->mtime_ns < y->mtime_ns ? -1 : 1;
        return strcmp(x->path, y->path);
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Digests of the layers (blobs and diff_ids) of every tagged image; sorted. Unreadable images add nothing. */
static void image_layers(struct layer_store *s, char ***ret, size_t *ret_n)
{
        struct layer_image_entry *ents = NULL;
        size_t n = 0, cap = 0;
        struct cb_err e;
        cb_err_init(&e);
        *ret = NULL;
        *ret_n = 0;
        if (layer_store_list(s, &ents, &n, &e) < 0) {
                cb_err_release(&e);
                return;
        }
        for (size_t i = 0; i < n; i++) {
                struct layer_image *img = NULL;
                cb_err_reset(&e);
                if (layer_image_read(s, ents[i].manifest_digest, &img, &e) < 0)
                        continue;
                for (size_t k = 0; k < img->nlayers; k++) {
                        if (*ret_n + 2 > cap) {
                                cap = cap ? cap * 2 : 64;
                                *ret = cb_xrealloc(*ret, cap * sizeof(char *));
                        }
                        (*ret)[(*ret_n)++] = cb_xstrdup(img->layers[k].digest);
                        (*ret)[(*ret_n)++] = cb_xstrdup(img->layers[k].diff_id);
                }
                layer_image_free(img);
        }
        cb_err_release(&e);
        layer_image_entries_free(ents, n);
        if (*ret_n > 1)
                qsort(*ret, *ret_n, sizeof(char *), cmp_str);
}

static bool in_sorted(char **v, size_t n, const char *s)
{
        return n && bsearch(&s, v, n, sizeof(char *), cmp_str) != NULL;
}

/* Bytes that removing record x frees now: its file, plus its layer's blob and unpacked dir when no
 * tagged image and no other remaining record uses that layer. */
static uint64_t freed_by(struct layer_store *s, const struct cands *c, size_t x, char **img, size_t nimg)
{
        const struct cand *r = &c->v[x];
        uint64_t b = r->own_bytes;
        if (r->mount || !r->digest[0] || in_sorted(img, nimg, r->digest))
                return b;
        for (size_t i = 0; i < c->n; i++)
                if (i != x && !c->v[i].removed && !c->v[i].mount && !strcmp(c->v[i].digest, r->digest))
                        return b;
        _cleanup_free_ char *blob = cb_xasprintf("blobs/sha256/%s", r->digest + 7);
        _cleanup_free_ char *dir = cb_xasprintf("layers/%s", r->diff_id + 7);
        return b + du(layer_store_root_fd(s), blob) + du(layer_store_root_fd(s), dir);
}

int bld_prune(struct layer_store *s, const struct bld_prune_opts *o, struct bld_prune_stats *ret, struct cb_err *err)
{
        struct bld_prune_stats st = { 0 };
        struct cands c = { 0 };
        char **keep = NULL, **img = NULL;
        size_t nkeep = 0, nimg = 0;
        int r = 0;
        bool gc = o->cache || o->has_keep_storage;
        /* the attestations of images that are gone go with them (docs/audit.md) */
        if ((r = bld_referrers_prune(s, err)) < 0)
                goto out;
        if (gc) {
                /* first the plain sweep, so that the total counts only what images and the cache keep */
                if ((r = bld_cache_layers(s, &keep, &nkeep, err)) < 0 ||
                    (r = layer_store_prune(s, (const char *const *) keep, nkeep, &st.layers, err)) < 0)
                        goto out;
                for (size_t i = 0; i < nkeep; i++)
                        free(keep[i]);
                free(keep);
                keep = NULL;
                nkeep = 0;
                st.total_before = bld_store_total(s);
                if ((r = list_dir(s, "cache", false, &c, err)) < 0 || (r = list_dir(s, "cache-mounts", true, &c, err)) < 0)
                        goto out;
                if (c.n > 1)
                        qsort(c.v, c.n, sizeof(*c.v), cmp_lru);
                if (o->has_keep_storage)
                        image_layers(s, &img, &nimg);
                struct timespec now;
                (void) clock_gettime(CLOCK_REALTIME, &now);
                int64_t now_ns = (int64_t) now.tv_sec * 1000000000 + now.tv_nsec;
                uint64_t total = st.total_before;
                for (size_t i = 0; i < c.n; i++) {
                        struct cand *x = &c.v[i];
                        if (o->until_ns > 0 && now_ns - x->mtime_ns < o->until_ns)
                                continue; /* used too recently */
                        if (o->has_keep_storage && total <= o->keep_storage)
                                break;
                        uint64_t f = o->has_keep_storage ? freed_by(s, &c, i, img, nimg) : 0;
                        r = x->mount ? cb_rm_rf(layer_store_root_fd(s), x->path, err)
                                     : (unlinkat(layer_store_root_fd(s), x->path, 0) < 0 && errno != ENOENT
                                                ? cb_fail(err, errno, "remove '%s'", x->path)
                                                : 0);
                        if (r < 0)
                                goto out;
                        x->removed = true;
                        total = total > f ? total - f : 0;
                        if (x->mount)
                                st.mounts_removed++;
                        else
                                st.records_removed++;
                }
        }
        /* the layers the remaining records keep stay; the rest goes */
        struct layer_prune_stats ls = { 0 };
        if ((r = bld_cache_layers(s, &keep, &nkeep, err)) < 0 ||
            (r = layer_store_prune(s, (const char *const *) keep, nkeep, &ls, err)) < 0)
                goto out;
        st.layers.blobs_removed += ls.blobs_removed;
        st.layers.bytes_removed += ls.bytes_removed;
        st.layers.layers_removed += ls.layers_removed;
        if (gc) /* a walk of the whole store: only where it is reported */
                st.total_after = bld_store_total(s);
out:
        for (size_t i = 0; i < nkeep; i++)
                free(keep[i]);
        free(keep);
        for (size_t i = 0; i < nimg; i++)
                free(img[i]);
        free(img);
        cands_release(&c);
        if (r >= 0 && ret)
                *ret = st;
        return r;
}

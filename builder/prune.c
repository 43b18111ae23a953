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

/* The layer blobs and the diff_ids of every tagged image, each sorted: what the layer sweep keeps for
 * images (blobs/ by digest, layers/ by diff_id). Unreadable images add nothing. */
struct pins {
        char **blobs, **dirs;
        size_t nblobs, ndirs, cblobs, cdirs;
};

static void pin_add(char ***v, size_t *n, size_t *cap, const char *s)
{
        if (*n == *cap) {
                *cap = *cap ? *cap * 2 : 64;
                *v = cb_xrealloc(*v, *cap * sizeof(char *));
        }
        (*v)[(*n)++] = cb_xstrdup(s);
}

static void pins_release(struct pins *p)
{
        for (size_t i = 0; i < p->nblobs; i++)
                free(p->blobs[i]);
        for (size_t i = 0; i < p->ndirs; i++)
                free(p->dirs[i]);
        free(p->blobs);
        free(p->dirs);
}

static void image_pins(struct layer_store *s, const struct bld_prune_opts *o, struct pins *p)
{
        struct layer_image_entry *ents = NULL;
        size_t n = 0;
        struct cb_err e;
        cb_err_init(&e);
        if (layer_store_list(s, &ents, &n, &e) < 0)
                n = 0;
        for (size_t i = 0; i < n; i++) {
                struct layer_image *img = NULL;
                cb_err_reset(&e);
                if (layer_image_read(s, ents[i].manifest_digest, &img, &e) < 0)
                        continue;
                for (size_t k = 0; k < img->nlayers; k++) {
                        pin_add(&p->blobs, &p->nblobs, &p->cblobs, img->layers[k].digest);
                        pin_add(&p->dirs, &p->ndirs, &p->cdirs, img->layers[k].diff_id);
                }
                layer_image_free(img);
        }
        cb_err_release(&e);
        layer_image_entries_free(ents, n);
        /* the layer sweep keeps what o->keep names both as a blob and as an unpacked layer */
        for (size_t i = 0; i < o->nkeep; i++) {
                pin_add(&p->blobs, &p->nblobs, &p->cblobs, o->keep[i]);
                pin_add(&p->dirs, &p->ndirs, &p->cdirs, o->keep[i]);
        }
        if (p->nblobs > 1)
                qsort(p->blobs, p->nblobs, sizeof(char *), cmp_str);
        if (p->ndirs > 1)
                qsort(p->dirs, p->ndirs, sizeof(char *), cmp_str);
}

static bool in_sorted(char **v, size_t n, const char *s)
{
        return n && bsearch(&s, v, n, sizeof(char *), cmp_str) != NULL;
}

/* Bytes that removing record x frees, counted as the layer sweep after it frees them. The sweep keeps
 * a blob that an image references or a remaining record names, and an unpacked layers/<name>/ whose
 * name is an image's diff_id or a remaining record's digest (layers/gc.c adds each kept digest to
 * both sets). So the record's own layer D frees blobs/D unless pinned or shared, and layers/D (only
 * there for an uncompressed layer, where D is its diff_id) likewise; layers/<diff_id> of a compressed
 * D is an image's if it is still there, and stays. */
static uint64_t freed_by(struct layer_store *s, const struct cands *c, size_t x, const struct pins *p)
{
        const struct cand *r = &c->v[x];
        uint64_t b = r->own_bytes;
        if (r->mount || !r->digest[0])
                return b;
        for (size_t i = 0; i < c->n; i++)
                if (i != x && !c->v[i].removed && !c->v[i].mount && !strcmp(c->v[i].digest, r->digest))
                        return b;
        if (!in_sorted(p->blobs, p->nblobs, r->digest)) {
                _cleanup_free_ char *blob = cb_xasprintf("blobs/sha256/%s", r->digest + 7);
                b += du(layer_store_root_fd(s), blob);
        }
        if (!in_sorted(p->dirs, p->ndirs, r->digest)) {
                _cleanup_free_ char *dir = cb_xasprintf("layers/%s", r->digest + 7);
                b += du(layer_store_root_fd(s), dir);
        }
        return b;
}

static void strv_free(char **v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

/* The layer sweep, keeping the layers of the remaining cache records and o->keep. */
static int sweep(struct layer_store *s, const struct bld_prune_opts *o, struct layer_prune_stats *ret,
                 struct cb_err *err)
{
        char **keep = NULL;
        size_t nkeep = 0;
        int r = bld_cache_layers(s, &keep, &nkeep, err);
        if (r < 0)
                return r;
        if (o->nkeep) {
                keep = cb_xrealloc(keep, (nkeep + o->nkeep) * sizeof(char *));
                for (size_t i = 0; i < o->nkeep; i++)
                        keep[nkeep++] = cb_xstrdup(o->keep[i]);
        }
        struct layer_prune_stats ls = { 0 };
        r = layer_store_prune(s, (const char *const *) keep, nkeep, &ls, err);
        strv_free(keep, nkeep);
        if (r >= 0) {
                ret->blobs_removed += ls.blobs_removed;
                ret->bytes_removed += ls.bytes_removed;
                ret->layers_removed += ls.layers_removed;
        }
        return r;
}

static int remove_cand(struct layer_store *s, struct cand *x, struct bld_prune_stats *st, struct cb_err *err)
{
        int r = x->mount ? cb_rm_rf(layer_store_root_fd(s), x->path, err)
                         : (unlinkat(layer_store_root_fd(s), x->path, 0) < 0 && errno != ENOENT
                                    ? cb_fail(err, errno, "remove '%s'", x->path)
                                    : 0);
        if (r < 0)
                return r;
        x->removed = true;
        if (x->mount)
                st->mounts_removed++;
        else
                st->records_removed++;
        return 0;
}

/* Passes of remove-then-measure: the count above is exact for the store as the sweep leaves it, so
 * one pass normally suffices; a second covers what changed under us (a concurrent writer of
 * cache-mounts/, a record whose blob vanished). */
#define PRUNE_PASSES 4

int bld_prune(struct layer_store *s, const struct bld_prune_opts *o, struct bld_prune_stats *ret, struct cb_err *err)
{
        struct bld_prune_stats st = { 0 };
        struct cands c = { 0 };
        struct pins p = { 0 };
        int r = 0;
        bool gc = o->cache || o->has_keep_storage;
        /* the attestations of images that are gone go with them (docs/audit.md); not after a build,
         * whose image may have no name yet keeps its attestations (o->keep) */
        if (!o->nkeep && (r = bld_referrers_prune(s, err)) < 0)
                goto out;
        if (!gc) {
                r = sweep(s, o, &st.layers, err);
                goto out;
        }
        /* first the plain sweep, so that the total counts only what images and the cache keep */
        if ((r = sweep(s, o, &st.layers, err)) < 0)
                goto out;
        st.total_before = bld_store_total(s);
        if ((r = list_dir(s, "cache", false, &c, err)) < 0 || (r = list_dir(s, "cache-mounts", true, &c, err)) < 0)
                goto out;
        if (c.n > 1)
                qsort(c.v, c.n, sizeof(*c.v), cmp_lru);
        if (o->has_keep_storage)
                image_pins(s, o, &p);
        struct timespec now;
        (void) clock_gettime(CLOCK_REALTIME, &now);
        int64_t now_ns = (int64_t) now.tv_sec * 1000000000 + now.tv_nsec;
        uint64_t total = st.total_before;
        size_t next = 0;
        for (unsigned pass = 0; pass < PRUNE_PASSES; pass++) {
                for (; next < c.n; next++) {
                        struct cand *x = &c.v[next];
                        if (o->until_ns > 0 && now_ns - x->mtime_ns < o->until_ns)
                                continue; /* used too recently */
                        if (o->has_keep_storage && total <= o->keep_storage)
                                break;
                        uint64_t f = o->has_keep_storage ? freed_by(s, &c, next, &p) : 0;
                        if ((r = remove_cand(s, x, &st, err)) < 0)
                                goto out;
                        total = total > f ? total - f : 0;
                }
                /* the layers the remaining records keep stay; the rest goes */
                if ((r = sweep(s, o, &st.layers, err)) < 0)
                        goto out;
                st.total_after = bld_store_total(s);
                if (!o->has_keep_storage || st.total_after <= o->keep_storage || next >= c.n)
                        break;
                total = st.total_after;
        }
out:
        pins_release(&p);
        cands_release(&c);
        if (r >= 0 && ret)
                *ret = st;
        return r;
}

int bld_prune_budget(struct layer_store *s, uint64_t budget, const char *manifest_digest, struct bld_prune_stats *ret,
                     struct cb_err *err)
{
        struct layer_image *img = NULL;
        int r = layer_image_read(s, manifest_digest, &img, err);
        if (r < 0)
                return r;
        char **keep = cb_xcalloc(2 + 2 * img->nlayers, sizeof(char *));
        size_t n = 0;
        keep[n++] = cb_xstrdup(manifest_digest);
        keep[n++] = cb_xstrdup(img->config_digest);
        for (size_t i = 0; i < img->nlayers; i++) {
                keep[n++] = cb_xstrdup(img->layers[i].digest);
                keep[n++] = cb_xstrdup(img->layers[i].diff_id);
        }
        layer_image_free(img);
        struct bld_prune_opts o = {
                .has_keep_storage = true, .keep_storage = budget, .keep = (const char *const *) keep, .nkeep = n
        };
        r = bld_prune(s, &o, ret, err);
        strv_free(keep, n);
        return r;
}

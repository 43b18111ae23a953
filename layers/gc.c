/* Store maintenance: rm, prune (mark from tags, sweep blobs and unpacked layers), inspect. */
#include "layers/layer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layers/internal.h"

static const char *ref_of(json_t *e)
{
        return json_string_value(json_object_get(json_object_get(e, "annotations"), LAYER_ANNOTATION_REF_NAME));
}

int layer_store_rm(struct layer_store *s, const char *name_or_digest, struct cb_err *err)
{
        char md[CB_DIGEST_STR_LEN];
        int r = layer_store_resolve(s, name_or_digest, md, err);
        if (r < 0)
                return r;
        _cleanup_json_ json_t *idx = NULL;
        if ((r = layer_index_load(s, &idx, err)) < 0)
                return r;
        /* a tag: only that tag (docker rmi NAME keeps other tags of the same image) */
        json_t *ms = json_object_get(idx, "manifests");
        size_t i;
        json_t *e;
        bool by_tag = false;
        json_array_foreach(ms, i, e)
        {
                const char *n = ref_of(e);
                if (n && !strcmp(n, name_or_digest))
                        by_tag = true;
        }
        if (by_tag) {
                if ((r = layer_store_untag(s, name_or_digest, err)) < 0)
                        return r;
        } else {
                json_array_foreach(ms, i, e)
                {
                        const char *n = ref_of(e);
                        const char *d = json_string_value(json_object_get(e, "digest"));
                        if (n && d && !strcmp(d, md) && (r = layer_store_untag(s, n, err)) < 0 && r != -ENOENT)
                                return r;
                }
        }
        json_decref(idx);
        idx = NULL;
        /* the check and the unlink under the index lock: a concurrent tag of this manifest either lands first
         * (and we keep the blob) or after (and fails cleanly: tagging needs the manifest blob) */
        _cleanup_close_ int lfd = layer_index_lock(s, LOCK_EX, err);
        if (lfd < 0)
                return lfd;
        if ((r = layer_index_load(s, &idx, err)) < 0)
                return r;
        json_array_foreach(json_object_get(idx, "manifests"), i, e)
        {
                const char *d = json_string_value(json_object_get(e, "digest"));
                if (d && !strcmp(d, md))
                        return 0; /* still tagged */
        }
        if (unlinkat(s->blobs_fd, md + 7, 0) < 0 && errno != ENOENT)
                return cb_fail(err, errno, "remove '%s'", md);
        return 0;
}

/* ---- prune ---- */

struct dset {
        char **v;
        size_t n, cap;
};

static void dset_add(struct dset *d, const char *s)
{
        if (!s || !cb_digest_valid(s))
                return;
        if (d->n == d->cap) {
                d->cap = d->cap ? d->cap * 2 : 64;
                d->v = cb_xrealloc(d->v, d->cap * sizeof(char *));
        }
        d->v[d->n++] = cb_xstrdup(s + 7);
}

static int cmp_s(const void *a, const void *b)
{
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static void dset_sort(struct dset *d)
{
        if (d->n > 1)
                qsort(d->v, d->n, sizeof(char *), cmp_s);
}

static bool dset_has(const struct dset *d, const char *hex)
{
        return d->n && bsearch(&hex, d->v, d->n, sizeof(char *), cmp_s) != NULL;
}

static void dset_release(struct dset *d)
{
        for (size_t i = 0; i < d->n; i++)
                free(d->v[i]);
        free(d->v);
}

/* Marks a manifest (or index) and what it references. Unreadable blobs are kept as they are. */
static void mark(struct layer_store *s, const char *digest, struct dset *blobs, struct dset *diffs, unsigned depth)
{
        dset_add(blobs, digest);
        if (depth > 4)
                return;
        json_t *m = NULL;
        struct cb_err e;
        cb_err_init(&e);
        if (layer_store_read_json(s, digest, &m, &e) < 0) {
                cb_err_release(&e);
                return;
        }
        cb_err_release(&e);
        size_t i;
        json_t *x;
        json_array_foreach(json_object_get(m, "manifests"), i, x)
                mark(s, json_string_value(json_object_get(x, "digest")), blobs, diffs, depth + 1);
        const char *cd = json_string_value(json_object_get(json_object_get(m, "config"), "digest"));
        dset_add(blobs, cd);
        json_array_foreach(json_object_get(m, "layers"), i, x)
                dset_add(blobs, json_string_value(json_object_get(x, "digest")));
        if (cd && cb_digest_valid(cd)) {
                json_t *c = NULL;
                cb_err_init(&e);
                if (layer_store_read_json(s, cd, &c, &e) == 0) {
                        json_array_foreach(json_object_get(json_object_get(c, "rootfs"), "diff_ids"), i, x)
                                dset_add(diffs, json_string_value(x));
                        json_decref(c);
                }
                cb_err_release(&e);
        }
        json_decref(m);
}

static bool keep_diff(void *ud, const char *hex)
{
        return dset_has(ud, hex);
}

static int sweep(int dfd, const struct dset *keep, bool dirs, struct layer_prune_stats *st, struct cb_err *err)
{
        int fd = fcntl(dfd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return cb_fail(err, errno, "dup");
        DIR *d = fdopendir(fd);
        if (!d) {
                int e = errno;
                (void) close(fd);
                return cb_fail(err, e, "opendir");
        }
        rewinddir(d);
        struct dirent *de;
        int r = 0;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.' || dset_has(keep, de->d_name))
                        continue;
                if (dirs) {
                        r = cb_rm_rf(dfd, de->d_name, err);
                        if (r < 0)
                                break;
                        st->layers_removed++;
                } else {
                        struct stat sb;
                        if (fstatat(dfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
                                continue;
                        if (unlinkat(dfd, de->d_name, 0) < 0) {
                                r = cb_fail(err, errno, "remove blob '%s'", de->d_name);
                                break;
                        }
                        st->blobs_removed++;
                        st->bytes_removed += (uint64_t) sb.st_size;
                }
        }
        (void) closedir(d);
        return r;
}

int layer_store_prune(struct layer_store *s, const char *const *keep, size_t nkeep, struct layer_prune_stats *ret,
                      struct cb_err *err)
{
        /* our own shared lock converts to exclusive only when no other process holds the store */
        if (flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0) {
                int e = errno;
                (void) flock(s->lock_fd, LOCK_SH);
                if (e == EWOULDBLOCK)
                        return cb_failc(err, -EBUSY, "store '%s' is in use by another process; prune later", s->root);
                return cb_fail(err, e, "lock '%s/lock'", s->root);
        }
        struct layer_prune_stats st = { 0 };
        struct dset blobs = { 0 }, diffs = { 0 };
        _cleanup_json_ json_t *idx = NULL;
        int r = layer_index_load(s, &idx, err);
        if (r == 0) {
                size_t i;
                json_t *e;
                json_array_foreach(json_object_get(idx, "manifests"), i, e)
                        mark(s, json_string_value(json_object_get(e, "digest")), &blobs, &diffs, 0);
                for (size_t k = 0; k < nkeep; k++) {
                        dset_add(&blobs, keep[k]);
                        dset_add(&diffs, keep[k]);
                }
                dset_sort(&blobs);
                dset_sort(&diffs);
                r = sweep(s->blobs_fd, &blobs, false, &st, err);
                if (r == 0)
                        r = sweep(s->layers_fd, &diffs, true, &st, err);
                if (r == 0)
                        r = layer_dirlayers_sweep(s, keep_diff, &diffs, err);
                if (r > 0)
                        r = 0;
                if (r == 0 && (fsync(s->blobs_fd) < 0 && errno != EINVAL))
                        r = cb_fail(err, errno, "fsync blobs");
        }
        dset_release(&blobs);
        dset_release(&diffs);
        (void) flock(s->lock_fd, LOCK_SH);
        if (r < 0) {
                cb_wrap(err, "prune");
                return r;
        }
        if (ret)
                *ret = st;
        return 0;
}

int layer_store_inspect(struct layer_store *s, const char *name_or_digest, json_t **ret, struct cb_err *err)
{
        char md[CB_DIGEST_STR_LEN];
        int r = layer_store_resolve(s, name_or_digest, md, err);
        if (r < 0)
                return r;
        struct layer_image *img = NULL;
        if ((r = layer_image_read(s, md, &img, err)) < 0)
                return r;
        _cleanup_json_ json_t *idx = NULL;
        if ((r = layer_index_load(s, &idx, err)) < 0) {
                layer_image_free(img);
                return r;
        }
        json_t *tags = json_array();
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(idx, "manifests"), i, e)
        {
                const char *d = json_string_value(json_object_get(e, "digest"));
                const char *n = ref_of(e);
                if (n && d && !strcmp(d, md))
                        (void) json_array_append_new(tags, json_string(n));
        }
        uint64_t size = layer_store_blob_size(s, md) + layer_store_blob_size(s, img->config_digest);
        for (size_t k = 0; k < img->nlayers; k++)
                size += img->layers[k].size;
        json_t *c = img->config;
        json_t *o = json_pack("{s:s, s:s, s:o, s:I, s:O?, s:O?, s:O?, s:O, s:O}", "Id", img->config_digest, "Digest",
                              md, "RepoTags", tags, "Size", (json_int_t) size, "Created", json_object_get(c, "created"),
                              "Architecture", json_object_get(c, "architecture"), "Os", json_object_get(c, "os"),
                              "Manifest", img->manifest, "Config", c);
        layer_image_free(img);
        if (!o)
                return cb_failc(err, -ENOMEM, "cannot build inspect output");
        *ret = o;
        return 0;
}

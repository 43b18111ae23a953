/* Tags: index.json at the store root, an OCI image index whose entries carry the tag as
 * org.opencontainers.image.ref.name. Updates are read-modify-write under an exclusive flock on "index.lock"
 * and land with an atomic rename, so concurrent processes neither lose tags nor see half a file. */
#include "layers/layer.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "layers/internal.h"

int layer_index_lock(struct layer_store *s, int op, struct cb_err *err)
{
        int fd = openat(s->root_fd, "index.lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return cb_fail(err, errno, "open '%s/index.lock'", s->root);
        while (flock(fd, op) < 0) {
                if (errno == EINTR)
                        continue;
                int e = errno;
                (void) close(fd);
                return cb_fail(err, e, "lock '%s/index.lock'", s->root);
        }
        return fd;
}

int layer_index_load(struct layer_store *s, json_t **ret, struct cb_err *err)
{
        struct cb_buf b;
        cb_buf_init(&b, LAYER_JSON_MAX);
        int r = cb_read_file(s->root_fd, "index.json", LAYER_JSON_MAX, &b, err);
        json_t *j = NULL;
        if (r == -ENOENT) {
                cb_err_reset(err);
                j = json_pack("{s:i, s:s, s:[]}", "schemaVersion", 2, "mediaType", LAYER_MT_OCI_INDEX, "manifests");
        } else if (r < 0) {
                cb_buf_release(&b);
                return r;
        } else {
                json_error_t je;
                j = json_loadb(b.p, b.len, 0, &je);
                if (!j || !json_is_object(j) || !json_is_array(json_object_get(j, "manifests"))) {
                        cb_buf_release(&b);
                        if (j)
                                json_decref(j);
                        return cb_failc(err, -EBADMSG, "'%s/index.json' is not an OCI index", s->root);
                }
        }
        cb_buf_release(&b);
        *ret = j;
        return 0;
}

static int index_save(struct layer_store *s, json_t *j, struct cb_err *err)
{
        _cleanup_free_ char *text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
        if (!text)
                return cb_failc(err, -ENOMEM, "cannot serialise index");
        return cb_write_file_atomic(s->root_fd, "index.json", text, strlen(text), 0644, err);
}

static const char *entry_name(json_t *e)
{
        return json_string_value(json_object_get(json_object_get(e, "annotations"), LAYER_ANNOTATION_REF_NAME));
}

int layer_store_tag(struct layer_store *s, const char *name, const char *manifest_digest, struct cb_err *err)
{
        if (!name || !name[0])
                return cb_failc(err, -EINVAL, "empty tag");
        _cleanup_json_ json_t *m = NULL;
        int r = layer_store_read_json(s, manifest_digest, &m, err);
        if (r < 0) {
                cb_wrap(err, "tag '%s'", name);
                return r;
        }
        uint64_t size = 0;
        {
                _cleanup_close_ int bfd = layer_store_open_blob(s, manifest_digest, &size, err);
                if (bfd < 0)
                        return bfd;
        }
        const char *mt = json_string_value(json_object_get(m, "mediaType"));
        _cleanup_close_ int lfd = layer_index_lock(s, LOCK_EX, err);
        if (lfd < 0)
                return lfd;
        /* again under the lock: layer_store_rm() deletes untagged manifests under it */
        if (!layer_store_has_blob(s, manifest_digest))
                return cb_failc(err, -ENOENT, "tag '%s': manifest '%s' was removed", name, manifest_digest);
        _cleanup_json_ json_t *idx = NULL;
        r = layer_index_load(s, &idx, err);
        if (r < 0)
                return r;
        json_t *ms = json_object_get(idx, "manifests");
        size_t i;
        json_t *e;
        json_array_foreach(ms, i, e)
        {
                const char *n = entry_name(e);
                if (n && !strcmp(n, name)) {
                        (void) json_array_remove(ms, i);
                        break;
                }
        }
        json_t *ne = json_pack("{s:s, s:s, s:I, s:{s:s}}", "mediaType", mt ? mt : LAYER_MT_OCI_MANIFEST, "digest",
                               manifest_digest, "size", (json_int_t) size, "annotations", LAYER_ANNOTATION_REF_NAME, name);
        if (!ne)
                return cb_failc(err, -ENOMEM, "tag '%s': cannot build index entry", name);
        (void) json_array_append_new(ms, ne);
        r = index_save(s, idx, err);
        if (r < 0)
                cb_wrap(err, "tag '%s'", name);
        return r;
}

int layer_store_untag(struct layer_store *s, const char *name, struct cb_err *err)
{
        _cleanup_close_ int lfd = layer_index_lock(s, LOCK_EX, err);
        if (lfd < 0)
                return lfd;
        _cleanup_json_ json_t *idx = NULL;
        int r = layer_index_load(s, &idx, err);
        if (r < 0)
                return r;
        json_t *ms = json_object_get(idx, "manifests");
        size_t i;
        json_t *e;
        json_array_foreach(ms, i, e)
        {
                const char *n = entry_name(e);
                if (n && !strcmp(n, name)) {
                        (void) json_array_remove(ms, i);
                        return index_save(s, idx, err);
                }
        }
        return cb_failc(err, -ENOENT, "no image tagged '%s'", name);
}

static bool is_hex(const char *p)
{
        if (!*p)
                return false;
        for (; *p; p++)
                if (!isxdigit((unsigned char) *p) || isupper((unsigned char) *p))
                        return false;
        return true;
}

int layer_store_resolve(struct layer_store *s, const char *name_or_digest, char ret_manifest_digest[CB_DIGEST_STR_LEN],
                        struct cb_err *err)
{
        const char *q = name_or_digest;
        if (!q || !q[0])
                return cb_failc(err, -EINVAL, "empty image name");
        _cleanup_json_ json_t *idx = NULL;
        {
                _cleanup_close_ int lfd = layer_index_lock(s, LOCK_SH, err);
                if (lfd < 0)
                        return lfd;
                int r = layer_index_load(s, &idx, err);
                if (r < 0)
                        return r;
        }
        json_t *ms = json_object_get(idx, "manifests");
        size_t i;
        json_t *e;
        json_array_foreach(ms, i, e)
        {
                const char *n = entry_name(e);
                const char *d = json_string_value(json_object_get(e, "digest"));
                if (n && d && !strcmp(n, q) && cb_digest_valid(d)) {
                        memcpy(ret_manifest_digest, d, CB_DIGEST_STR_LEN);
                        return 0;
                }
        }
        if (cb_digest_valid(q)) {
                if (!layer_store_has_blob(s, q))
                        return cb_failc(err, -ENOENT, "no image '%s' in the store", q);
                memcpy(ret_manifest_digest, q, CB_DIGEST_STR_LEN);
                return 0;
        }
        const char *hex = !strncmp(q, "sha256:", 7) ? q + 7 : q;
        size_t hl = strlen(hex);
        if (hl < 12 || hl > CB_SHA256_HEX_LEN || !is_hex(hex))
                return cb_failc(err, -ENOENT, "no image '%s' in the store", q);
        /* prefixes match the manifests the index knows first, then any blob (an untagged image) */
        char found[CB_DIGEST_STR_LEN] = "";
        json_array_foreach(ms, i, e)
        {
                const char *d = json_string_value(json_object_get(e, "digest"));
                if (!d || !cb_digest_valid(d) || strncmp(d + 7, hex, hl) != 0)
                        continue;
                if (found[0] && strcmp(found, d) != 0)
                        return cb_failc(err, -EINVAL, "image id prefix '%s' is ambiguous", q);
                memcpy(found, d, CB_DIGEST_STR_LEN);
        }
        if (!found[0]) {
                int fd = fcntl(s->blobs_fd, F_DUPFD_CLOEXEC, 3);
                if (fd < 0)
                        return cb_fail(err, errno, "dup");
                DIR *dir = fdopendir(fd);
                if (!dir) {
                        int en = errno;
                        (void) close(fd);
                        return cb_fail(err, en, "opendir blobs");
                }
                rewinddir(dir);
                struct dirent *de;
                int amb = 0;
                while ((de = readdir(dir))) {
                        if (strlen(de->d_name) != CB_SHA256_HEX_LEN || strncmp(de->d_name, hex, hl) != 0)
                                continue;
                        if (found[0]) {
                                amb = 1;
                                break;
                        }
                        memcpy(found, "sha256:", 7);
                        memcpy(found + 7, de->d_name, CB_SHA256_HEX_LEN + 1);
                }
                (void) closedir(dir);
                if (amb)
                        return cb_failc(err, -EINVAL, "image id prefix '%s' is ambiguous", q);
        }
        if (!found[0])
                return cb_failc(err, -ENOENT, "no image '%s' in the store", q);
        memcpy(ret_manifest_digest, found, CB_DIGEST_STR_LEN);
        return 0;
}

static int cmp_entry(const void *a, const void *b)
{
        const struct layer_image_entry *x = a, *y = b;
        return strcmp(x->name, y->name);
}

int layer_store_list(struct layer_store *s, struct layer_image_entry **ret, size_t *ret_n, struct cb_err *err)
{
        _cleanup_json_ json_t *idx = NULL;
        {
                _cleanup_close_ int lfd = layer_index_lock(s, LOCK_SH, err);
                if (lfd < 0)
                        return lfd;
                int r = layer_index_load(s, &idx, err);
                if (r < 0)
                        return r;
        }
        json_t *ms = json_object_get(idx, "manifests");
        size_t n = 0, i;
        struct layer_image_entry *v = cb_xcalloc(json_array_size(ms) + 1, sizeof(*v));
        json_t *e;
        json_array_foreach(ms, i, e)
        {
                const char *name = entry_name(e);
                const char *d = json_string_value(json_object_get(e, "digest"));
                if (!name || !d || !cb_digest_valid(d))
                        continue;
                struct layer_image_entry *x = &v[n];
                x->name = cb_xstrdup(name);
                memcpy(x->manifest_digest, d, CB_DIGEST_STR_LEN);
                struct layer_image *img = NULL;
                struct cb_err e2;
                cb_err_init(&e2);
                if (layer_image_read(s, d, &img, &e2) == 0) {
                        uint64_t size = layer_store_blob_size(s, d) + layer_store_blob_size(s, img->config_digest);
                        for (size_t k = 0; k < img->nlayers; k++)
                                size += img->layers[k].size;
                        x->size = size;
                        int64_t t = 0;
                        const char *c = json_string_value(json_object_get(img->config, "created"));
                        if (c && layer_parse_rfc3339(c, &t) == 0)
                                x->created = t;
                        layer_image_free(img);
                }
                cb_err_release(&e2);
                n++;
        }
        if (n > 1)
                qsort(v, n, sizeof(*v), cmp_entry);
        *ret = v;
        *ret_n = n;
        return 0;
}

void layer_image_entries_free(struct layer_image_entry *v, size_t n)
{
        if (!v)
                return;
        for (size_t i = 0; i < n; i++)
                free(v[i].name);
        free(v);
}

/* Recompression of stored layers for an output (push, export), remembered per diff_id and algorithm. */
#include "layers/layer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layers/internal.h"

static enum layer_compression compression_of(const char *media_type)
{
        if (strstr(media_type, "gzip"))
                return LAYER_GZIP;
        if (strstr(media_type, "zstd"))
                return LAYER_ZSTD;
        return LAYER_UNCOMPRESSED;
}

static int effective_level(enum layer_compression c, int level)
{
        if (level >= 0)
                return level;
        return c == LAYER_GZIP ? 6 : c == LAYER_ZSTD ? 3 : 0;
}

static const char *alg_name(enum layer_compression c)
{
        return c == LAYER_GZIP ? "gzip" : c == LAYER_ZSTD ? "zstd" : "none";
}

/* cache/compressed/<diff_id hex>.<alg>-<level>: "<digest> <size>\n" */
static char *memo_path(const struct layer_desc *l, enum layer_compression c, int level)
{
        return cb_xasprintf("cache/compressed/%s.%s-%d", l->diff_id + 7, alg_name(c), level);
}

static bool memo_get(struct layer_store *s, const char *path, struct layer_desc *d)
{
        struct cb_buf b;
        cb_buf_init(&b, 256);
        struct cb_err e;
        cb_err_init(&e);
        int r = cb_read_file(s->root_fd, path, 256, &b, &e);
        cb_err_release(&e);
        bool ok = false;
        if (r == 0 && b.len > CB_DIGEST_STR_LEN && b.p[CB_DIGEST_STR_LEN - 1] == ' ') {
                char *nl = strchr(b.p, '\n');
                if (nl)
                        *nl = '\0';
                b.p[CB_DIGEST_STR_LEN - 1] = '\0';
                uint64_t size;
                if (cb_digest_valid(b.p) && cb_parse_u64(cb_str_c(b.p + CB_DIGEST_STR_LEN), UINT64_MAX, &size) == 0 &&
                    layer_store_has_blob(s, b.p)) {
                        memcpy(d->digest, b.p, CB_DIGEST_STR_LEN);
                        d->size = size;
                        ok = true;
                }
        }
        cb_buf_release(&b);
        return ok;
}

/* The converted blob w becomes d's (frees w); memo (NULL: none) remembers it for the next conversion. */
static int keep_converted(struct layer_store *s, struct layer_blob_writer *w, const char *memo, const struct layer_desc *d,
                          struct layer_desc *ret, struct cb_err *err)
{
        int r;
        if (layer_store_has_blob(s, d->digest))
                layer_blob_writer_abort(w);
        else if ((r = layer_blob_writer_commit_hashed(w, d->digest, err)) < 0)
                return r;
        if (memo) {
                struct cb_buf b;
                cb_buf_init(&b, 256);
                (void) cb_buf_addf(&b, "%s %llu\n", d->digest, (unsigned long long) d->size);
                (void) cb_mkdir_p(s->root_fd, "cache/compressed", 0700, err);
                r = cb_write_file_atomic(s->root_fd, memo, b.p, b.len, 0644, err);
                cb_buf_release(&b);
                if (r < 0)
                        cb_err_reset(err); /* only a lost shortcut: the blob is in place */
        }
        *ret = *d;
        return 0;
}

int layer_store_compress_layer(struct layer_store *s, const struct layer_desc *l, enum layer_compression c, int level,
                               struct layer_desc *ret, struct cb_err *err)
{
        if (!cb_digest_valid(l->digest) || !cb_digest_valid(l->diff_id))
                return cb_failc(err, -EINVAL, "invalid layer descriptor");
        enum layer_compression have = compression_of(l->media_type);
        if (have == c && (level < 0 || c == LAYER_UNCOMPRESSED)) {
                *ret = *l;
                return 0;
        }
        level = effective_level(c, level);
        struct layer_desc d = *l;
        const char *mt = layer_compression_media_type(c);
        memcpy(d.media_type, mt, strlen(mt) + 1);
        _cleanup_free_ char *memo = memo_path(l, c, level);
        if (c == LAYER_UNCOMPRESSED) {
                /* the uncompressed blob's digest is the diff_id */
                if (layer_store_has_blob(s, l->diff_id)) {
                        memcpy(d.digest, l->diff_id, CB_DIGEST_STR_LEN);
                        uint64_t size;
                        _cleanup_close_ int fd = layer_store_open_blob(s, l->diff_id, &size, err);
                        if (fd < 0)
                                return fd;
                        d.size = size;
                        *ret = d;
                        return 0;
                }
        } else if (memo_get(s, memo, &d)) {
                *ret = d;
                return 0;
        }
        struct layer_blob_writer *w;
        int r;
        if (c != LAYER_UNCOMPRESSED && !strcmp(l->digest, l->diff_id) &&
            faccessat(s->blobs_fd, l->digest + 7, F_OK, AT_SYMLINK_NOFOLLOW) < 0) {
                /* a directory-backed layer is compressed straight from its directory: the uncompressed
                 * blob, which nothing asked for, is not written on the way (-ENOENT: not one) */
                if ((r = layer_store_blob_begin(s, &w, err)) < 0)
                        return r;
                struct layer_desc z;
                r = layer_dirlayer_tar(s, l->digest, c, level, layer_blob_writer_fd(w), &z, err);
                if (r == 0) {
                        memcpy(d.digest, z.digest, CB_DIGEST_STR_LEN);
                        d.size = z.size;
                        return keep_converted(s, w, memo, &d, ret, err);
                }
                layer_blob_writer_abort(w);
                if (r != -ENOENT)
                        return r;
                cb_err_reset(err);
        }
        _cleanup_close_ int in = layer_store_open_blob(s, l->digest, NULL, err);
        if (in < 0)
                return in;
        if ((r = layer_store_blob_begin(s, &w, err)) < 0)
                return r;
        struct layer_source *src = NULL;
        struct layer_sink *k = NULL;
        char in_diff[CB_DIGEST_STR_LEN], in_digest[CB_DIGEST_STR_LEN], out_diff[CB_DIGEST_STR_LEN];
        if ((r = layer_source_new(in, &src, err)) < 0 ||
            (r = layer_sink_new(c, level, layer_blob_writer_fd(w), &k, err)) < 0)
                goto fail;
        for (;;) {
                const void *p;
                ssize_t n = layer_source_read(src, &p, err);
                if (n < 0) {
                        r = (int) n;
                        goto fail;
                }
                if (n == 0)
                        break;
                if ((r = layer_sink_write(k, p, (size_t) n, err)) < 0)
                        goto fail;
        }
        if ((r = layer_source_finish(src, in_diff, in_digest, err)) < 0 ||
            (r = layer_sink_finish(k, out_diff, d.digest, &d.size, err)) < 0)
                goto fail;
        if (strcmp(in_digest, l->digest) != 0 || strcmp(in_diff, l->diff_id) != 0) {
                r = cb_failc(err, -EBADMSG, "layer '%s' does not match its digest or diff_id", l->digest);
                goto fail;
        }
        layer_source_free(src);
        layer_sink_free(k);
        return keep_converted(s, w, c == LAYER_UNCOMPRESSED ? NULL : memo, &d, ret, err);
fail:
        layer_source_free(src);
        layer_sink_free(k);
        layer_blob_writer_abort(w);
        cb_wrap(err, "compress layer '%s' with %s", l->digest, alg_name(c));
        return r;
}

static int convert_image(struct layer_store *s, const char *manifest_digest, enum layer_compression c, int level,
                         bool docker_format, bool only_uncompressed, char ret_manifest_digest[CB_DIGEST_STR_LEN],
                         struct cb_err *err)
{
        if (docker_format && c == LAYER_ZSTD)
                return cb_failc(err, -EINVAL, "Docker v2 schema 2 has no zstd layers (use gzip or OCI)");
        struct layer_image *img = NULL;
        int r = layer_image_read(s, manifest_digest, &img, err);
        if (r < 0)
                return r;
        json_t *ls = json_array();
        for (size_t i = 0; i < img->nlayers && r == 0; i++) {
                struct layer_desc d = { 0 };
                if (only_uncompressed && compression_of(img->layers[i].media_type) != LAYER_UNCOMPRESSED)
                        d = img->layers[i];
                else
                        r = layer_store_compress_layer(s, &img->layers[i], c, level, &d, err);
                if (r < 0)
                        break;
                const char *mt = d.media_type;
                if (docker_format)
                        mt = c == LAYER_GZIP ? LAYER_MT_DOCKER_LAYER_GZIP : LAYER_MT_DOCKER_LAYER;
                (void) json_array_append_new(ls, json_pack("{s:s, s:s, s:I}", "mediaType", mt, "digest", d.digest,
                                                           "size", (json_int_t) d.size));
        }
        if (r < 0) {
                json_decref(ls);
                layer_image_free(img);
                return r;
        }
        uint64_t csize = 0;
        {
                _cleanup_close_ int fd = layer_store_open_blob(s, img->config_digest, &csize, err);
                if (fd < 0) {
                        json_decref(ls);
                        layer_image_free(img);
                        return fd;
                }
        }
        _cleanup_json_ json_t *m = json_pack(
                "{s:i, s:s, s:{s:s, s:s, s:I}, s:o}", "schemaVersion", 2, "mediaType",
                docker_format ? LAYER_MT_DOCKER_MANIFEST : LAYER_MT_OCI_MANIFEST, "config", "mediaType",
                docker_format ? LAYER_MT_DOCKER_CONFIG : LAYER_MT_OCI_CONFIG, "digest", img->config_digest, "size",
                (json_int_t) csize, "layers", ls);
        json_t *an = json_object_get(img->manifest, "annotations");
        if (!docker_format) {
                json_t *na = json_is_object(an) ? json_deep_copy(an) : json_object();
                if (c != LAYER_UNCOMPRESSED)
                        (void) json_object_set_new(na, LAYER_ANNOTATION_COMPRESSOR,
                                                   json_string(layer_compressor_version(c)));
                else
                        (void) json_object_del(na, LAYER_ANNOTATION_COMPRESSOR);
                if (json_object_size(na))
                        (void) json_object_set_new(m, "annotations", na);
                else
                        json_decref(na);
        }
        layer_image_free(img);
        return layer_store_put_json(s, m, ret_manifest_digest, NULL, err);
}

int layer_store_remember_compressed(struct layer_store *s, const struct layer_desc *l, struct cb_err *err)
{
        enum layer_compression c = compression_of(l->media_type);
        if (c == LAYER_UNCOMPRESSED)
                return 0;
        if (!cb_digest_valid(l->digest) || !cb_digest_valid(l->diff_id) || !layer_store_has_blob(s, l->digest))
                return cb_failc(err, -EINVAL, "remember layer '%s': not in the store", l->digest);
        _cleanup_free_ char *memo = memo_path(l, c, effective_level(c, -1));
        struct cb_buf b;
        cb_buf_init(&b, 256);
        (void) cb_buf_addf(&b, "%s %llu\n", l->digest, (unsigned long long) l->size);
        int r = cb_mkdir_p(s->root_fd, "cache/compressed", 0700, err);
        if (r >= 0)
                r = cb_write_file_atomic(s->root_fd, memo, b.p, b.len, 0644, err);
        cb_buf_release(&b);
        return r;
}

int layer_image_convert(struct layer_store *s, const char *manifest_digest, enum layer_compression c, int level,
                        bool docker_format, char ret_manifest_digest[CB_DIGEST_STR_LEN], struct cb_err *err)
{
        return convert_image(s, manifest_digest, c, level, docker_format, false, ret_manifest_digest, err);
}

int layer_image_compress(struct layer_store *s, const char *manifest_digest, enum layer_compression c,
                         char ret_manifest_digest[CB_DIGEST_STR_LEN], struct cb_err *err)
{
        char in[CB_DIGEST_STR_LEN];
        memmove(in, manifest_digest, CB_DIGEST_STR_LEN);
        struct layer_image *img = NULL;
        int r = layer_image_read(s, in, &img, err);
        if (r < 0)
                return r;
        bool any = false;
        for (size_t i = 0; i < img->nlayers; i++)
                any = any || compression_of(img->layers[i].media_type) == LAYER_UNCOMPRESSED;
        const char *mt = json_string_value(json_object_get(img->manifest, "mediaType"));
        bool docker_format = mt && strcmp(mt, LAYER_MT_DOCKER_MANIFEST) == 0;
        layer_image_free(img);
        if (!any || c == LAYER_UNCOMPRESSED) {
                memmove(ret_manifest_digest, in, CB_DIGEST_STR_LEN);
                return 0;
        }
        return convert_image(s, in, c, -1, docker_format, true, ret_manifest_digest, err);
}

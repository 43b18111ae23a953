/* Images: config + manifest JSON (OCI by default, Docker v2 schema 2 on request), and unpacked layers. */
#include "layers/layer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "layers/internal.h"

int layer_parse_rfc3339(const char *s, int64_t *ret)
{
        struct tm tm;
        memset(&tm, 0, sizeof(tm));
        const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
        if (!p)
                return -EINVAL;
        if (*p == '.')
                for (p++; *p >= '0' && *p <= '9'; p++)
                        ;
        long off = 0;
        if (*p == 'Z' || *p == 'z') {
                p++;
        } else if (*p == '+' || *p == '-') {
                int sign = *p == '-' ? -1 : 1;
                if (!(p[1] >= '0' && p[1] <= '9' && p[2] >= '0' && p[2] <= '9' && p[3] == ':' && p[4] >= '0' &&
                      p[4] <= '9' && p[5] >= '0' && p[5] <= '9'))
                        return -EINVAL;
                off = sign * (((p[1] - '0') * 10 + (p[2] - '0')) * 3600L + ((p[4] - '0') * 10 + (p[5] - '0')) * 60L);
                p += 6;
        } else {
                return -EINVAL;
        }
        if (*p)
                return -EINVAL;
        *ret = (int64_t) timegm(&tm) - off;
        return 0;
}

static const char *docker_layer_type(const char *oci, struct cb_err *err)
{
        if (!strcmp(oci, LAYER_MT_OCI_LAYER_GZIP) || !strcmp(oci, LAYER_MT_DOCKER_LAYER_GZIP))
                return LAYER_MT_DOCKER_LAYER_GZIP;
        if (!strcmp(oci, LAYER_MT_OCI_LAYER) || !strcmp(oci, LAYER_MT_DOCKER_LAYER))
                return LAYER_MT_DOCKER_LAYER;
        cb_failc(err, -EINVAL, "layer type '%s' has no Docker v2 schema 2 form (use gzip or OCI)", oci);
        return NULL;
}

int layer_image_write(struct layer_store *s, json_t *config, const struct layer_desc *layers, size_t n,
                      bool docker_format, json_t *annotations, char ret_manifest_digest[CB_DIGEST_STR_LEN],
                      struct cb_err *err)
{
        if (!json_is_object(config))
                return cb_failc(err, -EINVAL, "image config is not a JSON object");
        json_t *ids = json_array();
        _cleanup_json_ json_t *ls = json_array();
        for (size_t i = 0; i < n; i++) {
                const char *mt = layers[i].media_type[0] ? layers[i].media_type : LAYER_MT_OCI_LAYER_GZIP;
                if (docker_format) {
                        mt = docker_layer_type(mt, err);
                        if (!mt) {
                                json_decref(ids);
                                return -EINVAL;
                        }
                }
                if (!cb_digest_valid(layers[i].digest) || !cb_digest_valid(layers[i].diff_id)) {
                        json_decref(ids);
                        return cb_failc(err, -EINVAL, "layer %zu has an invalid digest", i);
                }
                (void) json_array_append_new(ids, json_string(layers[i].diff_id));
                (void) json_array_append_new(ls, json_pack("{s:s, s:s, s:I}", "mediaType", mt, "digest",
                                                           layers[i].digest, "size", (json_int_t) layers[i].size));
        }
        (void) json_object_set_new(config, "rootfs", json_pack("{s:s, s:o}", "type", "layers", "diff_ids", ids));
        char cdigest[CB_DIGEST_STR_LEN];
        uint64_t csize;
        int r = layer_store_put_json(s, config, cdigest, &csize, err);
        if (r < 0)
                return r;
        _cleanup_json_ json_t *m = json_pack(
                "{s:i, s:s, s:{s:s, s:s, s:I}, s:O}", "schemaVersion", 2, "mediaType",
                docker_format ? LAYER_MT_DOCKER_MANIFEST : LAYER_MT_OCI_MANIFEST, "config", "mediaType",
                docker_format ? LAYER_MT_DOCKER_CONFIG : LAYER_MT_OCI_CONFIG, "digest", cdigest, "size",
                (json_int_t) csize, "layers", ls);
        if (!m)
                return cb_failc(err, -ENOMEM, "cannot build manifest");
        if (!docker_format) {
                /* which compressor made the layer bytes (DESIGN.md: recorded with each image) */
                bool gz = false, zs = false;
                for (size_t i = 0; i < n; i++) {
                        gz |= strstr(layers[i].media_type, "gzip") != NULL;
                        zs |= strstr(layers[i].media_type, "zstd") != NULL;
                }
                json_t *an = annotations ? json_deep_copy(annotations) : json_object();
                if (gz || zs) {
                        struct cb_buf v;
                        cb_buf_init(&v, 256);
                        if (gz)
                                (void) cb_buf_adds(&v, layer_compressor_version(LAYER_GZIP));
                        if (zs)
                                (void) cb_buf_addf(&v, "%s%s", gz ? ", " : "", layer_compressor_version(LAYER_ZSTD));
                        (void) json_object_set_new(an, LAYER_ANNOTATION_COMPRESSOR, json_string(v.p));
                        cb_buf_release(&v);
                }
                if (json_object_size(an) > 0)
                        (void) json_object_set_new(m, "annotations", an);
                else
                        json_decref(an);
        }
        return layer_store_put_json(s, m, ret_manifest_digest, NULL, err);
}

struct layer_image *layer_image_free(struct layer_image *img)
{
        if (!img)
                return NULL;
        if (img->manifest)
                json_decref(img->manifest);
        if (img->config)
                json_decref(img->config);
        free(img->layers);
        free(img);
        return NULL;
}

static int copy_digest(char dst[CB_DIGEST_STR_LEN], json_t *v)
{
        const char *s = json_string_value(v);
        if (!s || !cb_digest_valid(s))
                return -EINVAL;
        memcpy(dst, s, CB_DIGEST_STR_LEN);
        return 0;
}

int layer_image_read(struct layer_store *s, const char *manifest_digest, struct layer_image **ret, struct cb_err *err)
{
        struct layer_image *img = cb_xcalloc(1, sizeof(*img));
        int r = layer_store_read_json(s, manifest_digest, &img->manifest, err);
        if (r < 0)
                goto fail;
        memcpy(img->manifest_digest, manifest_digest, CB_DIGEST_STR_LEN);
        const char *mt = json_string_value(json_object_get(img->manifest, "mediaType"));
        if (mt && (!strcmp(mt, LAYER_MT_OCI_INDEX) || !strcmp(mt, LAYER_MT_DOCKER_LIST))) {
                r = cb_failc(err, -EMEDIUMTYPE, "'%s' is an image index, not an image manifest", manifest_digest);
                goto fail;
        }
        json_t *cfg = json_object_get(img->manifest, "config");
        json_t *ls = json_object_get(img->manifest, "layers");
        if (copy_digest(img->config_digest, json_object_get(cfg, "digest")) < 0 || !json_is_array(ls)) {
                r = cb_failc(err, -EBADMSG, "manifest '%s' has no valid config or layers", manifest_digest);
                goto fail;
        }
        r = layer_store_read_json(s, img->config_digest, &img->config, err);
        if (r < 0)
                goto fail;
        json_t *ids = json_object_get(json_object_get(img->config, "rootfs"), "diff_ids");
        if (!json_is_array(ids) || json_array_size(ids) != json_array_size(ls)) {
                r = cb_failc(err, -EBADMSG, "manifest '%s': config has %zu diff_ids for %zu layers", manifest_digest,
                             json_array_size(ids), json_array_size(ls));
                goto fail;
        }
        img->nlayers = json_array_size(ls);
        img->layers = cb_xcalloc(img->nlayers + 1, sizeof(*img->layers));
        for (size_t i = 0; i < img->nlayers; i++) {
                struct layer_desc *d = &img->layers[i];
                json_t *l = json_array_get(ls, i);
                json_t *sz = json_object_get(l, "size");
                const char *lmt = json_string_value(json_object_get(l, "mediaType"));
                if (copy_digest(d->digest, json_object_get(l, "digest")) < 0 ||
                    copy_digest(d->diff_id, json_array_get(ids, i)) < 0 || !json_is_integer(sz) ||
                    json_integer_value(sz) < 0) {
                        r = cb_failc(err, -EBADMSG, "manifest '%s': layer %zu is invalid", manifest_digest, i);
                        goto fail;
                }
                d->size = (uint64_t) json_integer_value(sz);
                if (lmt && strlen(lmt) < sizeof(d->media_type))
                        memcpy(d->media_type, lmt, strlen(lmt) + 1);
        }
        *ret = img;
        return 0;
fail:
        layer_image_free(img);
        return r;
}

int layer_store_unpacked(struct layer_store *s, const struct layer_desc *l, char **ret_path, struct cb_err *err)
{
        if (!cb_digest_valid(l->diff_id) || !cb_digest_valid(l->digest))
                return cb_failc(err, -EINVAL, "invalid layer descriptor");
        const char *hex = l->diff_id + 7;
        struct stat st;
        if (fstatat(s->layers_fd, hex, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
                *ret_path = cb_xasprintf("%s/layers/%s", s->root, hex);
                return 0;
        }
        _cleanup_close_ int bfd = layer_store_open_blob(s, l->digest, NULL, err);
        if (bfd < 0)
                return bfd;
        char rnd[17];
        cb_random_hex(rnd, 8);
        _cleanup_free_ char *tmpname = cb_xasprintf("unpack-%s", rnd);
        if (mkdirat(s->work_fd, tmpname, 0755) < 0)
                return cb_fail(err, errno, "mkdir '%s/%s'", s->work_path, tmpname);
        int r;
        {
                _cleanup_close_ int dfd = openat(s->work_fd, tmpname, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (dfd < 0) {
                        r = cb_fail(err, errno, "open '%s'", tmpname);
                        goto out_rm;
                }
                struct layer_extract_opts o;
                layer_extract_opts_init(&o);
                o.mode = LAYER_EXTRACT_OVERLAY;
                o.keep_setuid = true;
                char diff_id[CB_DIGEST_STR_LEN], digest[CB_DIGEST_STR_LEN];
                o.ret_diff_id = diff_id;
                o.ret_digest = digest;
                r = layer_extract_fd_opts(dfd, bfd, &o, err);
                if (r < 0)
                        goto out_rm;
                if (strcmp(digest, l->digest) != 0) {
                        r = cb_failc(err, -EBADMSG, "blob '%s' is corrupt (content hashes to %s)", l->digest, digest);
                        goto out_rm;
                }
                if (strcmp(diff_id, l->diff_id) != 0) {
                        r = cb_failc(err, -EBADMSG, "layer '%s': uncompressed content hashes to %s, not diff_id %s",
                                     l->digest, diff_id, l->diff_id);
                        goto out_rm;
                }
                if (fsync(dfd) < 0) {
                        r = cb_fail(err, errno, "fsync");
                        goto out_rm;
                }
        }
        if (renameat(s->work_fd, tmpname, s->layers_fd, hex) < 0) {
                int e = errno;
                if (e == EEXIST || e == ENOTEMPTY) {
                        /* another process unpacked it first: theirs is as good as ours */
                        (void) cb_rm_rf(s->work_fd, tmpname, err);
                        cb_err_reset(err);
                        *ret_path = cb_xasprintf("%s/layers/%s", s->root, hex);
                        return 0;
                }
                r = cb_fail(err, e, "rename into '%s/layers'", s->root);
                goto out_rm;
        }
        (void) fsync(s->layers_fd);
        *ret_path = cb_xasprintf("%s/layers/%s", s->root, hex);
        return 0;
out_rm: {
        struct cb_err e2;
        cb_err_init(&e2);
        (void) cb_rm_rf(s->work_fd, tmpname, &e2);
        cb_err_release(&e2);
}
        cb_wrap(err, "unpack layer '%s'", l->digest);
        return r;
}

int layer_store_adopt_unpacked(struct layer_store *s, const struct layer_desc *l, int dir_fd, const char *name,
                               struct cb_err *err)
{
        if (!cb_digest_valid(l->diff_id))
                return cb_failc(err, -EINVAL, "invalid layer descriptor");
        const char *hex = l->diff_id + 7;
        struct stat st;
        if (fstatat(s->layers_fd, hex, &st, AT_SYMLINK_NOFOLLOW) == 0)
                return 0;
        if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return cb_fail(err, errno, "stat '%s'", name);
        if (!S_ISDIR(st.st_mode))
                return cb_failc(err, -ENOTDIR, "'%s' is not a directory", name);
        _cleanup_close_ int dfd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0)
                return cb_fail(err, errno, "open '%s'", name);
        if (fsync(dfd) < 0)
                return cb_fail(err, errno, "fsync '%s'", name);
        if (renameat(dir_fd, name, s->layers_fd, hex) < 0) {
                int e = errno;
                if (e == EEXIST || e == ENOTEMPTY)
                        return 0; /* another process unpacked it first */
                return cb_fail(err, e, "rename '%s' into '%s/layers'", name, s->root);
        }
        (void) fsync(s->layers_fd);
        return 1;
}

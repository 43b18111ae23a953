/* oci-archive and docker-archive: export as one streamed tar, import through secure extraction into the
 * work directory. */
#include "layers/layer.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layers/internal.h"

/* ---- tar writer ---- */

struct tw {
        struct archive *a;
        struct archive_entry *e;
        char *chunk;
        struct cb_err *err;
};

static int tw_fail(struct tw *t, const char *what, const char *name)
{
        int e = archive_errno(t->a);
        return cb_failc(t->err, e > 0 ? -e : -EIO, "write archive: %s '%s': %s", what, name,
                        archive_error_string(t->a) ? archive_error_string(t->a) : "error");
}

static int tw_open(struct tw *t, int out_fd, struct cb_err *err)
{
        memset(t, 0, sizeof(*t));
        t->err = err;
        t->a = archive_write_new();
        t->e = archive_entry_new();
        t->chunk = cb_xmalloc(LAYER_IO_CHUNK);
        if (!t->a || !t->e)
                return cb_failc(err, -ENOMEM, "libarchive allocation failed");
        if (archive_write_set_format_pax_restricted(t->a) != ARCHIVE_OK ||
            archive_write_open_fd(t->a, out_fd) != ARCHIVE_OK)
                return tw_fail(t, "open", "");
        return 0;
}

static void tw_free(struct tw *t)
{
        if (t->a)
                archive_write_free(t->a);
        if (t->e)
                archive_entry_free(t->e);
        free(t->chunk);
}

static int tw_close(struct tw *t)
{
        if (archive_write_close(t->a) != ARCHIVE_OK)
                return tw_fail(t, "close", "");
        return 0;
}

static int tw_header(struct tw *t, const char *name, mode_t type, uint64_t size)
{
        archive_entry_clear(t->e);
        archive_entry_set_pathname(t->e, name);
        archive_entry_set_filetype(t->e, type);
        archive_entry_set_perm(t->e, type == AE_IFDIR ? 0755 : 0644);
        archive_entry_set_size(t->e, (la_int64_t) size);
        archive_entry_set_mtime(t->e, 0, 0);
        if (archive_write_header(t->a, t->e) < ARCHIVE_WARN)
                return tw_fail(t, "header", name);
        return 0;
}

static int tw_dir(struct tw *t, const char *name)
{
        return tw_header(t, name, AE_IFDIR, 0);
}

static int tw_bytes(struct tw *t, const char *name, const void *p, size_t len)
{
        int r = tw_header(t, name, AE_IFREG, len);
        if (r < 0)
                return r;
        if (len && archive_write_data(t->a, p, len) != (la_ssize_t) len)
                return tw_fail(t, "data", name);
        return 0;
}

static int tw_blob(struct tw *t, struct layer_store *s, const char *name, const char *digest)
{
        uint64_t size;
        _cleanup_close_ int fd = layer_store_open_blob(s, digest, &size, t->err);
        if (fd < 0)
                return fd;
        int r = tw_header(t, name, AE_IFREG, size);
        if (r < 0)
                return r;
        uint64_t left = size;
        while (left > 0) {
                ssize_t n = read(fd, t->chunk, left > LAYER_IO_CHUNK ? LAYER_IO_CHUNK : (size_t) left);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return cb_fail(t->err, errno, "read blob '%s'", digest);
                if (n == 0)
                        return cb_failc(t->err, -EIO, "blob '%s' shrank while being archived", digest);
                if (archive_write_data(t->a, t->chunk, (size_t) n) != n)
                        return tw_fail(t, "data", name);
                left -= (uint64_t) n;
        }
        return 0;
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *) a, *(char *const *) b);
}

int layer_export_oci_archive(struct layer_store *s, const char *manifest_digest, const char *ref_name, int out_fd,
                             struct cb_err *err)
{
        struct layer_image *img = NULL;
        int r = layer_image_read(s, manifest_digest, &img, err);
        if (r < 0)
                return r;
        uint64_t msize = 0;
        {
                _cleanup_close_ int fd = layer_store_open_blob(s, manifest_digest, &msize, err);
                if (fd < 0) {
                        layer_image_free(img);
                        return fd;
                }
        }
        /* blobs sorted and deduplicated, so the archive bytes depend only on the image */
        size_t nb = 0;
        const char **bl = cb_xcalloc(img->nlayers + 2, sizeof(char *));
        bl[nb++] = manifest_digest;
        bl[nb++] = img->config_digest;
        for (size_t i = 0; i < img->nlayers; i++)
                bl[nb++] = img->layers[i].digest;
        qsort(bl, nb, sizeof(char *), cmp_str);
        const char *mt = json_string_value(json_object_get(img->manifest, "mediaType"));
        _cleanup_json_ json_t *idx = json_pack("{s:i, s:s, s:[{s:s, s:s, s:I}]}", "schemaVersion", 2, "mediaType",
                                               LAYER_MT_OCI_INDEX, "manifests", "mediaType",
                                               mt ? mt : LAYER_MT_OCI_MANIFEST, "digest", manifest_digest, "size",
                                               (json_int_t) msize);
        if (ref_name)
                (void) json_object_set_new(json_array_get(json_object_get(idx, "manifests"), 0), "annotations",
                                           json_pack("{s:s}", LAYER_ANNOTATION_REF_NAME, ref_name));
        _cleanup_free_ char *itext = json_dumps(idx, JSON_COMPACT | JSON_SORT_KEYS);
        struct tw t;
        r = tw_open(&t, out_fd, err);
        if (r == 0)
                r = tw_dir(&t, "blobs/");
        if (r == 0)
                r = tw_dir(&t, "blobs/sha256/");
        for (size_t i = 0; i < nb && r == 0; i++) {
                if (i > 0 && !strcmp(bl[i], bl[i - 1]))
                        continue;
                _cleanup_free_ char *name = cb_xasprintf("blobs/sha256/%s", bl[i] + 7);
                r = tw_blob(&t, s, name, bl[i]);
        }
        if (r == 0)
                r = tw_bytes(&t, "index.json", itext, strlen(itext));
        if (r == 0) {
                static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
                r = tw_bytes(&t, "oci-layout", layout, sizeof(layout) - 1);
        }
        if (r == 0)
                r = tw_close(&t);
        tw_free(&t);
        free(bl);
        layer_image_free(img);
        if (r < 0)
                cb_wrap(err, "export oci-archive");
        return r;
}

/* The OCI manifest of a docker-archive's image: the config and the uncompressed layers it holds, and
 * the store manifest's annotations (the recorded build inputs), which manifest.json has no room for. */
static json_t *docker_archive_manifest(const struct layer_image *img, const struct layer_desc *raw)
{
        const char *mt = json_string_value(json_object_get(img->manifest, "mediaType"));
        bool docker = mt && !strcmp(mt, LAYER_MT_DOCKER_MANIFEST);
        json_t *ls = json_array();
        for (size_t i = 0; i < img->nlayers; i++)
                (void) json_array_append_new(ls, json_pack("{s:s, s:s, s:I}", "mediaType",
                                                           docker ? LAYER_MT_DOCKER_LAYER : LAYER_MT_OCI_LAYER,
                                                           "digest", raw[i].digest, "size", (json_int_t) raw[i].size));
        json_t *m = json_pack("{s:i, s:s, s:O, s:o}", "schemaVersion", 2, "mediaType",
                              docker ? LAYER_MT_DOCKER_MANIFEST : LAYER_MT_OCI_MANIFEST, "config",
                              json_object_get(img->manifest, "config"), "layers", ls);
        json_t *an = json_object_get(img->manifest, "annotations");
        if (json_is_object(an) && json_object_size(an) > 0)
                (void) json_object_set(m, "annotations", an);
        return m;
}

/* index.json of the layout: one entry per tag, named as docker save names them (the full name for
 * containerd, the tag as the OCI ref name), or one unnamed entry. */
static json_t *docker_archive_index(const char *mt, const char *digest, size_t size, const char *const *repo_tags,
                                    size_t ntags)
{
        json_t *ms = json_array();
        for (size_t i = 0; i < (ntags ? ntags : 1); i++) {
                json_t *e = json_pack("{s:s, s:s, s:I}", "mediaType", mt, "digest", digest, "size", (json_int_t) size);
                if (ntags) {
                        const char *slash = strrchr(repo_tags[i], '/');
                        const char *colon = strrchr(slash ? slash : repo_tags[i], ':');
                        (void) json_object_set_new(e, "annotations",
                                                   json_pack("{s:s, s:s}", "io.containerd.image.name", repo_tags[i],
                                                             LAYER_ANNOTATION_REF_NAME, colon ? colon + 1 : "latest"));
                }
                (void) json_array_append_new(ms, e);
        }
        return json_pack("{s:i, s:s, s:o}", "schemaVersion", 2, "mediaType", LAYER_MT_OCI_INDEX, "manifests", ms);
}

int layer_export_docker_archive(struct layer_store *s, const char *manifest_digest, const char *const *repo_tags,
                                size_t ntags, int out_fd, struct cb_err *err)
{
        struct layer_image *img = NULL;
        int r = layer_image_read(s, manifest_digest, &img, err);
        if (r < 0)
                return r;
        struct layer_desc *raw = cb_xcalloc(img->nlayers + 1, sizeof(*raw));
        for (size_t i = 0; i < img->nlayers && r == 0; i++)
                r = layer_store_compress_layer(s, &img->layers[i], LAYER_UNCOMPRESSED, -1, &raw[i], err);
        /* Docker 25+'s layout: the archive is an OCI image layout too (blobs/sha256/, index.json,
         * oci-layout), and manifest.json names the same blobs, so docker load of any version reads it */
        _cleanup_json_ json_t *m = NULL, *om = NULL, *idx = NULL;
        _cleanup_free_ char *mtext = NULL, *itext = NULL;
        char mdigest[CB_DIGEST_STR_LEN];
        size_t nb = 0;
        const char **bl = cb_xcalloc(img->nlayers + 2, sizeof(char *));
        if (r == 0) {
                om = docker_archive_manifest(img, raw);
                mtext = json_dumps(om, JSON_COMPACT | JSON_SORT_KEYS);
                cb_sha256_digest(mtext, strlen(mtext), mdigest);
                idx = docker_archive_index(json_string_value(json_object_get(om, "mediaType")), mdigest,
                                           strlen(mtext), repo_tags, ntags);
                itext = json_dumps(idx, JSON_COMPACT | JSON_SORT_KEYS);
                json_t *tags = json_array(), *ls = json_array();
                for (size_t i = 0; i < ntags; i++)
                        (void) json_array_append_new(tags, json_string(repo_tags[i]));
                for (size_t i = 0; i < img->nlayers; i++) {
                        _cleanup_free_ char *ln = cb_xasprintf("blobs/sha256/%s", raw[i].digest + 7);
                        (void) json_array_append_new(ls, json_string(ln));
                        bl[nb++] = raw[i].digest;
                }
                _cleanup_free_ char *cfgname = cb_xasprintf("blobs/sha256/%s", img->config_digest + 7);
                m = json_pack("[{s:s, s:o, s:o}]", "Config", cfgname, "RepoTags", tags, "Layers", ls);
                bl[nb++] = img->config_digest;
                qsort(bl, nb, sizeof(char *), cmp_str);
        }
        struct tw t;
        memset(&t, 0, sizeof(t));
        if (r == 0)
                r = tw_open(&t, out_fd, err);
        if (r == 0)
                r = tw_dir(&t, "blobs/");
        if (r == 0)
                r = tw_dir(&t, "blobs/sha256/");
        for (size_t i = 0; i < nb && r == 0; i++) {
                if (i > 0 && !strcmp(bl[i], bl[i - 1]))
                        continue;
                _cleanup_free_ char *name = cb_xasprintf("blobs/sha256/%s", bl[i] + 7);
                r = tw_blob(&t, s, name, bl[i]);
        }
        if (r == 0) {
                /* the manifest is no store blob: its layers are the uncompressed copies */
                _cleanup_free_ char *name = cb_xasprintf("blobs/sha256/%s", mdigest + 7);
                r = tw_bytes(&t, name, mtext, strlen(mtext));
        }
        if (r == 0)
                r = tw_bytes(&t, "index.json", itext, strlen(itext));
        if (r == 0) {
                _cleanup_free_ char *text = json_dumps(m, JSON_COMPACT);
                r = tw_bytes(&t, "manifest.json", text, strlen(text));
        }
        if (r == 0) {
                static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
                r = tw_bytes(&t, "oci-layout", layout, sizeof(layout) - 1);
        }
        if (r == 0)
                r = tw_close(&t);
        tw_free(&t);
        free(bl);
        free(raw);
        layer_image_free(img);
        if (r < 0)
                cb_wrap(err, "export docker-archive");
        return r;
}

/* ---- import ---- */

void layer_loaded_free(struct layer_loaded *v, size_t n)
{
        if (!v)
                return;
        for (size_t i = 0; i < n; i++) {
                for (size_t k = 0; k < v[i].ntags; k++)
                        free(v[i].repo_tags[k]);
                free(v[i].repo_tags);
        }
        free(v);
}

/* Extracts the archive into a fresh directory in the work dir; *ret_name is its name there (owned). */
static int unpack(struct layer_store *s, int in_fd, char **ret_name, int *ret_fd, struct cb_err *err)
{
        char rnd[17];
        cb_random_hex(rnd, 8);
        char *name = cb_xasprintf("archive-%s", rnd);
        if (mkdirat(s->work_fd, name, 0700) < 0) {
                int e = errno;
                free(name);
                return cb_fail(err, e, "mkdir");
        }
        int fd = openat(s->work_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
                int e = errno;
                free(name);
                return cb_fail(err, e, "open");
        }
        struct layer_extract_opts o;
        layer_extract_opts_init(&o);
        o.no_chown = true;
        int r = layer_extract_fd_opts(fd, in_fd, &o, err);
        if (r < 0) {
                (void) close(fd);
                (void) cb_rm_rf(s->work_fd, name, NULL);
                free(name);
                return r;
        }
        *ret_name = name;
        *ret_fd = fd;
        return 0;
}

static void drop(struct layer_store *s, char *name, int fd)
{
        if (fd >= 0)
                (void) close(fd);
        if (name) {
                struct cb_err e;
                cb_err_init(&e);
                (void) cb_rm_rf(s->work_fd, name, &e);
                cb_err_release(&e);
                free(name);
        }
}

int layer_import_oci_archive(struct layer_store *s, int in_fd, const char *ref_name,
                             char ret_manifest_digest[CB_DIGEST_STR_LEN], struct cb_err *err)
{
        char *name = NULL;
        int fd = -1;
        int r = unpack(s, in_fd, &name, &fd, err);
        if (r < 0)
                return r;
        _cleanup_free_ char *path = cb_xasprintf("%s/%s", s->work_path, name);
        r = layer_import_oci_dir(s, path, ref_name, ret_manifest_digest, err);
        drop(s, name, fd);
        return r;
}

/* A layer file of a docker-archive: stored as-is (plain or compressed), diff_id measured. */
static int import_layer_file(struct layer_store *s, int root_fd, const char *path, struct layer_desc *d,
                             struct cb_err *err)
{
        int fd = layer_open_in_root(root_fd, path, O_RDONLY);
        if (fd < 0)
                return cb_fail(err, -fd, "open '%s'", path);
        uint64_t size = 0;
        int r = layer_store_put_blob_fd(s, fd, NULL, d->digest, &size, err);
        (void) close(fd);
        if (r < 0)
                return r;
        d->size = size;
        _cleanup_close_ int bfd = layer_store_open_blob(s, d->digest, NULL, err);
        if (bfd < 0)
                return bfd;
        unsigned char m[4] = { 0 };
        ssize_t got = pread(bfd, m, sizeof(m), 0);
        const char *mt = LAYER_MT_OCI_LAYER;
        if (got >= 2 && m[0] == 0x1f && m[1] == 0x8b)
                mt = LAYER_MT_OCI_LAYER_GZIP;
        else if (got == 4 && m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd)
                mt = LAYER_MT_OCI_LAYER_ZSTD;
        memcpy(d->media_type, mt, strlen(mt) + 1);
        if (!strcmp(mt, LAYER_MT_OCI_LAYER)) {
                memcpy(d->diff_id, d->digest, CB_DIGEST_STR_LEN);
                return 0;
        }
        struct layer_source *src;
        if ((r = layer_source_new(bfd, &src, err)) < 0)
                return r;
        char dig[CB_DIGEST_STR_LEN];
        r = layer_source_finish(src, d->diff_id, dig, err);
        layer_source_free(src);
        return r;
}

static int read_json_in_root(int root_fd, const char *path, json_t **ret, struct cb_err *err)
{
        int fd = layer_open_in_root(root_fd, path, O_RDONLY);
        if (fd < 0)
                return cb_fail(err, -fd, "open '%s'", path);
        struct cb_buf b;
        cb_buf_init(&b, LAYER_JSON_MAX);
        int r = cb_read_all(fd, &b);
        (void) close(fd);
        if (r < 0) {
                cb_buf_release(&b);
                return cb_fail(err, -r, "read '%s'", path);
        }
        json_error_t je;
        json_t *j = json_loadb(b.p, b.len, 0, &je);
        cb_buf_release(&b);
        if (!j)
                return cb_failc(err, -EBADMSG, "'%s': invalid JSON: %s", path, je.text);
        *ret = j;
        return 0;
}

/* The annotations of the image whose config is config_digest, where the docker-archive is an OCI
 * layout too (Docker 25+, cubuild): its manifest in index.json, verified by digest. NULL when absent. */
static json_t *layout_annotations(int root_fd, const char *config_digest)
{
        struct stat st;
        if (fstatat(root_fd, "index.json", &st, AT_SYMLINK_NOFOLLOW) != 0)
                return NULL;
        _cleanup_json_ json_t *idx = NULL;
        if (read_json_in_root(root_fd, "index.json", &idx, NULL) < 0)
                return NULL;
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(idx, "manifests"), i, e)
        {
                const char *d = json_string_value(json_object_get(e, "digest"));
                if (!d || !cb_digest_valid(d))
                        continue;
                _cleanup_free_ char *path = cb_xasprintf("blobs/sha256/%s", d + 7);
                int fd = layer_open_in_root(root_fd, path, O_RDONLY);
                if (fd < 0)
                        continue;
                struct cb_buf b;
                cb_buf_init(&b, LAYER_JSON_MAX);
                int r = cb_read_all(fd, &b);
                (void) close(fd);
                char got[CB_DIGEST_STR_LEN];
                json_t *m = NULL;
                if (r >= 0) {
                        cb_sha256_digest(b.p, b.len, got);
                        if (!strcmp(got, d))
                                m = json_loadb(b.p, b.len, 0, NULL);
                }
                cb_buf_release(&b);
                const char *cd = json_string_value(json_object_get(json_object_get(m, "config"), "digest"));
                json_t *an = json_object_get(m, "annotations");
                json_t *ret = cd && !strcmp(cd, config_digest) && json_is_object(an) ? json_incref(an) : NULL;
                if (m)
                        json_decref(m);
                if (ret)
                        return ret;
        }
        return NULL;
}

/* One manifest.json entry of a docker-archive -> an OCI manifest in the store. */
static int import_docker_image(struct layer_store *s, int root_fd, json_t *ent, struct layer_loaded *out,
                               struct cb_err *err)
{
        const char *cfgpath = json_string_value(json_object_get(ent, "Config"));
        json_t *ls = json_object_get(ent, "Layers");
        if (!cfgpath || !json_is_array(ls))
                return cb_failc(err, -EBADMSG, "manifest.json entry without Config or Layers");
        char cdigest[CB_DIGEST_STR_LEN];
        uint64_t csize = 0;
        int fd = layer_open_in_root(root_fd, cfgpath, O_RDONLY);
        if (fd < 0)
                return cb_fail(err, -fd, "open '%s'", cfgpath);
        int r = layer_store_put_blob_fd(s, fd, NULL, cdigest, &csize, err);
        (void) close(fd);
        if (r < 0)
                return r;
        _cleanup_json_ json_t *cfg = NULL;
        if ((r = layer_store_read_json(s, cdigest, &cfg, err)) < 0)
                return r;
        json_t *ids = json_object_get(json_object_get(cfg, "rootfs"), "diff_ids");
        if (json_array_size(ids) != json_array_size(ls))
                return cb_failc(err, -EBADMSG, "config '%s' has %zu diff_ids for %zu layers", cfgpath,
                                json_array_size(ids), json_array_size(ls));
        json_t *layers = json_array();
        size_t i;
        json_t *l;
        json_array_foreach(ls, i, l)
        {
                const char *lp = json_string_value(l);
                struct layer_desc d;
                memset(&d, 0, sizeof(d));
                if (!lp) {
                        r = cb_failc(err, -EBADMSG, "manifest.json: layer %zu is not a path", i);
                        break;
                }
                if ((r = import_layer_file(s, root_fd, lp, &d, err)) < 0)
                        break;
                const char *want = json_string_value(json_array_get(ids, i));
                if (!want || strcmp(want, d.diff_id) != 0) {
                        r = cb_failc(err, -EBADMSG, "layer '%s' hashes to %s, the config says %s", lp, d.diff_id,
                                     want ? want : "nothing");
                        break;
                }
                (void) json_array_append_new(layers, json_pack("{s:s, s:s, s:I}", "mediaType", d.media_type, "digest",
                                                               d.digest, "size", (json_int_t) d.size));
        }
        if (r < 0) {
                json_decref(layers);
                return r;
        }
        _cleanup_json_ json_t *m = json_pack("{s:i, s:s, s:{s:s, s:s, s:I}, s:o}", "schemaVersion", 2, "mediaType",
                                             LAYER_MT_OCI_MANIFEST, "config", "mediaType", LAYER_MT_OCI_CONFIG,
                                             "digest", cdigest, "size", (json_int_t) csize, "layers", layers);
        json_t *an = layout_annotations(root_fd, cdigest);
        if (an)
                (void) json_object_set_new(m, "annotations", an);
        if ((r = layer_store_put_json(s, m, out->manifest_digest, NULL, err)) < 0)
                return r;
        json_t *tags = json_object_get(ent, "RepoTags");
        out->repo_tags = cb_xcalloc(json_array_size(tags) + 1, sizeof(char *));
        json_array_foreach(tags, i, l)
        {
                if (json_is_string(l))
                        out->repo_tags[out->ntags++] = cb_xstrdup(json_string_value(l));
        }
        return 0;
}

int layer_import_archive(struct layer_store *s, int in_fd, struct layer_loaded **ret, size_t *ret_n, struct cb_err *err)
{
        char *name = NULL;
        int fd = -1;
        int r = unpack(s, in_fd, &name, &fd, err);
        if (r < 0)
                return r;
        struct layer_loaded *v = NULL;
        size_t n = 0;
        struct stat st;
        if (fstatat(fd, "manifest.json", &st, AT_SYMLINK_NOFOLLOW) == 0) {
                _cleanup_json_ json_t *mj = NULL;
                if ((r = read_json_in_root(fd, "manifest.json", &mj, err)) == 0) {
                        if (!json_is_array(mj) || json_array_size(mj) == 0) {
                                r = cb_failc(err, -EBADMSG, "manifest.json lists no image");
                        } else {
                                v = cb_xcalloc(json_array_size(mj), sizeof(*v));
                                size_t i;
                                json_t *e;
                                json_array_foreach(mj, i, e)
                                {
                                        if ((r = import_docker_image(s, fd, e, &v[n], err)) < 0)
                                                break;
                                        n++;
                                }
                        }
                }
        } else if (fstatat(fd, "oci-layout", &st, AT_SYMLINK_NOFOLLOW) == 0) {
                _cleanup_free_ char *path = cb_xasprintf("%s/%s", s->work_path, name);
                v = cb_xcalloc(1, sizeof(*v));
                r = layer_import_oci_dir(s, path, NULL, v[0].manifest_digest, err);
                if (r == 0) {
                        n = 1;
                        _cleanup_json_ json_t *idx = NULL;
                        if (read_json_in_root(fd, "index.json", &idx, err) == 0) {
                                const char *ref = json_string_value(json_object_get(
                                        json_object_get(json_array_get(json_object_get(idx, "manifests"), 0),
                                                        "annotations"),
                                        LAYER_ANNOTATION_REF_NAME));
                                v[0].repo_tags = cb_xcalloc(2, sizeof(char *));
                                if (ref)
                                        v[0].repo_tags[v[0].ntags++] = cb_xstrdup(ref);
                        }
                        cb_err_reset(err);
                }
        } else {
                r = cb_failc(err, -EMEDIUMTYPE, "neither a docker-archive (manifest.json) nor an oci-archive (oci-layout)");
        }
        drop(s, name, fd);
        if (r < 0) {
                layer_loaded_free(v, n);
                cb_wrap(err, "load archive");
                return r;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

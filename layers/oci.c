/* OCI image layout export/import (image-spec image-layout.md) and rootfs tarball import. */
#include "layers/layer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "layers/internal.h"

const char *layer_host_arch(void);

const char *layer_host_arch(void)
{
#if defined(__x86_64__)
        return "amd64";
#elif defined(__aarch64__)
        return "arm64";
#elif defined(__powerpc64__)
        return "ppc64le";
#elif defined(__s390x__)
        return "s390x";
#else
        return "unknown";
#endif
}

/* Copies src_dir_fd/name to dst_dir_fd/name atomically (temp + fsync + rename), or hard-links it. */
static int copy_blob(int src_dir_fd, int dst_dir_fd, const char *name, struct cb_err *err)
{
        struct stat st;
        if (fstatat(dst_dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
                return 0;
        if (linkat(src_dir_fd, name, dst_dir_fd, name, 0) == 0 || errno == EEXIST)
                return 0;
        _cleanup_close_ int in = openat(src_dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (in < 0)
                return cb_fail(err, errno, "open blob '%s'", name);
        char rnd[17];
        cb_random_hex(rnd, 8);
        _cleanup_free_ char *tmp = cb_xasprintf(".tmp-%s", rnd);
        int out = openat(dst_dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (out < 0)
                return cb_fail(err, errno, "create '%s'", tmp);
        int r = 0;
        _cleanup_free_ char *chunk = cb_xmalloc(LAYER_IO_CHUNK);
        for (;;) {
                ssize_t n = copy_file_range(in, NULL, out, NULL, 1u << 30, 0);
                if (n > 0)
                        continue;
                if (n == 0)
                        break;
                if (errno == EINTR)
                        continue;
                /* copy_file_range refused (EXDEV on old kernels, ENOSYS, EINVAL): plain read/write */
                for (;;) {
                        ssize_t m = read(in, chunk, LAYER_IO_CHUNK);
                        if (m < 0 && errno == EINTR)
                                continue;
                        if (m < 0) {
                                r = cb_fail(err, errno, "read blob '%s'", name);
                                break;
                        }
                        if (m == 0)
                                break;
                        int w = cb_write_all(out, chunk, (size_t) m);
                        if (w < 0) {
                                r = cb_fail(err, -w, "write blob '%s'", name);
                                break;
                        }
                }
                break;
        }
        if (r == 0 && fsync(out) < 0)
                r = cb_fail(err, errno, "fsync blob '%s'", name);
        if (close(out) < 0 && r == 0)
                r = cb_fail(err, errno, "close blob '%s'", name);
        if (r == 0 && renameat(dst_dir_fd, tmp, dst_dir_fd, name) < 0)
                r = cb_fail(err, errno, "rename blob '%s'", name);
        if (r < 0)
                (void) unlinkat(dst_dir_fd, tmp, 0);
        return r;
}

static int load_index(int dir_fd, const char *what, bool create, json_t **ret, struct cb_err *err)
{
        struct cb_buf b;
        cb_buf_init(&b, LAYER_JSON_MAX);
        int r = cb_read_file(dir_fd, "index.json", LAYER_JSON_MAX, &b, err);
        if (r == -ENOENT && create) {
                cb_err_reset(err);
                cb_buf_release(&b);
                *ret = json_pack("{s:i, s:s, s:[]}", "schemaVersion", 2, "mediaType", LAYER_MT_OCI_INDEX, "manifests");
                return 0;
        }
        if (r < 0) {
                cb_buf_release(&b);
                cb_wrap(err, "'%s'", what);
                return r;
        }
        json_error_t je;
        json_t *j = json_loadb(b.p, b.len, 0, &je);
        cb_buf_release(&b);
        if (!j || !json_is_array(json_object_get(j, "manifests"))) {
                if (j)
                        json_decref(j);
                return cb_failc(err, -EBADMSG, "'%s/index.json' is not an OCI index", what);
        }
        *ret = j;
        return 0;
}

int layer_export_oci_dir(struct layer_store *s, const char *manifest_digest, const char *dest_dir, const char *ref_name,
                         struct cb_err *err)
{
        struct layer_image *img = NULL;
        int r = layer_image_read(s, manifest_digest, &img, err);
        if (r < 0)
                return r;
        _cleanup_close_ int dfd = -1, bfd = -1;
        _cleanup_json_ json_t *idx = NULL;
        uint64_t msize = 0;
        if ((r = cb_mkdir_p(AT_FDCWD, dest_dir, 0755, err)) < 0)
                goto out;
        dfd = open(dest_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) {
                r = cb_fail(err, errno, "open '%s'", dest_dir);
                goto out;
        }
        if ((r = cb_mkdir_p(dfd, "blobs/sha256", 0755, err)) < 0)
                goto out;
        bfd = openat(dfd, "blobs/sha256", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (bfd < 0) {
                r = cb_fail(err, errno, "open '%s/blobs/sha256'", dest_dir);
                goto out;
        }
        if ((r = copy_blob(s->blobs_fd, bfd, img->config_digest + 7, err)) < 0)
                goto out;
        for (size_t i = 0; i < img->nlayers; i++)
                if ((r = layer_blob_ensure(s, img->layers[i].digest, err)) < 0 ||
                    (r = copy_blob(s->blobs_fd, bfd, img->layers[i].digest + 7, err)) < 0)
                        goto out;
        if ((r = copy_blob(s->blobs_fd, bfd, manifest_digest + 7, err)) < 0)
                goto out;
        (void) fsync(bfd);
        {
                _cleanup_close_ int mfd = layer_store_open_blob(s, manifest_digest, &msize, err);
                if (mfd < 0) {
                        r = mfd;
                        goto out;
                }
        }
        static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
        if ((r = cb_write_file_atomic(dfd, "oci-layout", layout, sizeof(layout) - 1, 0644, err)) < 0)
                goto out;
        if ((r = load_index(dfd, dest_dir, true, &idx, err)) < 0)
                goto out;
        json_t *ms = json_object_get(idx, "manifests");
        if (ref_name) {
                for (size_t i = json_array_size(ms); i-- > 0;) {
                        const char *n = json_string_value(json_object_get(
                                json_object_get(json_array_get(ms, i), "annotations"), LAYER_ANNOTATION_REF_NAME));
                        if (n && !strcmp(n, ref_name))
                                (void) json_array_remove(ms, i);
                }
        }
        const char *mt = json_string_value(json_object_get(img->manifest, "mediaType"));
        json_t *e = json_pack("{s:s, s:s, s:I}", "mediaType", mt ? mt : LAYER_MT_OCI_MANIFEST, "digest", manifest_digest,
                              "size", (json_int_t) msize);
        if (ref_name)
                (void) json_object_set_new(e, "annotations", json_pack("{s:s}", LAYER_ANNOTATION_REF_NAME, ref_name));
        (void) json_array_append_new(ms, e);
        {
                _cleanup_free_ char *text = json_dumps(idx, JSON_COMPACT | JSON_SORT_KEYS);
                if (!text) {
                        r = cb_failc(err, -ENOMEM, "cannot serialise index");
                        goto out;
                }
                r = cb_write_file_atomic(dfd, "index.json", text, strlen(text), 0644, err);
        }
out:
        layer_image_free(img);
        if (r < 0)
                cb_wrap(err, "export to '%s'", dest_dir);
        return r;
}

static int import_blob(struct layer_store *s, int src_fd, const char *digest, struct cb_err *err)
{
        if (!digest || !cb_digest_valid(digest))
                return cb_failc(err, -EINVAL, "invalid digest '%s'", digest ? digest : "(null)");
        if (layer_store_has_blob(s, digest))
                return 0;
        _cleanup_free_ char *rel = cb_xasprintf("blobs/sha256/%s", digest + 7);
        _cleanup_close_ int fd = openat(src_fd, rel, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return cb_fail(err, errno, "open '%s'", rel);
        return layer_store_put_blob_fd(s, fd, digest, NULL, NULL, err);
}

/* Picks the manifest for the host platform from an image index already in the store. */
static int pick_from_index(struct layer_store *s, int src_fd, const char *digest, char ret[CB_DIGEST_STR_LEN],
                           struct cb_err *err)
{
        _cleanup_json_ json_t *ix = NULL;
        int r = layer_store_read_json(s, digest, &ix, err);
        if (r < 0)
                return r;
        json_t *ms = json_object_get(ix, "manifests");
        size_t i;
        json_t *e;
        const char *first = NULL;
        json_array_foreach(ms, i, e)
        {
                const char *d = json_string_value(json_object_get(e, "digest"));
                json_t *pf = json_object_get(e, "platform");
                const char *os = json_string_value(json_object_get(pf, "os"));
                const char *arch = json_string_value(json_object_get(pf, "architecture"));
                if (!d || !cb_digest_valid(d))
                        continue;
                if (!first)
                        first = d;
                if ((!os || !strcmp(os, "linux")) && arch && !strcmp(arch, layer_host_arch())) {
                        first = d;
                        break;
                }
        }
        if (!first)
                return cb_failc(err, -ENOENT, "image index '%s' lists no manifest", digest);
        r = import_blob(s, src_fd, first, err);
        if (r < 0)
                return r;
        memcpy(ret, first, CB_DIGEST_STR_LEN);
        return 0;
}

int layer_import_oci_dir(struct layer_store *s, const char *src_dir, const char *ref_name,
                         char ret_manifest_digest[CB_DIGEST_STR_LEN], struct cb_err *err)
{
        _cleanup_close_ int sfd = open(src_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (sfd < 0)
                return cb_fail(err, errno, "open '%s'", src_dir);
        _cleanup_json_ json_t *idx = NULL;
        int r = load_index(sfd, src_dir, false, &idx, err);
        if (r < 0)
                return r;
        json_t *ms = json_object_get(idx, "manifests");
        json_t *pick = NULL;
        size_t i;
        json_t *e;
        json_array_foreach(ms, i, e)
        {
                const char *n = json_string_value(json_object_get(json_object_get(e, "annotations"), LAYER_ANNOTATION_REF_NAME));
                if (ref_name ? (n && !strcmp(n, ref_name)) : true) {
                        if (pick && !ref_name)
                                return cb_failc(err, -EINVAL, "'%s' holds %zu manifests: name one", src_dir,
                                                json_array_size(ms));
                        pick = e;
                        if (ref_name)
                                break;
                }
        }
        if (!pick)
                return cb_failc(err, -ENOENT, "'%s' has no manifest%s%s", src_dir, ref_name ? " named " : "",
                                ref_name ? ref_name : "");
        char md[CB_DIGEST_STR_LEN];
        const char *d = json_string_value(json_object_get(pick, "digest"));
        if ((r = import_blob(s, sfd, d, err)) < 0)
                goto fail;
        memcpy(md, d, CB_DIGEST_STR_LEN);
        const char *mt = json_string_value(json_object_get(pick, "mediaType"));
        if (mt && (!strcmp(mt, LAYER_MT_OCI_INDEX) || !strcmp(mt, LAYER_MT_DOCKER_LIST))) {
                if ((r = pick_from_index(s, sfd, d, md, err)) < 0)
                        goto fail;
        }
        {
                _cleanup_json_ json_t *m = NULL;
                if ((r = layer_store_read_json(s, md, &m, err)) < 0)
                        goto fail;
                if ((r = import_blob(s, sfd, json_string_value(json_object_get(json_object_get(m, "config"), "digest")),
                                     err)) < 0)
                        goto fail;
                json_t *ls = json_object_get(m, "layers");
                json_array_foreach(ls, i, e)
                {
                        if ((r = import_blob(s, sfd, json_string_value(json_object_get(e, "digest")), err)) < 0)
                                goto fail;
                }
        }
        /* proves the result is a complete image whose config matches its layers */
        struct layer_image *img = NULL;
        if ((r = layer_image_read(s, md, &img, err)) < 0)
                goto fail;
        layer_image_free(img);
        memcpy(ret_manifest_digest, md, CB_DIGEST_STR_LEN);
        return 0;
fail:
        cb_wrap(err, "import '%s'", src_dir);
        return r;
}

int layer_import_rootfs_tar(struct layer_store *s, const char *tar_path, const struct layer_commit_opts *o,
                            char ret_manifest_digest[CB_DIGEST_STR_LEN], struct cb_err *err)
{
        struct layer_commit_opts def;
        if (!o) {
                layer_commit_opts_init(&def);
                o = &def;
        }
        _cleanup_close_ int tfd = open(tar_path, O_RDONLY | O_CLOEXEC);
        if (tfd < 0)
                return cb_fail(err, errno, "open '%s'", tar_path);
        char rnd[17];
        cb_random_hex(rnd, 8);
        _cleanup_free_ char *scratch = cb_xasprintf("import-%s", rnd);
        if (mkdirat(s->work_fd, scratch, 0755) < 0)
                return cb_fail(err, errno, "mkdir '%s'", scratch);
        int r;
        struct layer_desc l;
        {
                _cleanup_close_ int dfd = openat(s->work_fd, scratch, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (dfd < 0) {
                        r = cb_fail(err, errno, "open '%s'", scratch);
                        goto out;
                }
                r = layer_extract_fd(dfd, tfd, LAYER_EXTRACT_APPLY, err);
                if (r < 0)
                        goto out;
                struct layer_commit_opts co = *o;
                co.overlay_whiteouts = false;
                r = layer_commit_dir(s, dfd, &co, &l, err);
                if (r < 0)
                        goto out;
        }
        {
                time_t t = o->source_date_epoch >= 0 ? (time_t) o->source_date_epoch : time(NULL);
                struct tm tm;
                char created[64];
                (void) gmtime_r(&t, &tm);
                (void) strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm);
                _cleanup_json_ json_t *cfg = json_pack("{s:s, s:s, s:s, s:{}, s:[{s:s, s:s}]}", "architecture",
                                                       layer_host_arch(), "os", "linux", "created", created, "config",
                                                       "history", "created", created, "created_by", "cubuild import");
                r = layer_image_write(s, cfg, &l, 1, false, NULL, ret_manifest_digest, err);
        }
out: {
        struct cb_err e2;
        cb_err_init(&e2);
        (void) cb_rm_rf(s->work_fd, scratch, &e2);
        cb_err_release(&e2);
}
        if (r < 0)
                cb_wrap(err, "import '%s'", tar_path);
        return r;
}

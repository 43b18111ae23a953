/* Directory-backed layers: a large uncompressed layer committed from a directory keeps that directory as
 * layers/<hex>/ and a record in dirlayers/<hex> (its size and the commit options), and its blob is
 * written from the directory the first time something opens it. Hashing a 7 GB pip install costs what
 * reading it costs; writing its blob as well doubles the disk traffic of the commit. The tar is a
 * function of the tree and the options (layer_commit_dir() is deterministic), and the blob written later
 * is checked against the recorded digest. */
#include "layers/layer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layers/internal.h"

#define RECORD_MAX 4096

static char *record_path(const char *digest)
{
        return cb_xasprintf(LAYER_DIRLAYERS "/%s", digest + 7);
}

/* The record of digest: size and the options its tar was made with. -ENOENT when there is none. */
static int record_read(struct layer_store *s, const char *digest, uint64_t *ret_size, struct layer_commit_opts *ret_o,
                       struct cb_err *err)
{
        _cleanup_free_ char *rel = record_path(digest);
        struct cb_buf b;
        cb_buf_init(&b, RECORD_MAX);
        int r = cb_read_file(s->root_fd, rel, RECORD_MAX, &b, err);
        if (r < 0) {
                cb_buf_release(&b);
                return r;
        }
        json_error_t je;
        _cleanup_json_ json_t *j = json_loadb(b.p, b.len, 0, &je);
        cb_buf_release(&b);
        json_t *sz = json_object_get(j, "size"), *ep = json_object_get(j, "source_date_epoch");
        if (!json_is_object(j) || !json_is_integer(sz) || json_integer_value(sz) < 0 || !json_is_integer(ep))
                return cb_failc(err, -EBADMSG, "'%s/%s' is not a layer record", s->root, rel);
        *ret_size = (uint64_t) json_integer_value(sz);
        if (ret_o) {
                layer_commit_opts_init(ret_o);
                ret_o->compression = LAYER_UNCOMPRESSED;
                ret_o->source_date_epoch = (int64_t) json_integer_value(ep);
                ret_o->overlay_whiteouts = json_is_true(json_object_get(j, "overlay_whiteouts"));
        }
        return 0;
}

static int record_write(struct layer_store *s, const struct layer_desc *d, const struct layer_commit_opts *o,
                        struct cb_err *err)
{
        if (mkdirat(s->root_fd, LAYER_DIRLAYERS, 0700) < 0 && errno != EEXIST)
                return cb_fail(err, errno, "mkdir '%s/" LAYER_DIRLAYERS "'", s->root);
        _cleanup_free_ char *rel = record_path(d->digest);
        _cleanup_free_ char *text = cb_xasprintf("{\"overlay_whiteouts\":%s,\"size\":%llu,\"source_date_epoch\":%lld}\n",
                                                 o->overlay_whiteouts ? "true" : "false",
                                                 (unsigned long long) d->size, (long long) o->source_date_epoch);
        return cb_write_file_atomic(s->root_fd, rel, text, strlen(text), 0600, err);
}

static bool dir_present(struct layer_store *s, const char *digest)
{
        struct stat st;
        return fstatat(s->layers_fd, digest + 7, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

bool layer_dirlayer_size(struct layer_store *s, const char *digest, uint64_t *ret_size)
{
        if (!digest || !cb_digest_valid(digest) || !dir_present(s, digest))
                return false;
        struct cb_err e;
        cb_err_init(&e);
        uint64_t size = 0;
        int r = record_read(s, digest, &size, NULL, &e);
        cb_err_release(&e);
        if (r < 0)
                return false;
        if (ret_size)
                *ret_size = size;
        return true;
}

int layer_dirlayer_tar(struct layer_store *s, const char *digest, enum layer_compression c, int level, int out_fd,
                       struct layer_desc *ret, struct cb_err *err)
{
        uint64_t size;
        struct layer_commit_opts o;
        int r = record_read(s, digest, &size, &o, err);
        if (r == -ENOENT) {
                cb_err_reset(err);
                return cb_failc(err, -ENOENT, "no blob '%s' in '%s'", digest, s->root);
        }
        if (r < 0)
                return r;
        _cleanup_close_ int dfd = openat(s->layers_fd, digest + 7, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0)
                return cb_fail(err, errno, "layer '%s' is kept as its directory '%s/layers/%s', which is gone", digest,
                               s->root, digest + 7);
        o.compression = c;
        o.level = level;
        struct layer_desc d;
        uint64_t tar_size = 0;
        r = layer_tar_dir_limit(dfd, out_fd, &o, UINT64_MAX, NULL, &d, &tar_size, err);
        if (r == 0 && (strcmp(d.diff_id, digest) != 0 || tar_size != size))
                r = cb_failc(err, -EBADMSG,
                             "layer '%s': its directory '%s/layers/%s' was changed since it was committed (its tar now "
                             "hashes to %s); remove the images that use it and build them again",
                             digest, s->root, digest + 7, d.diff_id);
        if (r < 0) {
                cb_wrap(err, "write layer '%s' from its directory", digest);
                return r;
        }
        *ret = d;
        return 0;
}

int layer_blob_ensure(struct layer_store *s, const char *digest, struct cb_err *err)
{
        if (!digest || !cb_digest_valid(digest))
                return cb_failc(err, -EINVAL, "invalid digest '%s'", digest ? digest : "(null)");
        if (faccessat(s->blobs_fd, digest + 7, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
                return 0;
        _cleanup_free_ char *rel = record_path(digest);
        if (faccessat(s->root_fd, rel, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
                return cb_failc(err, -ENOENT, "no blob '%s' in '%s'", digest, s->root);
        struct layer_blob_writer *w;
        int r = layer_store_blob_begin(s, &w, err);
        if (r < 0)
                return r;
        struct layer_desc d;
        r = layer_dirlayer_tar(s, digest, LAYER_UNCOMPRESSED, -1, layer_blob_writer_fd(w), &d, err);
        if (r < 0) {
                layer_blob_writer_abort(w);
                return r;
        }
        if ((r = layer_blob_writer_commit_hashed(w, digest, err)) < 0)
                return r;
        (void) unlinkat(s->root_fd, rel, 0);
        return 0;
}

/* ---- commit ---- */

/* syncfs() of the committed tree's filesystem on a second thread, beside the hashing: a directory-backed
 * layer's tree is its only copy, so it must be on disk before the layer is recorded. */
struct syncer {
        pthread_t th;
        int fd;
        int rc;
        bool started;
};

static void *sync_main(void *arg)
{
        struct syncer *y = arg;
        y->rc = syncfs(y->fd) < 0 ? -errno : 0;
        return NULL;
}

static void syncer_start(struct syncer *y)
{
        if (y->started)
                return;
        y->started = pthread_create(&y->th, NULL, sync_main, y) == 0;
}

static int syncer_join(struct syncer *y)
{
        if (!y->started)
                return syncfs(y->fd) < 0 ? -errno : 0;
        (void) pthread_join(y->th, NULL);
        y->started = false;
        return y->rc;
}

struct adopt_progress {
        const struct layer_commit_opts *user;
        struct syncer *y;
        uint64_t dir_min;
};

static void on_bytes(void *ud, uint64_t n)
{
        struct adopt_progress *a = ud;
        if (n >= a->dir_min)
                syncer_start(a->y);
        if (a->user->progress)
                a->user->progress(a->user->progress_ud, n);
}

int layer_commit_adopt(struct layer_store *s, int parent_fd, const char *name, const struct layer_commit_opts *o,
                       uint64_t dir_min, struct layer_desc *ret, struct cb_err *err)
{
        struct layer_commit_opts def;
        if (!o) {
                layer_commit_opts_init(&def);
                o = &def;
        }
        _cleanup_close_ int dfd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0)
                return cb_fail(err, errno, "open '%s'", name);
        struct layer_desc d;
        int r;
        if (o->compression != LAYER_UNCOMPRESSED) {
                if ((r = layer_commit_dir(s, dfd, o, &d, err)) < 0)
                        return r;
        } else {
                struct layer_blob_writer *w;
                if ((r = layer_store_blob_begin(s, &w, err)) < 0)
                        return r;
                struct syncer y = { .fd = dfd };
                struct adopt_progress a = { .user = o, .y = &y, .dir_min = dir_min };
                struct layer_commit_opts co = *o;
                co.progress = on_bytes;
                co.progress_ud = &a;
                bool dropped = false;
                r = layer_tar_dir_limit(dfd, layer_blob_writer_fd(w), &co, dir_min, &dropped, &d, NULL, err);
                if (r < 0 || dropped || layer_store_has_blob(s, d.digest))
                        layer_blob_writer_abort(w);
                else
                        r = layer_blob_writer_commit_hashed(w, d.digest, err);
                if (y.started || (r == 0 && dropped)) {
                        int sr = syncer_join(&y);
                        if (r == 0 && sr < 0)
                                r = cb_fail(err, -sr, "sync the filesystem of '%s'", name);
                }
                if (r == 0 && dropped && !layer_store_has_blob(s, d.digest))
                        r = record_write(s, &d, o, err);
                if (r < 0) {
                        cb_wrap(err, "commit layer");
                        return r;
                }
        }
        if ((r = layer_store_adopt_unpacked(s, &d, parent_fd, name, err)) < 0)
                return r;
        *ret = d;
        return 0;
}

/* dirlayers/ opened for readdir into *ret: 1, 0 when there is none, or < 0. */
static int open_records(struct layer_store *s, DIR **ret, struct cb_err *err)
{
        int fd = openat(s->root_fd, LAYER_DIRLAYERS, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : cb_fail(err, errno, "open '%s/" LAYER_DIRLAYERS "'", s->root);
        *ret = fdopendir(fd);
        if (!*ret) {
                int e = errno;
                (void) close(fd);
                return cb_fail(err, e, "open '%s/" LAYER_DIRLAYERS "'", s->root);
        }
        return 1;
}

int layer_dirlayers_sweep(struct layer_store *s, bool (*keep)(void *ud, const char *hex), void *ud, struct cb_err *err)
{
        DIR *dir = NULL;
        int o = open_records(s, &dir, err);
        if (o <= 0)
                return o;
        int fd = dirfd(dir);
        int r = 0, n = 0;
        struct dirent *de;
        while ((de = readdir(dir))) {
                const char *hex = de->d_name;
                if (hex[0] == '.')
                        continue;
                struct stat st;
                bool present = fstatat(s->layers_fd, hex, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
                bool blob = faccessat(s->blobs_fd, hex, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
                if (present && !blob && keep(ud, hex))
                        continue;
                if (unlinkat(fd, hex, 0) < 0 && errno != ENOENT) {
                        r = cb_fail(err, errno, "remove '%s/" LAYER_DIRLAYERS "/%s'", s->root, hex);
                        break;
                }
                n++;
        }
        (void) closedir(dir);
        return r < 0 ? r : n;
}

int layer_store_check_dirlayers(struct layer_store *s, bool repair, layer_check_report report, void *ud,
                                struct cb_err *err)
{
        DIR *dir = NULL;
        int o = open_records(s, &dir, err);
        if (o <= 0)
                return o;
        int fd = dirfd(dir);
        int n = 0;
        struct dirent *de;
        while ((de = readdir(dir))) {
                if (de->d_name[0] == '.')
                        continue;
                if (strlen(de->d_name) != CB_SHA256_HEX_LEN)
                        continue; /* not a record */
                char digest[CB_DIGEST_STR_LEN];
                memcpy(digest, "sha256:", 7);
                memcpy(digest + 7, de->d_name, CB_DIGEST_STR_LEN - 7);
                /* a record whose blob was written, or whose directory is gone, is litter prune removes */
                if (!cb_digest_valid(digest) || !layer_dirlayer_size(s, digest, NULL) ||
                    faccessat(s->blobs_fd, de->d_name, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
                        continue;
                n++;
                struct layer_desc d;
                struct cb_err e2;
                cb_err_init(&e2);
                /* hashed only: nothing is written */
                if (layer_dirlayer_tar(s, digest, LAYER_UNCOMPRESSED, -1, -1, &d, &e2) < 0) {
                        bool removed = false;
                        if (repair) {
                                struct cb_err e3;
                                cb_err_init(&e3);
                                removed = cb_rm_rf(s->layers_fd, de->d_name, &e3) == 0 &&
                                          unlinkat(fd, de->d_name, 0) == 0;
                                cb_err_release(&e3);
                        }
                        report(ud, digest, cb_err_msg(&e2), removed);
                }
                cb_err_release(&e2);
        }
        (void) closedir(dir);
        return n;
}


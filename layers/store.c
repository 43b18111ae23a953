/* The content-addressed store: open/lock, tmp/ recovery, blobs (atomic writes, verified reads). */
#include "layers/layer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "layers/internal.h"

unsigned layer_fault_countdown;

/* A tmp/ entry that is not a locked work directory and is older than this is litter from a crash
 * between mkdir and flock of a new work directory. */
#define STALE_NEW_SECONDS 3600

int layer_blob_relpath(const char *digest, char **ret, struct cb_err *err)
{
        if (!digest || !cb_digest_valid(digest))
                return cb_failc(err, -EINVAL, "invalid digest '%s'", digest ? digest : "(null)");
        *ret = cb_xasprintf("blobs/sha256/%s", digest + 7);
        return 0;
}

static int open_dir_at(int dfd, const char *path, int *ret, struct cb_err *err)
{
        int fd = openat(dfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return cb_fail(err, errno, "open '%s'", path);
        *ret = fd;
        return 0;
}

/* Removes dead work directories: a live store holds an exclusive flock on its own. */
static void clean_tmp(struct layer_store *s)
{
        int fd = fcntl(s->tmp_fd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return;
        DIR *d = fdopendir(fd);
        if (!d) {
                (void) close(fd);
                return;
        }
        struct dirent *de;
        time_t now = time(NULL);
        while ((de = readdir(d))) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                        continue;
                bool remove = false;
                if (!strncmp(de->d_name, "work-", 5)) {
                        _cleanup_close_ int wfd =
                                openat(s->tmp_fd, de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
                        if (wfd >= 0 && flock(wfd, LOCK_EX | LOCK_NB) == 0)
                                remove = true;
                } else {
                        struct stat st;
                        if (fstatat(s->tmp_fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                            now - st.st_mtime > STALE_NEW_SECONDS)
                                remove = true;
                }
                if (remove) {
                        struct cb_err e;
                        cb_err_init(&e);
                        (void) cb_rm_rf(s->tmp_fd, de->d_name, &e);
                        cb_err_release(&e);
                }
        }
        (void) closedir(d);
}

/* Creates tmp/work-<rand> and holds an exclusive flock on it for the life of the store. It is created under
 * a ".new-" name and renamed once locked, so a concurrent clean_tmp() never sees it unlocked. */
static int make_work_dir(struct layer_store *s, struct cb_err *err)
{
        char rnd[17];
        cb_random_hex(rnd, 8);
        _cleanup_free_ char *newname = cb_xasprintf(".new-%s", rnd);
        _cleanup_free_ char *name = cb_xasprintf("work-%d-%s", (int) getpid(), rnd);
        if (mkdirat(s->tmp_fd, newname, 0700) < 0)
                return cb_fail(err, errno, "mkdir 'tmp/%s'", newname);
        int fd = openat(s->tmp_fd, newname, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0) {
                int e = errno;
                (void) unlinkat(s->tmp_fd, newname, AT_REMOVEDIR);
                return cb_fail(err, e, "open 'tmp/%s'", newname);
        }
        if (flock(fd, LOCK_EX) < 0 || renameat(s->tmp_fd, newname, s->tmp_fd, name) < 0) {
                int e = errno;
                (void) close(fd);
                (void) unlinkat(s->tmp_fd, newname, AT_REMOVEDIR);
                return cb_fail(err, e, "lock 'tmp/%s'", name);
        }
        s->work_fd = fd;
        s->work_name = CB_TAKE_PTR(name);
        s->work_path = cb_xasprintf("%s/tmp/%s", s->root, s->work_name);
        return 0;
}

/* An empty index.json, linked into place only when absent: a crash never leaves half a file, and a tag
 * written by a concurrent process is never replaced. */
static int create_index(struct layer_store *s, struct cb_err *err)
{
        static const char index[] = "{\"manifests\":[],\"mediaType\":\"" LAYER_MT_OCI_INDEX "\",\"schemaVersion\":2}";
        char rnd[17];
        cb_random_hex(rnd, 8);
        _cleanup_free_ char *tmp = cb_xasprintf("tmp/index-%s", rnd);
        int fd = openat(s->root_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0)
                return cb_fail(err, errno, "create '%s/%s'", s->root, tmp);
        int w = cb_write_all(fd, index, sizeof(index) - 1);
        int e = w < 0 ? -w : 0;
        if (!e && fsync(fd) < 0)
                e = errno;
        if (close(fd) < 0 && !e)
                e = errno;
        if (!e && linkat(s->root_fd, tmp, s->root_fd, "index.json", 0) < 0 && errno != EEXIST)
                e = errno;
        (void) unlinkat(s->root_fd, tmp, 0);
        if (e)
                return cb_fail(err, e, "write '%s/index.json'", s->root);
        return 0;
}

int layer_default_root(char **ret, struct cb_err *err)
{
        const char *env = getenv("CUBUILD_ROOT");
        if (env && env[0]) {
                *ret = cb_xstrdup(env);
                return 0;
        }
        if (geteuid() == 0) {
                *ret = cb_xstrdup("/var/lib/cubuild");
                return 0;
        }
        const char *xdg = getenv("XDG_DATA_HOME");
        if (xdg && xdg[0] == '/') {
                *ret = cb_xasprintf("%s/cubuild", xdg);
                return 0;
        }
        const char *home = getenv("HOME");
        if (!home || home[0] != '/')
                return cb_failc(err, -ENOENT, "no store root: set CUBUILD_ROOT, XDG_DATA_HOME or HOME");
        *ret = cb_xasprintf("%s/.local/share/cubuild", home);
        return 0;
}

static char *absolute(const char *root)
{
        char *r = realpath(root, NULL);
        return r ? r : cb_xstrdup(root);
}

int layer_store_open(const char *root, struct layer_store **ret, struct cb_err *err)
{
        if (!root || !root[0])
                return cb_failc(err, -EINVAL, "empty store root");
        int r = cb_mkdir_p(AT_FDCWD, root, 0700, err);
        if (r < 0)
                return r;
        struct layer_store *s = cb_xcalloc(1, sizeof(*s));
        s->root_fd = s->blobs_fd = s->layers_fd = s->tmp_fd = s->lock_fd = s->work_fd = -1;
        s->root = absolute(root);
        r = open_dir_at(AT_FDCWD, s->root, &s->root_fd, err);
        if (r < 0)
                goto fail;
        static const char *const dirs[] = { "blobs", "blobs/sha256", "layers", "cache", "tmp" };
        for (size_t i = 0; i < CB_ARRAY_SIZE(dirs); i++) {
                if (mkdirat(s->root_fd, dirs[i], 0700) < 0 && errno != EEXIST) {
                        r = cb_fail(err, errno, "mkdir '%s/%s'", s->root, dirs[i]);
                        goto fail;
                }
        }
        s->lock_fd = openat(s->root_fd, "lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (s->lock_fd < 0) {
                r = cb_fail(err, errno, "open '%s/lock'", s->root);
                goto fail;
        }
        if (flock(s->lock_fd, LOCK_SH) < 0) {
                r = cb_fail(err, errno, "lock '%s/lock'", s->root);
                goto fail;
        }
        if ((r = open_dir_at(s->root_fd, "blobs/sha256", &s->blobs_fd, err)) < 0 ||
            (r = open_dir_at(s->root_fd, "layers", &s->layers_fd, err)) < 0 ||
            (r = open_dir_at(s->root_fd, "tmp", &s->tmp_fd, err)) < 0)
                goto fail;
        /* the store is itself an OCI image layout (blobs/, index.json, oci-layout), so tools can read it */
        if (faccessat(s->root_fd, "oci-layout", F_OK, AT_SYMLINK_NOFOLLOW) < 0) {
                static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
                r = cb_write_file_atomic(s->root_fd, "oci-layout", layout, sizeof(layout) - 1, 0644, err);
                if (r < 0)
                        goto fail;
        }
        if (faccessat(s->root_fd, "index.json", F_OK, AT_SYMLINK_NOFOLLOW) < 0) {
                r = create_index(s, err);
                if (r < 0)
                        goto fail;
        }
        clean_tmp(s);
        r = make_work_dir(s, err);
        if (r < 0)
                goto fail;
        *ret = s;
        return 0;
fail:
        cb_wrap(err, "open store '%s'", root);
        layer_store_free(s);
        return r;
}

struct layer_store *layer_store_free(struct layer_store *s)
{
        if (!s)
                return NULL;
        if (s->work_name && s->tmp_fd >= 0) {
                struct cb_err e;
                cb_err_init(&e);
                (void) cb_rm_rf(s->tmp_fd, s->work_name, &e);
                cb_err_release(&e);
        }
        int fds[] = { s->work_fd, s->tmp_fd, s->layers_fd, s->blobs_fd, s->lock_fd, s->root_fd };
        for (size_t i = 0; i < CB_ARRAY_SIZE(fds); i++)
                if (fds[i] >= 0)
                        (void) close(fds[i]);
        free(s->work_name);
        free(s->work_path);
        free(s->root);
        free(s);
        return NULL;
}

const char *layer_store_root(const struct layer_store *s)
{
        return s->root;
}

int layer_store_root_fd(const struct layer_store *s)
{
        return s->root_fd;
}

int layer_store_work_fd(const struct layer_store *s)
{
        return s->work_fd;
}

const char *layer_store_work_path(const struct layer_store *s)
{
        return s->work_path;
}

char *layer_store_blob_path(struct layer_store *s, const char *digest)
{
        return cb_xasprintf("%s/blobs/sha256/%s", s->root, cb_digest_valid(digest) ? digest + 7 : "invalid");
}

bool layer_store_has_blob(struct layer_store *s, const char *digest)
{
        if (!digest || !cb_digest_valid(digest))
                return false;
        return faccessat(s->blobs_fd, digest + 7, F_OK, AT_SYMLINK_NOFOLLOW) == 0 || layer_dirlayer_size(s, digest, NULL);
}

uint64_t layer_store_blob_size(struct layer_store *s, const char *digest)
{
        struct stat st;
        uint64_t size = 0;
        if (!digest || !cb_digest_valid(digest))
                return 0;
        if (fstatat(s->blobs_fd, digest + 7, &st, AT_SYMLINK_NOFOLLOW) == 0)
                return (uint64_t) st.st_size;
        return layer_dirlayer_size(s, digest, &size) ? size : 0;
}

int layer_store_open_blob(struct layer_store *s, const char *digest, uint64_t *ret_size, struct cb_err *err)
{
        if (!digest || !cb_digest_valid(digest))
                return cb_failc(err, -EINVAL, "invalid digest '%s'", digest ? digest : "(null)");
        int fd = openat(s->blobs_fd, digest + 7, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0 && errno == ENOENT) {
                /* a directory-backed layer gets its blob now; anything else stays missing */
                int r = layer_blob_ensure(s, digest, err);
                if (r < 0 && r != -ENOENT)
                        return r;
                cb_err_reset(err);
                fd = openat(s->blobs_fd, digest + 7, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        }
        if (fd < 0)
                return cb_fail(err, errno, "open blob '%s'", digest);
        if (ret_size) {
                struct stat st;
                if (fstat(fd, &st) < 0) {
                        int e = errno;
                        (void) close(fd);
                        return cb_fail(err, e, "stat blob '%s'", digest);
                }
                *ret_size = (uint64_t) st.st_size;
        }
        return fd;
}

int layer_store_read_blob(struct layer_store *s, const char *digest, size_t max, struct cb_buf *ret, struct cb_err *err)
{
        _cleanup_close_ int fd = layer_store_open_blob(s, digest, NULL, err);
        if (fd < 0)
                return fd;
        size_t start = ret->len, saved = ret->max;
        ret->max = max == CB_BUF_UNLIMITED || start > CB_BUF_UNLIMITED - max ? CB_BUF_UNLIMITED : start + max;
        if (saved != CB_BUF_UNLIMITED && ret->max > saved)
                ret->max = saved;
        int r = cb_read_all(fd, ret);
        ret->max = saved;
        if (r < 0) {
                cb_buf_truncate(ret, start);
                if (r == -E2BIG)
                        return cb_failc(err, -E2BIG, "blob '%s' is larger than %zu bytes", digest, max);
                return cb_fail(err, -r, "read blob '%s'", digest);
        }
        char got[CB_DIGEST_STR_LEN];
        cb_sha256_digest(ret->p + start, ret->len - start, got);
        if (strcmp(got, digest) != 0) {
                cb_buf_truncate(ret, start);
                return cb_failc(err, -EBADMSG, "blob '%s' is corrupt (content hashes to %s)", digest, got);
        }
        return 0;
}

/* ---- blob writer ---- */

struct layer_blob_writer {
        struct layer_store *s;
        int fd;
        char *name; /* in the work dir */
        struct cb_sha256 *h;
        uint64_t size;
};

int layer_store_blob_begin(struct layer_store *s, struct layer_blob_writer **ret, struct cb_err *err)
{
        char rnd[17];
        cb_random_hex(rnd, 8);
        _cleanup_free_ char *name = cb_xasprintf("blob-%s", rnd);
        int fd = openat(s->work_fd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
                return cb_fail(err, errno, "create '%s/%s'", s->work_path, name);
        struct layer_blob_writer *w = cb_xcalloc(1, sizeof(*w));
        w->s = s;
        w->fd = fd;
        w->name = CB_TAKE_PTR(name);
        w->h = cb_sha256_new();
        *ret = w;
        return 0;
}

int layer_blob_writer_fd(const struct layer_blob_writer *w)
{
        return w->fd;
}

uint64_t layer_blob_writer_size(const struct layer_blob_writer *w)
{
        return w->size;
}

int layer_blob_writer_write(struct layer_blob_writer *w, const void *p, size_t len, struct cb_err *err)
{
        int r = layer_fault_hit() ? -EIO : cb_write_all(w->fd, p, len);
        if (r < 0)
                return cb_fail(err, -r, "write blob");
        cb_sha256_update(w->h, p, len);
        w->size += len;
        return 0;
}

void layer_blob_writer_abort(struct layer_blob_writer *w)
{
        if (!w)
                return;
        if (w->fd >= 0)
                (void) close(w->fd);
        (void) unlinkat(w->s->work_fd, w->name, 0);
        cb_sha256_free(w->h);
        free(w->name);
        free(w);
}

/* fsync, close, rename into blobs/, fsync blobs/. Frees w. */
static int writer_finish(struct layer_blob_writer *w, const char *digest, struct cb_err *err)
{
        int r = 0;
        int fe = layer_fault_hit() ? EIO : fsync(w->fd) < 0 ? errno : 0;
        if (fe) {
                r = cb_fail(err, fe, "fsync blob");
                goto out_abort;
        }
        int fd = w->fd;
        w->fd = -1;
        if (close(fd) < 0) {
                r = cb_fail(err, errno, "close blob");
                goto out_abort;
        }
        if (renameat(w->s->work_fd, w->name, w->s->blobs_fd, digest + 7) < 0) {
                r = cb_fail(err, errno, "rename blob into '%s/blobs/sha256'", w->s->root);
                goto out_abort;
        }
        if (fsync(w->s->blobs_fd) < 0 && errno != EINVAL) {
                r = cb_fail(err, errno, "fsync '%s/blobs/sha256'", w->s->root);
                goto out_abort;
        }
        layer_blob_writer_abort(w); /* the temp name is gone already; this frees */
        return 0;
out_abort:
        layer_blob_writer_abort(w);
        return r;
}

int layer_blob_writer_commit_hashed(struct layer_blob_writer *w, const char *digest, struct cb_err *err)
{
        return writer_finish(w, digest, err);
}

int layer_blob_writer_commit(struct layer_blob_writer *w, const char *expected_digest,
                             char ret_digest[CB_DIGEST_STR_LEN], struct cb_err *err)
{
        if (expected_digest && !cb_digest_valid(expected_digest)) {
                layer_blob_writer_abort(w);
                return cb_failc(err, -EINVAL, "invalid digest '%s'", expected_digest);
        }
        char got[CB_DIGEST_STR_LEN];
        struct stat st;
        if (fstat(w->fd, &st) < 0) {
                int e = errno;
                layer_blob_writer_abort(w);
                return cb_fail(err, e, "stat blob");
        }
        if ((uint64_t) st.st_size != w->size) {
                /* written straight to the fd: hash the file */
                unsigned long long size = 0;
                int r = cb_sha256_file(w->s->work_fd, w->name, got, &size, err);
                if (r < 0) {
                        layer_blob_writer_abort(w);
                        return r;
                }
        } else {
                cb_sha256_final(w->h, got);
        }
        if (expected_digest && strcmp(got, expected_digest) != 0) {
                layer_blob_writer_abort(w);
                return cb_failc(err, -EBADMSG, "blob digest mismatch: expected %s, got %s", expected_digest, got);
        }
        int r = writer_finish(w, got, err);
        if (r < 0)
                return r;
        if (ret_digest)
                memcpy(ret_digest, got, CB_DIGEST_STR_LEN);
        return 0;
}

int layer_store_put_blob(struct layer_store *s, const void *p, size_t len, char ret_digest[CB_DIGEST_STR_LEN],
                         struct cb_err *err)
{
        char d[CB_DIGEST_STR_LEN];
        cb_sha256_digest(p, len, d);
        if (!layer_store_has_blob(s, d)) {
                struct layer_blob_writer *w = NULL;
                int r = layer_store_blob_begin(s, &w, err);
                if (r < 0)
                        return r;
                r = layer_blob_writer_write(w, p, len, err);
                if (r < 0) {
                        layer_blob_writer_abort(w);
                        return r;
                }
                r = layer_blob_writer_commit(w, d, NULL, err);
                if (r < 0)
                        return r;
        }
        if (ret_digest)
                memcpy(ret_digest, d, CB_DIGEST_STR_LEN);
        return 0;
}

int layer_store_put_blob_fd(struct layer_store *s, int in_fd, const char *expected, char ret_digest[CB_DIGEST_STR_LEN],
                            uint64_t *ret_size, struct cb_err *err)
{
        struct layer_blob_writer *w = NULL;
        int r = layer_store_blob_begin(s, &w, err);
        if (r < 0)
                return r;
        _cleanup_free_ char *chunk = cb_xmalloc(LAYER_IO_CHUNK);
        for (;;) {
                ssize_t n = read(in_fd, chunk, LAYER_IO_CHUNK);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        int e = errno;
                        layer_blob_writer_abort(w);
                        return cb_fail(err, e, "read");
                }
                if (n == 0)
                        break;
                r = layer_blob_writer_write(w, chunk, (size_t) n, err);
                if (r < 0) {
                        layer_blob_writer_abort(w);
                        return r;
                }
        }
        uint64_t size = w->size;
        r = layer_blob_writer_commit(w, expected, ret_digest, err);
        if (r < 0)
                return r;
        if (ret_size)
                *ret_size = size;
        return 0;
}

int layer_store_read_json(struct layer_store *s, const char *digest, json_t **ret, struct cb_err *err)
{
        struct cb_buf b;
        cb_buf_init(&b, LAYER_JSON_MAX);
        int r = layer_store_read_blob(s, digest, LAYER_JSON_MAX, &b, err);
        if (r < 0) {
                cb_buf_release(&b);
                return r;
        }
        json_error_t je;
        json_t *j = json_loadb(b.p, b.len, JSON_REJECT_DUPLICATES, &je);
        cb_buf_release(&b);
        if (!j || !json_is_object(j)) {
                if (j)
                        json_decref(j);
                return cb_failc(err, -EBADMSG, "blob '%s': invalid JSON: %s", digest, j ? "not an object" : je.text);
        }
        *ret = j;
        return 0;
}

int layer_store_put_json(struct layer_store *s, json_t *j, char ret_digest[CB_DIGEST_STR_LEN], uint64_t *ret_size,
                         struct cb_err *err)
{
        _cleanup_free_ char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
        if (!text)
                return cb_failc(err, -ENOMEM, "cannot serialise JSON");
        size_t len = strlen(text);
        int r = layer_store_put_blob(s, text, len, ret_digest, err);
        if (r < 0)
                return r;
        if (ret_size)
                *ret_size = len;
        return 0;
}

#include "fd.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"

int cb_write_all(int fd, const void *p, size_t len)
{
        const char *c = p;
        while (len > 0) {
                ssize_t n = write(fd, c, len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0) {
                        errno = EIO;
                        return -EIO;
                }
                c += n;
                len -= (size_t) n;
        }
        return 0;
}

int cb_read_all(int fd, struct cb_buf *b)
{
        for (;;) {
                size_t want = 65536;
                if (b->max != CB_BUF_UNLIMITED && b->max - b->len < want)
                        want = b->max - b->len;
                if (want == 0) {
                        /* full: one more byte means the input is larger than max */
                        char c;
                        ssize_t n = read(fd, &c, 1);
                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n < 0)
                                return -errno;
                        return n == 0 ? 0 : -E2BIG;
                }
                int r = cb_buf_grow(b, want);
                if (r < 0)
                        return r;
                ssize_t n = read(fd, b->p + b->len, want);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                b->len += (size_t) n;
                b->p[b->len] = '\0';
        }
        return 0;
}

int cb_read_file(int dir_fd, const char *path, size_t max, struct cb_buf *b, struct cb_err *err)
{
        _cleanup_close_ int fd = openat(dir_fd, path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return cb_fail(err, errno, "open '%s'", path);
        size_t saved = b->max;
        b->max = max;
        int r = cb_read_all(fd, b);
        b->max = saved;
        if (r == -E2BIG)
                return cb_failc(err, -E2BIG, "'%s' is larger than %zu bytes", path, max);
        if (r < 0)
                return cb_fail(err, -r, "read '%s'", path);
        return 0;
}

int cb_fsync_dir(int dir_fd, const char *path, struct cb_err *err)
{
        _cleanup_close_ int fd = openat(dir_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return cb_fail(err, errno, "open directory '%s'", path);
        if (fsync(fd) < 0 && errno != EINVAL)
                return cb_fail(err, errno, "fsync directory '%s'", path);
        return 0;
}

void cb_random_hex(char *buf, size_t n)
{
        static const char digits[] = "0123456789abcdef";
        unsigned char raw[64];
        if (n > sizeof(raw))
                n = sizeof(raw);
        size_t got = 0;
        while (got < n) {
                ssize_t r = getrandom(raw + got, n - got, 0);
                if (r <= 0) {
                        if (r < 0 && errno == EINTR)
                                continue;
                        /* getrandom cannot fail for small requests on Linux >= 3.17 */
                        for (; got < n; got++)
                                raw[got] = (unsigned char) (rand() & 0xff);
                        break;
                }
                got += (size_t) r;
        }
        for (size_t i = 0; i < n; i++) {
                buf[2 * i] = digits[raw[i] >> 4];
                buf[2 * i + 1] = digits[raw[i] & 15];
        }
        buf[2 * n] = '\0';
}

int cb_write_file_atomic(int dir_fd, const char *path, const void *p, size_t len, mode_t mode,
                         struct cb_err *err)
{
        const char *slash = strrchr(path, '/');
        _cleanup_free_ char *dir = slash ? cb_xstrndup(path, (size_t) (slash - path)) : cb_xstrdup(".");
        char rnd[17];
        cb_random_hex(rnd, 8);
        _cleanup_free_ char *tmp = cb_xasprintf("%s/.tmp-%s", dir[0] ? dir : "/", rnd);
        int fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
        if (fd < 0)
                return cb_fail(err, errno, "create '%s'", tmp);
        int r = cb_write_all(fd, p, len);
        if (r < 0) {
                int e = -r;
                (void) close(fd);
                (void) unlinkat(dir_fd, tmp, 0);
                return cb_fail(err, e, "write '%s'", path);
        }
        if (fsync(fd) < 0) {
                int e = errno;
                (void) close(fd);
                (void) unlinkat(dir_fd, tmp, 0);
                return cb_fail(err, e, "fsync '%s'", path);
        }
        if (close(fd) < 0) {
                int e = errno;
                (void) unlinkat(dir_fd, tmp, 0);
                return cb_fail(err, e, "close '%s'", path);
        }
        if (renameat(dir_fd, tmp, dir_fd, path) < 0) {
                int e = errno;
                (void) unlinkat(dir_fd, tmp, 0);
                return cb_fail(err, e, "rename into '%s'", path);
        }
        return cb_fsync_dir(dir_fd, dir[0] ? dir : "/", err);
}

int cb_mkdir_p(int dir_fd, const char *path, mode_t mode, struct cb_err *err)
{
        _cleanup_free_ char *p = cb_xstrdup(path);
        size_t n = strlen(p);
        for (size_t i = 1; i <= n; i++) {
                if (p[i] != '/' && p[i] != '\0')
                        continue;
                char c = p[i];
                p[i] = '\0';
                if (mkdirat(dir_fd, p, mode) < 0 && errno != EEXIST) {
                        int e = errno;
                        return cb_fail(err, e, "mkdir '%s'", p);
                }
                p[i] = c;
        }
        return 0;
}

static int rm_rf_at(int parent_fd, const char *name, struct cb_err *err, unsigned depth)
{
        if (depth > 4096)
                return cb_failc(err, -ELOOP, "rm '%s': directory tree too deep", name);
        if (unlinkat(parent_fd, name, 0) == 0 || errno == ENOENT)
                return 0;
        if (errno != EISDIR && errno != EPERM)
                return cb_fail(err, errno, "unlink '%s'", name);
        int fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return cb_fail(err, errno, "open '%s'", name);
        DIR *d = fdopendir(fd);
        if (!d) {
                int e = errno;
                (void) close(fd);
                return cb_fail(err, e, "opendir '%s'", name);
        }
        struct dirent *de;
        int r = 0;
        while ((de = readdir(d))) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                        continue;
                r = rm_rf_at(dirfd(d), de->d_name, err, depth + 1);
                if (r < 0)
                        break;
        }
        (void) closedir(d);
        if (r < 0)
                return r;
        if (unlinkat(parent_fd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
                return cb_fail(err, errno, "rmdir '%s'", name);
        return 0;
}

int cb_rm_rf(int dir_fd, const char *path, struct cb_err *err)
{
        return rm_rf_at(dir_fd, path, err, 0);
}

int cb_open_dir(int dir_fd, const char *path, struct cb_err *err)
{
        int fd = openat(dir_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return cb_fail(err, errno, "open directory '%s'", path);
        return fd;
}

/* Reading a whole file, bounded. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

long kv_read_file(int dir_fd, const char *path, size_t max, char **ret)
{
        int fd = dir_fd;
        char *buf = NULL, *grown;
        size_t len = 0, cap = 0;
        long rc;

        /* path NULL reads dir_fd itself, from its current offset (the caller's open file). */
        if (path) {
                fd = openat(dir_fd, path, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        return -errno;
        }
        for (;;) {
                ssize_t n;

                if (len == cap) {
                        if (cap >= max + 1) {
                                rc = -EFBIG;
                                goto out_close;
                        }
                        cap = cap ? cap * 2 : 65536;
                        if (cap > max + 1)
                                cap = max + 1;
                        grown = realloc(buf, cap + 1);
                        if (!grown) {
                                rc = -ENOMEM;
                                goto out_close;
                        }
                        buf = grown;
                }
                n = read(fd, buf + len, cap - len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        rc = -errno;
                        goto out_close;
                }
                if (n == 0)
                        break;
                len += (size_t) n;
        }
        if (len > max) {
                rc = -EFBIG;
                goto out_close;
        }
        if (!buf) {
                buf = malloc(1);
                if (!buf) {
                        rc = -ENOMEM;
                        goto out_close;
                }
        }
        buf[len] = '\0';
        *ret = buf;
        buf = NULL;
        rc = (long) len;
out_close:
        free(buf);
        if (path)
                close(fd);
        return rc;
}

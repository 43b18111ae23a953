/* File-descriptor and path helpers. Every fd is close-on-exec; functions take (dir_fd, relpath). */
#ifndef CB_FD_H
#define CB_FD_H

#include <stddef.h>
#include <sys/types.h>

#include "buf.h"
#include "err.h"

/* Writes all of p, retrying short writes and EINTR. Returns 0 or -errno (errno is set too). */
int cb_write_all(int fd, const void *p, size_t len);
/* Reads up to EOF into b (appending); fails with -E2BIG past b->max. */
int cb_read_all(int fd, struct cb_buf *b);
/* Reads dir_fd/path into b (appending), at most max bytes. */
int cb_read_file(int dir_fd, const char *path, size_t max, struct cb_buf *b, struct cb_err *err);
/* Writes dir_fd/path atomically: a temp file beside it, fsync, rename, fsync of the directory. */
int cb_write_file_atomic(int dir_fd, const char *path, const void *p, size_t len, mode_t mode,
                         struct cb_err *err);
/* fsync of a directory (after a rename into it). */
int cb_fsync_dir(int dir_fd, const char *path, struct cb_err *err);
/* mkdir -p relative to dir_fd; existing directories are fine. */
int cb_mkdir_p(int dir_fd, const char *path, mode_t mode, struct cb_err *err);
/* rm -rf relative to dir_fd without following symlinks; a missing path is fine. */
int cb_rm_rf(int dir_fd, const char *path, struct cb_err *err);
/* Opens a directory (O_DIRECTORY|O_CLOEXEC|O_PATH-free, usable with openat). */
int cb_open_dir(int dir_fd, const char *path, struct cb_err *err);
/* Fills buf with n random bytes from getrandom(2) as lower-case hex (2n chars + NUL). */
void cb_random_hex(char *buf, size_t n);

#endif

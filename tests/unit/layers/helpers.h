/* Shared helpers for the layers/ unit tests: scratch directories, file creation, tar building with
 * libarchive's write API (hostile tarballs are generated here, never committed). */
#ifndef LAYERS_TEST_HELPERS_H
#define LAYERS_TEST_HELPERS_H

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cb.h"
#include "layers/layer.h"

static inline char *t_mkdtemp(void)
{
        const char *base = getenv("TMPDIR");
        char *p = cb_xasprintf("%s/cb-layers-XXXXXX", base && base[0] ? base : "/tmp");
        assert_non_null(mkdtemp(p));
        return p;
}

static inline void t_rm(const char *path)
{
        struct cb_err e;
        cb_err_init(&e);
        (void) cb_rm_rf(AT_FDCWD, path, &e);
        cb_err_release(&e);
}

/* A store in a scratch directory and a source tree beside it: the fixture most of these tests share
 * (cmocka setup and teardown: *state is the struct t_fx). */
struct t_fx {
        char *root, *src;
        int src_fd;
        struct layer_store *s;
        struct cb_err err;
};

static inline int t_fx_setup(void **state)
{
        struct t_fx *f = cb_xcalloc(1, sizeof(*f));
        f->root = t_mkdtemp();
        f->src = t_mkdtemp();
        f->src_fd = open(f->src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        cb_err_init(&f->err);
        assert_int_equal(layer_store_open(f->root, &f->s, &f->err), 0);
        *state = f;
        return 0;
}

static inline int t_fx_teardown(void **state)
{
        struct t_fx *f = *state;
        layer_store_free(f->s);
        close(f->src_fd);
        t_rm(f->root);
        t_rm(f->src);
        free(f->root);
        free(f->src);
        cb_err_release(&f->err);
        free(f);
        return 0;
}

static inline void t_write(int dfd, const char *path, const char *content, mode_t mode)
{
        struct cb_err e;
        cb_err_init(&e);
        const char *slash = strrchr(path, '/');
        if (slash) {
                char *d = cb_xstrndup(path, (size_t) (slash - path));
                assert_int_equal(cb_mkdir_p(dfd, d, 0755, &e), 0);
                free(d);
        }
        int fd = openat(dfd, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        assert_true(fd >= 0);
        assert_int_equal(cb_write_all(fd, content, strlen(content)), 0);
        assert_int_equal(fchmod(fd, mode), 0);
        close(fd);
        cb_err_release(&e);
}

static inline char *t_read(int dfd, const char *path)
{
        struct cb_buf b;
        struct cb_err e;
        cb_err_init(&e);
        cb_buf_init(&b, 1 << 24);
        int r = cb_read_file(dfd, path, 1 << 24, &b, &e);
        cb_err_release(&e);
        if (r < 0) {
                cb_buf_release(&b);
                return NULL;
        }
        return cb_buf_take(&b, NULL);
}

static inline bool t_exists(int dfd, const char *path)
{
        struct stat st;
        return fstatat(dfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* A tar under construction, written to a file (optionally gzip/zstd through libarchive's filters). */
struct t_tar {
        struct archive *a;
        char *path;
};

static inline void t_tar_open(struct t_tar *t, const char *path, const char *filter)
{
        t->a = archive_write_new();
        t->path = cb_xstrdup(path);
        assert_int_equal(archive_write_set_format_pax(t->a), ARCHIVE_OK);
        if (filter && !strcmp(filter, "gzip"))
                assert_int_equal(archive_write_add_filter_gzip(t->a), ARCHIVE_OK);
        else if (filter && !strcmp(filter, "zstd"))
                assert_int_equal(archive_write_add_filter_zstd(t->a), ARCHIVE_OK);
        assert_int_equal(archive_write_open_filename(t->a, path), ARCHIVE_OK);
}

/* type: 'f' file (data), 'd' dir, 'l' symlink (data = target), 'h' hard link (data = target), 'c' char dev */
static inline void t_tar_add(struct t_tar *t, char type, const char *name, const char *data, mode_t perm)
{
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, name);
        archive_entry_set_mtime(e, 1000000000, 0);
        archive_entry_set_perm(e, perm);
        switch (type) {
        case 'f':
                archive_entry_set_filetype(e, AE_IFREG);
                archive_entry_set_size(e, data ? (la_int64_t) strlen(data) : 0);
                break;
        case 'd':
                archive_entry_set_filetype(e, AE_IFDIR);
                break;
        case 'l':
                archive_entry_set_filetype(e, AE_IFLNK);
                archive_entry_set_symlink(e, data);
                break;
        case 'h':
                archive_entry_set_filetype(e, AE_IFREG);
                archive_entry_set_hardlink(e, data);
                archive_entry_set_size(e, 0);
                break;
        case 'c':
                archive_entry_set_filetype(e, AE_IFCHR);
                archive_entry_set_rdevmajor(e, 1);
                archive_entry_set_rdevminor(e, 3);
                break;
        }
        assert_true(archive_write_header(t->a, e) >= ARCHIVE_WARN);
        if (type == 'f' && data && data[0])
                assert_int_equal(archive_write_data(t->a, data, strlen(data)), (la_ssize_t) strlen(data));
        archive_entry_free(e);
}

static inline void t_tar_close(struct t_tar *t)
{
        assert_int_equal(archive_write_close(t->a), ARCHIVE_OK);
        archive_write_free(t->a);
        free(t->path);
}

/* Lists the entry names of a (possibly compressed) tar into a newline-joined string (owned). */
static inline char *t_tar_names(int fd)
{
        struct archive *a = archive_read_new();
        archive_read_support_filter_all(a);
        archive_read_support_format_tar(a);
        assert_int_equal(archive_read_open_fd(a, fd, 65536), ARCHIVE_OK);
        struct cb_buf b;
        cb_buf_init(&b, CB_BUF_UNLIMITED);
        struct archive_entry *e;
        while (archive_read_next_header(a, &e) == ARCHIVE_OK)
                (void) cb_buf_addf(&b, "%s\n", archive_entry_pathname(e));
        archive_read_free(a);
        return cb_buf_take(&b, NULL);
}

#endif

/* entries.c: a layer's entries from its blob's tar headers and from its unpacked directory, and which
 * unpacked layers hold a path. */
#include "helpers.h"

#include "layers/internal.h"

#include <sys/sysmacros.h>
#include <sys/xattr.h>


/* One line per entry, "path type size flags", the lines sorted (directory order is the filesystem's). */
struct lines {
        char **v;
        size_t n;
        int stop_after; /* > 0: stop with 7 after that many entries */
};

static int collect(void *ud, const struct layer_entry *e)
{
        struct lines *l = ud;
        char t = S_ISDIR(e->mode)   ? 'd'
                 : S_ISREG(e->mode) ? 'f'
                 : S_ISLNK(e->mode) ? 'l'
                 : S_ISCHR(e->mode) ? 'c'
                                    : '?';
        l->v = cb_xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
        l->v[l->n++] = cb_xasprintf(
            "%s %c%o %llu%s%s%s", e->path, t, e->mode & 07777, (unsigned long long) e->size,
            e->flags & LAYER_ENTRY_WHITEOUT ? " wh" : "", e->flags & LAYER_ENTRY_OPAQUE ? " opq" : "",
            e->flags & LAYER_ENTRY_HARDLINK ? " hl" : "");
        if (l->stop_after && (int) l->n == l->stop_after)
                return 7;
        return 0;
}

static int cmp(const void *a, const void *b)
{
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static char *joined(struct lines *l)
{
        qsort(l->v, l->n, sizeof(*l->v), cmp);
        struct cb_buf b;
        cb_buf_init(&b, CB_BUF_UNLIMITED);
        for (size_t i = 0; i < l->n; i++) {
                (void) cb_buf_addf(&b, "%s\n", l->v[i]);
                free(l->v[i]);
        }
        free(l->v);
        l->v = NULL;
        l->n = 0;
        return cb_buf_take(&b, NULL);
}

static void populate(struct t_fx *f)
{
        t_write(f->src_fd, "app/check.py", "print(1)\n", 0644);
        t_write(f->src_fd, "app/run", "#!/bin/sh\n", 0755);
        assert_int_equal(symlinkat("check.py", f->src_fd, "app/link"), 0);
        assert_int_equal(linkat(f->src_fd, "app/check.py", f->src_fd, "app/hard", 0), 0);
        assert_int_equal(mknodat(f->src_fd, "gone", S_IFCHR | 0, makedev(0, 0)), 0);
        t_write(f->src_fd, "opq/new", "n", 0600);
        int d = openat(f->src_fd, "opq", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_int_equal(fsetxattr(d, "trusted.overlay.opaque", "y", 1, 0), 0);
        close(d);
}

static void commit(struct t_fx *f, enum layer_compression c, struct layer_desc *ret)
{
        struct layer_commit_opts o;
        layer_commit_opts_init(&o);
        o.compression = c;
        o.overlay_whiteouts = true;
        assert_int_equal(layer_commit_dir(f->s, f->src_fd, &o, ret, &f->err), 0);
}

/* sorted; %s: the hard link's line, %s: what the tar form adds for the opaque directory */
static const char want_fmt[] = "app d755 0\n"
                               "app/check.py f644 9\n"
                               "%s"
                               "app/link l777 0\n"
                               "app/run f755 10\n"
                               "gone c0 0 wh\n"
                               "%s"
                               "opq d755 0 opq\n"
                               "opq/new f600 1\n";

static void test_blob_and_unpacked_give_the_same_entries(void **state)
{
        struct t_fx *f = *state;
        if (geteuid() != 0)
                skip(); /* overlay whiteouts are device nodes and trusted.* xattrs */
        populate(f);
        struct layer_desc d;
        commit(f, LAYER_UNCOMPRESSED, &d);
        struct lines l = {0};

        /* not unpacked: the tar headers; the second name of a hard link is one, without the size */
        int fd = layer_store_open_unpacked(f->s, &d, &f->err);
        assert_int_equal(fd, -ENOENT);
        assert_int_equal(layer_store_walk_entries(f->s, &d, collect, &l, &f->err), 0);
        char *from_blob = joined(&l);
        /* and its opaque marker is an entry of its own, beside the directory's */
        char *want = cb_xasprintf(want_fmt, "app/hard f644 0 hl\n", "opq d755 0\n");
        assert_string_equal(from_blob, want);
        free(want);

        /* unpacked: the directory; a hard link is a file like any other */
        char *path = NULL;
        assert_int_equal(layer_store_unpacked(f->s, &d, &path, &f->err), 0);
        free(path);
        fd = layer_store_open_unpacked(f->s, &d, &f->err);
        assert_true(fd >= 0);
        close(fd);
        assert_int_equal(layer_store_walk_entries(f->s, &d, collect, &l, &f->err), 0);
        char *from_dir = joined(&l);
        want = cb_xasprintf(want_fmt, "app/hard f644 9\n", "");
        assert_string_equal(from_dir, want);
        free(want);
        free(from_blob);
        free(from_dir);
}

static void test_compressed_blob_and_image_spec_whiteouts(void **state)
{
        struct t_fx *f = *state;
        /* a tar as other tools write it: "./" names, ".wh." markers, gzip */
        char *tarpath = cb_xasprintf("%s/l.tar.gz", f->src);
        struct t_tar t;
        t_tar_open(&t, tarpath, "gzip");
        t_tar_add(&t, 'd', "./", NULL, 0755);
        t_tar_add(&t, 'd', "./etc/", NULL, 0755);
        t_tar_add(&t, 'f', "./etc/.wh.motd", "", 0644);
        t_tar_add(&t, 'f', "./etc/.wh..wh..opq", "", 0644);
        t_tar_add(&t, 'f', "./etc/hosts", "127.0.0.1 localhost\n", 0644);
        t_tar_add(&t, 'f', "./.wh..wh..opq", "", 0644);
        t_tar_close(&t);
        int fd = open(tarpath, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        char digest[CB_DIGEST_STR_LEN];
        uint64_t size = 0;
        assert_int_equal(layer_store_put_blob_fd(f->s, fd, NULL, digest, &size, &f->err), 0);
        close(fd);
        struct layer_desc d = {0};
        memcpy(d.digest, digest, sizeof(digest));
        memcpy(d.diff_id, digest, sizeof(digest)); /* not unpacked: only its name matters here */
        struct lines l = {0};
        assert_int_equal(layer_store_walk_entries(f->s, &d, collect, &l, &f->err), 0);
        char *got = joined(&l);
        assert_string_equal(got, " d755 0 opq\n"
                                 "etc d755 0\n"
                                 "etc d755 0 opq\n"
                                 "etc/hosts f644 20\n"
                                 "etc/motd c0 0 wh\n");
        free(got);
        free(tarpath);
}

static void test_callback_stops_the_walk(void **state)
{
        struct t_fx *f = *state;
        t_write(f->src_fd, "a/1", "1", 0644);
        t_write(f->src_fd, "a/2", "2", 0644);
        t_write(f->src_fd, "b/3", "3", 0644);
        struct layer_desc d;
        struct layer_commit_opts o;
        layer_commit_opts_init(&o);
        o.compression = LAYER_UNCOMPRESSED;
        assert_int_equal(layer_commit_dir(f->s, f->src_fd, &o, &d, &f->err), 0);
        struct lines l = {.stop_after = 2};
        assert_int_equal(layer_store_walk_entries(f->s, &d, collect, &l, &f->err), 7);
        assert_int_equal(l.n, 2);
        free(joined(&l));
        char *path = NULL;
        assert_int_equal(layer_store_unpacked(f->s, &d, &path, &f->err), 0);
        free(path);
        l.stop_after = 3;
        assert_int_equal(layer_store_walk_entries(f->s, &d, collect, &l, &f->err), 7);
        assert_int_equal(l.n, 3);
        free(joined(&l));
}

static void test_missing_blob_is_an_error(void **state)
{
        struct t_fx *f = *state;
        struct layer_desc d = {0};
        memcpy(d.digest, "sha256:0000000000000000000000000000000000000000000000000000000000000000", 72);
        memcpy(d.diff_id, d.digest, 72);
        struct lines l = {0};
        assert_true(layer_store_walk_entries(f->s, &d, collect, &l, &f->err) < 0);
        assert_int_equal(l.n, 0);
}

static void unpacked_layer(struct t_fx *f, struct layer_desc *ret)
{
        struct layer_commit_opts o;
        layer_commit_opts_init(&o);
        o.compression = LAYER_UNCOMPRESSED;
        assert_int_equal(layer_commit_dir(f->s, f->src_fd, &o, ret, &f->err), 0);
        char *path = NULL;
        assert_int_equal(layer_store_unpacked(f->s, ret, &path, &f->err), 0);
        free(path);
        t_rm(f->src);
        assert_int_equal(mkdir(f->src, 0755), 0);
        close(f->src_fd);
        f->src_fd = open(f->src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static void test_presence_without_following_symlinks(void **state)
{
        struct t_fx *f = *state;
        struct layer_desc l[3];
        t_write(f->src_fd, "a/b", "b", 0644);
        assert_int_equal(mkdirat(f->src_fd, "d", 0755), 0);
        assert_int_equal(symlinkat("d", f->src_fd, "s"), 0);
        unpacked_layer(f, &l[0]);
        t_write(f->src_fd, "x/y/z", "z", 0644);
        unpacked_layer(f, &l[1]);

        struct layer_presence *p = NULL;
        assert_int_equal(layer_presence_new(f->s, l, 2, &p, &f->err), 0);
        assert_int_equal(layer_presence_check(p, "a/b", false), 1);
        assert_int_equal(layer_presence_check(p, "a/c", false), 0);
        assert_int_equal(layer_presence_check(p, "a", true), 0);   /* a directory over a directory */
        assert_int_equal(layer_presence_check(p, "a", false), 1);  /* a file over a directory */
        assert_int_equal(layer_presence_check(p, "a/b", true), 1); /* a directory over a file */
        assert_int_equal(layer_presence_check(p, "x/y/z", false), 1);
        assert_int_equal(layer_presence_check(p, "x/y/new", false), 0);
        assert_int_equal(layer_presence_check(p, "new/deeper/file", false), 0);
        assert_int_equal(layer_presence_check(p, "s", false), 1);
        assert_int_equal(layer_presence_check(p, "s/anything", false), -ELOOP);
        assert_int_equal(layer_presence_check(p, "a/b/c", false), -ENOTDIR);
        layer_presence_free(p);

        /* a layer that is not unpacked: nothing to look in */
        t_write(f->src_fd, "q", "q", 0644);
        struct layer_commit_opts o;
        layer_commit_opts_init(&o);
        o.compression = LAYER_UNCOMPRESSED;
        assert_int_equal(layer_commit_dir(f->s, f->src_fd, &o, &l[2], &f->err), 0);
        assert_int_equal(layer_presence_new(f->s, l, 3, &p, &f->err), -ENOENT);
        assert_null(layer_presence_free(NULL));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_blob_and_unpacked_give_the_same_entries, t_fx_setup, t_fx_teardown),
            cmocka_unit_test_setup_teardown(test_compressed_blob_and_image_spec_whiteouts, t_fx_setup, t_fx_teardown),
            cmocka_unit_test_setup_teardown(test_callback_stops_the_walk, t_fx_setup, t_fx_teardown),
            cmocka_unit_test_setup_teardown(test_missing_blob_is_an_error, t_fx_setup, t_fx_teardown),
            cmocka_unit_test_setup_teardown(test_presence_without_following_symlinks, t_fx_setup, t_fx_teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

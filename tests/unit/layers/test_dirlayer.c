/* dirlayer.c: a directory-backed layer has no blob until something opens it; the blob then written equals
 * the tar the commit hashed, byte for byte; gzipping it reads the directory, not a blob; a changed
 * directory is refused; prune drops what no image keeps. */
#include "helpers.h"

#include <sys/sysmacros.h>

/* mtimes clamped, so two trees made at different times give the same tar */
static struct layer_commit_opts opts(void)
{
        struct layer_commit_opts o;
        layer_commit_opts_init(&o);
        o.compression = LAYER_UNCOMPRESSED;
        o.source_date_epoch = 1000;
        o.overlay_whiteouts = true;
        return o;
}

/* name/: files, a hard link, a symlink, an empty directory, an overlay whiteout */
static void populate(int dfd, const char *name)
{
        assert_int_equal(mkdirat(dfd, name, 0755), 0);
        int t = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(t >= 0);
        t_write(t, "usr/lib/a.so", "elf\n", 0755);
        t_write(t, "usr/lib/b.txt", "bee\n", 0644);
        assert_int_equal(linkat(t, "usr/lib/b.txt", t, "usr/lib/b-hard", 0), 0);
        assert_int_equal(symlinkat("a.so", t, "usr/lib/a.so.1"), 0);
        assert_int_equal(mkdirat(t, "empty", 0711), 0);
        assert_int_equal(mknodat(t, "gone", S_IFCHR | 0000, makedev(0, 0)), 0);
        close(t);
}

/* The tar of name/ as layer_commit_dir() writes it, in file name.tar beside it. */
static struct layer_desc tar_of(struct t_fx *f, const char *name)
{
        struct layer_commit_opts o = opts();
        int t = openat(f->src_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _cleanup_free_ char *out = cb_xasprintf("%s.tar", name);
        int fd = openat(f->src_fd, out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(t >= 0 && fd >= 0);
        struct layer_desc d = { 0 };
        assert_int_equal(layer_write_tar_fd(t, fd, &o, d.diff_id, d.digest, &d.size, &f->err), 0);
        close(fd);
        close(t);
        return d;
}

static bool blob_file(struct t_fx *f, const char *digest)
{
        _cleanup_free_ char *p = cb_xasprintf("%s/blobs/sha256/%s", f->root, digest + 7);
        return access(p, F_OK) == 0;
}

static bool record(struct t_fx *f, const char *digest)
{
        _cleanup_free_ char *p = cb_xasprintf("%s/dirlayers/%s", f->root, digest + 7);
        return access(p, F_OK) == 0;
}

static void test_blob_is_written_when_first_opened(void **state)
{
        struct t_fx *f = *state;
        populate(f->src_fd, "twin");
        populate(f->src_fd, "tree");
        struct layer_desc want = tar_of(f, "twin"), got;
        const struct layer_commit_opts o = opts();
        assert_int_equal(layer_commit_adopt(f->s, f->src_fd, "tree", &o, 0, &got, &f->err), 0);
        assert_string_equal(got.digest, want.digest);
        assert_string_equal(got.diff_id, want.diff_id);
        assert_int_equal(got.size, want.size);
        /* no blob yet, but the store answers for it; the tree is the unpacked layer now */
        assert_false(blob_file(f, got.digest));
        assert_true(record(f, got.digest));
        assert_true(layer_store_has_blob(f->s, got.digest));
        assert_int_equal(layer_store_blob_size(f->s, got.digest), want.size);
        assert_false(t_exists(f->src_fd, "tree"));
        _cleanup_free_ char *unpacked = cb_xasprintf("%s/layers/%s/usr/lib/b.txt", f->root, got.diff_id + 7);
        assert_int_equal(access(unpacked, F_OK), 0);

        uint64_t size = 0;
        int fd = layer_store_open_blob(f->s, got.digest, &size, &f->err);
        assert_true(fd >= 0);
        assert_int_equal(size, want.size);
        struct cb_buf a, b;
        cb_buf_init(&a, CB_BUF_UNLIMITED);
        cb_buf_init(&b, CB_BUF_UNLIMITED);
        assert_int_equal(cb_read_all(fd, &a), 0);
        close(fd);
        assert_int_equal(cb_read_file(f->src_fd, "twin.tar", CB_BUF_UNLIMITED, &b, &f->err), 0);
        assert_int_equal(a.len, b.len);
        assert_memory_equal(a.p, b.p, a.len);
        cb_buf_release(&a);
        cb_buf_release(&b);
        assert_true(blob_file(f, got.digest));
        assert_false(record(f, got.digest));
}

static void test_small_layer_is_written_at_once(void **state)
{
        struct t_fx *f = *state;
        populate(f->src_fd, "tree");
        struct layer_desc got;
        const struct layer_commit_opts o = opts();
        assert_int_equal(layer_commit_adopt(f->s, f->src_fd, "tree", &o, 1u << 20, &got, &f->err), 0);
        assert_true(blob_file(f, got.digest));
        assert_false(record(f, got.digest));
        assert_false(t_exists(f->src_fd, "tree"));
}

static void test_changed_directory_is_refused(void **state)
{
        struct t_fx *f = *state;
        populate(f->src_fd, "tree");
        struct layer_desc got;
        const struct layer_commit_opts o = opts();
        assert_int_equal(layer_commit_adopt(f->s, f->src_fd, "tree", &o, 0, &got, &f->err), 0);
        _cleanup_free_ char *dir = cb_xasprintf("%s/layers/%s", f->root, got.diff_id + 7);
        int d = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(d >= 0);
        t_write(d, "usr/lib/b.txt", "changed\n", 0644);
        close(d);
        int fd = layer_store_open_blob(f->s, got.digest, NULL, &f->err);
        assert_int_equal(fd, -EBADMSG);
        assert_non_null(strstr(cb_err_msg(&f->err), "was changed since it was committed"));
        assert_false(blob_file(f, got.digest));
        assert_true(record(f, got.digest));
}

static void test_prune_keeps_what_is_kept(void **state)
{
        struct t_fx *f = *state;
        const struct layer_commit_opts o = opts();
        struct layer_desc kept, dropped;
        populate(f->src_fd, "one");
        assert_int_equal(layer_commit_adopt(f->s, f->src_fd, "one", &o, 0, &kept, &f->err), 0);
        populate(f->src_fd, "two");
        t_write(f->src_fd, "two/extra", "x\n", 0644);
        assert_int_equal(layer_commit_adopt(f->s, f->src_fd, "two", &o, 0, &dropped, &f->err), 0);
        const char *keep[] = { kept.digest };
        struct layer_prune_stats st;
        assert_int_equal(layer_store_prune(f->s, keep, 1, &st, &f->err), 0);
        assert_true(layer_store_has_blob(f->s, kept.digest));
        assert_true(record(f, kept.digest));
        assert_false(layer_store_has_blob(f->s, dropped.digest));
        assert_false(record(f, dropped.digest));
        int fd = layer_store_open_blob(f->s, kept.digest, NULL, &f->err);
        assert_true(fd >= 0);
        close(fd);
        assert_int_equal(layer_store_open_blob(f->s, dropped.digest, NULL, &f->err), -ENOENT);
}

static void test_compressed_straight_from_the_directory(void **state)
{
        struct t_fx *f = *state;
        const struct layer_commit_opts o = opts();
        populate(f->src_fd, "twin");
        populate(f->src_fd, "tree");
        /* the twin committed as a written blob in another store, then gzipped from that blob */
        char *other = t_mkdtemp();
        struct layer_store *s2;
        assert_int_equal(layer_store_open(other, &s2, &f->err), 0);
        int twin = openat(f->src_fd, "twin", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct layer_desc blob_l, want, dir_l, got;
        assert_int_equal(layer_commit_dir(s2, twin, &o, &blob_l, &f->err), 0);
        close(twin);
        assert_int_equal(layer_store_compress_layer(s2, &blob_l, LAYER_GZIP, -1, &want, &f->err), 0);
        layer_store_free(s2);
        t_rm(other);
        free(other);

        assert_int_equal(layer_commit_adopt(f->s, f->src_fd, "tree", &o, 0, &dir_l, &f->err), 0);
        assert_string_equal(dir_l.digest, blob_l.digest);
        assert_int_equal(layer_store_compress_layer(f->s, &dir_l, LAYER_GZIP, -1, &got, &f->err), 0);
        assert_string_equal(got.digest, want.digest);
        assert_int_equal(got.size, want.size);
        assert_true(blob_file(f, got.digest));
        /* the uncompressed tar was not written on the way */
        assert_false(blob_file(f, dir_l.digest));
        assert_true(record(f, dir_l.digest));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_blob_is_written_when_first_opened, t_fx_setup, t_fx_teardown),
                cmocka_unit_test_setup_teardown(test_small_layer_is_written_at_once, t_fx_setup, t_fx_teardown),
                cmocka_unit_test_setup_teardown(test_changed_directory_is_refused, t_fx_setup, t_fx_teardown),
                cmocka_unit_test_setup_teardown(test_prune_keeps_what_is_kept, t_fx_setup, t_fx_teardown),
                cmocka_unit_test_setup_teardown(test_compressed_straight_from_the_directory, t_fx_setup, t_fx_teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

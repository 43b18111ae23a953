/* commit.c's layer_writer: a layer written entry by entry equals the commit of the same tree; the visit
 * hook filters and re-owns; nothing is left behind by an abort. */
#include "helpers.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>

/* layers are written uncompressed here: a tar to read back as it is */
static struct layer_commit_opts plain_opts(void)
{
        struct layer_commit_opts o;
        layer_commit_opts_init(&o);
        o.compression = LAYER_UNCOMPRESSED;
        return o;
}

/* opt/ (0750, uid 5) holding tree/ with files, a symlink, a hard link and an empty directory */
static void populate(int dfd)
{
        t_write(dfd, "opt/tree/b.txt", "bee\n", 0644);
        t_write(dfd, "opt/tree/a/z", "zed\n", 0600);
        t_write(dfd, "opt/tree/a.txt", "ay\n", 0644);
        assert_int_equal(symlinkat("../b.txt", dfd, "opt/tree/a/link"), 0);
        assert_int_equal(linkat(dfd, "opt/tree/b.txt", dfd, "opt/tree/c-hard", 0), 0);
        assert_int_equal(mkdirat(dfd, "opt/tree/empty", 0711), 0);
        assert_int_equal(fchmodat(dfd, "opt", 0750, 0), 0);
        assert_int_equal(fchownat(dfd, "opt", 5, 6, 0), 0);
}

static int open_dir(int dfd, const char *path)
{
        int fd = openat(dfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(fd >= 0);
        return fd;
}

static void test_writer_equals_commit_of_the_tree(void **state)
{
        struct t_fx *f = *state;
        const struct layer_commit_opts o = plain_opts();
        populate(f->src_fd);
        struct layer_desc want, got;
        assert_int_equal(layer_commit_dir(f->s, f->src_fd, &o, &want, &f->err), 0);

        struct layer_writer *w;
        struct stat st;
        int opt = open_dir(f->src_fd, "opt"), tree = open_dir(f->src_fd, "opt/tree");
        assert_int_equal(layer_writer_begin(f->s, &o, &w, &f->err), 0);
        assert_int_equal(fstatat(f->src_fd, "opt", &st, AT_SYMLINK_NOFOLLOW), 0);
        assert_int_equal(layer_writer_add(w, "opt", &st, f->src_fd, "opt", true, &f->err), 0);
        assert_int_equal(fstatat(opt, "tree", &st, AT_SYMLINK_NOFOLLOW), 0);
        assert_int_equal(layer_writer_add(w, "opt/tree", &st, opt, "tree", true, &f->err), 0);
        assert_int_equal(layer_writer_add_tree(w, "opt/tree", tree, NULL, NULL, &f->err), 0);
        assert_int_equal(layer_writer_commit(w, &got, &f->err), 0);
        assert_string_equal(got.diff_id, want.diff_id);
        assert_string_equal(got.digest, want.digest);
        assert_int_equal(got.size, want.size);
        assert_string_equal(got.media_type, want.media_type);
        close(opt);
        close(tree);
}

/* drops "a" (and what is under it), owns the rest by 1000:1000 */
static bool drop_a(void *ud, const char *rel, struct stat *st)
{
        (*(int *) ud)++;
        if (strcmp(rel, "a") == 0)
                return false;
        assert_true(strncmp(rel, "a/", 2) != 0);
        st->st_uid = 1000;
        st->st_gid = 1000;
        return true;
}

static void test_visit_filters_and_owns(void **state)
{
        struct t_fx *f = *state;
        const struct layer_commit_opts o = plain_opts();
        populate(f->src_fd);
        int tree = open_dir(f->src_fd, "opt/tree"), calls = 0;
        struct layer_writer *w;
        struct layer_desc d;
        struct stat st = { .st_mode = S_IFDIR | 0755, .st_nlink = 2 };
        assert_int_equal(layer_writer_begin(f->s, &o, &w, &f->err), 0);
        /* a directory made of metadata alone, then the tree below it */
        assert_int_equal(layer_writer_add(w, "new", &st, -1, NULL, false, &f->err), 0);
        assert_int_equal(layer_writer_add_tree(w, "new", tree, drop_a, &calls, &f->err), 0);
        assert_int_equal(layer_writer_commit(w, &d, &f->err), 0);
        assert_int_equal(calls, 5); /* a, a.txt, b.txt, c-hard, empty: nothing below a */
        int fd = layer_store_open_blob(f->s, d.digest, NULL, &f->err);
        assert_true(fd >= 0);
        struct archive *a = archive_read_new();
        archive_read_support_format_tar(a);
        assert_int_equal(archive_read_open_fd(a, fd, 4096), ARCHIVE_OK);
        struct archive_entry *e;
        struct cb_buf names;
        cb_buf_init(&names, CB_BUF_UNLIMITED);
        while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
                (void) cb_buf_addf(&names, "%s %lld;", archive_entry_pathname(e), (long long) archive_entry_uid(e));
        }
        archive_read_free(a);
        close(fd);
        close(tree);
        assert_string_equal(names.p, "new/ 0;new/a.txt 1000;new/b.txt 1000;new/c-hard 1000;new/empty/ 1000;");
        cb_buf_release(&names);
}

static size_t count_dir(const char *path)
{
        DIR *d = opendir(path);
        size_t n = 0;
        if (!d)
                return 0;
        for (struct dirent *de; (de = readdir(d));)
                n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
        closedir(d);
        return n;
}

static void test_abort_and_bad_entries_leave_nothing(void **state)
{
        struct t_fx *f = *state;
        const struct layer_commit_opts o = plain_opts();
        populate(f->src_fd);
        _cleanup_free_ char *blobs = cb_xasprintf("%s/blobs/sha256", f->root);
        size_t before = count_dir(blobs);
        struct layer_writer *w;
        struct stat st = { .st_mode = S_IFLNK | 0777 };
        assert_int_equal(layer_writer_begin(f->s, &o, &w, &f->err), 0);
        /* a symlink needs a source to read its target from */
        assert_int_equal(layer_writer_add(w, "l", &st, -1, NULL, false, &f->err), -EINVAL);
        assert_non_null(strstr(cb_err_msg(&f->err), "'l'"));
        layer_writer_abort(w);
        layer_writer_abort(NULL);
        assert_int_equal(count_dir(blobs), before);
        assert_int_equal(count_dir(layer_store_work_path(f->s)), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_writer_equals_commit_of_the_tree, t_fx_setup, t_fx_teardown),
                cmocka_unit_test_setup_teardown(test_visit_filters_and_owns, t_fx_setup, t_fx_teardown),
                cmocka_unit_test_setup_teardown(test_abort_and_bad_entries_leave_nothing, t_fx_setup, t_fx_teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* layers/diff.c: layer trees from tar streams, flattening with whiteouts, tree comparison. */
#include "helpers.h"

#include "layers/diff.h"

static struct layer_tree *scan(const char *path)
{
        struct cb_err e;
        cb_err_init(&e);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        struct layer_tree *t = NULL;
        assert_int_equal(layer_tree_scan_fd(fd, &t, &e), 0);
        close(fd);
        cb_err_release(&e);
        return t;
}

static const struct layer_tree_entry *find(const struct layer_tree *t, const char *path)
{
        for (size_t i = 0; i < layer_tree_count(t); i++)
                if (!strcmp(layer_tree_get(t, i)->path, path))
                        return layer_tree_get(t, i);
        return NULL;
}

struct rec {
        struct cb_buf b;
};

static void rec_cb(void *ud, const char *path, const char *field, const char *a, const char *b)
{
        struct rec *r = ud;
        (void) cb_buf_addf(&r->b, "%s %s %s %s\n", path, field, a ? a : "-", b ? b : "-");
}

static void test_scan_fields(void **state)
{
        (void) state;
        char *dir = t_mkdtemp();
        char *p = cb_xasprintf("%s/l.tar.gz", dir);
        struct t_tar t;
        t_tar_open(&t, p, "gzip");
        t_tar_add(&t, 'd', "./etc/", NULL, 0755);
        t_tar_add(&t, 'f', "./etc/hello", "hello\n", 04755);
        t_tar_add(&t, 'l', "etc/link", "hello", 0777);
        t_tar_add(&t, 'h', "etc/hard", "etc/hello", 0644);
        t_tar_add(&t, 'c', "dev/null", NULL, 0666);
        t_tar_add(&t, 'f', "etc/.wh.gone", "", 0);
        t_tar_add(&t, 'f', "var/.wh..wh..opq", "", 0);
        t_tar_close(&t);
        struct layer_tree *tr = scan(p);
        assert_int_equal(layer_tree_count(tr), 7);
        const struct layer_tree_entry *e = find(tr, "etc/hello");
        assert_non_null(e);
        assert_int_equal(e->type, 'f');
        assert_int_equal(e->mode, 04755);
        assert_int_equal(e->size, 6);
        /* sha256 of "hello\n" */
        assert_string_equal(e->sha256, "sha256:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03");
        assert_int_equal(e->mtime, 1000000000);
        assert_string_equal(find(tr, "etc/link")->link, "hello");
        assert_int_equal(find(tr, "etc/hard")->type, 'h');
        assert_string_equal(find(tr, "etc/hard")->link, "etc/hello");
        assert_int_equal(find(tr, "dev/null")->rdev_major, 1);
        assert_int_equal(find(tr, "etc/.wh.gone")->type, 'w');
        assert_int_equal(find(tr, "var/.wh..wh..opq")->type, 'o');
        assert_null(find(tr, "etc/")); /* names are cleaned */
        assert_non_null(find(tr, "etc"));
        layer_tree_free(tr);
        t_rm(dir);
        free(p);
        free(dir);
}

static void test_flatten_whiteouts(void **state)
{
        (void) state;
        char *dir = t_mkdtemp();
        char *p1 = cb_xasprintf("%s/1.tar", dir), *p2 = cb_xasprintf("%s/2.tar", dir);
        struct t_tar t;
        t_tar_open(&t, p1, NULL);
        t_tar_add(&t, 'd', "a", NULL, 0755);
        t_tar_add(&t, 'f', "a/x", "x", 0644);
        t_tar_add(&t, 'd', "b", NULL, 0755);
        t_tar_add(&t, 'f', "b/y", "y", 0644);
        t_tar_add(&t, 'd', "c", NULL, 0755);
        t_tar_add(&t, 'f', "c/z", "z", 0644);
        t_tar_add(&t, 'f', "keep", "k", 0644);
        t_tar_close(&t);
        t_tar_open(&t, p2, NULL);
        t_tar_add(&t, 'f', ".wh.a", "", 0);         /* a and a/x gone */
        t_tar_add(&t, 'd', "b", NULL, 0700);
        t_tar_add(&t, 'f', "b/.wh..wh..opq", "", 0); /* b/y gone, b stays */
        t_tar_add(&t, 'f', "b/new", "n", 0644);
        t_tar_add(&t, 'l', "c", "keep", 0777);       /* c replaced: c/z hidden */
        t_tar_close(&t);
        struct layer_tree *l[2] = { scan(p1), scan(p2) };
        struct layer_tree *f = layer_tree_flatten(l, 2);
        struct cb_buf names;
        cb_buf_init(&names, CB_BUF_UNLIMITED);
        for (size_t i = 0; i < layer_tree_count(f); i++)
                (void) cb_buf_addf(&names, "%s ", layer_tree_get(f, i)->path);
        assert_string_equal(names.p, "b b/new c keep ");
        assert_int_equal(find(f, "b")->mode, 0700);
        assert_int_equal(find(f, "c")->type, 'l');
        assert_true(layer_tree_mem(f) > 0);
        cb_buf_release(&names);
        layer_tree_free(f);
        layer_tree_free(l[0]);
        layer_tree_free(l[1]);
        t_rm(dir);
        free(p1);
        free(p2);
        free(dir);
}

static void test_diff_fields(void **state)
{
        (void) state;
        char *dir = t_mkdtemp();
        char *p1 = cb_xasprintf("%s/1.tar", dir), *p2 = cb_xasprintf("%s/2.tar.zst", dir);
        struct t_tar t;
        t_tar_open(&t, p1, NULL);
        t_tar_add(&t, 'f', "same", "s", 0644);
        t_tar_add(&t, 'f', "byte", "abc", 0644);
        t_tar_add(&t, 'f', "mode", "m", 0644);
        t_tar_add(&t, 'f', "onlya", "a", 0644);
        t_tar_add(&t, 'l', "ln", "t1", 0777);
        t_tar_close(&t);
        t_tar_open(&t, p2, "zstd");
        t_tar_add(&t, 'f', "same", "s", 0644);
        t_tar_add(&t, 'f', "byte", "abd", 0644);
        t_tar_add(&t, 'f', "mode", "m", 0755);
        t_tar_add(&t, 'f', "onlyb", "b", 0644);
        t_tar_add(&t, 'l', "ln", "t2", 0777);
        t_tar_close(&t);
        struct layer_tree *a = scan(p1), *b = scan(p2);
        struct rec r;
        cb_buf_init(&r.b, CB_BUF_UNLIMITED);
        size_t n = layer_tree_diff(a, b, rec_cb, &r);
        assert_int_equal(n, 5);
        assert_non_null(strstr(r.b.p, "byte content sha256:ba7816bf"));
        assert_non_null(strstr(r.b.p, "mode mode 0644 0755\n"));
        assert_non_null(strstr(r.b.p, "onlya presence file -\n"));
        assert_non_null(strstr(r.b.p, "onlyb presence - file\n"));
        assert_non_null(strstr(r.b.p, "ln link t1 t2\n"));
        cb_buf_reset(&r.b);
        assert_int_equal(layer_tree_diff(a, a, rec_cb, &r), 0);
        cb_buf_release(&r.b);
        layer_tree_free(a);
        layer_tree_free(b);
        t_rm(dir);
        free(p1);
        free(p2);
        free(dir);
}

static void test_corrupt(void **state)
{
        (void) state;
        char *dir = t_mkdtemp();
        char *p = cb_xasprintf("%s/bad.tar", dir);
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_int_equal(cb_write_all(fd, "\x1f\x8b\x08garbage-not-gzip", 20), 0);
        close(fd);
        fd = open(p, O_RDONLY | O_CLOEXEC);
        struct cb_err e;
        cb_err_init(&e);
        struct layer_tree *t = NULL;
        assert_true(layer_tree_scan_fd(fd, &t, &e) < 0);
        assert_null(t);
        cb_err_release(&e);
        close(fd);
        t_rm(dir);
        free(p);
        free(dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_scan_fields),
                cmocka_unit_test(test_flatten_whiteouts),
                cmocka_unit_test(test_diff_fields),
                cmocka_unit_test(test_corrupt),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* gc.c: rm, prune (reachability from tags, keep list, busy store), inspect. */
#include "helpers.h"

struct fx {
        char *root, *src;
        int src_fd;
        struct layer_store *s;
        struct cb_err err;
        struct layer_desc shared, a_only, b_only;
        char ma[CB_DIGEST_STR_LEN], mb[CB_DIGEST_STR_LEN];
};

static void commit_file(struct fx *f, const char *name, const char *content, struct layer_desc *d)
{
        char *dir = cb_xasprintf("%s/%s", f->src, name);
        assert_int_equal(mkdir(dir, 0755), 0);
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        t_write(dfd, name, content, 0644);
        assert_int_equal(layer_commit_dir(f->s, dfd, NULL, d, &f->err), 0);
        close(dfd);
        free(dir);
}

static void write_image(struct fx *f, const struct layer_desc *l1, const struct layer_desc *l2, char md[CB_DIGEST_STR_LEN])
{
        struct layer_desc v[2] = { *l1, *l2 };
        json_t *cfg = json_pack("{s:s, s:s, s:s}", "architecture", "amd64", "os", "linux", "created", "2025-01-01T00:00:00Z");
        assert_int_equal(layer_image_write(f->s, cfg, v, 2, false, NULL, md, &f->err), 0);
        json_decref(cfg);
}

static int setup(void **state)
{
        struct fx *f = cb_xcalloc(1, sizeof(*f));
        f->root = t_mkdtemp();
        f->src = t_mkdtemp();
        cb_err_init(&f->err);
        assert_int_equal(layer_store_open(f->root, &f->s, &f->err), 0);
        commit_file(f, "shared", "s", &f->shared);
        commit_file(f, "aonly", "a", &f->a_only);
        commit_file(f, "bonly", "b", &f->b_only);
        write_image(f, &f->shared, &f->a_only, f->ma);
        write_image(f, &f->shared, &f->b_only, f->mb);
        assert_int_equal(layer_store_tag(f->s, "localhost/a:1", f->ma, &f->err), 0);
        assert_int_equal(layer_store_tag(f->s, "localhost/a:latest", f->ma, &f->err), 0);
        assert_int_equal(layer_store_tag(f->s, "localhost/b:1", f->mb, &f->err), 0);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fx *f = *state;
        layer_store_free(f->s);
        t_rm(f->root);
        t_rm(f->src);
        free(f->root);
        free(f->src);
        cb_err_release(&f->err);
        free(f);
        return 0;
}

static void test_rm_tag_keeps_other_tags(void **state)
{
        struct fx *f = *state;
        char d[CB_DIGEST_STR_LEN];
        assert_int_equal(layer_store_rm(f->s, "localhost/a:1", &f->err), 0);
        assert_int_equal(layer_store_resolve(f->s, "localhost/a:latest", d, &f->err), 0);
        assert_true(layer_store_has_blob(f->s, f->ma));
        /* by digest: every tag goes, and the manifest with them */
        assert_int_equal(layer_store_rm(f->s, f->ma, &f->err), 0);
        assert_int_equal(layer_store_resolve(f->s, "localhost/a:latest", d, &f->err), -ENOENT);
        assert_false(layer_store_has_blob(f->s, f->ma));
        assert_int_equal(layer_store_rm(f->s, "localhost/nope:1", &f->err), -ENOENT);
}

static void test_prune_removes_only_unreachable(void **state)
{
        struct fx *f = *state;
        char *p = NULL;
        assert_int_equal(layer_store_unpacked(f->s, &f->a_only, &p, &f->err), 0);
        free(p);
        assert_int_equal(layer_store_unpacked(f->s, &f->shared, &p, &f->err), 0);
        free(p);
        struct layer_prune_stats st;
        assert_int_equal(layer_store_prune(f->s, NULL, 0, &st, &f->err), 0);
        assert_int_equal(st.blobs_removed, 0);
        assert_int_equal(layer_store_rm(f->s, f->ma, &f->err), 0);
        const char *keep[] = { "not-a-digest", f->b_only.digest };
        assert_int_equal(layer_store_prune(f->s, keep, 2, &st, &f->err), 0);
        assert_true(st.blobs_removed >= 2); /* image a's config and its own layer */
        assert_int_equal(st.layers_removed, 1);
        assert_false(layer_store_has_blob(f->s, f->a_only.digest));
        assert_true(layer_store_has_blob(f->s, f->shared.digest));
        assert_true(layer_store_has_blob(f->s, f->b_only.digest));
        struct layer_image *img;
        assert_int_equal(layer_image_read(f->s, f->mb, &img, &f->err), 0);
        layer_image_free(img);
        char *hex = cb_xasprintf("layers/%s", f->shared.diff_id + 7);
        assert_true(t_exists(layer_store_root_fd(f->s), hex));
        free(hex);
}

static void test_prune_refuses_busy_store(void **state)
{
        struct fx *f = *state;
        struct layer_store *other;
        assert_int_equal(layer_store_open(f->root, &other, &f->err), 0);
        struct layer_prune_stats st;
        assert_int_equal(layer_store_prune(f->s, NULL, 0, &st, &f->err), -EBUSY);
        layer_store_free(other);
        assert_int_equal(layer_store_prune(f->s, NULL, 0, &st, &f->err), 0);
}

static void test_inspect_reports_image(void **state)
{
        struct fx *f = *state;
        json_t *j;
        assert_int_equal(layer_store_inspect(f->s, "localhost/a:1", &j, &f->err), 0);
        assert_string_equal(json_string_value(json_object_get(j, "Digest")), f->ma);
        assert_int_equal(json_array_size(json_object_get(j, "RepoTags")), 2);
        assert_string_equal(json_string_value(json_object_get(j, "Architecture")), "amd64");
        assert_true(json_integer_value(json_object_get(j, "Size")) > 0);
        assert_true(json_is_object(json_object_get(j, "Config")));
        json_decref(j);
        assert_int_equal(layer_store_inspect(f->s, "nope", &j, &f->err), -ENOENT);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_rm_tag_keeps_other_tags, setup, teardown),
                cmocka_unit_test_setup_teardown(test_prune_removes_only_unreachable, setup, teardown),
                cmocka_unit_test_setup_teardown(test_prune_refuses_busy_store, setup, teardown),
                cmocka_unit_test_setup_teardown(test_inspect_reports_image, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

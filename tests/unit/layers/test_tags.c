/* tags.c: tag, untag, resolve (names, digests, prefixes), list. */
#include "helpers.h"

struct fx {
        char *root;
        struct layer_store *s;
        struct cb_err err;
        char md[CB_DIGEST_STR_LEN];
};

static int setup(void **state)
{
        struct fx *f = cb_xcalloc(1, sizeof(*f));
        f->root = t_mkdtemp();
        cb_err_init(&f->err);
        assert_int_equal(layer_store_open(f->root, &f->s, &f->err), 0);
        json_t *cfg = json_pack("{s:s, s:s, s:s}", "architecture", "amd64", "os", "linux", "created",
                                "2024-01-02T03:04:05.5Z");
        assert_int_equal(layer_image_write(f->s, cfg, NULL, 0, false, NULL, f->md, &f->err), 0);
        json_decref(cfg);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fx *f = *state;
        layer_store_free(f->s);
        t_rm(f->root);
        free(f->root);
        cb_err_release(&f->err);
        free(f);
        return 0;
}

static void test_tag_resolve_untag(void **state)
{
        struct fx *f = *state;
        char d[CB_DIGEST_STR_LEN];
        assert_int_equal(layer_store_resolve(f->s, "localhost/golden:latest", d, &f->err), -ENOENT);
        assert_int_equal(layer_store_tag(f->s, "localhost/golden:latest", f->md, &f->err), 0);
        assert_int_equal(layer_store_tag(f->s, "localhost/golden:latest", f->md, &f->err), 0); /* retag: one entry */
        assert_int_equal(layer_store_tag(f->s, "docker.io/nvidia/cuda:11.8.0-runtime-ubuntu20.04", f->md, &f->err), 0);
        assert_int_equal(layer_store_resolve(f->s, "localhost/golden:latest", d, &f->err), 0);
        assert_string_equal(d, f->md);
        struct layer_image_entry *v;
        size_t n;
        assert_int_equal(layer_store_list(f->s, &v, &n, &f->err), 0);
        assert_int_equal(n, 2);
        assert_string_equal(v[0].name, "docker.io/nvidia/cuda:11.8.0-runtime-ubuntu20.04");
        assert_string_equal(v[1].name, "localhost/golden:latest");
        assert_int_equal(v[1].created, 1704164645);
        assert_true(v[1].size > 0);
        layer_image_entries_free(v, n);
        assert_int_equal(layer_store_untag(f->s, "localhost/golden:latest", &f->err), 0);
        assert_int_equal(layer_store_untag(f->s, "localhost/golden:latest", &f->err), -ENOENT);
        assert_int_equal(layer_store_resolve(f->s, "localhost/golden:latest", d, &f->err), -ENOENT);
}

static void test_resolve_digest_and_prefix(void **state)
{
        struct fx *f = *state;
        char d[CB_DIGEST_STR_LEN];
        assert_int_equal(layer_store_resolve(f->s, f->md, d, &f->err), 0);
        char pre[32];
        snprintf(pre, sizeof(pre), "%.12s", f->md + 7);
        assert_int_equal(layer_store_resolve(f->s, pre, d, &f->err), 0); /* untagged: found among blobs */
        assert_string_equal(d, f->md);
        snprintf(pre, sizeof(pre), "sha256:%.14s", f->md + 7);
        assert_int_equal(layer_store_resolve(f->s, pre, d, &f->err), 0);
        snprintf(pre, sizeof(pre), "%.11s", f->md + 7);
        assert_int_equal(layer_store_resolve(f->s, pre, d, &f->err), -ENOENT); /* too short */
        assert_int_equal(layer_store_resolve(f->s, "sha256:0000000000000000000000000000000000000000000000000000000000000000",
                                             d, &f->err),
                         -ENOENT);
}

static void test_tag_needs_manifest(void **state)
{
        struct fx *f = *state;
        assert_int_equal(layer_store_tag(f->s, "x:y", "sha256:0000000000000000000000000000000000000000000000000000000000000000",
                                         &f->err),
                         -ENOENT);
        assert_int_equal(layer_store_tag(f->s, "x:y", "nonsense", &f->err), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_tag_resolve_untag, setup, teardown),
                cmocka_unit_test_setup_teardown(test_resolve_digest_and_prefix, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tag_needs_manifest, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* oci.c: OCI layout export/import between two stores, rootfs tarball import. */
#include "helpers.h"

struct fx {
        char *root, *root2, *src, *out;
        int src_fd;
        struct layer_store *s, *s2;
        struct cb_err err;
};

static int setup(void **state)
{
        struct fx *f = cb_xcalloc(1, sizeof(*f));
        f->root = t_mkdtemp();
        f->root2 = t_mkdtemp();
        f->src = t_mkdtemp();
        f->out = t_mkdtemp();
        f->src_fd = open(f->src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        cb_err_init(&f->err);
        assert_int_equal(layer_store_open(f->root, &f->s, &f->err), 0);
        assert_int_equal(layer_store_open(f->root2, &f->s2, &f->err), 0);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fx *f = *state;
        layer_store_free(f->s);
        layer_store_free(f->s2);
        close(f->src_fd);
        char *v[] = { f->root, f->root2, f->src, f->out };
        for (size_t i = 0; i < CB_ARRAY_SIZE(v); i++) {
                t_rm(v[i]);
                free(v[i]);
        }
        cb_err_release(&f->err);
        free(f);
        return 0;
}

static void image(struct fx *f, char md[CB_DIGEST_STR_LEN])
{
        t_write(f->src_fd, "hello", "world\n", 0644);
        struct layer_desc d;
        assert_int_equal(layer_commit_dir(f->s, f->src_fd, NULL, &d, &f->err), 0);
        json_t *cfg = json_pack("{s:s, s:s}", "architecture", "amd64", "os", "linux");
        assert_int_equal(layer_image_write(f->s, cfg, &d, 1, false, NULL, md, &f->err), 0);
        json_decref(cfg);
}

static void test_export_import_round_trip(void **state)
{
        struct fx *f = *state;
        char md[CB_DIGEST_STR_LEN], got[CB_DIGEST_STR_LEN];
        image(f, md);
        char *dest = cb_xasprintf("%s/layout", f->out);
        assert_int_equal(layer_export_oci_dir(f->s, md, dest, "v1", &f->err), 0);
        assert_int_equal(layer_export_oci_dir(f->s, md, dest, "v1", &f->err), 0); /* replaces, no duplicate */
        assert_int_equal(layer_export_oci_dir(f->s, md, dest, "v2", &f->err), 0);
        char *idx = cb_xasprintf("%s/index.json", dest);
        char *text = t_read(AT_FDCWD, idx);
        json_t *j = json_loads(text, 0, NULL);
        assert_int_equal(json_array_size(json_object_get(j, "manifests")), 2);
        json_decref(j);
        free(text);
        free(idx);
        assert_int_equal(layer_import_oci_dir(f->s2, dest, NULL, got, &f->err), -EINVAL); /* two: ambiguous */
        assert_int_equal(layer_import_oci_dir(f->s2, dest, "v2", got, &f->err), 0);
        assert_string_equal(got, md);
        struct layer_image *img;
        assert_int_equal(layer_image_read(f->s2, got, &img, &f->err), 0);
        assert_true(layer_store_has_blob(f->s2, img->layers[0].digest));
        layer_image_free(img);
        assert_int_equal(layer_import_oci_dir(f->s2, dest, "nope", got, &f->err), -ENOENT);
        free(dest);
}

static void test_import_rejects_tampered_blob(void **state)
{
        struct fx *f = *state;
        char md[CB_DIGEST_STR_LEN], got[CB_DIGEST_STR_LEN];
        image(f, md);
        char *dest = cb_xasprintf("%s/layout", f->out);
        assert_int_equal(layer_export_oci_dir(f->s, md, dest, NULL, &f->err), 0);
        struct layer_image *img;
        assert_int_equal(layer_image_read(f->s, md, &img, &f->err), 0);
        char *bp = cb_xasprintf("%s/blobs/sha256/%s", dest, img->layers[0].digest + 7);
        assert_int_equal(unlink(bp), 0); /* hard-linked from the store: replace, don't write through */
        t_write(AT_FDCWD, bp, "tampered", 0644);
        assert_int_equal(layer_import_oci_dir(f->s2, dest, NULL, got, &f->err), -EBADMSG);
        assert_false(layer_store_has_blob(f->s2, img->layers[0].digest));
        layer_image_free(img);
        free(bp);
        free(dest);
}

static void test_import_rootfs_tar_is_deterministic(void **state)
{
        struct fx *f = *state;
        char *p = cb_xasprintf("%s/rootfs.tar", f->out);
        struct t_tar t;
        t_tar_open(&t, p, NULL);
        t_tar_add(&t, 'd', "etc", NULL, 0755);
        t_tar_add(&t, 'f', "etc/passwd", "root:x:0:0::/root:/bin/sh\n", 0644);
        t_tar_close(&t);
        struct layer_commit_opts o;
        layer_commit_opts_init(&o);
        o.source_date_epoch = 1700000000;
        char a[CB_DIGEST_STR_LEN], b[CB_DIGEST_STR_LEN];
        assert_int_equal(layer_import_rootfs_tar(f->s, p, &o, a, &f->err), 0);
        assert_int_equal(layer_import_rootfs_tar(f->s2, p, &o, b, &f->err), 0);
        assert_string_equal(a, b);
        struct layer_image *img;
        assert_int_equal(layer_image_read(f->s, a, &img, &f->err), 0);
        assert_int_equal(img->nlayers, 1);
        assert_string_equal(json_string_value(json_object_get(img->config, "created")), "2023-11-14T22:13:20Z");
        layer_image_free(img);
        free(p);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_export_import_round_trip, setup, teardown),
                cmocka_unit_test_setup_teardown(test_import_rejects_tampered_blob, setup, teardown),
                cmocka_unit_test_setup_teardown(test_import_rootfs_tar_is_deterministic, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

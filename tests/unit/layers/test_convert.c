/* convert.c: recompression per output, remembered; image conversion keeps the image id. */
#include "helpers.h"

/* the shared fixture, its source holding 20 compressible files */
static int setup(void **state)
{
        int r = t_fx_setup(state);
        struct t_fx *f = *state;
        for (int i = 0; i < 20; i++) {
                char n[32];
                snprintf(n, sizeof(n), "d/file%02d", i);
                t_write(f->src_fd, n, "some compressible content, some compressible content\n", 0644);
        }
        return r;
}

static void test_uncompressed_commit_compressed_on_demand(void **state)
{
        struct t_fx *f = *state;
        struct layer_commit_opts o;
        layer_commit_opts_init(&o);
        o.source_date_epoch = 0;
        o.compression = LAYER_UNCOMPRESSED;
        struct layer_desc raw, gz, gz2, direct, zs, back;
        assert_int_equal(layer_commit_dir(f->s, f->src_fd, &o, &raw, &f->err), 0);
        assert_int_equal(layer_store_compress_layer(f->s, &raw, LAYER_GZIP, -1, &gz, &f->err), 0);
        assert_string_equal(gz.diff_id, raw.diff_id);
        assert_string_equal(gz.media_type, LAYER_MT_OCI_LAYER_GZIP);
        assert_true(gz.size < raw.size);
        /* the same bytes a gzip commit gives */
        o.compression = LAYER_GZIP;
        assert_int_equal(layer_commit_dir(f->s, f->src_fd, &o, &direct, &f->err), 0);
        assert_string_equal(gz.digest, direct.digest);
        /* remembered: the second call is a lookup */
        char *memo = cb_xasprintf("cache/compressed/%s.gzip-6", raw.diff_id + 7);
        assert_true(t_exists(layer_store_root_fd(f->s), memo));
        free(memo);
        assert_int_equal(layer_store_compress_layer(f->s, &raw, LAYER_GZIP, 6, &gz2, &f->err), 0);
        assert_string_equal(gz2.digest, gz.digest);
        /* gzip -> zstd -> uncompressed */
        assert_int_equal(layer_store_compress_layer(f->s, &gz, LAYER_ZSTD, -1, &zs, &f->err), 0);
        assert_int_equal(layer_store_compress_layer(f->s, &zs, LAYER_UNCOMPRESSED, -1, &back, &f->err), 0);
        assert_string_equal(back.digest, raw.digest);
}

static void test_convert_keeps_image_id(void **state)
{
        struct t_fx *f = *state;
        struct layer_commit_opts o;
        layer_commit_opts_init(&o);
        o.compression = LAYER_UNCOMPRESSED;
        struct layer_desc raw;
        assert_int_equal(layer_commit_dir(f->s, f->src_fd, &o, &raw, &f->err), 0);
        json_t *cfg = json_pack("{s:s, s:s}", "architecture", "amd64", "os", "linux");
        char md[CB_DIGEST_STR_LEN], gz[CB_DIGEST_STR_LEN], dk[CB_DIGEST_STR_LEN];
        assert_int_equal(layer_image_write(f->s, cfg, &raw, 1, false, NULL, md, &f->err), 0);
        json_decref(cfg);
        assert_int_equal(layer_image_convert(f->s, md, LAYER_GZIP, -1, false, gz, &f->err), 0);
        assert_int_equal(layer_image_convert(f->s, md, LAYER_GZIP, -1, true, dk, &f->err), 0);
        assert_int_equal(layer_image_convert(f->s, md, LAYER_ZSTD, -1, true, dk, &f->err), -EINVAL);
        struct layer_image *a, *b;
        assert_int_equal(layer_image_read(f->s, md, &a, &f->err), 0);
        assert_int_equal(layer_image_read(f->s, gz, &b, &f->err), 0);
        assert_string_equal(a->config_digest, b->config_digest);
        assert_string_equal(b->layers[0].media_type, LAYER_MT_OCI_LAYER_GZIP);
        assert_string_equal(b->layers[0].diff_id, raw.diff_id);
        layer_image_free(a);
        layer_image_free(b);
}

/* An output's image: only the uncompressed layers are compressed; a gzip base and zstd layers pass. */
static void test_compress_only_uncompressed_layers(void **state)
{
        struct t_fx *f = *state;
        struct layer_commit_opts o;
        layer_commit_opts_init(&o);
        o.source_date_epoch = 0;
        struct layer_desc l[3], gz_direct;
        o.compression = LAYER_GZIP;
        assert_int_equal(layer_commit_dir(f->s, f->src_fd, &o, &l[0], &f->err), 0);
        t_write(f->src_fd, "d/more", "more\n", 0644);
        o.compression = LAYER_ZSTD;
        assert_int_equal(layer_commit_dir(f->s, f->src_fd, &o, &l[1], &f->err), 0);
        t_write(f->src_fd, "d/last", "last\n", 0644);
        o.compression = LAYER_UNCOMPRESSED;
        assert_int_equal(layer_commit_dir(f->s, f->src_fd, &o, &l[2], &f->err), 0);
        o.compression = LAYER_GZIP;
        assert_int_equal(layer_commit_dir(f->s, f->src_fd, &o, &gz_direct, &f->err), 0);
        json_t *cfg = json_pack("{s:s, s:s}", "architecture", "amd64", "os", "linux");
        json_t *an = json_pack("{s:s}", "dev.example.kept", "yes");
        char md[CB_DIGEST_STR_LEN], out[CB_DIGEST_STR_LEN], again[CB_DIGEST_STR_LEN], same[CB_DIGEST_STR_LEN];
        assert_int_equal(layer_image_write(f->s, cfg, l, 3, false, an, md, &f->err), 0);
        json_decref(cfg);
        json_decref(an);
        assert_int_equal(layer_image_compress(f->s, md, LAYER_GZIP, out, &f->err), 0);
        assert_string_not_equal(out, md);
        struct layer_image *a, *b;
        assert_int_equal(layer_image_read(f->s, md, &a, &f->err), 0);
        assert_int_equal(layer_image_read(f->s, out, &b, &f->err), 0);
        assert_string_equal(a->config_digest, b->config_digest);
        assert_string_equal(b->layers[0].digest, l[0].digest);
        assert_string_equal(b->layers[1].digest, l[1].digest);
        assert_string_equal(b->layers[1].media_type, LAYER_MT_OCI_LAYER_ZSTD);
        assert_string_equal(b->layers[2].digest, gz_direct.digest);
        assert_string_equal(b->layers[2].media_type, LAYER_MT_OCI_LAYER_GZIP);
        assert_string_equal(json_string_value(json_object_get(json_object_get(b->manifest, "annotations"),
                                                              "dev.example.kept")),
                            "yes");
        /* deterministic, and an image with nothing uncompressed is its own output */
        assert_int_equal(layer_image_compress(f->s, md, LAYER_GZIP, again, &f->err), 0);
        assert_string_equal(again, out);
        assert_int_equal(layer_image_compress(f->s, out, LAYER_GZIP, same, &f->err), 0);
        assert_string_equal(same, out);
        assert_int_equal(layer_image_compress(f->s, md, LAYER_UNCOMPRESSED, same, &f->err), 0);
        assert_string_equal(same, md);
        /* in place: ret may be the input */
        memcpy(same, md, sizeof(same));
        assert_int_equal(layer_image_compress(f->s, same, LAYER_GZIP, same, &f->err), 0);
        assert_string_equal(same, out);
        layer_image_free(a);
        layer_image_free(b);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_uncompressed_commit_compressed_on_demand, setup, t_fx_teardown),
                cmocka_unit_test_setup_teardown(test_convert_keeps_image_id, setup, t_fx_teardown),
                cmocka_unit_test_setup_teardown(test_compress_only_uncompressed_layers, setup, t_fx_teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

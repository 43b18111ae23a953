/* image.c: config + manifest write/read, Docker format, unpacked layers by diff_id. */
#include "helpers.h"

#include <dirent.h>


static void make_layer(struct t_fx *f, struct layer_desc *d)
{
        t_write(f->src_fd, "etc/os-release", "ID=test\n", 0644);
        t_write(f->src_fd, "bin/sh", "#!\n", 04755);
        struct layer_commit_opts o;
        layer_commit_opts_init(&o);
        o.source_date_epoch = 0;
        assert_int_equal(layer_commit_dir(f->s, f->src_fd, &o, d, &f->err), 0);
}

static void test_write_then_read_image(void **state)
{
        struct t_fx *f = *state;
        struct layer_desc d;
        make_layer(f, &d);
        json_t *cfg = json_pack("{s:s, s:s, s:{s:[s]}}", "architecture", "amd64", "os", "linux", "config", "Cmd", "sh");
        json_t *ann = json_pack("{s:s}", "org.opencontainers.image.title", "t");
        char md[CB_DIGEST_STR_LEN], md2[CB_DIGEST_STR_LEN];
        assert_int_equal(layer_image_write(f->s, cfg, &d, 1, false, ann, md, &f->err), 0);
        assert_int_equal(layer_image_write(f->s, cfg, &d, 1, false, ann, md2, &f->err), 0);
        assert_string_equal(md, md2); /* sorted keys: same input, same digest */
        struct layer_image *img;
        assert_int_equal(layer_image_read(f->s, md, &img, &f->err), 0);
        assert_int_equal(img->nlayers, 1);
        assert_string_equal(img->layers[0].digest, d.digest);
        assert_string_equal(img->layers[0].diff_id, d.diff_id);
        assert_int_equal(img->layers[0].size, d.size);
        assert_string_equal(img->layers[0].media_type, LAYER_MT_OCI_LAYER_GZIP);
        assert_string_equal(json_string_value(json_object_get(img->manifest, "mediaType")), LAYER_MT_OCI_MANIFEST);
        assert_string_equal(json_string_value(json_object_get(img->config, "architecture")), "amd64");
        assert_string_equal(json_string_value(json_object_get(json_object_get(img->manifest, "annotations"),
                                                              "org.opencontainers.image.title")),
                            "t");
        layer_image_free(img);

        char dd[CB_DIGEST_STR_LEN];
        assert_int_equal(layer_image_write(f->s, cfg, &d, 1, true, NULL, dd, &f->err), 0);
        assert_int_equal(layer_image_read(f->s, dd, &img, &f->err), 0);
        assert_string_equal(json_string_value(json_object_get(img->manifest, "mediaType")), LAYER_MT_DOCKER_MANIFEST);
        assert_string_equal(img->layers[0].media_type, LAYER_MT_DOCKER_LAYER_GZIP);
        layer_image_free(img);
        json_decref(cfg);
        json_decref(ann);
}

static void test_docker_format_refuses_zstd(void **state)
{
        struct t_fx *f = *state;
        struct layer_desc d;
        t_write(f->src_fd, "x", "x", 0644);
        struct layer_commit_opts o;
        layer_commit_opts_init(&o);
        o.compression = LAYER_ZSTD;
        assert_int_equal(layer_commit_dir(f->s, f->src_fd, &o, &d, &f->err), 0);
        json_t *cfg = json_pack("{s:s, s:s}", "architecture", "amd64", "os", "linux");
        char md[CB_DIGEST_STR_LEN];
        assert_int_equal(layer_image_write(f->s, cfg, &d, 1, true, NULL, md, &f->err), -EINVAL);
        assert_int_equal(layer_image_write(f->s, cfg, &d, 1, false, NULL, md, &f->err), 0);
        json_decref(cfg);
}

static void test_read_rejects_mismatched_config(void **state)
{
        struct t_fx *f = *state;
        char cd[CB_DIGEST_STR_LEN], md[CB_DIGEST_STR_LEN];
        const char *cfg = "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}";
        assert_int_equal(layer_store_put_blob(f->s, cfg, strlen(cfg), cd, &f->err), 0);
        char *m = cb_xasprintf("{\"schemaVersion\":2,\"config\":{\"digest\":\"%s\",\"size\":1},\"layers\":[{\"digest\":\"%s\","
                               "\"size\":1}]}",
                               cd, cd);
        assert_int_equal(layer_store_put_blob(f->s, m, strlen(m), md, &f->err), 0);
        free(m);
        struct layer_image *img = NULL;
        assert_int_equal(layer_image_read(f->s, md, &img, &f->err), -EBADMSG);
        assert_null(img);
}

static void test_unpacked_once_and_verified(void **state)
{
        struct t_fx *f = *state;
        struct layer_desc d;
        make_layer(f, &d);
        char *p1 = NULL, *p2 = NULL;
        assert_int_equal(layer_store_unpacked(f->s, &d, &p1, &f->err), 0);
        assert_int_equal(layer_store_unpacked(f->s, &d, &p2, &f->err), 0);
        assert_string_equal(p1, p2);
        char *os = cb_xasprintf("%s/etc/os-release", p1);
        char *c = t_read(AT_FDCWD, os);
        assert_string_equal(c, "ID=test\n");
        struct stat st;
        char *sh = cb_xasprintf("%s/bin/sh", p1);
        assert_int_equal(stat(sh, &st), 0);
        assert_int_equal(st.st_mode & 07777, 04755);
        free(sh);
        free(c);
        free(os);
        free(p1);
        free(p2);

        /* a descriptor whose diff_id does not match the blob leaves nothing in layers/ */
        struct layer_desc bad = d;
        memcpy(bad.diff_id, "sha256:1111111111111111111111111111111111111111111111111111111111111111", CB_DIGEST_STR_LEN);
        assert_int_equal(layer_store_unpacked(f->s, &bad, &p1, &f->err), -EBADMSG);
        assert_false(t_exists(layer_store_root_fd(f->s), "layers/1111111111111111111111111111111111111111111111111111111111111111"));
}

static void test_adopt_unpacked_renames_once(void **state)
{
        struct t_fx *f = *state;
        struct layer_desc d;
        make_layer(f, &d);
        /* the committed dir itself becomes layers/<hex>: a marker added after the commit shows that the
         * directory was kept, not the blob extracted again */
        t_write(f->src_fd, "marker", "kept\n", 0644);
        char *parent = cb_xstrdup(f->src);
        char *slash = strrchr(parent, '/');
        *slash = '\0';
        int pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(pfd >= 0);
        assert_int_equal(layer_store_adopt_unpacked(f->s, &d, pfd, slash + 1, &f->err), 1);
        assert_false(t_exists(pfd, slash + 1));
        char *p = NULL;
        assert_int_equal(layer_store_unpacked(f->s, &d, &p, &f->err), 0);
        char *m = cb_xasprintf("%s/marker", p);
        char *c = t_read(AT_FDCWD, m);
        assert_string_equal(c, "kept\n");
        free(c);
        free(m);
        free(p);
        /* layers/ already has it: the second directory is left to the caller */
        assert_int_equal(mkdir(f->src, 0755), 0);
        assert_int_equal(layer_store_adopt_unpacked(f->s, &d, pfd, slash + 1, &f->err), 0);
        assert_true(t_exists(pfd, slash + 1));
        /* a file is refused */
        struct layer_desc other = d;
        memcpy(other.diff_id, "sha256:2222222222222222222222222222222222222222222222222222222222222222", CB_DIGEST_STR_LEN);
        t_write(pfd, "adopt-file", "x", 0644);
        assert_int_equal(layer_store_adopt_unpacked(f->s, &other, pfd, "adopt-file", &f->err), -ENOTDIR);
        assert_int_equal(unlinkat(pfd, "adopt-file", 0), 0);
        close(pfd);
        free(parent);
}

static void test_unpacked_rejects_truncated_blob(void **state)
{
        struct t_fx *f = *state;
        struct layer_desc d;
        make_layer(f, &d);
        char *p = layer_store_blob_path(f->s, d.digest);
        struct stat st;
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(truncate(p, st.st_size - 10), 0);
        free(p);
        char *out = NULL;
        assert_int_equal(layer_store_unpacked(f->s, &d, &out, &f->err), -EBADMSG);
        assert_null(out);
        char *rel = cb_xasprintf("layers/%s", d.diff_id + 7);
        assert_false(t_exists(layer_store_root_fd(f->s), rel));
        free(rel);
        /* nothing left in the work directory either */
        int wfd = layer_store_work_fd(f->s);
        int dfd = fcntl(wfd, F_DUPFD_CLOEXEC, 3);
        DIR *dir = fdopendir(dfd);
        rewinddir(dir);
        struct dirent *de;
        int n = 0;
        while ((de = readdir(dir)))
                n += de->d_name[0] != '.';
        closedir(dir);
        assert_int_equal(n, 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_write_then_read_image, t_fx_setup, t_fx_teardown),
                cmocka_unit_test_setup_teardown(test_docker_format_refuses_zstd, t_fx_setup, t_fx_teardown),
                cmocka_unit_test_setup_teardown(test_read_rejects_mismatched_config, t_fx_setup, t_fx_teardown),
                cmocka_unit_test_setup_teardown(test_unpacked_once_and_verified, t_fx_setup, t_fx_teardown),
                cmocka_unit_test_setup_teardown(test_unpacked_rejects_truncated_blob, t_fx_setup, t_fx_teardown),
                cmocka_unit_test_setup_teardown(test_adopt_unpacked_renames_once, t_fx_setup, t_fx_teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

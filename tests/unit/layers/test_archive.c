/* archive.c: oci-archive and docker-archive export/import (and skopeo's view of them when present). */
#include "helpers.h"

struct fx {
        char *root, *root2, *src, *out;
        int src_fd;
        struct layer_store *s, *s2;
        struct cb_err err;
        char md[CB_DIGEST_STR_LEN];
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
        t_write(f->src_fd, "etc/motd", "hello from an archive\n", 0644);
        struct layer_desc l[2];
        assert_int_equal(layer_commit_dir(f->s, f->src_fd, NULL, &l[0], &f->err), 0);
        t_write(f->src_fd, "usr/bin/app", "#!/bin/sh\n", 0755);
        struct layer_commit_opts o;
        layer_commit_opts_init(&o);
        o.compression = LAYER_ZSTD;
        assert_int_equal(layer_commit_dir(f->s, f->src_fd, &o, &l[1], &f->err), 0);
        json_t *cfg = json_pack("{s:s, s:s, s:{s:[s]}}", "architecture", "amd64", "os", "linux", "config", "Cmd", "/usr/bin/app");
        assert_int_equal(layer_image_write(f->s, cfg, l, 2, false, NULL, f->md, &f->err), 0);
        json_decref(cfg);
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

static bool have_skopeo(void)
{
        return access("/usr/bin/skopeo", X_OK) == 0;
}

static int run_quiet(const char *cmd)
{
        char *c = cb_xasprintf("%s >/dev/null 2>&1", cmd);
        int r = system(c);
        free(c);
        return r;
}

static void test_oci_archive_round_trip(void **state)
{
        struct fx *f = *state;
        char *p = cb_xasprintf("%s/img.oci.tar", f->out);
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_int_equal(layer_export_oci_archive(f->s, f->md, "v1", fd, &f->err), 0);
        close(fd);
        /* deterministic: a second export is byte-identical */
        char *p2 = cb_xasprintf("%s/img2.oci.tar", f->out);
        fd = open(p2, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_int_equal(layer_export_oci_archive(f->s, f->md, "v1", fd, &f->err), 0);
        close(fd);
        char d1[CB_DIGEST_STR_LEN], d2[CB_DIGEST_STR_LEN];
        assert_int_equal(cb_sha256_file(AT_FDCWD, p, d1, NULL, &f->err), 0);
        assert_int_equal(cb_sha256_file(AT_FDCWD, p2, d2, NULL, &f->err), 0);
        assert_string_equal(d1, d2);
        fd = open(p, O_RDONLY | O_CLOEXEC);
        struct layer_loaded *v;
        size_t n;
        assert_int_equal(layer_import_archive(f->s2, fd, &v, &n, &f->err), 0);
        close(fd);
        assert_int_equal(n, 1);
        assert_string_equal(v[0].manifest_digest, f->md);
        assert_int_equal(v[0].ntags, 1);
        assert_string_equal(v[0].repo_tags[0], "v1");
        layer_loaded_free(v, n);
        fd = open(p, O_RDONLY | O_CLOEXEC);
        char got[CB_DIGEST_STR_LEN];
        assert_int_equal(layer_import_oci_archive(f->s2, fd, "v1", got, &f->err), 0);
        close(fd);
        assert_string_equal(got, f->md);
        if (have_skopeo()) {
                char *cmd = cb_xasprintf("skopeo inspect oci-archive:%s:v1", p);
                assert_int_equal(run_quiet(cmd), 0);
                free(cmd);
        }
        free(p);
        free(p2);
}

static void test_docker_archive_round_trip(void **state)
{
        struct fx *f = *state;
        char *p = cb_xasprintf("%s/img.docker.tar", f->out);
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        const char *tags[] = { "localhost/arch:1" };
        assert_int_equal(layer_export_docker_archive(f->s, f->md, tags, 1, fd, &f->err), 0);
        close(fd);
        fd = open(p, O_RDONLY | O_CLOEXEC);
        struct layer_loaded *v;
        size_t n;
        assert_int_equal(layer_import_archive(f->s2, fd, &v, &n, &f->err), 0);
        close(fd);
        assert_int_equal(n, 1);
        assert_int_equal(v[0].ntags, 1);
        assert_string_equal(v[0].repo_tags[0], "localhost/arch:1");
        struct layer_image *a, *b;
        assert_int_equal(layer_image_read(f->s, f->md, &a, &f->err), 0);
        assert_int_equal(layer_image_read(f->s2, v[0].manifest_digest, &b, &f->err), 0);
        assert_string_equal(a->config_digest, b->config_digest); /* same image id */
        assert_int_equal(b->nlayers, 2);
        for (size_t i = 0; i < 2; i++) {
                assert_string_equal(a->layers[i].diff_id, b->layers[i].diff_id);
                assert_string_equal(b->layers[i].media_type, LAYER_MT_OCI_LAYER);
        }
        layer_image_free(a);
        layer_image_free(b);
        layer_loaded_free(v, n);
        if (have_skopeo()) {
                char *cmd = cb_xasprintf("skopeo inspect docker-archive:%s", p);
                assert_int_equal(run_quiet(cmd), 0);
                free(cmd);
        }
        free(p);
}

static void test_import_rejects_layer_config_mismatch(void **state)
{
        struct fx *f = *state;
        /* a docker-archive whose layer does not match the config's diff_id */
        char *p = cb_xasprintf("%s/bad.tar", f->out);
        struct t_tar t;
        t_tar_open(&t, p, NULL);
        t_tar_add(&t, 'f', "c.json",
                  "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":["
                  "\"sha256:0000000000000000000000000000000000000000000000000000000000000000\"]}}",
                  0644);
        t_tar_add(&t, 'f', "l.tar", "not really a tar", 0644);
        t_tar_add(&t, 'f', "manifest.json", "[{\"Config\":\"c.json\",\"RepoTags\":[],\"Layers\":[\"l.tar\"]}]", 0644);
        t_tar_close(&t);
        int fd = open(p, O_RDONLY | O_CLOEXEC);
        struct layer_loaded *v;
        size_t n;
        assert_int_equal(layer_import_archive(f->s2, fd, &v, &n, &f->err), -EBADMSG);
        close(fd);
        /* paths in manifest.json cannot leave the archive */
        t_tar_open(&t, p, NULL);
        t_tar_add(&t, 'f', "manifest.json", "[{\"Config\":\"../../../../etc/passwd\",\"Layers\":[]}]", 0644);
        t_tar_close(&t);
        fd = open(p, O_RDONLY | O_CLOEXEC);
        assert_true(layer_import_archive(f->s2, fd, &v, &n, &f->err) < 0);
        close(fd);
        free(p);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_oci_archive_round_trip, setup, teardown),
                cmocka_unit_test_setup_teardown(test_docker_archive_round_trip, setup, teardown),
                cmocka_unit_test_setup_teardown(test_import_rejects_layer_config_mismatch, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* prune.c: the build cache's garbage collection (LRU, --filter until=, --keep-storage) over a real
 * store, and the store budget applied after a build. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "builder/cache.h"
#include "builder/prune.h"
#include "common/cb.h"
#include "layers/layer.h"

struct fx {
        char *root, *src;
        struct layer_store *s;
        struct cb_err err;
        unsigned n; /* layers made so far, for distinct names */
};

static char *mkdtemp_here(void)
{
        const char *base = getenv("TMPDIR");
        char *p = cb_xasprintf("%s/cb-prune-XXXXXX", base && base[0] ? base : "/tmp");
        assert_non_null(mkdtemp(p));
        return p;
}

static void rm_tree(const char *path)
{
        struct cb_err e;
        cb_err_init(&e);
        (void) cb_rm_rf(AT_FDCWD, path, &e);
        cb_err_release(&e);
}

static int setup(void **state)
{
        struct fx *f = cb_xcalloc(1, sizeof(*f));
        f->root = mkdtemp_here();
        f->src = mkdtemp_here();
        cb_err_init(&f->err);
        assert_int_equal(layer_store_open(f->root, &f->s, &f->err), 0);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fx *f = *state;
        layer_store_free(f->s);
        rm_tree(f->root);
        rm_tree(f->src);
        free(f->root);
        free(f->src);
        cb_err_release(&f->err);
        free(f);
        return 0;
}

/* A layer holding one file of size bytes of incompressible data made from seed. */
static void make_layer(struct fx *f, unsigned seed, size_t size, enum layer_compression c, struct layer_desc *ret)
{
        char *dir = cb_xasprintf("%s/l%u", f->src, f->n++);
        assert_int_equal(mkdir(dir, 0755), 0);
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(dfd >= 0);
        int fd = openat(dfd, "data", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        unsigned char *buf = cb_xmalloc(size);
        uint32_t x = seed * 2654435761u + 1;
        for (size_t i = 0; i < size; i++) {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                buf[i] = (unsigned char) x;
        }
        assert_int_equal(cb_write_all(fd, buf, size), 0);
        free(buf);
        close(fd);
        struct layer_commit_opts o;
        layer_commit_opts_init(&o);
        o.compression = c;
        o.source_date_epoch = 0;
        assert_int_equal(layer_commit_dir(f->s, dfd, &o, ret, &f->err), 0);
        close(dfd);
        free(dir);
}

static void write_image(struct fx *f, const struct layer_desc *l, const char *tag, char md[CB_DIGEST_STR_LEN])
{
        json_t *cfg = json_pack("{s:s, s:s, s:s}", "architecture", "amd64", "os", "linux", "created",
                                "2025-01-01T00:00:00Z");
        assert_int_equal(layer_image_write(f->s, cfg, l, 1, false, NULL, md, &f->err), 0);
        json_decref(cfg);
        if (tag)
                assert_int_equal(layer_store_tag(f->s, tag, md, &f->err), 0);
}

/* A cache record for layer l, last used days_ago days ago; its path relative to the store root. */
static char *put_record(struct fx *f, const char *name, const struct layer_desc *l, int days_ago)
{
        char key[CB_DIGEST_STR_LEN];
        cb_sha256_digest(name, strlen(name), key);
        struct bld_cache_entry e = { .layer = *l, .created = 0 };
        assert_int_equal(bld_cache_put(f->s, key, &e, &f->err), 0);
        char *rel = cb_xasprintf("cache/%s", key + 7);
        struct timespec ts[2];
        ts[0].tv_sec = ts[1].tv_sec = time(NULL) - (time_t) days_ago * 86400;
        ts[0].tv_nsec = ts[1].tv_nsec = 0;
        assert_int_equal(utimensat(layer_store_root_fd(f->s), rel, ts, 0), 0);
        return rel;
}

static bool has(struct fx *f, const char *rel)
{
        struct stat st;
        return fstatat(layer_store_root_fd(f->s), rel, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static bool has_blob(struct fx *f, const char *digest)
{
        return layer_store_has_blob(f->s, digest);
}

static uint64_t allocated(struct fx *f, const char *rel)
{
        struct stat st;
        assert_int_equal(fstatat(layer_store_root_fd(f->s), rel, &st, AT_SYMLINK_NOFOLLOW), 0);
        return (uint64_t) st.st_blocks * 512;
}

static void test_plain_prune_keeps_what_cache_records_use(void **state)
{
        struct fx *f = *state;
        struct layer_desc cached, loose;
        make_layer(f, 1, 5000, LAYER_GZIP, &cached);
        make_layer(f, 2, 5000, LAYER_GZIP, &loose);
        char *rec = put_record(f, "step", &cached, 1);
        struct bld_prune_opts o = { 0 };
        struct bld_prune_stats st;
        assert_int_equal(bld_prune(f->s, &o, &st, &f->err), 0);
        assert_true(has_blob(f, cached.digest));
        assert_false(has_blob(f, loose.digest));
        assert_true(has(f, rec));
        assert_int_equal(st.records_removed, 0);
        assert_int_equal(st.layers.blobs_removed, 1);
        free(rec);
}

static void test_cache_removes_least_recently_used_and_until_spares_recent_use(void **state)
{
        struct fx *f = *state;
        struct layer_desc old, recent;
        make_layer(f, 3, 5000, LAYER_GZIP, &old);
        make_layer(f, 4, 5000, LAYER_GZIP, &recent);
        char *r_old = put_record(f, "old", &old, 3);
        char *r_new = put_record(f, "new", &recent, 0);
        struct bld_prune_opts o = { .cache = true, .until_ns = (int64_t) 86400 * 1000000000 };
        struct bld_prune_stats st;
        assert_int_equal(bld_prune(f->s, &o, &st, &f->err), 0);
        assert_int_equal(st.records_removed, 1);
        assert_false(has(f, r_old));
        assert_false(has_blob(f, old.digest));
        assert_true(has(f, r_new));
        assert_true(has_blob(f, recent.digest));
        o.until_ns = 0;
        assert_int_equal(bld_prune(f->s, &o, &st, &f->err), 0);
        assert_int_equal(st.records_removed, 1);
        assert_false(has_blob(f, recent.digest));
        free(r_old);
        free(r_new);
}

/* The same content committed twice (gzip for a tagged image, zstd for a cache record) shares a
 * diff_id and so the image's unpacked layers/<diff_id>/: removing the record frees its blob only.
 * Counting the unpacked layer too stopped the removal early, leaving the store above the budget. */
static void test_keep_storage_ends_within_the_budget_when_a_diff_id_is_shared(void **state)
{
        struct fx *f = *state;
        struct layer_desc img_l, same_zstd, other;
        make_layer(f, 5, 200000, LAYER_GZIP, &img_l);
        make_layer(f, 5, 200000, LAYER_ZSTD, &same_zstd);
        make_layer(f, 6, 50000, LAYER_GZIP, &other);
        assert_string_equal(img_l.diff_id, same_zstd.diff_id);
        assert_string_not_equal(img_l.digest, same_zstd.digest);
        char md[CB_DIGEST_STR_LEN];
        write_image(f, &img_l, "localhost/app:1", md);
        char *unpacked = NULL;
        assert_int_equal(layer_store_unpacked(f->s, &img_l, &unpacked, &f->err), 0);
        free(unpacked);
        char *r1 = put_record(f, "zstd-copy", &same_zstd, 3);
        char *r2 = put_record(f, "other", &other, 2);
        char *r3 = put_record(f, "image-layer", &img_l, 1);
        uint64_t total = bld_store_total(f->s);
        /* one byte more than the oldest record and its zstd blob free: the next record must go too */
        char *zblob = cb_xasprintf("blobs/sha256/%s", same_zstd.digest + 7);
        uint64_t budget = total - allocated(f, r1) - allocated(f, zblob) - 1;
        struct bld_prune_opts o = { .has_keep_storage = true, .keep_storage = budget };
        struct bld_prune_stats st;
        assert_int_equal(bld_prune(f->s, &o, &st, &f->err), 0);
        assert_int_equal(st.total_before, total);
        assert_true(st.total_after <= budget);
        assert_true(bld_store_total(f->s) <= budget);
        assert_int_equal(st.records_removed, 2);
        assert_false(has(f, r1));
        assert_false(has(f, r2));
        assert_true(has(f, r3));
        char *dir = cb_xasprintf("layers/%s", img_l.diff_id + 7);
        assert_true(has(f, dir));
        struct layer_image *img = NULL;
        assert_int_equal(layer_image_read(f->s, md, &img, &f->err), 0);
        layer_image_free(img);
        free(dir);
        free(zblob);
        free(r1);
        free(r2);
        free(r3);
}

/* A budget the cache alone cannot meet removes every record and keeps every image. */
static void test_keep_storage_below_the_images_removes_all_records_and_keeps_images(void **state)
{
        struct fx *f = *state;
        struct layer_desc a, b;
        make_layer(f, 7, 20000, LAYER_GZIP, &a);
        make_layer(f, 8, 20000, LAYER_GZIP, &b);
        char md[CB_DIGEST_STR_LEN];
        write_image(f, &a, "localhost/a:1", md);
        char *ra = put_record(f, "a", &a, 2);
        char *rb = put_record(f, "b", &b, 1);
        struct bld_prune_opts o = { .has_keep_storage = true, .keep_storage = 1 };
        struct bld_prune_stats st;
        assert_int_equal(bld_prune(f->s, &o, &st, &f->err), 0);
        assert_int_equal(st.records_removed, 2);
        assert_true(has_blob(f, a.digest));
        assert_false(has_blob(f, b.digest));
        assert_true(st.total_after > 1);
        free(ra);
        free(rb);
}

/* After a build: the image just made is kept even untagged; the cache is not. */
static void test_budget_after_a_build_keeps_its_untagged_image(void **state)
{
        struct fx *f = *state;
        struct layer_desc l, older;
        make_layer(f, 9, 30000, LAYER_GZIP, &l);
        make_layer(f, 10, 30000, LAYER_GZIP, &older);
        char md[CB_DIGEST_STR_LEN];
        write_image(f, &l, NULL, md);
        char *r1 = put_record(f, "older", &older, 5);
        char *r2 = put_record(f, "this-build", &l, 0);
        struct bld_prune_stats st;
        assert_int_equal(bld_prune_budget(f->s, 1, md, &st, &f->err), 0);
        assert_int_equal(st.records_removed, 2);
        assert_false(has_blob(f, older.digest));
        assert_true(has_blob(f, l.digest));
        struct layer_image *img = NULL;
        assert_int_equal(layer_image_read(f->s, md, &img, &f->err), 0);
        layer_image_free(img);
        /* without the keep list, the untagged image goes with the next sweep */
        struct bld_prune_opts o = { 0 };
        assert_int_equal(bld_prune(f->s, &o, &st, &f->err), 0);
        assert_false(has_blob(f, md));
        free(r1);
        free(r2);
}

/* Cache mounts count in the total and go least recently used first, like records. */
static void test_keep_storage_removes_an_old_cache_mount_first(void **state)
{
        struct fx *f = *state;
        struct layer_desc l;
        make_layer(f, 11, 30000, LAYER_GZIP, &l);
        char *rec = put_record(f, "step", &l, 1);
        int root = layer_store_root_fd(f->s);
        assert_int_equal(cb_mkdir_p(root, "cache-mounts/0123456789abcdef", 0755, &f->err), 0);
        int fd = openat(root, "cache-mounts/0123456789abcdef/pip.whl", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        char buf[40000];
        memset(buf, 'x', sizeof(buf));
        assert_int_equal(cb_write_all(fd, buf, sizeof(buf)), 0);
        close(fd);
        struct timespec ts[2] = { { time(NULL) - 4 * 86400, 0 }, { time(NULL) - 4 * 86400, 0 } };
        assert_int_equal(utimensat(root, "cache-mounts/0123456789abcdef", ts, 0), 0);
        uint64_t total = bld_store_total(f->s);
        struct bld_prune_opts o = { .has_keep_storage = true, .keep_storage = total - 20000 };
        struct bld_prune_stats st;
        assert_int_equal(bld_prune(f->s, &o, &st, &f->err), 0);
        assert_int_equal(st.mounts_removed, 1);
        assert_int_equal(st.records_removed, 0);
        assert_true(st.total_after <= total - 20000);
        assert_true(has(f, rec));
        free(rec);
}

/* Another process with the store open (a build in flight) makes the budget wait: -EBUSY, nothing
 * removed. */
static void test_budget_waits_while_another_process_holds_the_store(void **state)
{
        struct fx *f = *state;
        struct layer_desc l;
        make_layer(f, 12, 20000, LAYER_GZIP, &l);
        char md[CB_DIGEST_STR_LEN];
        write_image(f, &l, NULL, md);
        char *rec = put_record(f, "step", &l, 1);
        struct layer_store *other = NULL;
        assert_int_equal(layer_store_open(f->root, &other, &f->err), 0);
        struct bld_prune_stats st;
        assert_int_equal(bld_prune_budget(f->s, 1, md, &st, &f->err), -EBUSY);
        assert_true(has(f, rec));
        layer_store_free(other);
        cb_err_reset(&f->err);
        assert_int_equal(bld_prune_budget(f->s, 1, md, &st, &f->err), 0);
        assert_false(has(f, rec));
        free(rec);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_plain_prune_keeps_what_cache_records_use, setup, teardown),
                cmocka_unit_test_setup_teardown(test_cache_removes_least_recently_used_and_until_spares_recent_use,
                                                setup, teardown),
                cmocka_unit_test_setup_teardown(test_keep_storage_ends_within_the_budget_when_a_diff_id_is_shared,
                                                setup, teardown),
                cmocka_unit_test_setup_teardown(test_keep_storage_below_the_images_removes_all_records_and_keeps_images,
                                                setup, teardown),
                cmocka_unit_test_setup_teardown(test_budget_after_a_build_keeps_its_untagged_image, setup, teardown),
                cmocka_unit_test_setup_teardown(test_keep_storage_removes_an_old_cache_mount_first, setup, teardown),
                cmocka_unit_test_setup_teardown(test_budget_waits_while_another_process_holds_the_store, setup,
                                                teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

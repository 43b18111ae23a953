/* compress.c: sink/source round trips, parallel gzip independent of the thread count, truncation. */
#include "helpers.h"

#include <zlib.h>

#include "layers/internal.h"

struct fx {
        char *dir;
        int dir_fd;
        struct cb_err err;
        unsigned char *data;
        size_t len;
};

static int setup(void **state)
{
        struct fx *f = cb_xcalloc(1, sizeof(*f));
        f->dir = t_mkdtemp();
        f->dir_fd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        cb_err_init(&f->err);
        /* 1.3 MiB of half-compressible bytes: many 128 KiB gzip blocks plus a short last one */
        f->len = 1300 * 1024 + 77;
        f->data = cb_xmalloc(f->len);
        uint32_t x = 12345;
        for (size_t i = 0; i < f->len; i++) {
                x = x * 1103515245u + 12345u;
                f->data[i] = (i / 4096) % 2 ? (unsigned char) (x >> 24) : (unsigned char) ("layers"[i % 6]);
        }
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fx *f = *state;
        close(f->dir_fd);
        t_rm(f->dir);
        free(f->dir);
        free(f->data);
        cb_err_release(&f->err);
        free(f);
        layer_gzip_threads_override = 0;
        return 0;
}

/* Compresses f->data (in odd-sized writes) into name; returns the blob digest in d. */
static void compress_to(struct fx *f, enum layer_compression c, const char *name, char d[CB_DIGEST_STR_LEN],
                        char diff[CB_DIGEST_STR_LEN])
{
        int fd = openat(f->dir_fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        struct layer_sink *k;
        assert_int_equal(layer_sink_new(c, -1, fd, &k, &f->err), 0);
        for (size_t off = 0; off < f->len;) {
                size_t n = f->len - off < 9999 ? f->len - off : 9999;
                assert_int_equal(layer_sink_write(k, f->data + off, n, &f->err), 0);
                off += n;
        }
        uint64_t size;
        assert_int_equal(layer_sink_finish(k, diff, d, &size, &f->err), 0);
        layer_sink_free(k);
        close(fd);
}

static void decompress_check(struct fx *f, const char *name, const char *d, const char *diff)
{
        int fd = openat(f->dir_fd, name, O_RDONLY | O_CLOEXEC);
        struct layer_source *src;
        assert_int_equal(layer_source_new(fd, &src, &f->err), 0);
        size_t off = 0;
        for (;;) {
                const void *p;
                ssize_t n = layer_source_read(src, &p, &f->err);
                assert_true(n >= 0);
                if (n == 0)
                        break;
                assert_true(off + (size_t) n <= f->len);
                assert_memory_equal(p, f->data + off, (size_t) n);
                off += (size_t) n;
        }
        assert_int_equal(off, f->len);
        char d2[CB_DIGEST_STR_LEN], diff2[CB_DIGEST_STR_LEN];
        assert_int_equal(layer_source_finish(src, diff2, d2, &f->err), 0);
        assert_string_equal(d2, d);
        assert_string_equal(diff2, diff);
        layer_source_free(src);
        close(fd);
}

static void test_round_trips_every_compression(void **state)
{
        struct fx *f = *state;
        enum layer_compression cs[] = { LAYER_GZIP, LAYER_ZSTD, LAYER_UNCOMPRESSED };
        char want_diff[CB_DIGEST_STR_LEN];
        cb_sha256_digest(f->data, f->len, want_diff);
        for (size_t i = 0; i < CB_ARRAY_SIZE(cs); i++) {
                char d[CB_DIGEST_STR_LEN], diff[CB_DIGEST_STR_LEN];
                compress_to(f, cs[i], "blob", d, diff);
                assert_string_equal(diff, want_diff);
                decompress_check(f, "blob", d, diff);
        }
}

static void test_parallel_gzip_bytes_independent_of_threads(void **state)
{
        struct fx *f = *state;
        char d1[CB_DIGEST_STR_LEN], d4[CB_DIGEST_STR_LEN], dd[CB_DIGEST_STR_LEN], diff[CB_DIGEST_STR_LEN];
        /* 3 MiB: several 1 MiB zstd jobs */
        f->data = cb_xrealloc(f->data, 3u << 20);
        for (size_t i = f->len; i < (3u << 20); i++)
                f->data[i] = f->data[i % f->len];
        f->len = 3u << 20;
        layer_gzip_threads_override = 1;
        compress_to(f, LAYER_GZIP, "g1", d1, diff);
        layer_gzip_threads_override = 4;
        compress_to(f, LAYER_GZIP, "g4", d4, diff);
        layer_gzip_threads_override = 0;
        compress_to(f, LAYER_GZIP, "gd", dd, diff);
        assert_string_equal(d1, d4);
        assert_string_equal(d1, dd);
        /* zstd too: jobs are cut by a fixed size, not by the number of workers */
        layer_gzip_threads_override = 1;
        compress_to(f, LAYER_ZSTD, "z1", d1, diff);
        layer_gzip_threads_override = 3;
        compress_to(f, LAYER_ZSTD, "z3", d4, diff);
        layer_gzip_threads_override = 0;
        assert_string_equal(d1, d4);
        /* zlib's own gunzip accepts it (a standard single-member gzip file) */
        char *p = cb_xasprintf("%s/g4", f->dir);
        gzFile g = gzopen(p, "rb");
        assert_non_null(g);
        unsigned char *buf = cb_xmalloc(f->len + 1);
        assert_int_equal(gzread(g, buf, (unsigned) f->len + 1), (int) f->len);
        assert_memory_equal(buf, f->data, f->len);
        gzclose(g);
        free(buf);
        free(p);
}

static void test_empty_input_is_valid_gzip(void **state)
{
        struct fx *f = *state;
        f->len = 0;
        char d[CB_DIGEST_STR_LEN], diff[CB_DIGEST_STR_LEN];
        compress_to(f, LAYER_GZIP, "e", d, diff);
        decompress_check(f, "e", d, diff);
        compress_to(f, LAYER_ZSTD, "z", d, diff);
        decompress_check(f, "z", d, diff);
}

static void test_truncated_streams_rejected(void **state)
{
        struct fx *f = *state;
        enum layer_compression cs[] = { LAYER_GZIP, LAYER_ZSTD };
        for (size_t i = 0; i < CB_ARRAY_SIZE(cs); i++) {
                char d[CB_DIGEST_STR_LEN], diff[CB_DIGEST_STR_LEN];
                compress_to(f, cs[i], "t", d, diff);
                struct stat st;
                assert_int_equal(fstatat(f->dir_fd, "t", &st, 0), 0);
                int fd = openat(f->dir_fd, "t", O_RDWR | O_CLOEXEC);
                assert_int_equal(ftruncate(fd, st.st_size - 5), 0);
                struct layer_source *src;
                assert_int_equal(layer_source_new(fd, &src, &f->err), 0);
                assert_int_equal(layer_source_finish(src, diff, d, &f->err), -EBADMSG);
                layer_source_free(src);
                close(fd);
        }
}

static void test_concatenated_gzip_members_read_as_one(void **state)
{
        struct fx *f = *state;
        char d[CB_DIGEST_STR_LEN], diff[CB_DIGEST_STR_LEN];
        compress_to(f, LAYER_GZIP, "m", d, diff);
        char *a = t_read(f->dir_fd, "m");
        (void) a;
        free(a);
        /* two members: the data twice */
        int in = openat(f->dir_fd, "m", O_RDONLY | O_CLOEXEC);
        struct cb_buf b;
        cb_buf_init(&b, CB_BUF_UNLIMITED);
        assert_int_equal(cb_read_all(in, &b), 0);
        close(in);
        int out = openat(f->dir_fd, "mm", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_int_equal(cb_write_all(out, b.p, b.len), 0);
        assert_int_equal(cb_write_all(out, b.p, b.len), 0);
        close(out);
        cb_buf_release(&b);
        int fd = openat(f->dir_fd, "mm", O_RDONLY | O_CLOEXEC);
        struct layer_source *src;
        assert_int_equal(layer_source_new(fd, &src, &f->err), 0);
        size_t total = 0;
        for (;;) {
                const void *p;
                ssize_t n = layer_source_read(src, &p, &f->err);
                assert_true(n >= 0);
                if (n == 0)
                        break;
                total += (size_t) n;
        }
        assert_int_equal(total, 2 * f->len);
        layer_source_free(src);
        close(fd);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_round_trips_every_compression, setup, teardown),
                cmocka_unit_test_setup_teardown(test_parallel_gzip_bytes_independent_of_threads, setup, teardown),
                cmocka_unit_test_setup_teardown(test_empty_input_is_valid_gzip, setup, teardown),
                cmocka_unit_test_setup_teardown(test_truncated_streams_rejected, setup, teardown),
                cmocka_unit_test_setup_teardown(test_concatenated_gzip_members_read_as_one, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

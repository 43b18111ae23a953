/* ADD helpers: archive detection by content (Docker's compression set), secure unpacking of
 * bzip2/xz archives, the file name a URL gives, --checksum verification. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "builder/copy_add.h"

static char tmpdir[] = "/tmp/test_copy_add.XXXXXX";

/* Writes a one-file archive (format tar, or raw for a compressed non-tar) through filter f. */
static int write_archive(const char *name, int (*filter)(struct archive *), bool tar, const char *entry,
                         const char *body)
{
        char path[512];
        (void) snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
        struct archive *a = archive_write_new();
        if (filter)
                assert_true(filter(a) >= ARCHIVE_WARN);
        if (tar)
                assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
        else
                assert_int_equal(archive_write_set_format_raw(a), ARCHIVE_OK);
        assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, entry);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_size(e, (la_int64_t) strlen(body));
        assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
        assert_int_equal(archive_write_data(a, body, strlen(body)), (la_ssize_t) strlen(body));
        archive_entry_free(e);
        assert_int_equal(archive_write_close(a), ARCHIVE_OK);
        archive_write_free(a);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        return fd;
}

static bool detect(int fd)
{
        struct cb_err err;
        cb_err_init(&err);
        bool is_tar = true;
        assert_int_equal(bld_archive_detect(fd, &is_tar, &err), 0);
        assert_int_equal(lseek(fd, 0, SEEK_CUR), 0);
        cb_err_release(&err);
        return is_tar;
}

static void test_tar_detected_by_content_in_each_docker_compression(void **state)
{
        (void) state;
        static const struct {
                const char *name;
                int (*filter)(struct archive *);
        } cases[] = {{"plain", NULL},
                     {"gz", archive_write_add_filter_gzip},
                     {"bz2", archive_write_add_filter_bzip2},
                     {"xz", archive_write_add_filter_xz},
                     {"zst", archive_write_add_filter_zstd}};
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                int fd = write_archive(cases[i].name, cases[i].filter, true, "in/a.txt", "hello\n");
                assert_true(detect(fd));
                (void) close(fd);
        }
}

static void test_non_tars_are_not_archives(void **state)
{
        (void) state;
        /* a gzip stream that holds no tar, as `gzip note` makes */
        int fd = write_archive("note.gz", archive_write_add_filter_gzip, false, "note", "not a tar\n");
        assert_false(detect(fd));
        (void) close(fd);
        /* lz4 is no Docker compression: copied as a file even around a tar */
        fd = write_archive("tar.lz4", archive_write_add_filter_lz4, true, "a", "x\n");
        assert_false(detect(fd));
        (void) close(fd);
        char path[512];
        (void) snprintf(path, sizeof(path), "%s/empty", tmpdir);
        fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_false(detect(fd));
        assert_int_equal(write(fd, "plain text, no tar header here\n", 31), 31);
        assert_false(detect(fd));
        (void) close(fd);
}

static void test_bzip2_and_xz_unpack_through_the_secure_extractor(void **state)
{
        (void) state;
        int (*filters[])(struct archive *) = {archive_write_add_filter_bzip2, archive_write_add_filter_xz};
        for (size_t i = 0; i < 2; i++) {
                int fd = write_archive(i ? "u.xz" : "u.bz2", filters[i], true, "in/a.txt", "unpacked\n");
                char dir[512];
                (void) snprintf(dir, sizeof(dir), "%s/out%zu", tmpdir, i);
                assert_int_equal(mkdir(dir, 0755), 0);
                int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                struct cb_err err;
                cb_err_init(&err);
                assert_int_equal(bld_archive_extract(fd, dfd, tmpdir, &err), 0);
                struct cb_buf b;
                cb_buf_init(&b, 4096);
                assert_int_equal(cb_read_file(dfd, "in/a.txt", 4096, &b, &err), 0);
                assert_string_equal(b.p, "unpacked\n");
                cb_buf_release(&b);
                cb_err_release(&err);
                (void) close(dfd);
                (void) close(fd);
        }
}

static void test_entry_escaping_the_destination_is_refused(void **state)
{
        (void) state;
        int fd = write_archive("evil.tar.xz", archive_write_add_filter_xz, true, "../../escaped", "x\n");
        char dir[512], parent[512];
        (void) snprintf(parent, sizeof(parent), "%s/dst", tmpdir);
        (void) snprintf(dir, sizeof(dir), "%s/dst/inner", tmpdir);
        assert_int_equal(mkdir(parent, 0755), 0);
        assert_int_equal(mkdir(dir, 0755), 0);
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(dfd >= 0);
        struct cb_err err;
        cb_err_init(&err);
        assert_true(bld_archive_extract(fd, dfd, tmpdir, &err) < 0);
        assert_non_null(strstr(cb_err_msg(&err), "escapes"));
        char esc[512];
        (void) snprintf(esc, sizeof(esc), "%s/escaped", tmpdir);
        assert_int_equal(access(esc, F_OK), -1);
        cb_err_release(&err);
        (void) close(dfd);
        (void) close(fd);
}

static void test_url_names_its_file_after_the_last_path_element(void **state)
{
        (void) state;
        static const char *const cases[][2] = {
            {"http://h/a/b.txt", "b.txt"}, {"https://h:8080/x.tgz?sig=1#f", "x.tgz"},
            {"http://h/dir/", "dir"},      {"http://h/", "__unnamed__"},
            {"http://h", "__unnamed__"},   {"http://h?q=/x", "__unnamed__"},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char *n = bld_url_basename(cases[i][0]);
                assert_string_equal(n, cases[i][1]);
                free(n);
        }
}

static void test_checksum_mismatch_names_both_digests(void **state)
{
        (void) state;
        char path[512];
        (void) snprintf(path, sizeof(path), "%s/payload", tmpdir);
        struct cb_err err;
        cb_err_init(&err);
        assert_int_equal(cb_write_file_atomic(AT_FDCWD, path, "payload\n", 8, 0644, &err), 0);
        char dg[CB_DIGEST_STR_LEN];
        assert_int_equal(cb_sha256_file(AT_FDCWD, path, dg, NULL, &err), 0);
        assert_int_equal(bld_url_verify(path, dg, "http://h/p", dg, &err), 0);
        const char *wrong = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
        assert_int_equal(bld_url_verify(path, dg, "http://h/p", wrong, &err), -EBADMSG);
        assert_non_null(strstr(cb_err_msg(&err), "checksum mismatch for 'http://h/p'"));
        assert_non_null(strstr(cb_err_msg(&err), dg));
        cb_err_reset(&err);
        /* sha512 is computed from the file itself */
        assert_int_equal(bld_url_verify(path, dg, "http://h/p", "sha512:00", &err), -EBADMSG);
        assert_non_null(strstr(cb_err_msg(&err), "got sha512:"));
        cb_err_reset(&err);
        assert_int_equal(bld_url_verify(path, dg, "http://h/p", "md5:00", &err), -EINVAL);
        cb_err_release(&err);
}

static int setup(void **state)
{
        (void) state;
        return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
        (void) state;
        struct cb_err err;
        cb_err_init(&err);
        (void) cb_rm_rf(AT_FDCWD, tmpdir, &err);
        cb_err_release(&err);
        return 0;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_tar_detected_by_content_in_each_docker_compression),
            cmocka_unit_test(test_non_tars_are_not_archives),
            cmocka_unit_test(test_bzip2_and_xz_unpack_through_the_secure_extractor),
            cmocka_unit_test(test_entry_escaping_the_destination_is_refused),
            cmocka_unit_test(test_url_names_its_file_after_the_last_path_element),
            cmocka_unit_test(test_checksum_mismatch_names_both_digests),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}

/* filememo.c: a file is read once per build; a changed file is read again. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builder/filememo.h"

static void put(int dfd, const char *name, const char *text)
{
        int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(cb_write_all(fd, text, strlen(text)), 0);
        close(fd);
}

static void digest_of(struct bld_file_memo *m, int dfd, const char *name, char out[CB_DIGEST_STR_LEN])
{
        struct stat st;
        struct cb_err err;
        cb_err_init(&err);
        assert_int_equal(fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW), 0);
        unsigned long long size = 0;
        assert_int_equal(bld_file_digest(m, dfd, name, &st, out, &size, &err), 0);
        assert_int_equal(size, (unsigned long long) st.st_size);
        cb_err_release(&err);
}

static void test_memo_reads_once_and_sees_changes(void **state)
{
        (void) state;
        char dir[] = "/tmp/filememo-XXXXXX";
        assert_non_null(mkdtemp(dir));
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(dfd >= 0);
        put(dfd, "a", "hello\n");
        struct bld_file_memo *m = bld_file_memo_new();
        char d1[CB_DIGEST_STR_LEN], d2[CB_DIGEST_STR_LEN], want[CB_DIGEST_STR_LEN];
        cb_sha256_digest("hello\n", 6, want);
        digest_of(m, dfd, "a", d1);
        assert_string_equal(d1, want);
        assert_int_equal(bld_file_memo_hits(m), 0);
        digest_of(m, dfd, "a", d2);
        assert_string_equal(d2, want);
        assert_int_equal(bld_file_memo_hits(m), 1);
        /* same size, new content: ctime moves (past the kernel's coarse clock tick), the file is read again */
        usleep(20000);
        put(dfd, "a", "HELLO\n");
        digest_of(m, dfd, "a", d2);
        cb_sha256_digest("HELLO\n", 6, want);
        assert_string_equal(d2, want);
        assert_int_equal(bld_file_memo_hits(m), 1);
        /* many files: the table grows and every digest stays right */
        for (int i = 0; i < 3000; i++) {
                char n[32], t[32];
                snprintf(n, sizeof(n), "f%d", i);
                snprintf(t, sizeof(t), "content %d\n", i);
                put(dfd, n, t);
                digest_of(m, dfd, n, d1);
        }
        for (int i = 0; i < 3000; i++) {
                char n[32], t[32];
                snprintf(n, sizeof(n), "f%d", i);
                snprintf(t, sizeof(t), "content %d\n", i);
                cb_sha256_digest(t, strlen(t), want);
                digest_of(m, dfd, n, d1);
                assert_string_equal(d1, want);
                (void) unlinkat(dfd, n, 0);
        }
        assert_int_equal(bld_file_memo_hits(m), 3001);
        /* no memo: plain hashing */
        digest_of(NULL, dfd, "a", d1);
        assert_string_equal(d1, d2);
        bld_file_memo_free(m);
        (void) unlinkat(dfd, "a", 0);
        close(dfd);
        assert_int_equal(rmdir(dir), 0);
}

/* the memo a build leaves in the store spares the next build reading unchanged files */
static void test_memo_kept_between_builds(void **state)
{
        (void) state;
        char dir[] = "/tmp/filememo-XXXXXX";
        assert_non_null(mkdtemp(dir));
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(dfd >= 0);
        assert_int_equal(mkdirat(dfd, "store", 0755), 0);
        int root = openat(dfd, "store", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(root >= 0);
        put(dfd, "old", "old file\n");
        put(dfd, "new", "new file\n");
        struct stat st;
        assert_int_equal(fstatat(dfd, "old", &st, 0), 0);
        char d[CB_DIGEST_STR_LEN], want[CB_DIGEST_STR_LEN];
        struct bld_file_memo *m = bld_file_memo_new();
        digest_of(m, dfd, "old", d);
        digest_of(m, dfd, "new", d);
        /* as if the build began 10 s after "old" changed and 1 s after "new" did: "new" is too recent */
        int64_t started = (int64_t) st.st_ctim.tv_sec + 10;
        assert_int_equal(fstatat(dfd, "new", &st, 0), 0);
        assert_true((int64_t) st.st_ctim.tv_sec < started);
        bld_file_memo_save(m, root, (int64_t) st.st_ctim.tv_sec + 1);
        m = bld_file_memo_free(m);
        /* the next build: "new" was too recent when saved, so neither file is remembered */
        m = bld_file_memo_new();
        bld_file_memo_load(m, root);
        digest_of(m, dfd, "old", d);
        assert_int_equal(bld_file_memo_hits(m), 0);
        bld_file_memo_save(m, root, started);
        m = bld_file_memo_free(m);
        m = bld_file_memo_new();
        bld_file_memo_load(m, root);
        digest_of(m, dfd, "old", d);
        cb_sha256_digest("old file\n", 9, want);
        assert_string_equal(d, want);
        assert_int_equal(bld_file_memo_hits(m), 1);
        /* a changed file is read again, whatever the memo says */
        usleep(20000);
        put(dfd, "old", "OLD FILE\n");
        digest_of(m, dfd, "old", d);
        cb_sha256_digest("OLD FILE\n", 9, want);
        assert_string_equal(d, want);
        assert_int_equal(bld_file_memo_hits(m), 1);
        m = bld_file_memo_free(m);
        /* a damaged memo is no memo */
        put(root, "cache/filememo", "cubuild-filememo 1\ntruncated");
        m = bld_file_memo_new();
        bld_file_memo_load(m, root);
        digest_of(m, dfd, "old", d);
        assert_string_equal(d, want);
        assert_int_equal(bld_file_memo_hits(m), 0);
        bld_file_memo_free(m);
        (void) unlinkat(root, "cache/filememo", 0);
        (void) unlinkat(root, "cache", AT_REMOVEDIR);
        close(root);
        (void) unlinkat(dfd, "store", AT_REMOVEDIR);
        (void) unlinkat(dfd, "old", 0);
        (void) unlinkat(dfd, "new", 0);
        close(dfd);
        assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_memo_reads_once_and_sees_changes),
                cmocka_unit_test(test_memo_kept_between_builds),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

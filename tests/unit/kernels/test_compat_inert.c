/* kv_compat_entry_inert() and kv_compat_counts_line() (kernels/compat.c): an entry the predicate calls
 * inert changes a rescanned tree's report in its two counters only, and the summary's last line is the
 * one kv_compat_counts_line() writes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compat.h"
#include "compat_helpers.h"

static void put_file(int dfd, const char *path, size_t size, mode_t mode)
{
        int fd = openat(dfd, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        char *p = calloc(1, size + 1);

        assert_true(fd >= 0);
        memset(p, 'x', size);
        assert_int_equal(write(fd, p, size), (ssize_t) size);
        assert_int_equal(fchmod(fd, mode), 0);
        free(p);
        close(fd);
}

static void test_directories(void **state)
{
        (void) state;
        assert_true(kv_compat_entry_inert("app", S_IFDIR | 0755, 0));
        assert_true(kv_compat_entry_inert("usr/lib/python3/site-packages/numpy", S_IFDIR | 0755, 0));
        assert_false(kv_compat_entry_inert("usr/lib/python3/site-packages/torch-2.9.0.dist-info", S_IFDIR | 0755, 0));
        assert_false(kv_compat_entry_inert("x/.dist-info", S_IFDIR | 0755, 0));
}

static void test_files_and_symlinks(void **state)
{
        (void) state;
        assert_true(kv_compat_entry_inert("app/check.py", S_IFREG | 0644, 120));
        assert_true(kv_compat_entry_inert("app/big.bin", S_IFREG | 0644, 1u << 30)); /* no .so, no exec bit */
        assert_true(kv_compat_entry_inert("app/run.sh", S_IFREG | 0755, 1023));      /* exec, below MIN_ELF_SIZE */
        assert_false(kv_compat_entry_inert("app/run", S_IFREG | 0755, 1024));        /* an ELF candidate */
        assert_false(kv_compat_entry_inert("app/plugin.so", S_IFREG | 0644, 4096));
        assert_true(kv_compat_entry_inert("app/tiny.so", S_IFREG | 0644, 100));
        assert_false(kv_compat_entry_inert("usr/lib/libcudart.so.11.0", S_IFREG | 0644, 10));
        assert_false(kv_compat_entry_inert("usr/lib/libcudart.so.11.0", S_IFLNK | 0777, 20));
        assert_true(kv_compat_entry_inert("usr/lib/libfoo.a", S_IFLNK | 0777, 20));
        assert_true(kv_compat_entry_inert("app/link", S_IFLNK | 0777, 8));
        assert_false(kv_compat_entry_inert("site-packages/torch/version.py", S_IFREG | 0644, 200));
        assert_true(kv_compat_entry_inert("site-packages/xtorch/version.py", S_IFREG | 0644, 200));
        assert_true(kv_compat_entry_inert("site-packages/torch/other.py", S_IFREG | 0644, 200));
        assert_false(kv_compat_entry_inert("opt/nvcc", S_IFREG | 0644, 10));
}

static void test_odd_entries(void **state)
{
        char deep[64 * 2 + 8] = {0};

        (void) state;
        assert_false(kv_compat_entry_inert("dev/null", S_IFCHR | 0666, 0));
        assert_false(kv_compat_entry_inert("app/fifo", S_IFIFO | 0644, 0));
        assert_false(kv_compat_entry_inert("proc/x", S_IFREG | 0644, 1));
        assert_false(kv_compat_entry_inert("sys", S_IFDIR | 0755, 0));
        assert_true(kv_compat_entry_inert("usr/proc", S_IFDIR | 0755, 0));
        assert_false(kv_compat_entry_inert("/app/x", S_IFREG | 0644, 1));
        assert_false(kv_compat_entry_inert("app//x", S_IFREG | 0644, 1));
        assert_false(kv_compat_entry_inert("app/../x", S_IFREG | 0644, 1));
        assert_false(kv_compat_entry_inert("", S_IFREG | 0644, 1));
        /* 64 components are walked, 65 may not be */
        for (int i = 0; i < 65; i++)
                memcpy(deep + 2 * i, "a/", 2);
        deep[2 * 64 - 1] = '\0';
        assert_true(kv_compat_entry_inert(deep, S_IFREG | 0644, 1));
        deep[2 * 64 - 1] = '/';
        deep[2 * 65 - 1] = '\0';
        assert_false(kv_compat_entry_inert(deep, S_IFREG | 0644, 1));
}

static void test_counts_line_format(void **state)
{
        char *l;

        (void) state;
        l = kv_compat_counts_line("compat: ", 1, 2048, 3000000);
        assert_string_equal(l, "compat: 1 file with CUDA code; read 0.0 MB of 3.0 MB (0.07%)\n");
        free(l);
        l = kv_compat_counts_line("", 0, 0, 0);
        assert_string_equal(l, "0 files with CUDA code; read 0.0 MB of 0.0 MB (0.00%)\n");
        free(l);
}

static struct kv_compat *scan(struct tree *t)
{
        struct kv_compat_opts o = {.cuda_version = "12.4.1"};
        struct kv_compat *c = NULL;
        struct kv_err err = {0};

        if (kv_compat_scan(t->fd, &o, &c, &err) < 0)
                fail_msg("scan: %s", err.msg ? err.msg : "?");
        kv_err_release(&err);
        return c;
}

/* s with the number after "key": replaced by v; owned. */
static char *set_int(const char *s, const char *key, unsigned long long v)
{
        const char *at = strstr(s, key), *end;
        char *out;
        size_t len;

        assert_non_null(at);
        at += strlen(key);
        end = at + strspn(at, "0123456789");
        len = (size_t) (at - s) + 32 + strlen(end);
        out = malloc(len);
        snprintf(out, len, "%.*s%llu%s", (int) (at - s), s, v, end);
        return out;
}

/* s with the first occurrence of from (minus its last char, the newline) replaced by to (idem). */
static char *replace_line(const char *s, const char *from, const char *to)
{
        size_t fl = strlen(from) - 1, tl = strlen(to) - 1;
        char *out, *key = strndup(from, fl);
        const char *at = strstr(s, key);

        assert_non_null(at);
        out = malloc(strlen(s) + tl + 1);
        snprintf(out, strlen(s) + tl + 1, "%.*s%.*s%s", (int) (at - s), s, (int) tl, to, at + fl);
        free(key);
        return out;
}

struct added {
        const char *path;
        mode_t mode;
        size_t size;
};

/* A CUDA tree rescanned after gaining entries the predicate calls inert: the report equals the first
 * one with its counters increased by the new files, in the JSON and the summary alike. */
static void test_inert_entries_change_only_the_counts(void **state)
{
        struct tree *t = *state;
        static const struct fake_entry rt[] = {{2, 80, 0, 0, 0, 65536}, {1, 90, 8, 4, 0, 4096}};
        const struct fake_fatbin fb = {rt, 2};
        const struct added add[] = {
            {"app", S_IFDIR | 0755, 0},
            {"app/check.py", S_IFREG | 0644, 321},
            {"app/run.sh", S_IFREG | 0755, 900},
            {"app/data.bin", S_IFREG | 0644, 5000},
            {"app/link", S_IFLNK | 0777, 0},
            {"usr/lib/x86_64-linux-gnu/notes.txt", S_IFREG | 0644, 77},
        };
        struct kv_compat *c;
        char *json1, *sum1, *json2, *sum2, *want, *tmp, *l_old, *l_new;
        uint64_t files = 0, bytes = 0, image1;

        assert_int_equal(mkdirat(t->fd, "usr", 0755), 0);
        assert_int_equal(mkdirat(t->fd, "usr/lib", 0755), 0);
        assert_int_equal(mkdirat(t->fd, "usr/lib/x86_64-linux-gnu", 0755), 0);
        assert_int_equal(fake_elf(t->fd, "usr/lib/x86_64-linux-gnu/libcudart.so.12.4.127", &fb, 1, NULL, 0), 0);
        assert_int_equal(symlinkat("libcudart.so.12.4.127", t->fd, "usr/lib/x86_64-linux-gnu/libcudart.so.12"), 0);
        put_file(t->fd, "usr/lib/x86_64-linux-gnu/README", 1500, 0644);
        c = scan(t);
        json1 = kv_compat_json(c);
        sum1 = kv_compat_summary(c, "compat: ");
        l_old = kv_compat_counts_line("", kv_compat_cuda_files(c), kv_compat_bytes_read(c), kv_compat_image_bytes(c));
        assert_non_null(strstr(sum1, l_old));
        image1 = kv_compat_image_bytes(c);
        kv_compat_free(c);

        for (size_t i = 0; i < sizeof(add) / sizeof(add[0]); i++) {
                assert_true(kv_compat_entry_inert(add[i].path, add[i].mode, add[i].size));
                if (S_ISDIR(add[i].mode)) {
                        assert_int_equal(mkdirat(t->fd, add[i].path, 0755), 0);
                } else if (S_ISLNK(add[i].mode)) {
                        assert_int_equal(symlinkat("check.py", t->fd, add[i].path), 0);
                } else {
                        put_file(t->fd, add[i].path, add[i].size, add[i].mode & 07777);
                        files++;
                        bytes += add[i].size;
                }
        }
        c = scan(t);
        json2 = kv_compat_json(c);
        sum2 = kv_compat_summary(c, "compat: ");
        l_new = kv_compat_counts_line("", kv_compat_cuda_files(c), kv_compat_bytes_read(c), kv_compat_image_bytes(c));

        /* the JSON: both counters and the summary's last line */
        tmp = set_int(json1, "\"regular_files\": ", 2 + files);
        assert_int_equal(kv_compat_image_bytes(c), image1 + bytes);
        want = set_int(tmp, "\"image_bytes\": ", image1 + bytes);
        free(tmp);
        tmp = replace_line(want, l_old, l_new);
        assert_string_equal(json2, tmp);
        free(tmp);
        free(want);
        /* the summary: only its last line */
        {
                char *p_old = kv_compat_counts_line("compat: ", 1, kv_compat_bytes_read(c), image1);
                char *p_new = kv_compat_counts_line("compat: ", 1, kv_compat_bytes_read(c), kv_compat_image_bytes(c));

                assert_non_null(strstr(sum1, p_old));
                want = replace_line(sum1, p_old, p_new);
                assert_string_equal(sum2, want);
                free(want);
                free(p_old);
                free(p_new);
        }
        kv_compat_free(c);
        free(json1);
        free(json2);
        free(sum1);
        free(sum2);
        free(l_old);
        free(l_new);
}

/* What the predicate refuses does change the report beyond its counters. */
static void test_library_name_changes_more_than_counts(void **state)
{
        struct tree *t = *state;
        struct kv_compat *c;
        char *json1, *json2;

        c = scan(t);
        json1 = kv_compat_json(c);
        kv_compat_free(c);
        assert_false(kv_compat_entry_inert("libcudart.so.12.4.127", S_IFREG | 0644, 10));
        put_file(t->fd, "libcudart.so.12.4.127", 10, 0644);
        c = scan(t);
        json2 = kv_compat_json(c);
        kv_compat_free(c);
        assert_null(strstr(json1, "libcudart.so.12.4.127"));
        assert_non_null(strstr(json2, "libcudart.so.12.4.127"));
        free(json1);
        free(json2);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_directories),
            cmocka_unit_test(test_files_and_symlinks),
            cmocka_unit_test(test_odd_entries),
            cmocka_unit_test(test_counts_line_format),
            cmocka_unit_test_setup_teardown(test_inert_entries_change_only_the_counts, tree_setup, tree_teardown),
            cmocka_unit_test_setup_teardown(test_library_name_changes_more_than_counts, tree_setup, tree_teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

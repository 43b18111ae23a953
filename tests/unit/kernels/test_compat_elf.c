/* Fatbinary headers of ELF files (kernels/compat-elf.c): files that nvcc made in this build for chosen
 * -gencode lists, whose report must list exactly the architectures compiled in; and made-up ELF
 * files for the malformed cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compat.h"
#include "compat_helpers.h"

struct seen {
        char list[512]; /* "sm_75 sm_90 compute_90@9.0 " in the order first seen, each once */
        unsigned entries, compressed, fatbins;
};

static void collect(void *ud, const struct kv_fatbin_entry *e, size_t n)
{
        struct seen *s = ud;

        s->fatbins++;
        for (size_t i = 0; i < n; i++) {
                char one[48];

                if (e[i].kind == KV_FATBIN_SASS)
                        snprintf(one, sizeof(one), "sm_%u%s ", e[i].sm, e[i].variant == KV_ARCH_SPECIFIC ? "a" : "");
                else
                        snprintf(one, sizeof(one), "compute_%u%s@%u.%u ", e[i].sm,
                                 e[i].variant == KV_ARCH_SPECIFIC ? "a" : "", e[i].ptx_major, e[i].ptx_minor);
                if (!strstr(s->list, one)) {
                        size_t l = strlen(s->list);

                        snprintf(s->list + l, sizeof(s->list) - l, "%s", one);
                }
                s->entries++;
                s->compressed += e[i].compressed;
        }
}

/* Scans path; the set of architectures must equal want (space-separated, any order). */
static void check_lib(const char *name, const char *want, bool all_compressed, bool some_compressed)
{
#ifdef CU_DIR
        char path[512], copy[512];
        struct seen s = {0};
        struct stat st;
        uint64_t read = 0;
        int fd, n, words = 0;

        snprintf(path, sizeof(path), "%s/%s", CU_DIR, name);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(fstat(fd, &st), 0);
        n = kv_fatbin_scan(fd, collect, &s, &read);
        close(fd);
        assert_true(n >= 1);
        print_message("%s: %s(%u entries, %u compressed, %u fatbins, %llu of %lld bytes read)\n", name, s.list,
                      s.entries, s.compressed, s.fatbins, (unsigned long long) read, (long long) st.st_size);
        snprintf(copy, sizeof(copy), "%s ", want);
        for (char *w = copy, *sp; (sp = strchr(w, ' ')); w = sp + 1) {
                char needle[sizeof(copy) + 2];

                *sp = '\0';
                snprintf(needle, sizeof(needle), "%s ", w);
                if (!strstr(s.list, needle))
                        fail_msg("%s: %s missing from '%s'", name, w, s.list);
                words++;
        }
        {
                int have = 0;

                for (const char *p = s.list; *p; p++)
                        have += *p == ' ';
                if (have != words)
                        fail_msg("%s: found '%s', compiled '%s'", name, s.list, want);
        }
        if (all_compressed)
                assert_int_equal(s.compressed, s.entries);
        if (some_compressed)
                assert_true(s.compressed > 0);
        /* headers only: a few KB of a file of about a megabyte */
        assert_true(read * 20 < (uint64_t) st.st_size);
#else
        (void) name;
        (void) want;
        (void) all_compressed;
        (void) some_compressed;
        skip();
#endif
}

static void test_sass_and_ptx(void **state)
{
        (void) state;
        /* nvcc 13 compresses PTX by default, SASS only with -Xfatbin=-compress-all */
        check_lib("libsass75_sass90_ptx90.so", "sm_75 sm_90 compute_90@9.0", false, true);
}

static void test_sass_compressed(void **state)
{
        (void) state;
        check_lib("libsass80_sass120_z.so", "sm_80 sm_120", true, true);
}

static void test_ptx_only(void **state)
{
        (void) state;
        check_lib("libptx75_only.so", "compute_75@9.0", false, true);
}

static void test_arch_specific(void **state)
{
        (void) state;
        check_lib("libsass90a_ptx86_z.so", "sm_90a compute_86@9.0", true, true);
}

static void test_elf_without_cuda(void **state)
{
        int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
        struct seen s = {0};
        uint64_t read = 0;

        (void) state;
        assert_true(fd >= 0);
        assert_int_equal(kv_fatbin_scan(fd, collect, &s, &read), 0);
        assert_int_equal(s.fatbins, 0);
        assert_true(read > 64);
        close(fd);
}

static void test_not_elf(void **state)
{
        char path[] = "/tmp/kv-compat-elf-XXXXXX";
        int fd = mkstemp(path);
        struct seen s = {0};
        char junk[4096];

        (void) state;
        assert_true(fd >= 0);
        memset(junk, '#', sizeof(junk));
        assert_int_equal(write(fd, junk, sizeof(junk)), (ssize_t) sizeof(junk));
        assert_int_equal(kv_fatbin_scan(fd, collect, &s, NULL), -ENOEXEC);
        close(fd);
        unlink(path);
}

/* Made-up ELF files: the headers say what they say; payloads are holes and never read. */
static void test_fake_fatbins(void **state)
{
        static const struct fake_entry a[] = {
            {2, 80, 0, 0, 0, 1u << 20}, {2, 90, 0, 0, 0x8000, 1u << 20}, {1, 90, 8, 4, 0x8000, 4096}};
        static const struct fake_entry b[] = {{2, 86, 0, 0, 0, 1u << 20}};
        const struct fake_fatbin fb[] = {{a, 3}, {b, 1}};
        char dir[] = "/tmp/kv-compat-elf-XXXXXX";
        struct seen s = {0};
        uint64_t read = 0;
        struct stat st;
        int dfd, fd;

        (void) state;
        assert_non_null(mkdtemp(dir));
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_int_equal(fake_elf(dfd, "lib.so", fb, 2, NULL, 0), 0);
        fd = openat(dfd, "lib.so", O_RDONLY | O_CLOEXEC);
        assert_int_equal(fstat(fd, &st), 0);
        assert_int_equal(kv_fatbin_scan(fd, collect, &s, &read), 2);
        assert_string_equal(s.list, "sm_80 sm_90 compute_90@8.4 sm_86 ");
        assert_int_equal(s.compressed, 2);
        assert_true(read < 1024);
        assert_true(st.st_size > 3 << 20);
        close(fd);

        /* a container claiming more than its section holds */
        fd = openat(dfd, "lib.so", O_RDWR | O_CLOEXEC);
        {
                unsigned char big[8];

                put64(big, (uint64_t) 1 << 40);
                assert_int_equal(pwrite(fd, big, 8, 64 + 8), 8);
        }
        memset(&s, 0, sizeof(s));
        assert_int_equal(kv_fatbin_scan(fd, collect, &s, NULL), -EBADMSG);
        /* a truncated file: section headers beyond its end */
        assert_int_equal(ftruncate(fd, 4096), 0);
        assert_int_equal(kv_fatbin_scan(fd, collect, &s, NULL), -EBADMSG);
        close(fd);
        unlinkat(dfd, "lib.so", 0);
        close(dfd);
        rmdir(dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_sass_and_ptx),     cmocka_unit_test(test_sass_compressed),
            cmocka_unit_test(test_ptx_only),         cmocka_unit_test(test_arch_specific),
            cmocka_unit_test(test_elf_without_cuda), cmocka_unit_test(test_not_elf),
            cmocka_unit_test(test_fake_fatbins),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

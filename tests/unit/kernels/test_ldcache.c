/* Reading ld.so.cache (kernels/ldcache.c), against caches written by the system's own ldconfig. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

static char root[] = "/tmp/kv-ldcache-XXXXXX";

static int make_root(void **state)
{
        char cmd[1024];

        if (access("/sbin/ldconfig", X_OK) != 0 && access("/usr/sbin/ldconfig", X_OK) != 0)
                return 0; /* tests skip */
        if (!mkdtemp(root))
                return -1;
        snprintf(cmd, sizeof(cmd),
                 "set -e; cd %s; mkdir -p etc usr/lib/x86_64-linux-gnu; cp %s/plan/libnvidia-nvvm.so.580.1 "
                 "usr/lib/x86_64-linux-gnu/; "
                 "echo /usr/lib/x86_64-linux-gnu > etc/ld.so.conf",
                 root, FAKE_DIR);
        return system(cmd) == 0 ? 0 : -1;
}

static int remove_root(void **state)
{
        char cmd[256];

        snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
        return system(cmd) == 0 ? 0 : -1;
}

static long ldconfig_cache(const char *format, char **ret)
{
        char cmd[512];
        char path[256];

        snprintf(cmd, sizeof(cmd), "PATH=/usr/sbin:/sbin:$PATH ldconfig -c %s -r %s", format, root);
        if (system(cmd) != 0)
                return -1;
        snprintf(path, sizeof(path), "%s/etc/ld.so.cache", root);
        return kv_read_file(AT_FDCWD, path, 1 << 20, ret);
}

static void check_has_nvvm(const char *data, long len)
{
        struct kv_ldcache_entry *e = NULL;
        int n = kv_ldcache_parse((const unsigned char *) data, (size_t) len, &e);
        bool found = false;

        assert_true(n >= 1);
        for (int i = 0; i < n; i++) {
                if (strcmp(e[i].name, "libnvidia-nvvm.so.4") != 0)
                        continue;
                found = true;
                assert_string_equal(e[i].path, "/usr/lib/x86_64-linux-gnu/libnvidia-nvvm.so.4");
                assert_int_equal(e[i].flags & KV_LDCACHE_TYPE_MASK, KV_LDCACHE_NATIVE & KV_LDCACHE_TYPE_MASK);
        }
        assert_true(found);
        kv_ldcache_free(e, (size_t) n);
}

static void test_parses_new_format(void **state)
{
        char *data = NULL;
        long len;

        if (root[sizeof(root) - 2] == 'X')
                skip();
        len = ldconfig_cache("new", &data);
        assert_true(len > 0);
        check_has_nvvm(data, len);
        free(data);
}

/* glibc < 2.32 (bullseye, ubuntu20.04 hosts) writes the old table followed by the new one. */
static void test_parses_compat_format(void **state)
{
        char *data = NULL;
        long len;

        if (root[sizeof(root) - 2] == 'X')
                skip();
        len = ldconfig_cache("compat", &data);
        assert_true(len > 0);
        assert_memory_equal(data, "ld.so-1.7.0", 11);
        check_has_nvvm(data, len);
        free(data);
}

static void test_rejects_garbage_and_truncation(void **state)
{
        struct kv_ldcache_entry *e = NULL;
        unsigned char buf[64] = "glibc-ld.so.cache1.1";
        uint32_t huge = 1000000;

        assert_int_equal(kv_ldcache_parse((const unsigned char *) "hello", 5, &e), -EBADMSG);
        memcpy(buf + 20, &huge, 4); /* claims a million entries in 64 bytes */
        assert_int_equal(kv_ldcache_parse(buf, sizeof(buf), &e), -EBADMSG);
        assert_int_equal(kv_ldcache_parse((const unsigned char *) "ld.so-1.7.0\0\xff\xff\xff\x0f", 16, &e),
                         -EBADMSG);
}

static void test_rejects_string_offsets_outside_the_file(void **state)
{
        unsigned char buf[48 + 24] = "glibc-ld.so.cache1.1";
        uint32_t one = 1, far = 4096;

        memcpy(buf + 20, &one, 4);
        memcpy(buf + 48 + 4, &far, 4);
        memcpy(buf + 48 + 8, &far, 4);
        struct kv_ldcache_entry *e = NULL;
        assert_int_equal(kv_ldcache_parse(buf, sizeof(buf), &e), -EBADMSG);
}

/* Every prefix and every single-byte corruption of a real cache parses or is rejected, never read
 * out of bounds (ASan watches). */
static void test_truncated_and_corrupted_caches_never_overrun(void **state)
{
        char *data = NULL;
        long len;

        if (root[sizeof(root) - 2] == 'X')
                skip();
        len = ldconfig_cache("compat", &data);
        assert_true(len > 0);
        for (long cut = 0; cut < len; cut++) {
                unsigned char *copy = malloc((size_t) cut + 1);
                struct kv_ldcache_entry *e = NULL;
                int n;

                memcpy(copy, data, (size_t) cut);
                n = kv_ldcache_parse(copy, (size_t) cut, &e);
                assert_true(n == -EBADMSG || n >= 0);
                if (n >= 0)
                        kv_ldcache_free(e, (size_t) n);
                free(copy);
        }
        for (long i = 0; i < len; i++) {
                unsigned char *copy = malloc((size_t) len);
                struct kv_ldcache_entry *e = NULL;
                int n;

                memcpy(copy, data, (size_t) len);
                copy[i] ^= 0xa5;
                n = kv_ldcache_parse(copy, (size_t) len, &e);
                if (n >= 0)
                        kv_ldcache_free(e, (size_t) n);
                free(copy);
        }
        free(data);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_parses_new_format),
            cmocka_unit_test(test_parses_compat_format),
            cmocka_unit_test(test_rejects_garbage_and_truncation),
            cmocka_unit_test(test_rejects_string_offsets_outside_the_file),
            cmocka_unit_test(test_truncated_and_corrupted_caches_never_overrun),
        };
        return cmocka_run_group_tests(tests, make_root, remove_root);
}

/* DT_NEEDED of ELF shared objects (kernels/elf.c). */
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

static void test_lists_needed_sonames(void **state)
{
        int fd = open(FAKE_DIR "/plan/libnvidia-nvvm.so.580.1", O_RDONLY | O_CLOEXEC);
        char **needed = NULL;
        bool gpucomp = false;
        int n;

        assert_true(fd >= 0);
        n = kv_elf_needed(fd, &needed);
        close(fd);
        assert_true(n >= 1);
        for (int i = 0; i < n; i++) {
                gpucomp = gpucomp || strcmp(needed[i], "libnvidia-gpucomp.so.580.1") == 0;
                free(needed[i]);
        }
        free(needed);
        assert_true(gpucomp);
}

static void test_rejects_non_elf(void **state)
{
        char path[] = "/tmp/kv-elf-XXXXXX";
        int fd = mkstemp(path);
        char **needed = NULL;

        assert_true(fd >= 0);
        assert_int_equal(write(fd, "#!/bin/sh\necho not elf\n", 23), 23);
        assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
        assert_int_equal(kv_elf_needed(fd, &needed), -EBADMSG);
        close(fd);
        unlink(path);
}

static void test_rejects_truncated_elf(void **state)
{
        char path[] = "/tmp/kv-elf-XXXXXX";
        int fd = mkstemp(path), src = open(FAKE_DIR "/plan/libnvidia-nvvm.so.580.1", O_RDONLY | O_CLOEXEC);
        char buf[200], **needed = NULL;

        assert_true(fd >= 0 && src >= 0);
        assert_int_equal(read(src, buf, sizeof(buf)), sizeof(buf));
        close(src);
        assert_int_equal(write(fd, buf, sizeof(buf)), sizeof(buf)); /* headers point past the end */
        assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
        assert_int_equal(kv_elf_needed(fd, &needed), -EBADMSG);
        close(fd);
        unlink(path);
}

/* Every prefix, and the headers with one byte flipped, parse or are rejected without overrunning. */
static void test_truncated_and_corrupted_elf_never_overrun(void **state)
{
        char *data = NULL, path[] = "/tmp/kv-elf-XXXXXX";
        long len = kv_read_file(AT_FDCWD, FAKE_DIR "/plan/libnvidia-nvvm.so.580.1", 1 << 20, &data);
        int fd = mkstemp(path);

        assert_true(len > 0 && fd >= 0);
        for (long cut = 0; cut <= len; cut += cut < 512 ? 1 : 97) {
                char **needed = NULL;
                int n;

                assert_int_equal(ftruncate(fd, 0), 0);
                assert_int_equal(pwrite(fd, data, (size_t) cut, 0), cut);
                assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
                n = kv_elf_needed(fd, &needed);
                for (int i = 0; i < n; i++)
                        free(needed[i]);
                if (n >= 0)
                        free(needed);
        }
        for (long i = 0; i < 512 && i < len; i++) {
                char **needed = NULL;
                int n;

                data[i] ^= 0x5a;
                assert_int_equal(ftruncate(fd, 0), 0);
                assert_int_equal(pwrite(fd, data, (size_t) len, 0), len);
                assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
                n = kv_elf_needed(fd, &needed);
                for (int j = 0; j < n; j++)
                        free(needed[j]);
                if (n >= 0)
                        free(needed);
                data[i] ^= 0x5a;
        }
        close(fd);
        unlink(path);
        free(data);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_lists_needed_sonames),
            cmocka_unit_test(test_rejects_non_elf),
            cmocka_unit_test(test_rejects_truncated_elf),
            cmocka_unit_test(test_truncated_and_corrupted_elf_never_overrun),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

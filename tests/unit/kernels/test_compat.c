/* The static compatibility report over a rootfs (kernels/compat.c): small made-up trees shaped as
 * nvidia/cuda and torch images lay their files out. */
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

static void mkdirs(int dfd, const char *path)
{
        char buf[512];

        snprintf(buf, sizeof(buf), "%s", path);
        for (char *p = buf + 1; *p; p++) {
                if (*p != '/')
                        continue;
                *p = '\0';
                (void) mkdirat(dfd, buf, 0755);
                *p = '/';
        }
        (void) mkdirat(dfd, buf, 0755);
}

static void put_file(int dfd, const char *path, const char *text)
{
        int fd = openat(dfd, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
        close(fd);
}

/* a CUDA 11.8 runtime shaped as NVIDIA's: SASS sm_60..sm_90 and PTX for sm_90 */
static const struct fake_entry cudart118[] = {
    {2, 60, 0, 0, 0, 65536}, {2, 70, 0, 0, 0, 65536}, {2, 75, 0, 0, 0, 65536},
    {2, 80, 0, 0, 0, 65536},  {2, 86, 0, 0, 0, 65536}, {2, 89, 0, 0, 0, 65536}, {2, 90, 0, 0, 0, 65536},
    {1, 90, 7, 8, 0x2000, 65536},
};
/* a torch build for sm_80..sm_90 without PTX */
static const struct fake_entry torch_ampere[] = {
    {2, 80, 0, 0, 0x8000, 1u << 20}, {2, 86, 0, 0, 0x8000, 1u << 20}, {2, 90, 0, 0, 0x8000, 1u << 20}};

static void cuda118_base(struct tree *t)
{
        const struct fake_fatbin fb = {cudart118, sizeof(cudart118) / sizeof(cudart118[0])};

        mkdirs(t->fd, "usr/local/cuda-11.8/targets/x86_64-linux/lib");
        assert_int_equal(fake_elf(t->fd, "usr/local/cuda-11.8/targets/x86_64-linux/lib/libcudart.so.11.8.89", &fb, 1,
                                  NULL, 0),
                         0);
        assert_int_equal(
            symlinkat("libcudart.so.11.8.89", t->fd, "usr/local/cuda-11.8/targets/x86_64-linux/lib/libcudart.so.11.0"),
            0);
        assert_int_equal(symlinkat("cuda-11.8", t->fd, "usr/local/cuda"), 0);
        mkdirs(t->fd, "usr/bin");
        put_file(t->fd, "usr/bin/hello", "#!/bin/sh\necho hello\n");
}

static struct kv_compat *scan(struct tree *t, const struct kv_compat_opts *o)
{
        struct kv_compat *c = NULL;
        struct kv_err err = {0};
        int r = kv_compat_scan(t->fd, o, &c, &err);

        if (r < 0)
                fail_msg("scan: %s", err.msg ? err.msg : "?");
        kv_err_release(&err);
        return c;
}

static void test_cuda118_runtime(void **state)
{
        struct tree *t = *state;
        struct kv_compat_opts o = {.cuda_version = "11.8.0",
                                   .nvidia_require_cuda = "cuda>=11.8 brand=tesla,driver>=470,driver<471"};
        struct kv_compat *c;
        char *json, *sum;

        cuda118_base(t);
        c = scan(t, &o);
        assert_int_equal(kv_compat_cuda_files(c), 1);
        assert_int_equal(kv_compat_verdict(c, 90), KV_RUN_NATIVE);
        assert_int_equal(kv_compat_verdict(c, 70), KV_RUN_NATIVE);
        assert_int_equal(kv_compat_verdict(c, 61), KV_RUN_NATIVE); /* sm_60 SASS runs on sm_61 */
        assert_int_equal(kv_compat_verdict(c, 52), KV_RUN_NONE);   /* no sm_5x and no PTX below 90 */
        assert_int_equal(kv_compat_verdict(c, 100), KV_RUN_JIT);
        assert_int_equal(kv_compat_verdict(c, 120), KV_RUN_JIT);
        assert_int_equal(kv_compat_verdict(c, 87), -1); /* not a report architecture */
        /* headers of a 600 KB library */
        assert_true(kv_compat_bytes_read(c) < 4096);
        assert_true(kv_compat_image_bytes(c) > 500000);
        json = kv_compat_json(c);
        sum = kv_compat_summary(c, "compat: ");
        print_message("%s%s", sum, json);
        assert_non_null(strstr(json, "\"runtime\": \"11.8\""));
        assert_non_null(strstr(json, "\"min\": \"450.80.02\""));
        assert_non_null(strstr(json, "\"min_all_features\": \"520.61.05\""));
        assert_non_null(strstr(json, "\"jit_min_driver\": \"520.61.05\""));
        assert_non_null(strstr(json, "\"findings\": []"));
        assert_non_null(strstr(json, "\"require_cuda\": \"11.8\""));
        assert_non_null(strstr(json, "\"require_cuda_min_driver\": \"520.61.05\""));
        assert_non_null(strstr(sum, "compat: CUDA runtime 11.8 (libcudart.so.11.8.89), CUDA_VERSION 11.8.0\n"));
        assert_non_null(strstr(sum, "runs on Pascal, Volta, Turing, Ampere, Ada, Hopper\n"));
        assert_non_null(strstr(sum, "through PTX JIT: Blackwell\n"));
        assert_non_null(strstr(sum, "not on Maxwell: libcudart.so.11.8.89 has no sm_52 code and no PTX for it (it has sm_60, sm_70"));
        free(json);
        free(sum);
        kv_compat_free(c);
}

/* a tree passed as extra_path reads as the same image with that tree in place */
static void test_extra_tree_scans_as_if_in_place(void **state)
{
        struct tree *t = *state;
        struct tree whole = {0}, part = {0};
        struct kv_compat *a, *b;
        char *ja, *jb, *sa, *sb;

        mkdirs(t->fd, "whole");
        mkdirs(t->fd, "part");
        whole.fd = openat(t->fd, "whole", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        part.fd = openat(t->fd, "part", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(whole.fd >= 0 && part.fd >= 0);
        cuda118_base(&whole);
        cuda118_base(&part);
        /* the part without its CUDA directory, which stands beside it */
        assert_int_equal(renameat(part.fd, "usr/local/cuda-11.8", t->fd, "cuda-dir"), 0);
        struct kv_compat_opts o = {.cuda_version = "11.8.0"};
        a = scan(&whole, &o);
        o.extra_path = "/usr/local/cuda-11.8/";
        o.extra_fd = openat(t->fd, "cuda-dir", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(o.extra_fd >= 0);
        b = scan(&part, &o);
        ja = kv_compat_json(a);
        jb = kv_compat_json(b);
        sa = kv_compat_summary(a, "compat: ");
        sb = kv_compat_summary(b, "compat: ");
        assert_string_equal(jb, ja);
        assert_string_equal(sb, sa);
        assert_int_equal(kv_compat_cuda_files(b), 1);
        assert_int_equal(kv_compat_image_bytes(b), kv_compat_image_bytes(a));
        /* an unreadable extra tree is an error, not a silently smaller report */
        kv_compat_free(b);
        close(o.extra_fd);
        o.extra_fd = -1;
        struct kv_err err = {0};
        b = NULL;
        assert_true(kv_compat_scan(part.fd, &o, &b, &err) < 0);
        assert_null(b);
        kv_err_release(&err);
        free(ja);
        free(jb);
        free(sa);
        free(sb);
        kv_compat_free(a);
        close(whole.fd);
        close(part.fd);
}

static void test_torch_mismatch(void **state)
{
        struct tree *t = *state;
        struct kv_compat_opts o = {.cuda_version = "11.8.0"};
        const struct fake_fatbin fb = {torch_ampere, 3};
        const char *needed[] = {"libc.so.6", "libcudnn.so.8", "libcudart.so.12", "libnccl.so.2"};
        struct kv_compat *c;
        char *json, *msg = NULL;

        cuda118_base(t);
        mkdirs(t->fd, "usr/lib/python3/dist-packages/torch/lib");
        mkdirs(t->fd, "usr/lib/python3/dist-packages/torch-2.1.0+cu121.dist-info");
        mkdirs(t->fd, "usr/lib/python3/dist-packages/nvidia_cuda_runtime_cu12-12.1.105.dist-info");
        mkdirs(t->fd, "usr/lib/python3/dist-packages/nvidia/cuda_runtime/lib");
        mkdirs(t->fd, "usr/lib/python3/dist-packages/nvidia/nccl/lib");
        put_file(t->fd, "usr/lib/python3/dist-packages/nvidia/cuda_runtime/lib/libcudart.so.12", "not an elf");
        put_file(t->fd, "usr/lib/python3/dist-packages/nvidia/nccl/lib/libnccl.so.2", "");
        put_file(t->fd, "usr/lib/python3/dist-packages/torch/version.py",
                 "from typing import Optional\n__version__ = '2.1.0+cu121'\ndebug = False\n"
                 "cuda: Optional[str] = '12.1'\ngit_version = 'abc'\nhip: Optional[str] = None\n");
        assert_int_equal(fake_elf(t->fd, "usr/lib/python3/dist-packages/torch/lib/libtorch_cuda.so", &fb, 1, needed, 4),
                         0);
        c = scan(t, &o);
        json = kv_compat_json(c);
        print_message("%s", json);
        assert_non_null(strstr(json, "\"version\": \"2.1.0+cu121\""));
        assert_non_null(strstr(json, "\"cuda\": \"12.1\""));
        assert_non_null(strstr(json, "\"name\": \"CudaTorchMismatch\""));
        assert_non_null(strstr(json, "torch 2.1.0+cu121 is built for CUDA 12.1, the image's CUDA_VERSION is 11.8.0"));
        assert_non_null(strstr(json, "\"name\": \"CudaRuntimeMultipleMajors\""));
        assert_non_null(strstr(json, "libtorch_cuda.so needs libcudnn.so.8, which the image does not have"));
        assert_null(strstr(json, "needs libnccl.so.2,"));
        assert_null(strstr(json, "needs libc.so.6"));
        /* runtime: the newest major the image carries, 12.1 from pip's metadata */
        assert_non_null(strstr(json, "\"runtime\": \"12.1\""));
        assert_non_null(strstr(json, "\"min\": \"525.60.13\""));
        /* torch decides Volta and Blackwell */
        assert_int_equal(kv_compat_verdict(c, 70), KV_RUN_NONE);
        assert_int_equal(kv_compat_verdict(c, 89), KV_RUN_NATIVE);
        assert_int_equal(kv_compat_verdict(c, 120), KV_RUN_NONE);
        assert_non_null(strstr(json, "libtorch_cuda.so has no sm_70 code and no PTX for it (it has sm_80, sm_86, sm_90)"));
        assert_int_equal(kv_compat_require(c, &msg), 0);
        assert_null(msg);
        free(json);
        kv_compat_free(c);

        /* --require-arch: a gap is one line naming the file and the architecture */
        o.require_arch = "sm_80,sm_70";
        c = scan(t, &o);
        assert_int_equal(kv_compat_require(c, &msg), 1);
        assert_string_equal(msg, "--require-arch sm_70: /usr/lib/python3/dist-packages/torch/lib/libtorch_cuda.so: "
                                 "no sm_70 code and no PTX for it");
        free(msg);
        kv_compat_free(c);
        /* an architecture outside the report's list is judged too */
        o.require_arch = "8.7";
        c = scan(t, &o);
        assert_int_equal(kv_compat_verdict(c, 87), KV_RUN_NATIVE);
        assert_int_equal(kv_compat_require(c, &msg), 0);
        kv_compat_free(c);
        /* --require-driver: CUDA 12 needs 525.60.13 */
        o.require_arch = NULL;
        o.require_driver = "470";
        c = scan(t, &o);
        assert_int_equal(kv_compat_require(c, &msg), 1);
        assert_non_null(strstr(msg, "--require-driver 470: the image needs driver >= 525.60.13 for its CUDA 12.x runtime"));
        free(msg);
        kv_compat_free(c);
        o.require_driver = "535.104.05";
        c = scan(t, &o);
        assert_int_equal(kv_compat_require(c, &msg), 0);
        kv_compat_free(c);
}

static void test_cpu_torch_and_devel(void **state)
{
        struct tree *t = *state;
        struct kv_compat_opts o = {.cuda_version = "11.8.0"};
        struct kv_compat *c;
        char *json;

        cuda118_base(t);
        mkdirs(t->fd, "opt/conda/lib/python3.10/site-packages/torch");
        put_file(t->fd, "opt/conda/lib/python3.10/site-packages/torch/version.py",
                 "__version__ = '2.0.1'\ndebug = False\ncuda = None\n");
        mkdirs(t->fd, "usr/local/cuda-11.8/bin");
        put_file(t->fd, "usr/local/cuda-11.8/bin/nvcc", "#!/bin/sh\n");
        assert_int_equal(fchmodat(t->fd, "usr/local/cuda-11.8/bin/nvcc", 0755, 0), 0);
        c = scan(t, &o);
        json = kv_compat_json(c);
        assert_non_null(strstr(json, "\"cuda\": null"));
        assert_non_null(strstr(json, "torch 2.0.1 (/opt/conda/lib/python3.10/site-packages/torch/version.py) is a build "
                                     "without CUDA in a CUDA 11.8.0 image"));
        assert_non_null(strstr(json, "\"name\": \"DevelBaseInFinalStage\""));
        free(json);
        kv_compat_free(c);
}

static void test_no_cuda_and_symlinks(void **state)
{
        struct tree *t = *state;
        struct kv_compat *c;
        char *json, *sum;

        mkdirs(t->fd, "etc");
        put_file(t->fd, "etc/os-release", "ID=debian\n");
        /* links out of the root are names, never followed */
        assert_int_equal(symlinkat("/", t->fd, "host"), 0);
        assert_int_equal(symlinkat("/usr/lib", t->fd, "lib64"), 0);
        assert_int_equal(symlinkat("../../../../..", t->fd, "etc/up"), 0);
        c = scan(t, NULL);
        assert_int_equal(kv_compat_image_bytes(c), 10);
        assert_int_equal(kv_compat_cuda_files(c), 0);
        assert_int_equal(kv_compat_verdict(c, 90), KV_RUN_NATIVE);
        json = kv_compat_json(c);
        sum = kv_compat_summary(c, "");
        assert_non_null(strstr(json, "\"runtime\": null"));
        assert_non_null(strstr(json, "\"torch\": null"));
        assert_non_null(strstr(sum, "no CUDA runtime"));
        assert_non_null(strstr(sum, "no CUDA code in the image's ELF files"));
        free(json);
        free(sum);
        kv_compat_free(c);
}

static void test_bad_requirements(void **state)
{
        struct tree *t = *state;
        struct kv_compat_opts o = {.require_arch = "sm_80,volta"};
        struct kv_compat *c = NULL;
        struct kv_err err = {0};

        assert_int_equal(kv_compat_scan(t->fd, &o, &c, &err), -EINVAL);
        assert_string_equal(err.msg, "--require-arch: 'volta' is no GPU architecture (sm_80, 8.6)");
        kv_err_release(&err);
        o.require_arch = NULL;
        o.require_driver = "latest";
        assert_int_equal(kv_compat_scan(t->fd, &o, &c, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "'latest' is no driver version"));
        kv_err_release(&err);
}

static void test_cuda12_wheels_jit_driver(void **state)
{
        struct tree *t = *state;
        /* CUDA 13 PTX only for Blackwell: the JIT needs a 580 driver whatever the runtime */
        static const struct fake_entry ext[] = {{2, 80, 0, 0, 0, 4096}, {2, 90, 0, 0, 0, 4096}, {1, 90, 9, 0, 0x8000, 4096}};
        const struct fake_fatbin fb = {ext, 3};
        struct kv_compat_opts o = {.require_arch = "sm_120", .require_driver = "550"};
        struct kv_compat *c;
        char *msg = NULL;

        mkdirs(t->fd, "usr/local/lib/python3.11/site-packages/nvidia_cuda_runtime_cu12-12.4.127.dist-info");
        mkdirs(t->fd, "usr/local/lib/python3.11/site-packages/nvidia/cuda_runtime/lib");
        put_file(t->fd, "usr/local/lib/python3.11/site-packages/nvidia/cuda_runtime/lib/libcudart.so.12", "x");
        mkdirs(t->fd, "usr/local/lib/python3.11/site-packages/ext");
        assert_int_equal(fake_elf(t->fd, "usr/local/lib/python3.11/site-packages/ext/_C.cpython-311-x86_64-linux-gnu.so",
                                  &fb, 1, NULL, 0),
                         0);
        c = scan(t, &o);
        assert_int_equal(kv_compat_verdict(c, 120), KV_RUN_JIT);
        assert_int_equal(kv_compat_require(c, &msg), 1);
        assert_non_null(strstr(msg, "has only PTX 9.0 for sm_120, whose JIT needs driver >= 580.65.06"));
        free(msg);
        kv_compat_free(c);
}

/* A library whose translation units differ (cuBLAS's shape): it runs wherever one of them has code;
 * cuFFT keeps its kernels elsewhere and is listed, not judged. */
static void test_union_and_opaque(void **state)
{
        struct tree *t = *state;
        static const struct fake_entry tu1[] = {{2, 80, 0, 0, 0, 4096}, {2, 90, 0, 0, 0, 4096}};
        static const struct fake_entry tu2[] = {{2, 90, 0, 0, 0x100000, 4096}};
        static const struct fake_entry cufft[] = {{2, 75, 0, 0, 0, 4096}};
        const struct fake_fatbin fb[] = {{tu1, 2}, {tu2, 1}};
        const struct fake_fatbin ff = {cufft, 1};
        struct kv_compat *c;
        char *json;

        mkdirs(t->fd, "usr/lib");
        assert_int_equal(fake_elf(t->fd, "usr/lib/libcublasLt.so.12", fb, 2, NULL, 0), 0);
        assert_int_equal(fake_elf(t->fd, "usr/lib/libcufft.so.11", &ff, 1, NULL, 0), 0);
        /* NPP's libraries without kernels carry one stub cubin: not judged; an application's
         * library built for one architecture is */
        assert_int_equal(fake_elf(t->fd, "usr/lib/libnppc.so.12", &ff, 1, NULL, 0), 0);
        c = scan(t, NULL);
        assert_int_equal(kv_compat_cuda_files(c), 3);
        assert_int_equal(kv_compat_verdict(c, 80), KV_RUN_NATIVE);
        assert_int_equal(kv_compat_verdict(c, 90), KV_RUN_NATIVE);
        assert_int_equal(kv_compat_verdict(c, 75), KV_RUN_NONE); /* cuFFT's sm_75 does not count */
        json = kv_compat_json(c);
        assert_non_null(strstr(json, "\"sass\": [\n        \"sm_80\",\n        \"sm_90\",\n        \"sm_90a\"\n      ]"));
        assert_non_null(strstr(json, "\"judged\": false"));
        kv_compat_free(c);
        assert_int_equal(fake_elf(t->fd, "usr/lib/libapp.so", &ff, 1, NULL, 0), 0);
        c = scan(t, NULL);
        assert_int_equal(kv_compat_verdict(c, 80), KV_RUN_NONE); /* libapp.so: sm_75 only */
        /* sm_80: the second translation unit has none */
        assert_non_null(strstr(json, "\"arch\": \"sm_80\",\n      \"family\": \"Ampere\",\n      \"verdict\": "
                                     "\"native\",\n      \"partial_files\": 1"));
        free(json);
        kv_compat_free(c);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_cuda118_runtime, tree_setup, tree_teardown),
            cmocka_unit_test_setup_teardown(test_extra_tree_scans_as_if_in_place, tree_setup, tree_teardown),
            cmocka_unit_test_setup_teardown(test_torch_mismatch, tree_setup, tree_teardown),
            cmocka_unit_test_setup_teardown(test_cpu_torch_and_devel, tree_setup, tree_teardown),
            cmocka_unit_test_setup_teardown(test_no_cuda_and_symlinks, tree_setup, tree_teardown),
            cmocka_unit_test_setup_teardown(test_bad_requirements, tree_setup, tree_teardown),
            cmocka_unit_test_setup_teardown(test_cuda12_wheels_jit_driver, tree_setup, tree_teardown),
            cmocka_unit_test_setup_teardown(test_union_and_opaque, tree_setup, tree_teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

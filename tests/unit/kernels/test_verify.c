/* The verifier program end to end, against stand-in driver libraries (fake_cuda.c, fake_cudart.c,
 * fake_cublas.c): the only mock is at the driver-API boundary, everything above it is the real
 * program. Each case runs cubuild-verify and asserts its exit status and report. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "kv.h"

#define FAKE_CUDA FAKE_DIR "/driver/libcuda.so.1"

static char dir[] = "/tmp/kv-verify-XXXXXX";
static char report[300], empty[300], python[300];

static int setup(void **state)
{
        if (!mkdtemp(dir))
                return -1;
        snprintf(report, sizeof(report), "%s/report.json", dir);
        snprintf(empty, sizeof(empty), "%s/empty", dir);
        snprintf(python, sizeof(python), "%s/python3", dir);
        return mkdir(empty, 0755);
}

static int teardown(void **state)
{
        char cmd[400];

        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        return system(cmd) == 0 ? 0 : -1;
}

/* Runs the verifier with argv (NULL-terminated) and mode in the environment; returns its exit
 * status and the report's text in *ret_report (caller frees). */
static int run(const char *mode, const char *const *args, char **ret_report)
{
        const char *argv[32];
        size_t n = 0;
        pid_t pid;
        int status;

        argv[n++] = VERIFY_BIN;
        argv[n++] = "--report";
        argv[n++] = report;
        argv[n++] = "--quiet";
        for (; *args && n < 30; args++)
                argv[n++] = *args;
        argv[n] = NULL;
        unlink(report);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                setenv("FAKE_CUDA_MODE", mode, 1);
                execv(VERIFY_BIN, (char *const *) argv);
                _exit(127);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        *ret_report = NULL;
        if (kv_read_file(AT_FDCWD, report, 1 << 20, ret_report) < 0)
                *ret_report = NULL;
        return WEXITSTATUS(status);
}

static void assert_has(const char *text, const char *needle)
{
        if (!text || !strstr(text, needle))
                fail_msg("report lacks '%s':\n%s", needle, text ? text : "(no report)");
}

static void test_no_libcuda_reports_no_gpu(void **state)
{
        const char *args[] = {"--libcuda", "/nonexistent/libcuda.so.1", "--python", "none", NULL};
        char *r;

        assert_int_equal(run("ok", args, &r), KV_EXIT_NO_GPU);
        assert_has(r, "\"result\": \"no-gpu\"");
        assert_has(r, "no NVIDIA driver injected");
        assert_has(r, "\"gpu\": null");
        free(r);
}

static void test_driver_without_device_reports_no_gpu(void **state)
{
        const char *args[] = {"--libcuda", FAKE_CUDA, "--lib-path", empty, "--python", "none", NULL};
        char *r;

        assert_int_equal(run("nodevice", args, &r), KV_EXIT_NO_GPU);
        assert_has(r, "CUDA_ERROR_NO_DEVICE");
        free(r);
}

static void test_all_kernels_pass_on_a_correct_driver(void **state)
{
        const char *args[] = {"--libcuda", FAKE_CUDA, "--lib-path", empty, "--python", "none", NULL};
        char *r;

        assert_int_equal(run("ok", args, &r), KV_EXIT_PASS);
        assert_has(r, "\"result\": \"pass\"");
        assert_has(r, "\"name\": \"Fake GPU\"");
        assert_has(r, "\"sm\": \"sm_90\"");
        assert_has(r, "\"name\": \"vector_add\",\n      \"result\": \"pass\"");
        assert_has(r, "\"name\": \"sgemm\",\n      \"result\": \"pass\"");
        /* with cubins embedded (nvcc present) the PTX gets its own run; without, it ran above */
        if (strstr(r, "\"kernel_image\": \"cubin"))
                assert_has(r, "\"name\": \"ptx_jit\",\n      \"result\": \"pass\"");
        else
                assert_has(r, "the kernels above already ran from the PTX");
        assert_has(r, "\"name\": \"cudart\",\n      \"result\": \"skip\"");
        assert_has(r, "\"ptx_isa\": \"6.0\"");
        free(r);
}

/* A GPU newer than every cubin's major (Blackwell, sm_120) runs the kernels from the PTX. */
static void test_newer_gpu_runs_from_ptx(void **state)
{
        const char *args[] = {"--libcuda", FAKE_CUDA, "--lib-path", empty, "--python", "none", NULL};
        char *r;

        setenv("FAKE_CUDA_CC", "12.0", 1);
        assert_int_equal(run("ok", args, &r), KV_EXIT_PASS);
        unsetenv("FAKE_CUDA_CC");
        assert_has(r, "\"kernel_image\": \"ptx sm_70\"");
        assert_has(r, "the kernels above already ran from the PTX");
        free(r);
}

static void test_wrong_gemm_fails_with_the_element(void **state)
{
        const char *args[] = {"--libcuda", FAKE_CUDA, "--lib-path", empty, "--python", "none", NULL};
        char *r;

        assert_int_equal(run("wrong", args, &r), KV_EXIT_FAIL);
        assert_has(r, "\"result\": \"fail\"");
        assert_has(r, "1 of 85581 elements outside");
        assert_has(r, "first at (166,128)");
        free(r);
}

static void test_ptx_jit_failure_carries_the_log(void **state)
{
        const char *args[] = {"--libcuda", FAKE_CUDA, "--lib-path", empty, "--python", "none", NULL};
        char *r;

        assert_int_equal(run("nojit", args, &r), KV_EXIT_FAIL);
        assert_has(r, "ptxas fatal: fake JIT refuses");
        free(r);
}

static void test_driver_failure_is_a_failure_not_no_gpu(void **state)
{
        const char *args[] = {"--libcuda", FAKE_CUDA, "--lib-path", empty, "--python", "none", NULL};
        char *r;

        assert_int_equal(run("initfail", args, &r), KV_EXIT_FAIL);
        assert_has(r, "cuInit: CUDA_ERROR_UNKNOWN (999)");
        free(r);
}

static void test_image_cudart_and_cublas_pass(void **state)
{
        const char *args[] = {"--libcuda", FAKE_CUDA, "--lib-path", FAKE_DIR "/rt-ok",
                              "--python",  "none",    NULL};
        char *r;

        assert_int_equal(run("ok", args, &r), KV_EXIT_PASS);
        assert_has(r, "\"version\": \"12.4\"");
        assert_has(r, "\"version\": \"12.4.2\"");
        assert_has(r, "\"name\": \"cudart\",\n      \"result\": \"pass\"");
        assert_has(r, "\"name\": \"cublas\",\n      \"result\": \"pass\"");
        free(r);
}

static void test_runtime_newer_than_driver_says_so(void **state)
{
        const char *args[] = {"--libcuda", FAKE_CUDA, "--lib-path", FAKE_DIR "/rt-new",
                              "--python",  "none",    NULL};
        char *r;

        assert_int_equal(run("ok", args, &r), KV_EXIT_FAIL);
        assert_has(r, "CUDA runtime 14.0");
        assert_has(r, "is newer than this driver supports");
        assert_has(r, "supports CUDA 13.0");
        free(r);
}

static void write_python(const char *lines)
{
        FILE *f = fopen(python, "w");

        assert_non_null(f);
        fprintf(f, "#!/bin/sh\ncat <<'END'\n%sEND\n", lines);
        fclose(f);
        assert_int_equal(chmod(python, 0755), 0);
}

static void test_torch_without_the_gpu_arch_fails_clearly(void **state)
{
        const char *args[] = {"--libcuda", FAKE_CUDA, "--lib-path", empty, "--python", python, NULL};
        char *r;

        write_python("kv:import=ok\nkv:version=2.0.1+cu117\nkv:cuda=11.7\nkv:available=1\n"
                     "kv:arch_list=sm_37,sm_50,sm_60,sm_70,sm_75,sm_80,sm_86\nkv:capability=9.0\nkv:matmul_"
                     "err=0.001\n");
        assert_int_equal(run("ok", args, &r), KV_EXIT_FAIL);
        assert_has(r, "torch 2.0.1+cu117 (CUDA 11.7) was built for sm_37,sm_50,sm_60,sm_70,sm_75,sm_80,sm_86 "
                      "and has no kernels for this GPU's sm_90");
        free(r);
}

static void test_cpu_only_torch_fails_clearly(void **state)
{
        const char *args[] = {"--libcuda", FAKE_CUDA, "--lib-path", empty, "--python", python, NULL};
        char *r;

        write_python("kv:import=ok\nkv:version=2.0.1\nkv:cuda=None\nkv:available=0\n");
        assert_int_equal(run("ok", args, &r), KV_EXIT_FAIL);
        assert_has(r, "torch 2.0.1 is a CPU-only build");
        free(r);
}

static void test_torch_pass_and_absent(void **state)
{
        const char *args[] = {"--libcuda", FAKE_CUDA, "--lib-path", empty, "--python", python, NULL};
        char *r;

        write_python(
            "kv:import=ok\nkv:version=2.11.0+cu130\nkv:cuda=13.0\nkv:available=1\n"
            "kv:arch_list=sm_75,sm_80,sm_86,sm_90,sm_100,sm_120\nkv:capability=9.0\nkv:matmul_err=0.0018\n");
        assert_int_equal(run("ok", args, &r), KV_EXIT_PASS);
        assert_has(r, "\"version\": \"2.11.0+cu130\"");
        free(r);
        write_python("kv:import=missing\n");
        assert_int_equal(run("ok", args, &r), KV_EXIT_PASS);
        assert_has(r, "\"name\": \"torch\",\n      \"result\": \"skip\"");
        free(r);
}

static void test_usage_errors_exit_2(void **state)
{
        const char *args[] = {"--no-such-flag", NULL};
        char *r;

        assert_int_equal(run("ok", args, &r), KV_EXIT_USAGE);
        assert_null(r);
}

/* Every visible GPU runs the SGEMM; a wrong result on the second is named by device. */
static void test_each_gpu_is_checked(void **state)
{
        const char *args[] = {"--libcuda", FAKE_CUDA, "--lib-path", empty, "--python", "none", NULL};
        char *r;

        setenv("FAKE_CUDA_COUNT", "3", 1);
        assert_int_equal(run("ok", args, &r), KV_EXIT_PASS);
        assert_has(r, "\"device_count\": 3");
        assert_has(r, "\"name\": \"gpu2\",\n      \"result\": \"pass\"");
        assert_has(r, "on device 2 (Fake GPU 2, sm_90)");
        free(r);
        assert_int_equal(run("wrong1", args, &r), KV_EXIT_FAIL);
        unsetenv("FAKE_CUDA_COUNT");
        assert_has(r, "\"name\": \"sgemm\",\n      \"result\": \"pass\"");
        assert_has(r, "\"name\": \"gpu1\",\n      \"result\": \"fail\"");
        assert_has(r, "on device 1 (Fake GPU 1, sm_90): 1 of 85581 elements outside");
        free(r);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_no_libcuda_reports_no_gpu),
            cmocka_unit_test(test_driver_without_device_reports_no_gpu),
            cmocka_unit_test(test_all_kernels_pass_on_a_correct_driver),
            cmocka_unit_test(test_newer_gpu_runs_from_ptx),
            cmocka_unit_test(test_wrong_gemm_fails_with_the_element),
            cmocka_unit_test(test_ptx_jit_failure_carries_the_log),
            cmocka_unit_test(test_driver_failure_is_a_failure_not_no_gpu),
            cmocka_unit_test(test_image_cudart_and_cublas_pass),
            cmocka_unit_test(test_runtime_newer_than_driver_says_so),
            cmocka_unit_test(test_torch_without_the_gpu_arch_fails_clearly),
            cmocka_unit_test(test_cpu_only_torch_fails_clearly),
            cmocka_unit_test(test_torch_pass_and_absent),
            cmocka_unit_test(test_usage_errors_exit_2),
            cmocka_unit_test(test_each_gpu_is_checked),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}

/* cubuild-verify: proves, inside a built image with the GPU injected, that the image computes on
 * the GPU. See kv.h for the contract and docs/verify.md for the report. Host code in kernels/ is plain
 * C with label cleanup (STYLE.md section 4): it is compiled on its own, inside an old rootfs. */
#include "verify.h"
#include "kv.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <gnu/libc-version.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define VERIFY_VERSION "0.1.0"

double now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

struct check *check_add(struct verify *v, const char *name, enum check_result r, double ms, const char *fmt,
                        ...)
{
        struct check *c;
        struct kv_sb sb = {0};
        va_list ap;

        if (v->n_checks == MAX_CHECKS)
                return NULL;
        c = &v->checks[v->n_checks++];
        c->name = name;
        c->result = r;
        c->ms = ms;
        va_start(ap, fmt);
        kv_sb_vaddf(&sb, fmt, ap);
        va_end(ap);
        c->detail = kv_sb_take(&sb);
        return c;
}

static const char *result_name(enum check_result r)
{
        switch (r) {
        case CHECK_PASS:
                return "pass";
        case CHECK_FAIL:
                return "fail";
        case CHECK_SKIP:
                return "skip";
        }
        return "?";
}

static void json_lib(struct kv_json *j, const char *key, const char *path, const char *version)
{
        if (!path) {
                kv_json_null(j, key);
                return;
        }
        kv_json_open(j, key, '{');
        kv_json_str(j, "path", path);
        kv_json_str(j, "version", version);
        kv_json_close(j, '}');
}

static char *report_json(struct verify *v, const char *result, const char *summary, double total_ms)
{
        struct kv_json j = {0};
        size_t n_images;
        const struct kv_image *images = kv_images(&n_images);
        const struct kv_image *ptx = kv_image_ptx(images, n_images);
        char buf[64];

        kv_json_open(&j, NULL, '{');
        kv_json_str(&j, "schema", KV_REPORT_SCHEMA);
        kv_json_str(&j, "result", result);
        kv_json_str(&j, "summary", summary);

        kv_json_open(&j, "verifier", '{');
        kv_json_str(&j, "version", VERIFY_VERSION);
        kv_json_open(&j, "kernel_images", '[');
        for (size_t i = 0; i < n_images; i++) {
                unsigned ma, mi, sm;

                kv_json_open(&j, NULL, '{');
                snprintf(buf, sizeof(buf), "sm_%u", images[i].sm);
                kv_json_str(&j, "kind", images[i].kind == KV_IMAGE_PTX ? "ptx" : "cubin");
                kv_json_str(&j, "target", buf);
                if (images[i].kind == KV_IMAGE_PTX &&
                    kv_ptx_info((const char *) images[i].data, images[i].len, &ma, &mi, &sm) == 0) {
                        snprintf(buf, sizeof(buf), "%u.%u", ma, mi);
                        kv_json_str(&j, "ptx_isa", buf);
                }
                kv_json_close(&j, '}');
        }
        kv_json_close(&j, ']');
        (void) ptx;
        kv_json_close(&j, '}');

        if (v->no_gpu) {
                kv_json_null(&j, "gpu");
        } else {
                kv_json_open(&j, "gpu", '{');
                kv_json_str(&j, "name", v->gpu_name[0] ? v->gpu_name : NULL);
                snprintf(buf, sizeof(buf), "%d.%d", v->cc_major, v->cc_minor);
                kv_json_str(&j, "compute_capability", v->cc_major ? buf : NULL);
                snprintf(buf, sizeof(buf), "sm_%d%d", v->cc_major, v->cc_minor);
                kv_json_str(&j, "sm", v->cc_major ? buf : NULL);
                kv_json_int(&j, "multiprocessors", v->sm_count);
                kv_json_int(&j, "memory_mib", (long long) (v->mem_bytes >> 20));
                kv_json_int(&j, "device_count", v->device_count);
                kv_json_str(&j, "driver_version", v->driver_version);
                kv_json_str(&j, "driver_library", v->libcuda_path);
                kv_cuda_version_str(v->driver_cuda, buf, sizeof(buf));
                kv_json_str(&j, "driver_cuda_version", v->driver_cuda ? buf : NULL);
                if (v->image) {
                        snprintf(buf, sizeof(buf), "%s sm_%u",
                                 v->image->kind == KV_IMAGE_PTX ? "ptx" : "cubin", v->image->sm);
                        kv_json_str(&j, "kernel_image", buf);
                } else {
                        kv_json_null(&j, "kernel_image");
                }
                kv_json_close(&j, '}');
        }

        kv_json_open(&j, "image", '{');
        kv_json_str(&j, "glibc", gnu_get_libc_version()); /* the image's: we run on its C library */
        json_lib(&j, "cuda_runtime", v->cudart_path, v->cudart_version);
        json_lib(&j, "cublas", v->cublas_path, v->cublas_version);
        if (v->torch_version) {
                kv_json_open(&j, "torch", '{');
                kv_json_str(&j, "version", v->torch_version);
                kv_json_str(&j, "cuda", v->torch_cuda);
                kv_json_close(&j, '}');
        } else {
                kv_json_null(&j, "torch");
        }
        kv_json_close(&j, '}');

        kv_json_open(&j, "checks", '[');
        for (size_t i = 0; i < v->n_checks; i++) {
                kv_json_open(&j, NULL, '{');
                kv_json_str(&j, "name", v->checks[i].name);
                kv_json_str(&j, "result", result_name(v->checks[i].result));
                kv_json_num(&j, "ms", v->checks[i].ms);
                kv_json_str(&j, "detail", v->checks[i].detail);
                kv_json_close(&j, '}');
        }
        kv_json_close(&j, ']');
        kv_json_num(&j, "total_ms", total_ms);
        kv_json_close(&j, '}');
        return kv_sb_take(&j.sb);
}

/* Writes the report to path through a temporary file and rename(), so a reader never sees half. */
static int write_report(const char *path, const char *text)
{
        char *tmp = NULL;
        size_t len = strlen(text), off = 0;
        int fd = -1, rc = 0;

        tmp = kv_asprintf("%s.tmp.%ld", path, (long) getpid());
        if (!tmp)
                return -ENOMEM;
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
                rc = -errno;
                goto out_free;
        }
        while (off < len) {
                ssize_t n = write(fd, text + off, len - off);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        rc = -errno;
                        goto out_unlink;
                }
                off += (size_t) n;
        }
        if (fsync(fd) < 0 || close(fd) < 0) {
                fd = -1;
                rc = -errno;
                goto out_unlink;
        }
        fd = -1;
        if (rename(tmp, path) < 0) {
                rc = -errno;
                goto out_unlink;
        }
        goto out_free;

out_unlink:
        if (fd >= 0)
                close(fd);
        (void) unlink(tmp);
out_free:
        free(tmp);
        return rc;
}

static void usage(FILE *f)
{
        fprintf(f, "usage: cubuild-verify [--report FILE] [--libcuda PATH] [--lib-path DIR]...\n"
                   "                      [--python PATH|none] [--torch-timeout SECONDS] [--quiet]\n"
                   "Runs vector add and a tiled SGEMM on the GPU through the CUDA driver API and checks\n"
                   "them against a CPU reference; then the image's libcudart, libcublas and torch.\n"
                   "Prints the JSON report to stdout, or writes it to FILE (then a summary on stderr).\n"
                   "Exit: 0 pass, 3 verification failed, 4 no GPU, 2 usage, 1 internal error.\n");
}

static void verify_release(struct verify *v)
{
        for (size_t i = 0; i < v->n_checks; i++)
                free(v->checks[i].detail);
        free(v->no_gpu_reason);
        free(v->driver_version);
        free(v->libcuda_path);
        free(v->cudart_path);
        free(v->cudart_version);
        free(v->cublas_path);
        free(v->cublas_version);
        free(v->torch_version);
        free(v->torch_cuda);
        free(v->gemm_a);
        free(v->gemm_b);
        free(v->gemm_c);
        free(v->gemm_ref);
        free(v->gemm_bound);
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
            {"report", required_argument, NULL, 'r'},
            {"libcuda", required_argument, NULL, 'c'},
            {"lib-path", required_argument, NULL, 'L'},
            {"python", required_argument, NULL, 'p'},
            {"torch-timeout", required_argument, NULL, 't'},
            {"quiet", no_argument, NULL, 'q'},
            {"help", no_argument, NULL, 'h'},
            {"version", no_argument, NULL, 'V'},
            {NULL, 0, NULL, 0},
        };
        struct verify v = {0};
        const char *result;
        char *summary = NULL, *report = NULL;
        struct kv_sb fails = {0};
        size_t n_pass = 0, n_fail = 0, n_skip = 0;
        double t0 = now_ms();
        int c, status;

        v.libcuda = "libcuda.so.1";
        v.torch_timeout_s = 600;
        while ((c = getopt_long(argc, argv, "r:qhV", opts, NULL)) != -1) {
                switch (c) {
                case 'r':
                        v.report_path = optarg;
                        break;
                case 'c':
                        v.libcuda = optarg;
                        break;
                case 'L':
                        if (v.n_lib_paths == MAX_LIB_PATHS) {
                                fprintf(stderr, "cubuild-verify: too many --lib-path\n");
                                return KV_EXIT_USAGE;
                        }
                        v.lib_paths[v.n_lib_paths++] = optarg;
                        break;
                case 'p':
                        v.python = optarg;
                        break;
                case 't': {
                        char *end;
                        unsigned long s;

                        errno = 0;
                        s = strtoul(optarg, &end, 10);
                        if (errno || end == optarg || *end || s == 0 || s > 86400) {
                                fprintf(stderr, "cubuild-verify: bad --torch-timeout '%s'\n", optarg);
                                return KV_EXIT_USAGE;
                        }
                        v.torch_timeout_s = (unsigned) s;
                        break;
                }
                case 'q':
                        v.quiet = true;
                        break;
                case 'h':
                        usage(stdout);
                        return KV_EXIT_PASS;
                case 'V':
                        printf("cubuild-verify %s\n", VERIFY_VERSION);
                        return KV_EXIT_PASS;
                default:
                        fprintf(stderr, "see 'cubuild-verify --help'\n");
                        return KV_EXIT_USAGE;
                }
        }
        if (optind != argc) {
                fprintf(stderr, "cubuild-verify: unexpected argument '%s'\nsee 'cubuild-verify --help'\n",
                        argv[optind]);
                return KV_EXIT_USAGE;
        }

        if (verify_driver(&v)) {
                verify_kernels(&v);
                verify_other_gpus(&v);
                verify_cudart(&v);
                verify_cublas(&v);
                verify_torch(&v);
        }
        verify_driver_close(&v);

        for (size_t i = 0; i < v.n_checks; i++) {
                switch (v.checks[i].result) {
                case CHECK_PASS:
                        n_pass++;
                        break;
                case CHECK_SKIP:
                        n_skip++;
                        break;
                case CHECK_FAIL:
                        n_fail++;
                        kv_sb_addf(&fails, "%s%s: %s", n_fail > 1 ? "; " : "", v.checks[i].name,
                                   v.checks[i].detail ? v.checks[i].detail : "");
                        break;
                }
        }
        if (v.no_gpu) {
                result = "no-gpu";
                status = KV_EXIT_NO_GPU;
                summary = kv_asprintf("no GPU: %s", v.no_gpu_reason ? v.no_gpu_reason : "unknown");
        } else if (n_fail) {
                result = "fail";
                status = KV_EXIT_FAIL;
                summary = kv_asprintf("fail: %s", fails.p ? fails.p : "");
        } else {
                char ver[32];

                result = "pass";
                status = KV_EXIT_PASS;
                kv_cuda_version_str(v.driver_cuda, ver, sizeof(ver));
                summary =
                    kv_asprintf("pass: %s (sm_%d%d), driver %s / CUDA %s: %zu checks passed, %zu skipped",
                                v.gpu_name, v.cc_major, v.cc_minor,
                                v.driver_version ? v.driver_version : "unknown", ver, n_pass, n_skip);
        }
        report = report_json(&v, result, summary ? summary : result, now_ms() - t0);
        if (!report) {
                fprintf(stderr, "cubuild-verify: out of memory\n");
                status = KV_EXIT_ERROR;
                goto out;
        }
        if (v.report_path) {
                int r = write_report(v.report_path, report);

                if (r < 0) {
                        fprintf(stderr, "cubuild-verify: write '%s': %s\n", v.report_path, strerror(-r));
                        status = KV_EXIT_ERROR;
                        goto out;
                }
                if (!v.quiet)
                        fprintf(stderr, "cubuild-verify: %s\n", summary ? summary : result);
        } else {
                fputs(report, stdout);
                if (fflush(stdout) != 0)
                        status = KV_EXIT_ERROR;
                if (!v.quiet)
                        fprintf(stderr, "cubuild-verify: %s\n", summary ? summary : result);
        }
out:
        free(report);
        free(summary);
        kv_sb_release(&fails);
        verify_release(&v);
        return status;
}

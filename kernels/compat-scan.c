/* cubuild-compat-scan: the static CUDA compatibility report of a directory tree (a rootfs, a Python
 * environment), for benchmarks and for machines where no image store is at hand.
 *
 *   cubuild-compat-scan [--cuda-version V] [--require-arch L] [--require-driver D] [--json] DIR
 *
 * Prints the summary (or the JSON report); exit status 0, 3 when a requirement is not met, 1 on
 * error, 2 on bad usage. */
#include "compat.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
        struct kv_compat_opts o = {0};
        struct kv_compat *c = NULL;
        struct kv_err err = {0};
        struct timespec t0, t1;
        const char *dir = NULL;
        bool json = false;
        char *out, *gap = NULL;
        int fd, rc = 0;

        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--json") == 0)
                        json = true;
                else if (strcmp(argv[i], "--cuda-version") == 0 && i + 1 < argc)
                        o.cuda_version = argv[++i];
                else if (strcmp(argv[i], "--require-arch") == 0 && i + 1 < argc)
                        o.require_arch = argv[++i];
                else if (strcmp(argv[i], "--require-driver") == 0 && i + 1 < argc)
                        o.require_driver = argv[++i];
                else if (argv[i][0] != '-' && !dir)
                        dir = argv[i];
                else {
                        fprintf(stderr, "usage: cubuild-compat-scan [--cuda-version V] [--require-arch L] "
                                        "[--require-driver D] [--json] DIR\n");
                        return 2;
                }
        }
        if (!dir) {
                fprintf(stderr, "cubuild-compat-scan: give a directory\n");
                return 2;
        }
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
                fprintf(stderr, "cubuild-compat-scan: open '%s': %s\n", dir, strerror(errno));
                return 1;
        }
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (kv_compat_scan(fd, &o, &c, &err) < 0) {
                fprintf(stderr, "cubuild-compat-scan: %s\n", err.msg ? err.msg : "failed");
                kv_err_release(&err);
                close(fd);
                return 2;
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        close(fd);
        out = json ? kv_compat_json(c) : kv_compat_summary(c, "compat: ");
        if (out)
                fputs(out, stdout);
        free(out);
        if (!json)
                printf("compat: scan took %.2f s\n",
                       (double) (t1.tv_sec - t0.tv_sec) + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9);
        if (kv_compat_require(c, &gap) == 1) {
                fprintf(stderr, "cubuild-compat-scan: %s\n", gap);
                rc = 3;
        }
        free(gap);
        kv_compat_free(c);
        return rc;
}

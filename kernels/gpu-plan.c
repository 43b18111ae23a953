/* cubuild-gpu-plan: prints the GPU injection plan (gpu.h) as JSON, for scripts and debugging. */
#include "gpu.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
        fprintf(f, "usage: cubuild-gpu-plan [--driver-root DIR] [--dev-root DIR] [--proc-root DIR]\n"
                   "                        [--ldcache FILE] [--visible-devices LIST] [--capabilities LIST]\n"
                   "                        [--lib-dir DIR] [--bin-dir DIR] [--lines]\n"
                   "--lines prints KIND HOST CONTAINER per mount instead of JSON.\n"
                   "Defaults: NVIDIA_VISIBLE_DEVICES and NVIDIA_DRIVER_CAPABILITIES from the environment.\n"
                   "Exit: 0 plan printed, 4 no GPU or driver, 2 usage, 1 other error.\n");
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
            {"driver-root", required_argument, NULL, 'r'},
            {"dev-root", required_argument, NULL, 'd'},
            {"proc-root", required_argument, NULL, 'p'},
            {"ldcache", required_argument, NULL, 'c'},
            {"visible-devices", required_argument, NULL, 'v'},
            {"capabilities", required_argument, NULL, 'C'},
            {"lib-dir", required_argument, NULL, 'l'},
            {"bin-dir", required_argument, NULL, 'b'},
            {"lines", no_argument, NULL, 'L'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
        };
        struct kv_plan_opts o = {0};
        struct kv_plan *plan = NULL;
        struct kv_err err = {0};
        char *json;
        bool lines = false;
        int c, r;

        o.visible_devices = getenv("NVIDIA_VISIBLE_DEVICES");
        o.capabilities = getenv("NVIDIA_DRIVER_CAPABILITIES");
        while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
                switch (c) {
                case 'r':
                        o.driver_root = optarg;
                        break;
                case 'd':
                        o.dev_root = optarg;
                        break;
                case 'p':
                        o.proc_root = optarg;
                        break;
                case 'c':
                        o.ldcache = optarg;
                        break;
                case 'v':
                        o.visible_devices = optarg;
                        break;
                case 'C':
                        o.capabilities = optarg;
                        break;
                case 'l':
                        o.lib_dir = optarg;
                        break;
                case 'b':
                        o.bin_dir = optarg;
                        break;
                case 'L':
                        lines = true;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        fprintf(stderr, "see 'cubuild-gpu-plan --help'\n");
                        return 2;
                }
        }
        if (optind != argc) {
                fprintf(stderr, "cubuild-gpu-plan: unexpected argument '%s'\nsee 'cubuild-gpu-plan --help'\n",
                        argv[optind]);
                return 2;
        }
        r = kv_plan_new(&o, &plan, &err);
        if (r < 0) {
                fprintf(stderr, "cubuild-gpu-plan: %s\n", err.msg ? err.msg : strerror(-r));
                kv_err_release(&err);
                return r == -ENODEV || r == -ENOENT ? 4 : 1;
        }
        if (lines) {
                /* "KIND HOST CONTAINER" per mount, for shell scripts (driver paths have no spaces) */
                for (size_t i = 0; i < kv_plan_count(plan); i++) {
                        const struct kv_mount *m = kv_plan_mount(plan, i);
                        static const char *const kinds[] = {"tmpfs", "device", "library", "program"};

                        printf("%s %s %s\n", kinds[m->kind], m->host_path ? m->host_path : "-",
                               m->container_path);
                }
                kv_plan_free(plan);
                return fflush(stdout) == 0 ? 0 : 1;
        }
        json = kv_plan_json(plan);
        kv_plan_free(plan);
        if (!json) {
                fprintf(stderr, "cubuild-gpu-plan: out of memory\n");
                return 1;
        }
        fputs(json, stdout);
        free(json);
        return fflush(stdout) == 0 ? 0 : 1;
}

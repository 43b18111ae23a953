/* The injection plan (kernels/gpu.c) against a fake driver root built here: device nodes as plain
 * files, /proc/driver/nvidia/gpus, fake driver libraries with the real sonames, and an ld.so.cache
 * written by the system's ldconfig. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gpu.h"

static char root[] = "/tmp/kv-gpu-XXXXXX";
static char proc[300], lib[300];
static bool have_ldconfig;

#define LIBDIR "usr/lib/x86_64-linux-gnu"

static int setup(void **state)
{
        char cmd[2048];

        have_ldconfig = access("/sbin/ldconfig", X_OK) == 0 || access("/usr/sbin/ldconfig", X_OK) == 0;
        if (!mkdtemp(root))
                return -1;
        snprintf(proc, sizeof(proc), "%s/proc", root);
        snprintf(lib, sizeof(lib), "%s/" LIBDIR, root);
        /* PCI order differs from minor order on purpose: index 0 is 0000:1a:00.0, which is minor 1. */
        snprintf(cmd, sizeof(cmd),
                 "set -e; cd %s; mkdir -p dev etc usr/bin " LIBDIR
                 " proc/driver/nvidia/gpus/0000:1a:00.0 proc/driver/nvidia/gpus/0000:3b:00.0; "
                 "touch dev/nvidiactl dev/nvidia-uvm dev/nvidia-uvm-tools dev/nvidia0 dev/nvidia1 "
                 "dev/nvidia-modeset; "
                 "printf 'Model: \\t Fake\\nGPU UUID: \\t GPU-aaaa\\nDevice Minor: \\t 1\\n' > "
                 "proc/driver/nvidia/gpus/0000:1a:00.0/information; "
                 "printf 'Model: \\t Fake\\nGPU UUID: \\t GPU-bbbb\\nDevice Minor: \\t 0\\n' > "
                 "proc/driver/nvidia/gpus/0000:3b:00.0/information; "
                 "cp %s/plan/*.so.580.1 " LIBDIR
                 "/; printf '#!/bin/sh\\n' > usr/bin/nvidia-smi; chmod +x usr/bin/nvidia-smi; "
                 "echo /" LIBDIR " > etc/ld.so.conf; "
                 "if [ %d = 1 ]; then PATH=/usr/sbin:/sbin:$PATH ldconfig -r %s; fi",
                 root, FAKE_DIR, have_ldconfig, root);
        return system(cmd) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
        char cmd[400];

        snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
        return system(cmd) == 0 ? 0 : -1;
}

static struct kv_plan_opts opts(const char *visible, const char *caps)
{
        struct kv_plan_opts o = {0};

        o.driver_root = root;
        o.dev_root = root;
        o.proc_root = proc;
        o.visible_devices = visible;
        o.capabilities = caps;
        return o;
}

/* The mount whose container path is c, or NULL. */
static const struct kv_mount *find(const struct kv_plan *p, const char *c)
{
        for (size_t i = 0; i < kv_plan_count(p); i++)
                if (strcmp(kv_plan_mount(p, i)->container_path, c) == 0)
                        return kv_plan_mount(p, i);
        return NULL;
}

static void assert_host(const struct kv_plan *p, const char *container, const char *host_rel)
{
        const struct kv_mount *m = find(p, container);
        char want[512];

        assert_non_null(m);
        snprintf(want, sizeof(want), "%s/%s", root, host_rel);
        assert_string_equal(m->host_path, want);
}

static void test_all_gpus_compute_utility(void **state)
{
        struct kv_plan_opts o = opts(NULL, NULL);
        struct kv_plan *p = NULL;
        struct kv_err err = {0};
        size_t n;
        const unsigned *g;

        if (!have_ldconfig)
                skip();
        assert_int_equal(kv_plan_new(&o, &p, &err), 0);
        assert_true(find(p, "/usr/local/nvidia/lib64")->kind == KV_MOUNT_DIR);
        assert_true(find(p, "/dev/nvidiactl")->kind == KV_MOUNT_DEV);
        assert_non_null(find(p, "/dev/nvidia-uvm"));
        assert_non_null(find(p, "/dev/nvidia-uvm-tools"));
        assert_non_null(find(p, "/dev/nvidia0"));
        assert_non_null(find(p, "/dev/nvidia1"));
        assert_null(find(p, "/dev/nvidia-modeset")); /* only for graphics/display */
        g = kv_plan_gpus(p, &n);
        assert_int_equal(n, 2);
        assert_int_equal(g[0], 1); /* PCI order */
        assert_int_equal(g[1], 0);
        /* libraries: the real file (symlinks resolved) under its soname */
        assert_host(p, "/usr/local/nvidia/lib64/libcuda.so.1", LIBDIR "/libcuda.so.580.1");
        assert_host(p, "/usr/local/nvidia/lib64/libcuda.so", LIBDIR "/libcuda.so.580.1");
        assert_host(p, "/usr/local/nvidia/lib64/libnvidia-ml.so.1", LIBDIR "/libnvidia-ml.so.580.1");
        assert_host(p, "/usr/local/nvidia/lib64/libnvidia-ptxjitcompiler.so.1",
                    LIBDIR "/libnvidia-ptxjitcompiler.so.580.1");
        assert_host(p, "/usr/local/nvidia/lib64/libnvidia-nvvm.so.4", LIBDIR "/libnvidia-nvvm.so.580.1");
        assert_host(p, "/usr/local/nvidia/lib64/libnvidia-gpucomp.so.580.1",
                    LIBDIR "/libnvidia-gpucomp.so.580.1");
        assert_true(find(p, "/usr/local/nvidia/lib64/libcuda.so.1")->kind == KV_MOUNT_LIB);
        assert_host(p, "/usr/local/nvidia/bin/nvidia-smi", "usr/bin/nvidia-smi");
        assert_string_equal(kv_plan_driver_version(p), "580.1");
        assert_string_equal(kv_plan_lib_dir(p), "/usr/local/nvidia/lib64");
        kv_plan_free(p);
}

static void test_compute_only_leaves_out_utility(void **state)
{
        struct kv_plan_opts o = opts("all", "compute");
        struct kv_plan *p = NULL;
        struct kv_err err = {0};

        if (!have_ldconfig)
                skip();
        assert_int_equal(kv_plan_new(&o, &p, &err), 0);
        assert_non_null(find(p, "/usr/local/nvidia/lib64/libnvidia-gpucomp.so.580.1"));
        assert_null(find(p, "/usr/local/nvidia/lib64/libnvidia-ml.so.1")); /* utility not asked for */
        assert_null(find(p, "/usr/local/nvidia/bin/nvidia-smi"));
        kv_plan_free(p);
}

static void test_visible_by_index_and_uuid(void **state)
{
        struct kv_plan_opts o = opts("1", NULL);
        struct kv_plan *p = NULL;
        struct kv_err err = {0};

        if (!have_ldconfig)
                skip();
        assert_int_equal(kv_plan_new(&o, &p, &err), 0);
        assert_non_null(find(p, "/dev/nvidia0")); /* index 1 = 0000:3b:00.0 = minor 0 */
        assert_null(find(p, "/dev/nvidia1"));
        p = kv_plan_free(p);

        o = opts("GPU-aaaa", NULL);
        assert_int_equal(kv_plan_new(&o, &p, &err), 0);
        assert_non_null(find(p, "/dev/nvidia1"));
        assert_null(find(p, "/dev/nvidia0"));
        kv_plan_free(p);
}

static void test_visible_unknown_gpu_fails(void **state)
{
        struct kv_plan_opts o = opts("0,7", NULL);
        struct kv_plan *p = NULL;
        struct kv_err err = {0};

        assert_int_equal(kv_plan_new(&o, &p, &err), -ENODEV);
        assert_non_null(strstr(err.msg, "no GPU '7'"));
        kv_err_release(&err);
        o = opts("MIG-1234", NULL);
        assert_int_equal(kv_plan_new(&o, &p, &err), -EINVAL);
        kv_err_release(&err);
}

static void test_void_is_empty_none_keeps_driver(void **state)
{
        struct kv_plan_opts o = opts("void", NULL);
        struct kv_plan *p = NULL;
        struct kv_err err = {0};

        assert_int_equal(kv_plan_new(&o, &p, &err), 0);
        assert_int_equal(kv_plan_count(p), 0);
        p = kv_plan_free(p);
        if (!have_ldconfig)
                skip();
        o = opts("none", NULL);
        assert_int_equal(kv_plan_new(&o, &p, &err), 0);
        assert_non_null(find(p, "/dev/nvidiactl"));
        assert_non_null(find(p, "/usr/local/nvidia/lib64/libcuda.so.1"));
        assert_null(find(p, "/dev/nvidia0"));
        assert_null(find(p, "/dev/nvidia1"));
        kv_plan_free(p);
}

static void test_capabilities_parse(void **state)
{
        struct kv_err err = {0};
        unsigned caps;

        assert_int_equal(kv_caps_parse(NULL, &caps, &err), 0);
        assert_int_equal(caps, KV_CAP_COMPUTE | KV_CAP_UTILITY);
        assert_int_equal(kv_caps_parse("all", &caps, &err), 0);
        assert_int_equal(caps, KV_CAP_ALL);
        assert_int_equal(kv_caps_parse("video, compute", &caps, &err), 0);
        assert_int_equal(caps, KV_CAP_VIDEO | KV_CAP_COMPUTE);
        assert_int_equal(kv_caps_parse("compute,bogus", &caps, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "'bogus'"));
        kv_err_release(&err);
}

static void test_graphics_adds_modeset(void **state)
{
        struct kv_plan_opts o = opts(NULL, "graphics,compute,utility");
        struct kv_plan *p = NULL;
        struct kv_err err = {0};

        if (!have_ldconfig)
                skip();
        assert_int_equal(kv_plan_new(&o, &p, &err), 0);
        assert_non_null(find(p, "/dev/nvidia-modeset"));
        kv_plan_free(p);
}

static void test_missing_libcuda_and_devices(void **state)
{
        char empty[] = "/tmp/kv-gpu-empty-XXXXXX", cmd[256];
        struct kv_plan_opts o = opts(NULL, NULL);
        struct kv_plan *p = NULL;
        struct kv_err err = {0};

        assert_non_null(mkdtemp(empty));
        /* devices but no driver libraries, and no ld.so.cache: the directory scan finds nothing */
        o.driver_root = empty;
        assert_int_equal(kv_plan_new(&o, &p, &err), -ENOENT);
        assert_non_null(strstr(err.msg, "libnvidia-ml.so.1"));
        kv_err_release(&err);
        /* no device nodes at all */
        o = opts(NULL, NULL);
        o.dev_root = empty;
        o.proc_root = empty;
        assert_int_equal(kv_plan_new(&o, &p, &err), -ENODEV);
        assert_non_null(strstr(err.msg, "no NVIDIA GPU"));
        kv_err_release(&err);
        snprintf(cmd, sizeof(cmd), "rm -rf %s", empty);
        assert_int_equal(system(cmd), 0);
}

/* A driver root without ld.so.cache (a driver container's) is scanned by file name. */
static void test_no_ldcache_scans_library_dirs(void **state)
{
        char r2[] = "/tmp/kv-gpu-scan-XXXXXX", cmd[1024];
        struct kv_plan_opts o = opts(NULL, NULL);
        struct kv_plan *p = NULL;
        struct kv_err err = {0};

        assert_non_null(mkdtemp(r2));
        snprintf(cmd, sizeof(cmd),
                 "set -e; mkdir -p %s/usr/lib64; cd %s/usr/lib64; cp %s/plan/*.so.580.1 .; "
                 "ln -s libcuda.so.580.1 libcuda.so.1; ln -s libnvidia-ml.so.580.1 libnvidia-ml.so.1",
                 r2, r2, FAKE_DIR);
        assert_int_equal(system(cmd), 0);
        o.driver_root = r2;
        assert_int_equal(kv_plan_new(&o, &p, &err), 0);
        assert_non_null(find(p, "/usr/local/nvidia/lib64/libcuda.so.1"));
        assert_non_null(find(p, "/usr/local/nvidia/lib64/libnvidia-ml.so.1"));
        kv_plan_free(p);
        snprintf(cmd, sizeof(cmd), "rm -rf %s", r2);
        assert_int_equal(system(cmd), 0);
}

static void test_json_lists_mounts(void **state)
{
        struct kv_plan_opts o = opts("0", NULL);
        struct kv_plan *p = NULL;
        struct kv_err err = {0};
        char *j;

        if (!have_ldconfig)
                skip();
        assert_int_equal(kv_plan_new(&o, &p, &err), 0);
        j = kv_plan_json(p);
        assert_non_null(strstr(j, "\"kind\": \"device\""));
        assert_non_null(strstr(j, "\"container\": \"/dev/nvidia1\""));
        assert_non_null(strstr(j, "\"driver_version\": \"580.1\""));
        free(j);
        kv_plan_free(p);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_all_gpus_compute_utility),
            cmocka_unit_test(test_compute_only_leaves_out_utility),
            cmocka_unit_test(test_visible_by_index_and_uuid),
            cmocka_unit_test(test_visible_unknown_gpu_fails),
            cmocka_unit_test(test_void_is_empty_none_keeps_driver),
            cmocka_unit_test(test_capabilities_parse),
            cmocka_unit_test(test_graphics_adds_modeset),
            cmocka_unit_test(test_missing_libcuda_and_devices),
            cmocka_unit_test(test_no_ldcache_scans_library_dirs),
            cmocka_unit_test(test_json_lists_mounts),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}

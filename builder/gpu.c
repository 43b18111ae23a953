/* The host GPU in the sandbox: the injection plan from kernels/gpu.h turned into binds, for the
 * verifier and for RUN --device=nvidia.com/gpu=all / --gpus. */
#include "builder/gpu.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "builder/imgconfig.h"

void bld_gpu_release(struct bld_gpu *g)
{
        kv_plan_free(g->plan);
        free(g->binds);
        memset(g, 0, sizeof(*g));
}

int bld_gpu_plan(json_t *config, const char *visible_override, struct bld_gpu *g, struct cb_err *err)
{
        memset(g, 0, sizeof(*g));
        struct kv_plan_opts o;
        memset(&o, 0, sizeof(o));
        const char *root = getenv("CUBUILD_DRIVER_ROOT");
        o.driver_root = root && *root ? root : NULL;
        o.dev_root = getenv("CUBUILD_DEV_ROOT");
        o.proc_root = getenv("CUBUILD_PROC_ROOT");
        o.visible_devices = visible_override ? visible_override : bld_config_getenv(config, "NVIDIA_VISIBLE_DEVICES");
        o.capabilities = bld_config_getenv(config, "NVIDIA_DRIVER_CAPABILITIES");
        struct kv_err ke = { 0 };
        int r = kv_plan_new(&o, &g->plan, &ke);
        if (r < 0) {
                r = cb_failc(err, r, "GPU: %s", ke.msg ? ke.msg : "no plan");
                kv_err_release(&ke);
                return r;
        }
        g->nbinds = kv_plan_count(g->plan);
        g->binds = cb_xcalloc(g->nbinds + 1, sizeof(*g->binds));
        for (size_t i = 0; i < g->nbinds; i++) {
                const struct kv_mount *m = kv_plan_mount(g->plan, i);
                g->binds[i] = (struct bld_bind){
                        .src = m->kind == KV_MOUNT_DIR ? NULL : m->host_path,
                        .dest = m->container_path,
                        .readonly = m->kind != KV_MOUNT_DEV,
                        .is_dir = m->kind == KV_MOUNT_DIR,
                };
        }
        return 0;
}

/* LD_LIBRARY_PATH with the plan's library directory, as the toolkit's hook makes the loader see it. */
char *bld_gpu_ld_path(const struct bld_gpu *g, const char *current)
{
        const char *dir = kv_plan_lib_dir(g->plan);
        if (current && *current) {
                size_t n = strlen(dir);
                for (const char *p = current; p;) {
                        if (strncmp(p, dir, n) == 0 && (p[n] == ':' || p[n] == '\0'))
                                return cb_xstrdup(current);
                        p = strchr(p, ':');
                        if (p)
                                p++;
                }
                return cb_xasprintf("%s:%s", current, dir);
        }
        return cb_xstrdup(dir);
}

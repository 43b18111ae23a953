/* The host GPU as binds for the sandbox. Internal to builder/. */
#ifndef BLD_GPU_H
#define BLD_GPU_H

#include <jansson.h>

#include "builder/internal.h"
#include "kernels/gpu.h"

struct bld_gpu {
        struct kv_plan *plan;
        struct bld_bind *binds; /* point into plan */
        size_t nbinds;
};
/* Plans the injection for an image config (its NVIDIA_* variables, or visible_override).
 * -ENODEV: no GPU here. On success release with bld_gpu_release(). */
int bld_gpu_plan(json_t *config, const char *visible_override, struct bld_gpu *g, struct cb_err *err);
void bld_gpu_release(struct bld_gpu *g);
/* Owned: current LD_LIBRARY_PATH with the plan's library directory added. */
char *bld_gpu_ld_path(const struct bld_gpu *g, const char *current);

#endif

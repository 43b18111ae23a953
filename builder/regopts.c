/* Global registry options (--registry-mirror, --insecure-registry, the config file) as reg_opts,
 * shared by pull, push, login and the builder's FROM pulls. */
#include "builder/regopts.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *config_path(void)
{
        static char *path;
        const char *env = getenv("CUBUILD_CONFIG");
        if (env && *env)
                return env;
        if (!path) {
                const char *xdg = getenv("XDG_CONFIG_HOME");
                const char *home = getenv("HOME");
                char *p = xdg && *xdg ? cb_xasprintf("%s/cubuild/config.yaml", xdg)
                                      : cb_xasprintf("%s/.config/cubuild/config.yaml", home ? home : "/");
                if (access(p, R_OK) == 0) {
                        path = p;
                } else {
                        free(p);
                        path = cb_xstrdup(access("/etc/cubuild/config.yaml", R_OK) == 0 ? "/etc/cubuild/config.yaml"
                                                                                         : "");
                }
        }
        return *path ? path : NULL;
}

void bld_reg_opts(const struct bld_global *g, struct reg_opts *o)
{
        memset(o, 0, sizeof(*o));
        o->config_path = g->config ? g->config : config_path();
        o->mirrors = g->mirrors;
        o->nmirrors = g->nmirrors;
        o->insecure = g->insecure;
        o->ninsecure = g->ninsecure;
}

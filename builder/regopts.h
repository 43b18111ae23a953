/* Registry options from the global command line. Internal to builder/. */
#ifndef BLD_REGOPTS_H
#define BLD_REGOPTS_H

#include "builder/cli.h"
#include "registry/reg.h"

/* Fills o from g (borrowed strings) and the config file (CUBUILD_CONFIG, then
 * $XDG_CONFIG_HOME/cubuild/config.yaml, then /etc/cubuild/config.yaml). */
void bld_reg_opts(const struct bld_global *g, struct reg_opts *o);

#endif

/* Fuzz target: WWW-Authenticate values and the YAML registries config (both hostile text). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "registry/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *s = cb_xstrndup((const char *) data, size);
        struct reg_challenge ch;
        if (reg_challenge_parse(s, &ch) == 0) {
                if (ch.scheme == REG_AUTH_BEARER && !ch.realm)
                        abort();
                reg_challenge_release(&ch);
        }
        struct reg_config cfg = { 0 };
        struct cb_err err;
        cb_err_init(&err);
        if (reg_config_parse((const char *) data, size, "fuzz", &cfg, &err) == 0) {
                struct reg_endpoint *v;
                size_t n;
                if (reg_config_endpoints(&cfg, "docker.io", "library/ubuntu", true, &v, &n, &err) == 0)
                        reg_endpoints_free(v, n);
        }
        reg_config_release(&cfg);
        cb_err_release(&err);
        free(s);
        return 0;
}

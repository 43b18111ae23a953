/* Fuzz target: manifest and index JSON as registries send it, then platform choice on indexes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "registry/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct cb_err err;
        cb_err_init(&err);
        struct reg_manifest m;
        const char *types[] = { NULL, REG_MT_OCI_INDEX, REG_MT_DOCKER_MANIFEST };
        for (size_t t = 0; t < 3; t++) {
                if (reg_manifest_parse((const char *) data, size, types[t], &m, &err) == 0) {
                        for (size_t i = 0; i < m.nitems; i++)
                                if (!cb_digest_valid(m.items[i].digest))
                                        abort();
                        if (m.is_index) {
                                size_t i;
                                if (reg_index_choose(&m, "linux/amd64", &i, &err) == 0 && i >= m.nitems)
                                        abort();
                                (void) reg_index_choose(&m, "linux/arm64/v8", &i, &err);
                        } else if (!cb_digest_valid(m.config.digest)) {
                                abort();
                        }
                        reg_manifest_release(&m);
                }
                cb_err_reset(&err);
        }
        cb_err_release(&err);
        return 0;
}

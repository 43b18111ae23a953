/* The build cache: a key per instruction, chained from the stage's base, mapping to the layer the
 * instruction made and when. Internal to builder/. */
#ifndef BLD_CACHE_H
#define BLD_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/cb.h"
#include "layers/layer.h"

struct bld_cache_entry {
        struct layer_desc layer;
        int64_t created;
};

/* Looks key ("sha256:…") up in root_fd's cache/; true only when the entry parses and its layer blob
 * is still in the store. */
bool bld_cache_get(struct layer_store *s, const char *key, struct bld_cache_entry *ret);
int bld_cache_put(struct layer_store *s, const char *key, const struct bld_cache_entry *e, struct cb_err *err);

/* Owned: the layer digests cache records point to (for prune to keep). */
int bld_cache_layers(struct layer_store *s, char ***ret, size_t *ret_n, struct cb_err *err);
/* Removes every cache record. */
int bld_cache_clear(struct layer_store *s, struct cb_err *err);

#endif

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

/* ---- cache_remote.c: --cache-from / --cache-to (type=registry,ref=REF[,mode=min|max] or
 * type=local,src=DIR|dest=DIR). docs/bake.md, "The shared build cache". ---- */
#define BLD_CACHE_ARTIFACT_TYPE "application/vnd.cubuild.cache.v1+json"
#define BLD_CACHE_CONFIG_TYPE "application/vnd.cubuild.cache.config.v1+json"

struct bld_opts;
struct bld_ctx;
struct bld_stage;
struct df_instr;
struct bld_cache_remote;
/* Parses o->cache_to (failing on a bad spec) and imports the records of every o->cache_from (a cache
 * that cannot be read is a warning; messages go to pg, or stderr when NULL). *ret is NULL when neither
 * is given, else owned: bld_cache_remote_free(). o, s and pg are borrowed for the handle's life. */
struct bld_progress;
int bld_cache_remote_open(const struct bld_opts *o, struct layer_store *s, struct bld_progress *pg,
                          struct bld_cache_remote **ret, struct cb_err *err);
struct bld_cache_remote *bld_cache_remote_free(struct bld_cache_remote *rc);
/* An imported record for key (NULL rc: false). Its layer may not be in the store yet. */
bool bld_cache_remote_get(struct bld_cache_remote *rc, const char *key, struct bld_cache_entry *ret);
/* Remembers a step of this build for --cache-to (in a file, so that stages built in forked children by
 * --jobs count too). NULL rc does nothing. */
void bld_cache_remote_note(struct bld_cache_remote *rc, const char *key, const struct bld_cache_entry *e);
/* Fetches the layers among layers[0..n) that came from an imported record and are not in the store. */
int bld_cache_remote_ensure(struct bld_cache_remote *rc, const struct layer_desc *layers, size_t n,
                            struct cb_err *err);
/* Before a step that runs: the layers its rootfs needs (the stage's, and other stages' for --from). */
int bld_cache_remote_need(struct bld_ctx *b, struct bld_stage *st, const struct df_instr *in, struct cb_err *err);
/* Layers fetched so far from --cache-from sources. */
size_t bld_cache_remote_fetched(const struct bld_cache_remote *rc);
/* Writes every --cache-to: mode=min the records whose layers final_layers holds, max all of them. */
int bld_cache_remote_export(struct bld_cache_remote *rc, const struct layer_desc *final_layers, size_t nfinal,
                            struct cb_err *err);

#endif

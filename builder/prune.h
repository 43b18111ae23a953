/* `cubuild prune`: the blob/layer sweep of layers/gc.c plus a BuildKit-like garbage collection of the
 * build cache (cache/<key hex> records, and the layers only they keep) and of RUN cache mounts
 * (cache-mounts/<id hash>/). Last use is the entry's mtime: a cache hit touches its record, a RUN that
 * mounts a cache dir touches the dir; removal goes least recently used first. */
#ifndef BLD_PRUNE_H
#define BLD_PRUNE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/cb.h"
#include "layers/layer.h"

struct bld_prune_opts {
        bool cache;            /* remove every (eligible) build cache record and cache mount */
        bool has_keep_storage; /* only until the store's total is at most keep_storage (with or without cache) */
        uint64_t keep_storage;
        int64_t until_ns; /* > 0: only entries not used for this long are eligible */
        /* Borrowed: blob digests and diff_ids kept whatever the budget (the image a build just made,
         * tagged or not: its manifest, config and layers). */
        const char *const *keep;
        size_t nkeep;
};

struct bld_prune_stats {
        uint64_t records_removed, mounts_removed;
        struct layer_prune_stats layers;
        uint64_t total_before, total_after; /* bytes under blobs, layers, cache, cache-mounts (0 for a plain prune) */
};

/* Without cache nor has_keep_storage: the plain prune (the build cache's layers stay).
 * With has_keep_storage, the store ends at or below keep_storage (as bld_store_total() counts it)
 * whenever removing eligible cache entries can get it there: what each removal frees is counted as
 * the sweep will free it, and the total is measured again after the sweep. Tagged images, o->keep
 * and entries --filter spares are never removed. -EBUSY when another process holds the store. */
int bld_prune(struct layer_store *s, const struct bld_prune_opts *o, struct bld_prune_stats *ret, struct cb_err *err);
/* The configured store budget after a build: bld_prune() with has_keep_storage, keeping the image
 * manifest_digest (tagged or not) and what it references. */
int bld_prune_budget(struct layer_store *s, uint64_t budget, const char *manifest_digest, struct bld_prune_stats *ret,
                     struct cb_err *err);
/* Bytes allocated (as du counts them) under blobs/, layers/, cache/ and cache-mounts/. */
uint64_t bld_store_total(struct layer_store *s);

#endif

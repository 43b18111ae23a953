/* cubuild's own keys of the configuration file (the registry keys are read by registry/config.c from
 * the same file). Internal to builder/. docs/configuration.md describes them:
 *
 *   store:
 *     keep_storage: 20g   # after each build, the build cache is pruned (least recently used first)
 *                         # until the store is at most this size, as `cubuild prune --keep-storage` */
#ifndef BLD_SETTINGS_H
#define BLD_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/cb.h"

struct bld_settings {
        bool has_keep_storage;
        uint64_t keep_storage; /* bytes */
};

/* Parses the YAML text p/len (name: the file, for messages "name:line: ..."); keys other than
 * `store` are left to their readers. An empty document sets nothing. -EINVAL on a bad `store`
 * section. *ret is written only on success. */
int bld_settings_parse(const char *p, size_t len, const char *name, struct bld_settings *ret, struct cb_err *err);
/* The same from the file at path; path NULL: no file, nothing set. */
int bld_settings_load(const char *path, struct bld_settings *ret, struct cb_err *err);
/* A size as docker and BuildKit write it: "512m", "20g", "20GB", "1073741824"; -EINVAL otherwise. */
int bld_settings_parse_size(const char *s, uint64_t *ret);

#endif

/* cubuild bake: several images described once in a YAML build file (docs/bake.md).
 *
 * The file has the structure of docker buildx bake's JSON definition (variable, group, target,
 * inherits, contexts with target:NAME, args, tags, output, cache-from, cache-to, platforms, ...)
 * written as YAML, so a docker-bake.json reads unchanged (JSON is YAML); cubuild adds `verify`. A
 * compose file's services.*.build sections are read as targets, as bake reads them. Internal to
 * builder/. */
#ifndef BLD_BAKE_H
#define BLD_BAKE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/cb.h"

struct bld_bake; /* opaque */

/* Parses text (name: the file name errors start with, "cubuild.yaml:12: target.app.tags: ...").
 * Variables take their value from the environment when it has them, else their default. *ret owned:
 * bld_bake_free(). */
int bld_bake_parse(const char *name, const char *text, size_t len, struct bld_bake **ret, struct cb_err *err);
struct bld_bake *bld_bake_free(struct bld_bake *bk);

/* --set PATTERN.KEY=VALUE (PATTERN: a target name or a glob such as '*'); KEY: context, dockerfile,
 * target, tags, platforms (platform), output, cache-from, cache-to, push, no-cache, pull, network,
 * secret, verify, args.NAME, labels.NAME, contexts.NAME. A list key set more than once appends.
 * Applied by bld_bake_resolve(). */
int bld_bake_set(struct bld_bake *bk, const char *spec, struct cb_err *err);

/* Selects names (targets or groups; none: the group or target "default", or for a compose file every
 * service), resolves inherits and --set, adds the targets named by contexts (target:NAME) and the
 * targets whose tag a Dockerfile's FROM names, and orders them so that each comes after what it needs
 * (a cycle is an error). Dockerfiles are read relative to the working directory; one that cannot be
 * read adds no dependencies here (the build reports it). */
int bld_bake_resolve(struct bld_bake *bk, const char *const *names, size_t n, struct cb_err *err);

/* After resolve: targets in build order. Borrowed, valid until bld_bake_free(). */
size_t bld_bake_count(const struct bld_bake *bk);
const char *bld_bake_name(const struct bld_bake *bk, size_t i);
/* The resolved target (context, dockerfile, args, tags, ... as in --print). Borrowed. */
json_t *bld_bake_target(const struct bld_bake *bk, size_t i);
/* Indexes (into the build order) of the targets target i waits for. Borrowed. */
const size_t *bld_bake_deps(const struct bld_bake *bk, size_t i, size_t *ret_n);

/* The plan as buildx bake --print shows it: {"group": {"default": {"targets": [...]}}, "target":
 * {...}}. Owned: json_decref(). */
json_t *bld_bake_plan(const struct bld_bake *bk);

struct bld_global;
/* The `cubuild bake` command (cmd_bake.c). */
int bld_cmd_bake(const struct bld_global *g, int argc, char **argv);

#endif

/* One instruction at a time: metadata instructions change the config (an empty_layer history
 * entry), RUN and COPY/ADD run over an overlay of the stage's layers and commit its upper dir. */
#include "builder/steps.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builder/imgconfig.h"
#include "builder/internal.h"
#include "builder/cache.h"
#include "builder/gpu.h"
#include "builder/progress.h"
#include "builder/run.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static int expand(struct bld_ctx *b, struct bld_stage *st, const struct df_instr *in, const char *raw, char **ret,
                  struct cb_err *err)
{
        int r = df_expand_word(st->vars, raw, df_file_escape(b->df), ret, err);
        if (r < 0)
                cb_wrap(err, "%s:%u: %s", b->df_name, in->start_line, df_instr_kind_name(in->kind));
        return r;
}

static const char *flag_value(const struct df_instr *in, const char *name)
{
        for (size_t i = 0; i < in->nflags; i++)
                if (strcmp(in->flags[i].name, name) == 0)
                        return in->flags[i].value ? in->flags[i].value : "";
        return NULL;
}

static json_t *shell_of(json_t *cfg)
{
        json_t *sh = json_object_get(bld_config_section(cfg), "Shell");
        if (json_is_array(sh) && json_array_size(sh) > 0)
                return json_incref(sh);
        return json_pack("[s,s]", "/bin/sh", "-c");
}

/* Whether text is nothing but one heredoc marker: "<<EOF", "<<-EOF", "<<'EOF'", "<<\"EOF\"". */
static bool only_marker(const char *text, const char *delim)
{
        const char *p = text + strspn(text, " \t");
        if (strncmp(p, "<<", 2) != 0)
                return false;
        p += 2;
        if (*p == '-')
                p++;
        char q = (*p == '\'' || *p == '"') ? *p++ : 0;
        size_t n = strlen(delim);
        if (strncmp(p, delim, n) != 0)
                return false;
        p += n;
        if (q && *p++ != q)
                return false;
        return p[strspn(p, " \t")] == '\0';
}

/* RUN with heredocs, as BuildKit runs it: a command that is one heredoc alone runs the body as the
 * script (through the shell, or as a file when it starts with "#!"); any other command goes to the
 * shell with the heredoc bodies after it, and the shell feeds them where the markers say. */
static json_t *run_heredoc_json(json_t *c, const struct df_instr *in)
{
        const char *cmd = in->nargs > 0 ? in->args[0] : "";
        if (in->nheredocs == 1 && only_marker(cmd, in->heredocs[0].delim)) {
                const char *body = in->heredocs[0].body;
                if (strncmp(body, "#!", 2) != 0) {
                        json_array_append_new(c, json_string(body));
                        return c;
                }
                json_decref(c);
                /* a script with its own interpreter: written to a temporary file and run, as
                 * BuildKit mounts it as a file */
                return json_pack("[s,s,s,s,s]", "/bin/sh", "-c",
                                 "t=$(mktemp) && printf '%s' \"$1\" >\"$t\" && chmod 0700 \"$t\" && \"$t\"; "
                                 "r=$?; rm -f \"$t\"; exit $r",
                                 "sh", body);
        }
        struct cb_buf t;
        cb_buf_init(&t, CB_BUF_UNLIMITED);
        (void) cb_buf_adds(&t, cmd);
        (void) cb_buf_addc(&t, '\n');
        for (size_t i = 0; i < in->nheredocs; i++)
                (void) cb_buf_addf(&t, "%s%s\n", in->heredocs[i].body, in->heredocs[i].delim);
        json_array_append_new(c, json_stringn(t.p, t.len));
        cb_buf_release(&t);
        return c;
}

/* CMD/ENTRYPOINT/RUN argv: exec form as written, shell form wrapped in the stage's SHELL. */
static json_t *command_json(struct bld_stage *st, const struct df_instr *in)
{
        if (in->json)
                return bld_strv_to_json(in->args, in->nargs);
        json_t *a = shell_of(st->config);
        json_t *c = json_deep_copy(a);
        json_decref(a);
        if (in->kind == DF_INSTR_RUN && in->nheredocs > 0)
                return run_heredoc_json(c, in);
        if (in->nargs > 0)
                json_array_append_new(c, json_string(in->args[0]));
        return c;
}

static int step_env(struct bld_ctx *b, struct bld_stage *st, const struct df_instr *in, struct cb_err *err)
{
        for (size_t i = 0; i < in->nkvs; i++) {
                _cleanup_free_ char *k = NULL, *v = NULL;
                int r = expand(b, st, in, in->kvs[i].key, &k, err);
                if (r >= 0)
                        r = expand(b, st, in, in->kvs[i].value ? in->kvs[i].value : "", &v, err);
                if (r < 0)
                        return r;
                df_vars_set(st->vars, k, v);
                bld_config_setenv(st->config, k, v);
        }
        return 0;
}

static int step_arg(struct bld_ctx *b, struct bld_stage *st, const struct df_instr *in, struct cb_err *err)
{
        for (size_t i = 0; i < in->nkvs; i++) {
                const char *key = in->kvs[i].key;
                const char *over = df_vars_get(b->build_args, key);
                _cleanup_free_ char *v = NULL;
                if (over) {
                        v = cb_xstrdup(over);
                } else if (in->kvs[i].value) {
                        int r = expand(b, st, in, in->kvs[i].value, &v, err);
                        if (r < 0)
                                return r;
                } else if (df_vars_get(b->meta, key)) {
                        /* BuildKit: a bare ARG in a stage takes the global ARG's value */
                        v = cb_xstrdup(df_vars_get(b->meta, key));
                }
                if (!v)
                        continue;
                /* an ENV of the same name wins over the ARG (reference: "Using ARG variables") */
                if (!bld_config_getenv(st->config, key))
                        df_vars_set(st->vars, key, v);
                df_vars_set(st->args, key, v);
        }
        return 0;
}

static int step_label(struct bld_ctx *b, struct bld_stage *st, const struct df_instr *in, struct cb_err *err)
{
        json_t *labels = bld_config_object(st->config, "Labels");
        for (size_t i = 0; i < in->nkvs; i++) {
                _cleanup_free_ char *k = NULL, *v = NULL;
                int r = expand(b, st, in, in->kvs[i].key, &k, err);
                if (r >= 0)
                        r = expand(b, st, in, in->kvs[i].value ? in->kvs[i].value : "", &v, err);
                if (r < 0)
                        return r;
                json_object_set_new(labels, k, json_string(v));
        }
        return 0;
}

static int step_workdir(struct bld_ctx *b, struct bld_stage *st, const struct df_instr *in, struct cb_err *err)
{
        if (in->nargs < 1)
                return cb_failc(err, -EINVAL, "%s:%u: WORKDIR needs a path", b->df_name, in->start_line);
        _cleanup_free_ char *p = NULL;
        int r = expand(b, st, in, in->args[0], &p, err);
        if (r < 0)
                return r;
        json_t *c = bld_config_section(st->config);
        const char *cur = json_string_value(json_object_get(c, "WorkingDir"));
        _cleanup_free_ char *full = NULL;
        if (p[0] == '/')
                full = cb_xstrdup(p);
        else
                full = cb_xasprintf("%s/%s", cur && *cur ? cur : "", p);
        size_t n = strlen(full);
        while (n > 1 && full[n - 1] == '/')
                full[--n] = '\0';
        json_object_set_new(c, "WorkingDir", json_string(full));
        return 0;
}

static int step_user(struct bld_ctx *b, struct bld_stage *st, const struct df_instr *in, struct cb_err *err)
{
        if (in->nargs < 1)
                return cb_failc(err, -EINVAL, "%s:%u: USER needs a user name or uid", b->df_name, in->start_line);
        _cleanup_free_ char *u = NULL;
        int r = expand(b, st, in, in->args[0], &u, err);
        if (r < 0)
                return r;
        json_object_set_new(bld_config_section(st->config), "User", json_string(u));
        return 0;
}

static int step_expose(struct bld_ctx *b, struct bld_stage *st, const struct df_instr *in, struct cb_err *err)
{
        json_t *ports = bld_config_object(st->config, "ExposedPorts");
        for (size_t i = 0; i < in->nargs; i++) {
                _cleanup_free_ char *p = NULL;
                int r = expand(b, st, in, in->args[i], &p, err);
                if (r < 0)
                        return r;
                /* Docker (nat.ParsePortSpecs) writes a range 8000-8002[/proto] as one key per port */
                const char *slash = strchr(p, '/');
                const char *proto = slash ? slash + 1 : "tcp";
                size_t plen = slash ? (size_t) (slash - p) : strlen(p);
                const char *dash = memchr(p, '-', plen);
                uint64_t lo, hi;
                if (dash && cb_parse_u64((struct cb_str){ p, (size_t) (dash - p) }, 65535, &lo) == 0 &&
                    cb_parse_u64((struct cb_str){ dash + 1, plen - (size_t) (dash - p) - 1 }, 65535, &hi) == 0 &&
                    lo <= hi) {
                        for (uint64_t port = lo; port <= hi; port++) {
                                _cleanup_free_ char *key = cb_xasprintf("%llu/%s", (unsigned long long) port, proto);
                                json_object_set_new(ports, key, json_object());
                        }
                        continue;
                }
                _cleanup_free_ char *key = slash ? cb_xstrdup(p) : cb_xasprintf("%s/tcp", p);
                json_object_set_new(ports, key, json_object());
        }
        return 0;
}

static int step_volume(struct bld_ctx *b, struct bld_stage *st, const struct df_instr *in, struct cb_err *err)
{
        json_t *vols = bld_config_object(st->config, "Volumes");
        for (size_t i = 0; i < in->nargs; i++) {
                _cleanup_free_ char *p = NULL;
                int r = in->json ? (p = cb_xstrdup(in->args[i]), 0) : expand(b, st, in, in->args[i], &p, err);
                if (r < 0)
                        return r;
                json_object_set_new(vols, p, json_object());
        }
        return 0;
}

static int step_run(struct bld_ctx *b, struct bld_stage *st, const struct df_instr *in, struct cb_err *err);
static int step_copy(struct bld_ctx *b, struct bld_stage *st, const struct df_instr *in, struct cb_err *err);
static int step_workdir_mkdir(struct bld_ctx *b, struct bld_stage *st, const struct df_instr *in,
                              struct cb_err *err);

/* key' = H(key, instruction, the variables in scope, extra): the variables carry build args, so a
 * changed --build-arg that the stage declares misses, one it does not declare hits. */
static void next_key(struct bld_ctx *b, struct bld_stage *st, const struct df_instr *in, const char *extra)
{
        struct cb_sha256 *h = cb_sha256_new();
        cb_sha256_update(h, st->key, strlen(st->key) + 1);
        cb_sha256_update(h, in->text, strlen(in->text) + 1);
        /* heredoc bodies are not in the text: a changed script must miss */
        for (size_t i = 0; i < in->nheredocs; i++) {
                cb_sha256_update(h, in->heredocs[i].delim, strlen(in->heredocs[i].delim) + 1);
                cb_sha256_update(h, in->heredocs[i].body, strlen(in->heredocs[i].body) + 1);
        }
        for (size_t i = 0; i < df_vars_count(st->vars); i++) {
                const char *k = df_vars_key(st->vars, i), *v = df_vars_value(st->vars, i);
                cb_sha256_update(h, k, strlen(k) + 1);
                cb_sha256_update(h, v, strlen(v) + 1);
        }
        if (in->kind == DF_INSTR_RUN && b->opts->network && strcmp(b->opts->network, "none") == 0)
                cb_sha256_update(h, "network=none", 13);
        /* SOURCE_DATE_EPOCH clamps the layer's mtimes: a layer made without it (or with another) is
         * another layer, and reusing it would make the image depend on the store's history */
        if (b->opts->source_date_epoch >= 0) {
                char sde[40];
                (void) snprintf(sde, sizeof(sde), "source-date-epoch=%lld", (long long) b->opts->source_date_epoch);
                cb_sha256_update(h, sde, strlen(sde) + 1);
        }
        if (extra)
                cb_sha256_update(h, extra, strlen(extra) + 1);
        cb_sha256_final(h, st->key);
        cb_sha256_free(h);
}

/* --no-cache, or --no-cache-filter naming this stage (by name or index): run, don't look up. */
static bool cache_off(const struct bld_ctx *b, const struct bld_stage *st)
{
        if (b->opts->no_cache)
                return true;
        size_t idx = (size_t) (st - b->stages);
        for (size_t i = 0; i < b->opts->nno_cache_filter; i++) {
                const char *f = b->opts->no_cache_filter[i];
                uint64_t n;
                if ((st->name && strcasecmp(st->name, f) == 0) ||
                    (idx < b->nstages && cb_parse_u64(cb_str_c(f), UINT32_MAX, &n) == 0 && n == idx))
                        return true;
        }
        return false;
}

/* After a layer step, the chain continues from what the step made: a step that ran again and made
 * other content (a --no-cache-filter stage, a RUN that writes the time) changes every later key, so
 * nothing built on its old result is reused. */
static void key_add_layer(struct bld_stage *st)
{
        struct cb_sha256 *h = cb_sha256_new();
        cb_sha256_update(h, st->key, strlen(st->key) + 1);
        const char *d = st->layers[st->nlayers - 1].diff_id;
        cb_sha256_update(h, d, strlen(d) + 1);
        cb_sha256_final(h, st->key);
        cb_sha256_free(h);
}

/* A layer step: the cache answers first, unless --no-cache or --no-cache-filter. */
static int layer_step(struct bld_ctx *b, struct bld_stage *st, const struct df_instr *in, struct cb_err *err)
{
        char inputs[CB_DIGEST_STR_LEN] = "";
        if (in->kind == DF_INSTR_COPY || in->kind == DF_INSTR_ADD) {
                struct cb_sha256 *h = cb_sha256_new();
                int r = bld_copy(b, st, in, NULL, h, NULL, NULL, err);
                cb_sha256_final(h, inputs);
                cb_sha256_free(h);
                if (r < 0)
                        return r;
        } else if (in->kind == DF_INSTR_RUN) {
                /* what RUN --mount=type=bind reads: the context files or the --from stage */
                struct cb_sha256 *h = cb_sha256_new();
                int r = bld_run_inputs(b, st, in, h, err);
                if (r > 0)
                        cb_sha256_final(h, inputs);
                cb_sha256_free(h);
                if (r < 0)
                        return r;
        }
        next_key(b, st, in, inputs);
        struct bld_cache_entry ce;
        if (!cache_off(b, st) &&
            (bld_cache_get(b->store, st->key, &ce) || bld_cache_remote_get(b->remote, st->key, &ce))) {
                bld_cache_remote_note(b->remote, st->key, &ce);
                /* last use, for `cubuild prune --keep-storage`'s LRU order (no record: a remote hit) */
                _cleanup_free_ char *rec = cb_xasprintf("cache/%s", st->key + 7);
                (void) utimensat(layer_store_root_fd(b->store), rec, NULL, 0);
                bld_stage_add_layer(st, &ce.layer);
                st->last_time = b->opts->source_date_epoch >= 0 ? b->opts->source_date_epoch : ce.created;
                bld_config_add_history(st->config, st->last_time, in->text, false, NULL);
                b->steps_cached++;
                key_add_layer(st);
                return 0;
        }
        st->last_time = bld_ctx_time(b);
        int r = bld_cache_remote_need(b, st, in, err);
        if (r >= 0 && in->kind == DF_INSTR_WORKDIR)
                r = step_workdir_mkdir(b, st, in, err);
        else if (r >= 0)
                r = in->kind == DF_INSTR_RUN ? step_run(b, st, in, err) : step_copy(b, st, in, err);
        if (r < 0)
                return r;
        b->steps_run++;
        ce.layer = st->layers[st->nlayers - 1];
        ce.created = st->last_time;
        bld_cache_remote_note(b->remote, st->key, &ce);
        /* a cache record that cannot be written costs the next build time, not this build */
        struct cb_err e2;
        cb_err_init(&e2);
        if (bld_cache_put(b->store, st->key, &ce, &e2) < 0)
                bld_progress_info(b->pg, "warning: build cache: %s", cb_err_msg(&e2));
        cb_err_release(&e2);
        key_add_layer(st);
        return 0;
}

int bld_step(struct bld_ctx *b, struct bld_stage *st, const struct df_instr *in, struct cb_err *err)
{
        json_t *c = bld_config_section(st->config);
        int r = 0;
        switch (in->kind) {
        case DF_INSTR_RUN:
        case DF_INSTR_COPY:
        case DF_INSTR_ADD:
                return layer_step(b, st, in, err);
        case DF_INSTR_ENV:
                r = step_env(b, st, in, err);
                break;
        case DF_INSTR_ARG:
                r = step_arg(b, st, in, err);
                break;
        case DF_INSTR_LABEL:
                r = step_label(b, st, in, err);
                break;
        case DF_INSTR_MAINTAINER:
                if (in->nargs > 0)
                        json_object_set_new(st->config, "author", json_string(in->args[0]));
                break;
        case DF_INSTR_WORKDIR: {
                r = step_workdir(b, st, in, err);
                /* BuildKit (dispatchWorkdir): a WORKDIR other than "/" is a mkdir -p that commits a
                 * layer (empty when the directory exists) and a history entry with that layer */
                const char *wd = json_string_value(json_object_get(c, "WorkingDir"));
                if (r >= 0 && wd && strcmp(wd, "/") != 0)
                        return layer_step(b, st, in, err);
                break;
        }
        case DF_INSTR_USER:
                r = step_user(b, st, in, err);
                break;
        case DF_INSTR_EXPOSE:
                r = step_expose(b, st, in, err);
                break;
        case DF_INSTR_VOLUME:
                r = step_volume(b, st, in, err);
                break;
        case DF_INSTR_CMD:
                json_object_set_new(c, "Cmd", command_json(st, in));
                break;
        case DF_INSTR_ENTRYPOINT:
                json_object_set_new(c, "Entrypoint", command_json(st, in));
                /* reference: an ENTRYPOINT resets a CMD inherited from the base */
                if (!st->cmd_set_here)
                        json_object_del(c, "Cmd");
                break;
        case DF_INSTR_SHELL:
                json_object_set_new(c, "Shell", bld_strv_to_json(in->args, in->nargs));
                break;
        case DF_INSTR_STOPSIGNAL:
                if (in->nargs > 0) {
                        /* the reference lists STOPSIGNAL among the instructions that expand variables */
                        _cleanup_free_ char *sig = NULL;
                        r = expand(b, st, in, in->args[0], &sig, err);
                        if (r >= 0)
                                json_object_set_new(c, "StopSignal", json_string(sig));
                }
                break;
        case DF_INSTR_HEALTHCHECK:
                r = bld_step_healthcheck(b, st, in, err);
                break;
        case DF_INSTR_ONBUILD: {
                json_t *ob = json_object_get(c, "OnBuild");
                if (!json_is_array(ob)) {
                        ob = json_array();
                        json_object_set_new(c, "OnBuild", ob);
                }
                const char *t = in->onbuild ? in->onbuild->text : in->text;
                json_array_append_new(ob, json_string(t));
                break;
        }
        case DF_INSTR_FROM:
                return cb_failc(err, -EINVAL, "%s:%u: FROM inside a stage", b->df_name, in->start_line);
        }
        if (in->kind == DF_INSTR_CMD)
                st->cmd_set_here = true;
        if (r < 0)
                return r;
        next_key(b, st, in, NULL);
        bld_config_add_history(st->config, st->last_time, in->text, true, NULL);
        return 0;
}

struct layer_bytes {
        struct bld_progress *pg;
        size_t step;
};

/* the layer being written, as the step's byte counter ("layer 1.2 GiB 310 MiB/s") */
static void on_layer_bytes(void *ud, uint64_t tar_bytes)
{
        const struct layer_bytes *lb = ud;
        bld_progress_bytes(lb->pg, lb->step, "layer", NULL, tar_bytes, 0);
}

/* How the steps' layers are committed: uncompressed, unless --compression, with the step's byte counter. */
static void step_commit_opts(struct bld_ctx *b, struct layer_commit_opts *co, struct layer_bytes *lb)
{
        layer_commit_opts_init(co);
        /* layers are stored uncompressed, as the tar they are: writing them costs no more than the disk,
         * and pushes and exports compress each layer once (bld_output_compression()); an explicit
         * --compression commits in that compression right away */
        co->compression = b->opts->compression ? bld_compression_of(b->opts->compression) : LAYER_UNCOMPRESSED;
        co->source_date_epoch = b->opts->source_date_epoch;
        co->overlay_whiteouts = true;
        *lb = (struct layer_bytes){ .pg = b->pg, .step = b->step };
        co->progress = on_layer_bytes;
        co->progress_ud = lb;
}

/* The step's new layer becomes the stage's next one, with its history entry. */
static void add_layer(struct bld_ctx *b, struct bld_stage *st, const struct df_instr *in, const struct layer_desc *l)
{
        bld_stage_add_layer(st, l);
        bld_config_add_history(st->config, st->last_time, in->text, false, NULL);
}

/* Layers a step's upper directory makes above this size keep that directory as their only copy until
 * their blob is needed (layer_commit_adopt()): CUBUILD_DIR_LAYER_MIN (a size: 0, 512m, 2g), 64 MiB by default. */
static uint64_t dir_layer_min(void)
{
        const char *v = getenv("CUBUILD_DIR_LAYER_MIN");
        uint64_t n;
        if (v && *v && cb_parse_size(cb_str_c(v), &n) == 0)
                return n;
        return 64u << 20;
}

/* Upper dir → layer (the upper dir kept as its unpacked form) → the stage's next layer and a history
 * entry. */
static int commit_upper(struct bld_ctx *b, struct bld_stage *st, const struct df_instr *in, struct bld_rootfs *fs,
                        struct cb_err *err)
{
        struct layer_commit_opts co;
        struct layer_bytes lb;
        step_commit_opts(b, &co, &lb);
        struct layer_desc l;
        /* the upper dir already is the layer in lowerdir form: it stays as the unpacked layer instead of
         * being removed now and extracted from the blob again for the next step */
        int r = layer_commit_adopt(b->store, AT_FDCWD, fs->upper, &co, dir_layer_min(), &l, err);
        if (r < 0) {
                cb_wrap(err, "%s:%u: commit the layer", b->df_name, in->start_line);
                return r;
        }
        add_layer(b, st, in, &l);
        return 0;
}

/* The stage's layers as overlay lower directories, top-most first. */
static int mount_stage(struct bld_ctx *b, struct bld_stage *st, struct bld_rootfs *fs, struct cb_err *err)
{
        return bld_rootfs_mount_layers(fs, b->store, b->tmp_dir, st->layers, st->nlayers, err);
}

static char **run_env(struct bld_stage *st, const struct bld_gpu *gpu, size_t *ret_n)
{
        json_t *env = json_object_get(bld_config_section(st->config), "Env");
        size_t n = json_array_size(env), k = 0;
        size_t na = df_vars_count(st->args);
        char **v = cb_xcalloc(n + na + 3, sizeof(char *));
        bool have_path = false;
        size_t i;
        json_t *e;
        json_array_foreach(env, i, e)
        {
                const char *s = json_string_value(e);
                if (!s)
                        continue;
                if (strncmp(s, "PATH=", 5) == 0)
                        have_path = true;
                if (gpu && strncmp(s, "LD_LIBRARY_PATH=", 16) == 0) {
                        _cleanup_free_ char *ld = bld_gpu_ld_path(gpu, s + 16);
                        v[k++] = cb_xasprintf("LD_LIBRARY_PATH=%s", ld);
                        continue;
                }
                v[k++] = cb_xstrdup(s);
        }
        if (gpu && !bld_config_getenv(st->config, "LD_LIBRARY_PATH")) {
                _cleanup_free_ char *ld = bld_gpu_ld_path(gpu, NULL);
                v[k++] = cb_xasprintf("LD_LIBRARY_PATH=%s", ld);
        }
        for (i = 0; i < na; i++) {
                const char *key = df_vars_key(st->args, i);
                if (bld_config_getenv(st->config, key))
                        continue; /* ENV wins */
                v[k++] = cb_xasprintf("%s=%s", key, df_vars_value(st->args, i));
        }
        if (!have_path)
                v[k++] = cb_xstrdup("PATH=" DEFAULT_PATH);
        v[k] = NULL;
        *ret_n = k;
        return v;
}

static void strv_free(char **v)
{
        if (!v)
                return;
        for (char **p = v; *p; p++)
                free(*p);
        free(v);
}

/* Writes resolv.conf, hosts and hostname for the sandbox: the host's resolver (host network), a
 * hosts file naming the sandbox. They are bind-mounted, so they never reach a layer. */
static int make_etc(const char *dir, const char *hostname, bool network_none, const struct bld_opts *o,
                    struct cb_err *err)
{
        struct cb_buf b;
        int r;
        cb_buf_init(&b, 1u << 20);
        if (!network_none)
                (void) cb_read_file(AT_FDCWD, "/etc/resolv.conf", 1u << 20, &b, NULL);
        _cleanup_free_ char *p1 = cb_xasprintf("%s/resolv.conf", dir);
        r = cb_write_file_atomic(AT_FDCWD, p1, b.p, b.len, 0644, err);
        cb_buf_reset(&b);
        (void) cb_buf_addf(&b, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t%s\n",
                           hostname);
        /* --add-host HOST:IP (the IP may hold colons: IPv6) */
        for (size_t i = 0; i < o->nadd_hosts; i++) {
                const char *h = o->add_hosts[i];
                const char *colon = strchr(h, ':');
                (void) cb_buf_addf(&b, "%s\t%.*s\n", colon + 1, (int) (colon - h), h);
        }
        _cleanup_free_ char *p2 = cb_xasprintf("%s/hosts", dir);
        if (r >= 0)
                r = cb_write_file_atomic(AT_FDCWD, p2, b.p, b.len, 0644, err);
        cb_buf_reset(&b);
        (void) cb_buf_addf(&b, "%s\n", hostname);
        _cleanup_free_ char *p3 = cb_xasprintf("%s/hostname", dir);
        if (r >= 0)
                r = cb_write_file_atomic(AT_FDCWD, p3, b.p, b.len, 0644, err);
        cb_buf_release(&b);
        return r;
}

/* --on-error shell: /bin/sh in the failed step's sandbox (its rootfs as the step left it, its
 * environment, user and working directory), on our terminal, as buildx's debug mode does. */
static void debug_shell(struct bld_ctx *b, const struct bld_run_spec *failed)
{
        struct bld_run_spec sh = *failed;
        char *argv[] = { (char *) "/bin/sh", NULL };
        sh.argv = argv;
        sh.interactive = true;
        sh.timeout_ms = 0;
        sh.on_output = NULL;
        sh.on_tick = NULL;
        bld_progress_info(b->pg, "--on-error shell: /bin/sh in the failed step's sandbox; exit it to end the build");
        bld_progress_suspend(b->pg);
        int status = 0;
        struct cb_err e2;
        cb_err_init(&e2);
        if (bld_sandbox_run(&sh, &status, &e2) < 0)
                bld_progress_info(b->pg, "--on-error shell: %s", cb_err_msg(&e2));
        cb_err_release(&e2);
}

/* Runs the command over the mounted rootfs; the caller owns fs and rc. */
static int run_in_rootfs(struct bld_ctx *b, struct bld_stage *st, const struct df_instr *in, struct bld_rootfs *fs,
                         struct bld_run_ctx *rc, struct cb_err *err)
{
        int r = bld_run_prepare(b, st, in, fs, rc, err);
        if (r < 0)
                return r;
        const char *net = flag_value(in, "network");
        bool net_none = (net && strcmp(net, "none") == 0) ||
                        (!net && b->opts->network && strcmp(b->opts->network, "none") == 0);
        _cleanup_free_ char *etc = cb_xasprintf("%s/etc", fs->dir);
        if (mkdir(etc, 0755) < 0)
                return cb_fail(err, errno, "mkdir '%s'", etc);
        r = make_etc(etc, "cubuild", net_none, b->opts, err);
        if (r < 0)
                return r;
        uid_t uid = 0;
        gid_t gid = 0;
        json_t *c = bld_config_section(st->config);
        const char *user = json_string_value(json_object_get(c, "User"));
        if (user && *user) {
                r = bld_resolve_user(fs->merged, user, &uid, &gid, err);
                if (r < 0) {
                        cb_wrap(err, "%s:%u: RUN: USER", b->df_name, in->start_line);
                        return r;
                }
        }
        /* GPUs: --gpus for every RUN, or RUN --device=nvidia.com/gpu=X for one */
        const char *want = rc->gpu_devices;
        if (!want && b->opts->gpus && strcmp(b->opts->gpus, "none") != 0)
                want = b->opts->gpus;
        struct bld_gpu gpu = { 0 };
        _cleanup_free_ char *visible = NULL;
        if (want) {
                uint64_t count;
                if (strcmp(want, "all") != 0 && cb_parse_u64(cb_str_c(want), 64, &count) == 0 && !rc->gpu_devices) {
                        struct cb_buf l;
                        cb_buf_init(&l, 4096);
                        for (uint64_t i = 0; i < count; i++)
                                (void) cb_buf_addf(&l, "%s%llu", i ? "," : "", (unsigned long long) i);
                        visible = cb_buf_take(&l, NULL);
                } else {
                        visible = cb_xstrdup(want);
                }
                r = bld_gpu_plan(st->config, visible, &gpu, err);
                if (r < 0) {
                        cb_wrap(err, "%s:%u: RUN with GPUs", b->df_name, in->start_line);
                        return r;
                }
                for (size_t i = 0; i < gpu.nbinds; i++)
                        bld_run_add_bind(rc, &gpu.binds[i]);
        }
        json_t *argv_json = command_json(st, in);
        size_t argc = json_array_size(argv_json);
        char **argv = cb_xcalloc(argc + 1, sizeof(char *));
        for (size_t i = 0; i < argc; i++)
                argv[i] = cb_xstrdup(json_string_value(json_array_get(argv_json, i)));
        json_decref(argv_json);
        size_t nenv;
        char **envp = run_env(st, want ? &gpu : NULL, &nenv);
        struct bld_run_spec spec = {
                .rootfs = fs->merged,
                .argv = argv,
                .envp = envp,
                .cwd = json_string_value(json_object_get(c, "WorkingDir")),
                .uid = uid,
                .gid = gid,
                .network_none = net_none,
                .hostname = "cubuild",
                .etc_dir = etc,
                .binds = rc->binds,
                .nbinds = rc->nbinds,
                .shm_size = b->opts->shm_size,
                .ulimits = b->opts->ulimits,
                .nulimits = b->opts->nulimits,
                .timeout_ms = b->opts->run_timeout_ms,
                .on_output = bld_run_on_output,
                .on_tick = bld_run_on_tick,
                .ud = rc,
        };
        rc->targets = cb_xcalloc(rc->nbinds + CB_ARRAY_SIZE(bld_sandbox_etc_files), sizeof(char *));
        for (size_t i = 0; i < CB_ARRAY_SIZE(bld_sandbox_etc_files); i++)
                rc->targets[rc->ntargets++] = cb_xstrdup(bld_sandbox_etc_files[i]);
        for (size_t i = 0; i < rc->nbinds; i++)
                rc->targets[rc->ntargets++] = cb_xstrdup(rc->binds[i].dest);
        int status = 0;
        r = bld_run_log_open(rc, fs->dir, err);
        if (r >= 0)
                r = bld_sandbox_run(&spec, &status, err);
        if ((r == -ETIMEDOUT || (r >= 0 && status != 0)) && b->opts->on_error_shell)
                debug_shell(b, &spec);
        strv_free(argv);
        strv_free(envp);
        bld_gpu_release(&gpu);
        if (r < 0 && r != -ETIMEDOUT) {
                cb_wrap(err, "%s:%u: RUN", b->df_name, in->start_line);
                return r;
        }
        if (r == -ETIMEDOUT || status != 0) {
                _cleanup_free_ char *tail = bld_run_tail(rc, 12);
                _cleanup_free_ char *why = r == -ETIMEDOUT ? cb_xstrdup(cb_err_msg(err))
                                                           : cb_xasprintf("exit status %d", status);
                _cleanup_free_ char *log = NULL;
                struct cb_err e2;
                cb_err_init(&e2);
                if (bld_run_log_keep(rc, layer_store_root(b->store), b->build_id, &log, &e2) < 0)
                        log = cb_xasprintf("not kept: %s", cb_err_msg(&e2));
                cb_err_release(&e2);
                cb_err_reset(err);
                return cb_failc(err, r == -ETIMEDOUT ? -ETIMEDOUT : -ECHILD, "%s:%u: RUN %s: %s%s%s\nfull log: %s",
                                b->df_name, in->start_line, in->nargs ? in->args[0] : "", why, *tail ? "\n" : "",
                                tail, log);
        }
        return 0;
}

static int step_run(struct bld_ctx *b, struct bld_stage *st, const struct df_instr *in, struct cb_err *err)
{
        struct bld_rootfs fs = { 0 };
        struct bld_run_ctx rc;
        bld_run_ctx_init(&rc, b->opts->quiet);
        rc.pg = b->pg;
        rc.step = b->step;
        int r = mount_stage(b, st, &fs, err);
        if (r >= 0)
                r = run_in_rootfs(b, st, in, &fs, &rc, err);
        if (r >= 0)
                r = bld_rootfs_unmount(&fs, err);
        if (r >= 0) {
                _cleanup_close_ int ufd = open(fs.upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (ufd >= 0)
                        bld_sandbox_trim_upper(ufd, rc.targets, rc.ntargets);
        }
        if (r >= 0)
                r = commit_upper(b, st, in, &fs, err);
        bld_run_ctx_release(&rc);
        bld_rootfs_release(&fs);
        return r;
}

/* The owner BuildKit gives the directories WORKDIR creates (dispatchWorkdir's llb.WithUser, read by
 * the file op's readUser): a user name from the image's /etc/passwd with its primary group, a bare
 * uid with the same number as gid, then the group part; a name the image lacks counts as 0 there,
 * not as an error. */
static void workdir_owner(const char *rootfs, const char *user, uid_t *ret_uid, gid_t *ret_gid)
{
        uid_t uid = 0, u0;
        gid_t gid = 0, g0;
        const char *colon = strchr(user, ':');
        _cleanup_free_ char *name = colon ? cb_xstrndup(user, (size_t) (colon - user)) : cb_xstrdup(user);
        uint64_t n;
        struct cb_err e;
        cb_err_init(&e);
        if (cb_parse_u64(cb_str_c(name), UINT32_MAX, &n) == 0) {
                uid = (uid_t) n;
                gid = (gid_t) n;
        } else if (*name && bld_resolve_user(rootfs, name, &u0, &g0, &e) == 0) {
                uid = u0;
                gid = g0;
        }
        if (colon && colon[1]) {
                _cleanup_free_ char *g = cb_xasprintf("0:%s", colon + 1);
                if (bld_resolve_user(rootfs, g, &u0, &g0, &e) == 0)
                        gid = g0;
        }
        cb_err_release(&e);
        *ret_uid = uid;
        *ret_gid = gid;
}

/* WORKDIR's layer: the directory and its missing parents, owned by the USER in effect, as the
 * reference says ("If the WORKDIR doesn't exist, it will be created") and BuildKit does. */
static int step_workdir_mkdir(struct bld_ctx *b, struct bld_stage *st, const struct df_instr *in,
                              struct cb_err *err)
{
        struct bld_rootfs fs = { 0 };
        int r = mount_stage(b, st, &fs, err);
        if (r >= 0) {
                json_t *c = bld_config_section(st->config);
                const char *wd = json_string_value(json_object_get(c, "WorkingDir"));
                const char *user = json_string_value(json_object_get(c, "User"));
                uid_t uid;
                gid_t gid;
                workdir_owner(fs.merged, user ? user : "", &uid, &gid);
                int root = open(fs.merged, O_PATH | O_DIRECTORY | O_CLOEXEC);
                if (root < 0) {
                        r = cb_fail(err, errno, "open '%s'", fs.merged);
                } else {
                        r = bld_mkdirs_in_root(root, wd ? wd : "/", uid, gid, err);
                        (void) close(root);
                }
                if (r < 0)
                        cb_wrap(err, "%s:%u: WORKDIR", b->df_name, in->start_line);
        }
        if (r >= 0)
                r = bld_rootfs_unmount(&fs, err);
        if (r >= 0)
                r = commit_upper(b, st, in, &fs, err);
        bld_rootfs_release(&fs);
        return r;
}

static int step_copy(struct bld_ctx *b, struct bld_stage *st, const struct df_instr *in, struct cb_err *err)
{
        struct bld_rootfs fs = { 0 };
        struct layer_commit_opts co;
        struct layer_bytes lb;
        struct layer_desc l;
        step_commit_opts(b, &co, &lb);
        int r = mount_stage(b, st, &fs, err);
        int copied = r >= 0 ? bld_copy(b, st, in, fs.merged, NULL, &co, &l, err) : r;
        if (copied < 0)
                r = copied;
        if (r >= 0)
                r = bld_rootfs_unmount(&fs, err);
        if (r >= 0 && copied == 1)
                add_layer(b, st, in, &l); /* written from the sources: unpacked when a step mounts it */
        else if (r >= 0)
                r = commit_upper(b, st, in, &fs, err);
        bld_rootfs_release(&fs);
        return r;
}

/* The build: Dockerfile → stages → per instruction a layer or a config change → image in the store. */
#include "builder/bld.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "builder/cache.h"
#include "builder/audit.h"
#include "builder/context.h"
#include "builder/copy_job.h"
#include "builder/filememo.h"
#include "builder/imgconfig.h"
#include "builder/internal.h"
#include "builder/progress.h"
#include "builder/prune.h"
#include "builder/settings.h"
#include "builder/steps.h"
#include "builder/verify.h"
#include "layers/layer.h"
#include "parser/df.h"
#include "registry/reg.h"

#define DOCKERFILE_MAX (16u << 20)

void bld_opts_init(struct bld_opts *o)
{
        memset(o, 0, sizeof(*o));
        o->source_date_epoch = -1;
        o->jobs = 1;
}

char *bld_ref_normalize(const char *name, struct cb_err *err)
{
        struct reg_ref ref;
        if (reg_ref_parse(name, &ref, err) < 0)
                return NULL;
        char *s = reg_ref_string(&ref);
        reg_ref_release(&ref);
        return s;
}

static void stage_release(struct bld_stage *st)
{
        free(st->name);
        if (st->config)
                json_decref(st->config);
        free(st->layers);
        df_vars_free(st->vars);
        df_vars_free(st->args);
        free(st->base_ref);
        memset(st, 0, sizeof(*st));
}

void bld_stage_add_layer(struct bld_stage *st, const struct layer_desc *l)
{
        if (st->nlayers == st->cap) {
                st->cap = st->cap ? st->cap * 2 : 16;
                st->layers = cb_xrealloc(st->layers, st->cap * sizeof(*st->layers));
        }
        st->layers[st->nlayers++] = *l;
}

static int64_t build_time(const struct bld_ctx *b)
{
        return b->opts->source_date_epoch >= 0 ? b->opts->source_date_epoch : (int64_t) time(NULL);
}

int64_t bld_ctx_time(const struct bld_ctx *b)
{
        return build_time(b);
}

/* The build machine's platform in OCI terms: cubuild runs steps natively, without emulation, so it
 * is the only platform a FROM may ask for. */
static const char *host_arch(void)
{
#if defined(__x86_64__)
        return "amd64";
#elif defined(__aarch64__)
        return "arm64";
#else
        return "unknown";
#endif
}

/* FROM --platform=P (after expansion, "$BUILDPLATFORM" included): the host's, or a clear error. */
static int check_platform(struct bld_ctx *b, const struct df_stage *ds, struct cb_err *err)
{
        if (!ds->platform)
                return 0;
        _cleanup_free_ char *p = NULL;
        int r = df_expand_word(b->meta, ds->platform, df_file_escape(b->df), &p, err);
        if (r < 0) {
                cb_wrap(err, "%s:%u: FROM --platform", b->df_name, ds->line);
                return r;
        }
        _cleanup_free_ char *host = cb_xasprintf("linux/%s", host_arch());
        bool ok = strcmp(p, host) == 0 || (strcmp(host_arch(), "amd64") == 0 && strcmp(p, "linux/x86_64") == 0) ||
                  (strncmp(p, host, strlen(host)) == 0 && p[strlen(host)] == '/');
        if (!ok)
                return cb_failc(err, -ENOTSUP,
                                "%s:%u: FROM --platform=%s: only the host platform %s can be built here (steps run "
                                "natively, without emulation)",
                                b->df_name, ds->line, *p ? p : "''", host);
        return 0;
}

int bld_resolve_image(struct bld_ctx *b, const char *name, char ret_digest[CB_DIGEST_STR_LEN], struct cb_err *err)
{
        /* a named context (--build-context, bake's contexts) stands in for NAME */
        const struct bld_nctx *nc = bld_nctx_find(b, name);
        if (nc && nc->kind == BLD_NCTX_DIR)
                return cb_failc(err, -ENOTSUP,
                                "'%s' is a local directory context: COPY --from=%s and RUN --mount=type=bind,from=%s "
                                "read it, an image is needed here",
                                name, name, name);
        if (nc)
                name = nc->kind == BLD_NCTX_IMAGE ? nc->value : nc->image;
        _cleanup_free_ char *norm = cb_digest_valid(name) ? cb_xstrdup(name) : bld_ref_normalize(name, err);
        if (!norm)
                return -EINVAL;
        int r = b->opts->pull && !cb_digest_valid(norm) ? -ENOENT : layer_store_resolve(b->store, norm, ret_digest, err);
        if (r == -ENOENT) {
                cb_err_reset(err);
                r = bld_pull(b, norm, ret_digest, err);
        }
        return r;
}

/* FROM NAME of a local directory context: its files (after its .dockerignore) are the root file
 * system, as BuildKit makes a named local context the stage's state; here a COPY --from=NAME / /
 * onto scratch, so the layer is cached on the files' contents as COPY's are. */
static int from_dir_context(struct bld_ctx *b, struct bld_stage *st, const struct df_stage *ds, const char *name,
                            struct cb_err *err)
{
        _cleanup_free_ char *text = cb_xasprintf("FROM scratch\nCOPY --from=%s [\"/\", \"/\"]\n", name);
        struct df_file *f = NULL;
        int r = df_parse(cb_str_c(text), "FROM", &f, err);
        if (r >= 0 && df_file_ninstr(f) < 1)
                r = cb_failc(err, -EINVAL, "empty context copy");
        if (r >= 0)
                r = bld_step(b, st, df_file_instr(f, df_file_stage(f, 0)->first), err);
        df_file_free(f);
        if (r < 0)
                cb_wrap(err, "%s:%u: FROM '%s' (a directory context)", b->df_name, ds->line, name);
        return r;
}

/* A named context of a stage's own name replaces the stage, as in BuildKit ("when the Dockerfile
 * defines a stage with the same name it's overwritten"): the stage is the context, its
 * instructions do not run. */
static bool stage_replaced(const struct bld_ctx *b, const struct df_stage *ds)
{
        return ds->name && bld_nctx_find(b, ds->name);
}

/* FROM: the base's config and layers become the stage's starting point. */
static int stage_from(struct bld_ctx *b, size_t si, struct bld_stage *st, struct cb_err *err)
{
        const struct df_stage *ds = df_file_stage(b->df, si);
        _cleanup_free_ char *base = NULL;
        int r = df_expand_word(b->meta, ds->base, df_file_escape(b->df), &base, err);
        if (r < 0) {
                cb_wrap(err, "%s:%u: FROM", b->df_name, ds->line);
                return r;
        }
        if (stage_replaced(b, ds)) {
                free(base);
                base = cb_xstrdup(ds->name);
        } else if ((r = check_platform(b, ds, err)) < 0) {
                return r;
        }
        {
                _cleanup_free_ char *text = cb_xasprintf("FROM %s%s%s", base, ds->name ? " AS " : "",
                                                         ds->name ? ds->name : "");
                bld_progress_start(b->pg, b->step, b->nsteps, text);
        }
        st->name = ds->name ? cb_xstrdup(ds->name) : NULL;
        st->vars = df_vars_new();
        st->args = df_vars_new();
        st->base_ref = cb_xstrdup(base);

        /* an earlier stage by name (stage names are case-insensitive and stored lower-case) */
        for (size_t j = 0; j < si; j++) {
                if (b->stages[j].name && strcasecmp(b->stages[j].name, base) == 0) {
                        if (!b->stages[j].built)
                                return cb_failc(err, -EINVAL, "%s:%u: FROM '%s': stage is not built", b->df_name,
                                                ds->line, base);
                        st->config = json_deep_copy(b->stages[j].config);
                        for (size_t k = 0; k < b->stages[j].nlayers; k++)
                                bld_stage_add_layer(st, &b->stages[j].layers[k]);
                        goto vars;
                }
        }
        if (strcmp(base, "scratch") == 0 || bld_nctx_dir_for(b, base)) {
                st->config = bld_config_new();
                goto vars;
        }
        {
                char digest[CB_DIGEST_STR_LEN];
                r = bld_resolve_image(b, base, digest, err);
                if (r < 0) {
                        cb_wrap(err, "%s:%u: FROM '%s'", b->df_name, ds->line, base);
                        return r;
                }
                struct layer_image *img = NULL;
                r = layer_image_read(b->store, digest, &img, err);
                if (r < 0) {
                        cb_wrap(err, "%s:%u: FROM '%s'", b->df_name, ds->line, base);
                        return r;
                }
                st->config = json_deep_copy(img->config);
                for (size_t k = 0; k < img->nlayers; k++)
                        bld_stage_add_layer(st, &img->layers[k]);
                memcpy(st->base_digest, digest, sizeof(st->base_digest));
                layer_image_free(img);
        }
vars:
        /* the chain of cache keys starts at the base's identity */
        {
                struct cb_sha256 *h = cb_sha256_new();
                const char *id = st->base_digest[0] ? st->base_digest : base;
                for (size_t j = 0; j < si && !st->base_digest[0]; j++)
                        if (b->stages[j].name && strcasecmp(b->stages[j].name, base) == 0)
                                id = b->stages[j].key;
                cb_sha256_update(h, "FROM\n", 5);
                cb_sha256_update(h, id, strlen(id) + 1);
                cb_sha256_final(h, st->key);
                cb_sha256_free(h);
        }
        st->last_time = b->opts->source_date_epoch >= 0 ? b->opts->source_date_epoch
                                                         : bld_parse_time(json_string_value(json_object_get(st->config, "created")));
        /* the image's ENV is visible to expansion in this stage */
        {
                json_t *env = json_object_get(bld_config_section(st->config), "Env");
                size_t i;
                json_t *v;
                json_array_foreach(env, i, v)
                {
                        const char *e = json_string_value(v);
                        const char *eq = e ? strchr(e, '=') : NULL;
                        if (!eq)
                                continue;
                        _cleanup_free_ char *k = cb_xstrndup(e, (size_t) (eq - e));
                        df_vars_set(st->vars, k, eq + 1);
                }
        }
        /* a base built by cubuild or another builder: drop its history times? No: keep them, they are
         * the base's own; only our entries follow SOURCE_DATE_EPOCH */
        if (bld_nctx_dir_for(b, base))
                return from_dir_context(b, st, ds, base, err);
        return 0;
}

/* ONBUILD triggers of the base run first, as docker runs them, and are not passed on further. */
static int run_onbuild(struct bld_ctx *b, struct bld_stage *st, const struct df_stage *ds, struct cb_err *err)
{
        json_t *c = bld_config_section(st->config);
        json_t *triggers = json_incref(json_object_get(c, "OnBuild"));
        json_object_del(c, "OnBuild");
        size_t i;
        json_t *t;
        int r = 0;
        json_array_foreach(triggers, i, t)
        {
                const char *text = json_string_value(t);
                if (!text)
                        continue;
                _cleanup_free_ char *df = cb_xasprintf("FROM scratch\n%s\n", text);
                struct df_file *f = NULL;
                r = df_parse(cb_str_c(df), "ONBUILD", &f, err);
                if (r >= 0 && df_file_ninstr(f) < 1)
                        r = cb_failc(err, -EINVAL, "empty trigger");
                if (r >= 0) {
                        const struct df_stage *fs = df_file_stage(f, 0);
                        for (size_t k = 0; k < fs->n && r >= 0; k++) {
                                const struct df_instr *in = df_file_instr(f, fs->first + k);
                                bld_progress_info(b->pg, "ONBUILD trigger: %s", in->text);
                                r = bld_step(b, st, in, err);
                        }
                }
                df_file_free(f);
                if (r < 0) {
                        cb_wrap(err, "%s:%u: FROM: the base's ONBUILD trigger '%s'", b->df_name, ds->line, text);
                        break;
                }
        }
        json_decref(triggers);
        return r;
}

static int run_stage(struct bld_ctx *b, size_t si, struct cb_err *err)
{
        struct bld_stage *st = &b->stages[si];
        const struct df_stage *ds = df_file_stage(b->df, si);
        bool replaced = stage_replaced(b, ds);
        int r = stage_from(b, si, st, err);
        if (r >= 0 && !replaced)
                r = run_onbuild(b, st, ds, err);
        if (r < 0) {
                bld_progress_error(b->pg, b->step, cb_err_msg(err));
                return r;
        }
        bld_progress_done(b->pg, b->step, false, 0);
        if (replaced) {
                bld_progress_info(b->pg, "stage '%s' is the named context '%s': its %zu instructions are skipped",
                                  ds->name, ds->name, ds->n);
                b->step += ds->n;
        }
        for (size_t k = 0; k < ds->n && !replaced; k++) {
                const struct df_instr *in = df_file_instr(b->df, ds->first + k);
                if (bld_interrupted())
                        return cb_failc(err, -EINTR, "interrupted by signal %d", bld_interrupted());
                b->step++;
                bld_progress_start(b->pg, b->step, b->nsteps, in->text);
                size_t cached = b->steps_cached, ran = b->steps_run;
                r = bld_step(b, st, in, err);
                if (r < 0) {
                        bld_progress_error(b->pg, b->step, cb_err_msg(err));
                        return r;
                }
                if (b->steps_cached > cached)
                        bld_progress_cached(b->pg, b->step, st->layers[st->nlayers - 1].digest);
                else
                        bld_progress_done(b->pg, b->step, b->steps_run > ran,
                                          b->steps_run > ran ? st->layers[st->nlayers - 1].size : 0);
        }
        st->built = true;
        return 0;
}

static int read_dockerfile(const struct bld_opts *o, struct cb_buf *text, char **ret_name, struct cb_err *err)
{
        if (o->file && strcmp(o->file, "-") == 0) {
                int r = cb_read_all(STDIN_FILENO, text);
                if (r < 0)
                        return cb_fail(err, -r, "read the Dockerfile from stdin");
                *ret_name = cb_xstrdup("Dockerfile");
                return 0;
        }
        _cleanup_free_ char *path = o->file ? cb_xstrdup(o->file) : cb_xasprintf("%s/Dockerfile", o->context);
        int r = cb_read_file(AT_FDCWD, path, DOCKERFILE_MAX, text, err);
        if (r < 0)
                return r;
        const char *slash = strrchr(path, '/');
        *ret_name = cb_xstrdup(o->file ? path : (slash ? slash + 1 : path));
        return 0;
}

static int load_dockerignore(struct bld_ctx *b, struct cb_err *err)
{
        struct cb_buf text;
        cb_buf_init(&text, DOCKERFILE_MAX);
        int r = cb_read_file(b->ctx_fd, ".dockerignore", DOCKERFILE_MAX, &text, err);
        if (r == -ENOENT) {
                cb_err_reset(err);
                cb_buf_release(&text);
                return 0;
        }
        if (r < 0) {
                cb_buf_release(&text);
                return r;
        }
        r = df_ignore_parse(cb_buf_str(&text), ".dockerignore", &b->ignore, err);
        cb_buf_release(&text);
        return r;
}

/* Build args: --build-arg K=V overrides defaults; K alone takes the value from our environment. */
static void apply_meta_args(struct bld_ctx *b)
{
        b->meta = df_vars_new();
        b->build_args = df_vars_new();
        /* BuildKit's automatic platform ARGs: FROM lines see them, a stage after `ARG TARGETARCH` */
        {
                _cleanup_free_ char *plat = cb_xasprintf("linux/%s", host_arch());
                static const char *const pk[] = { "BUILDPLATFORM", "TARGETPLATFORM" };
                static const char *const ok[] = { "BUILDOS", "TARGETOS" };
                static const char *const ak[] = { "BUILDARCH", "TARGETARCH" };
                for (size_t i = 0; i < 2; i++) {
                        df_vars_set(b->meta, pk[i], plat);
                        df_vars_set(b->meta, ok[i], "linux");
                        df_vars_set(b->meta, ak[i], host_arch());
                }
        }
        for (size_t i = 0; i < b->opts->nbuild_args; i++) {
                const char *a = b->opts->build_args[i];
                const char *eq = strchr(a, '=');
                if (eq) {
                        _cleanup_free_ char *k = cb_xstrndup(a, (size_t) (eq - a));
                        df_vars_set(b->build_args, k, eq + 1);
                } else if (getenv(a)) {
                        df_vars_set(b->build_args, a, getenv(a));
                }
        }
        for (size_t i = 0; i < df_file_nmeta_args(b->df); i++) {
                const struct df_kv *kv = df_file_meta_arg(b->df, i);
                const char *over = df_vars_get(b->build_args, kv->key);
                if (over) {
                        df_vars_set(b->meta, kv->key, over);
                } else if (kv->value) {
                        _cleanup_free_ char *v = NULL;
                        struct cb_err e2;
                        cb_err_init(&e2);
                        if (df_expand_word(b->meta, kv->value, df_file_escape(b->df), &v, &e2) >= 0)
                                df_vars_set(b->meta, kv->key, v);
                        cb_err_release(&e2);
                }
        }
}

static size_t target_stage(const struct bld_ctx *b, struct cb_err *err)
{
        size_t n = df_file_nstages(b->df);
        if (!b->opts->target)
                return n - 1;
        for (size_t i = 0; i < n; i++) {
                const struct df_stage *s = df_file_stage(b->df, i);
                if (s->name && strcasecmp(s->name, b->opts->target) == 0)
                        return i;
        }
        (void) cb_failc(err, -EINVAL, "--target '%s': no stage of that name in %s", b->opts->target, b->df_name);
        return (size_t) -1;
}

static int finish_image(struct bld_ctx *b, struct bld_stage *st, json_t *annotations,
                        char ret_digest[CB_DIGEST_STR_LEN], struct cb_err *err)
{
        /* created follows the last layer's time, so a fully cached rebuild gives the same digest */
        char t[BLD_TIME_LEN];
        bld_config_format_time(st->last_time, t);
        json_object_set_new(st->config, "created", json_string(t));
        for (size_t i = 0; i < b->opts->nlabels; i++) {
                json_t *labels = bld_config_object(st->config, "Labels");
                const char *l = b->opts->labels[i];
                const char *eq = strchr(l, '=');
                _cleanup_free_ char *k = eq ? cb_xstrndup(l, (size_t) (eq - l)) : cb_xstrdup(l);
                json_object_set_new(labels, k, json_string(eq ? eq + 1 : ""));
        }
        json_t *ann = annotations ? json_deep_copy(annotations) : NULL;
        for (size_t i = 0; i < b->opts->nannotations; i++) {
                const char *a = b->opts->annotations[i];
                const char *eq = strchr(a, '=');
                if (!ann)
                        ann = json_object();
                _cleanup_free_ char *k = cb_xstrndup(a, (size_t) (eq - a));
                json_object_set_new(ann, k, json_string(eq + 1));
        }
        int r = layer_image_write(b->store, st->config, st->layers, st->nlayers, b->opts->format_docker, ann, ret_digest,
                                  err);
        json_decref(ann);
        /* the build's layers are stored uncompressed; an image that leaves the store now gets them
         * compressed (each layer once: the compressed form is remembered for later pushes) */
        if (r >= 0 && bld_outputs_compressed(b->opts))
                r = layer_image_compress(b->store, ret_digest, bld_compression_of(b->opts->compression), ret_digest,
                                         err);
        if (r < 0) {
                cb_wrap(err, "write the image");
                return r;
        }
        for (size_t i = 0; i < b->opts->ntags; i++) {
                _cleanup_free_ char *norm = bld_ref_normalize(b->opts->tags[i], err);
                if (!norm) {
                        cb_wrap(err, "tag");
                        return -EINVAL;
                }
                r = layer_store_tag(b->store, norm, ret_digest, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* --metadata-file: what CI wants from a build, as docker buildx's metadata file has it. */
static int write_metadata(struct bld_ctx *b, struct bld_stage *st, const char *digest, json_t *report,
                          struct cb_err *err)
{
        const struct bld_opts *o = b->opts;
        struct layer_image *img = NULL;
        int r = layer_image_read(b->store, digest, &img, err);
        if (r < 0)
                return r;
        json_t *names = json_array();
        for (size_t i = 0; i < o->ntags; i++) {
                char *n = bld_ref_normalize(o->tags[i], NULL);
                if (n)
                        json_array_append_new(names, json_string(n));
                free(n);
        }
        json_t *m = json_pack("{s:s, s:s, s:o, s:b, s:I, s:I}", "containerimage.digest", digest,
                              "containerimage.config.digest", img->config_digest, "image.name", names, "pushed",
                              o->push, "layer_steps_run", (json_int_t) b->steps_run, "layer_steps_cached",
                              (json_int_t) b->steps_cached);
        layer_image_free(img);
        if (st->base_digest[0])
                json_object_set_new(m, "base.digest", json_string(st->base_digest));
        if (b->remote)
                json_object_set_new(m, "cache.layers_fetched", json_integer((json_int_t) bld_cache_remote_fetched(b->remote)));
        if (report) {
                json_object_set(m, "verify", report);
        } else if (o->verify_report) {
                json_t *rep = json_load_file(o->verify_report, 0, NULL);
                if (rep)
                        json_object_set_new(m, "verify", rep);
        }
        char *text = json_dumps(m, JSON_INDENT(2) | JSON_SORT_KEYS);
        json_decref(m);
        r = cb_write_file_atomic(AT_FDCWD, o->metadata_file, text, strlen(text), 0644, err);
        free(text);
        if (r < 0)
                cb_wrap(err, "--metadata-file");
        return r;
}

/* The configuration's store budget (store.keep_storage), applied once the image is complete. A budget
 * that cannot be applied now (another process holds the store) waits for a later build or prune: the
 * build itself succeeded. */
static void apply_budget(struct bld_ctx *b, uint64_t budget, const char *digest)
{
        struct bld_prune_stats ps;
        struct cb_err e;
        cb_err_init(&e);
        bld_progress_set_step(b->pg, 0);
        int r = bld_prune_budget(b->store, budget, digest, &ps, &e);
        if (r == -EBUSY)
                bld_progress_info(b->pg, "store budget: the store is in use by another process; pruning left for later");
        else if (r < 0)
                bld_progress_info(b->pg, "store budget: %s", cb_err_msg(&e));
        else
                bld_progress_info(b->pg,
                                  "store budget %llu bytes: removed %llu build cache records and %llu cache mounts; "
                                  "the store holds %llu bytes",
                                  (unsigned long long) budget, (unsigned long long) ps.records_removed,
                                  (unsigned long long) ps.mounts_removed, (unsigned long long) ps.total_after);
        cb_err_release(&e);
}

/* Whether a stage after target reads it (FROM, COPY --from, RUN --mount from=). */
static bool stage_read_later(struct bld_ctx *b, size_t target)
{
        size_t n = df_file_nstages(b->df); /* b->nstages ends at the target */
        bool *deps = cb_xcalloc(n + 1, sizeof(bool));
        bool read = false;
        for (size_t i = target + 1; i < n && !read; i++) {
                bld_stage_deps(b, i, deps);
                read = deps[target];
        }
        free(deps);
        return read;
}

/* Unpacks the stage's layers that are not (those a COPY wrote straight from its sources). */
static int unpack_layers(struct bld_ctx *b, const struct bld_stage *st, struct cb_err *err)
{
        for (size_t i = 0; i < st->nlayers; i++) {
                char *path = NULL;
                int r = layer_store_unpacked(b->store, &st->layers[i], &path, err);
                free(path);
                if (r < 0)
                        return r;
        }
        return 0;
}

int bld_build(const struct bld_opts *o, char ret_digest[CB_DIGEST_STR_LEN], struct cb_err *err)
{
        struct bld_settings settings = { 0 };
        struct bld_ctx b;
        struct cb_buf text;
        json_t *report = NULL; /* the verification report, its "static" section included */
        int r;

        memset(&b, 0, sizeof(b));
        int64_t started = (int64_t) time(NULL);
        b.opts = o;
        b.ctx_fd = -1;
        b.memo = bld_file_memo_new();
        {
                enum bld_progress_mode mode = BLD_PROGRESS_AUTO;
                if (o->quiet || (o->progress && bld_progress_mode_parse(o->progress, &mode) < 0))
                        mode = BLD_PROGRESS_QUIET;
                b.pg = bld_progress_new(mode, STDERR_FILENO);
        }
        {
                /* sortable by time, unique by the random part: logs/ is pruned oldest first */
                char rnd[9];
                struct tm tm;
                time_t now = time(NULL);
                cb_random_hex(rnd, 4);
                (void) gmtime_r(&now, &tm);
                size_t n = strftime(b.build_id, sizeof(b.build_id), "%Y%m%dT%H%M%SZ", &tm);
                (void) snprintf(b.build_id + n, sizeof(b.build_id) - n, "-%s", rnd);
        }
        cb_buf_init(&text, DOCKERFILE_MAX);
        r = read_dockerfile(o, &text, &b.df_name, err);
        if (r < 0)
                goto out;
        r = df_parse(cb_buf_str(&text), b.df_name, &b.df, err);
        if (r < 0)
                goto out;
        r = bld_settings_load(o->reg.config_path, &settings, err);
        if (r < 0)
                goto out;
        if (df_file_nstages(b.df) == 0) {
                r = cb_failc(err, -EINVAL, "%s: no FROM instruction", b.df_name);
                goto out;
        }
        b.ctx_fd = open(o->context, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (b.ctx_fd < 0) {
                r = cb_fail(err, errno, "open build context '%s'", o->context);
                goto out;
        }
        r = load_dockerignore(&b, err);
        if (r < 0)
                goto out;
        r = layer_store_open(o->root, &b.store, err);
        if (r >= 0)
                bld_file_memo_load(b.memo, layer_store_root_fd(b.store));
        if (r < 0)
                goto out;
        b.tmp_dir = cb_xstrdup(layer_store_work_path(b.store));
        apply_meta_args(&b);
        r = bld_nctxs_open(&b, err);
        if (r < 0)
                goto out;
        r = bld_cache_remote_open(o, b.store, b.pg, &b.remote, err);
        if (r < 0)
                goto out;

        size_t target = target_stage(&b, err);
        if (target == (size_t) -1) {
                r = -EINVAL;
                goto out;
        }
        b.nstages = target + 1;
        b.stages = cb_xcalloc(b.nstages, sizeof(*b.stages));
        bool *needed = cb_xcalloc(b.nstages, sizeof(bool));
        bld_mark_needed(&b, target, needed);
        for (size_t i = 0; i < b.nstages; i++)
                if (needed[i])
                        b.nsteps += 1 + df_file_stage(b.df, i)->n;
        for (size_t i = 0; i < b.nstages; i++) {
                if (!needed[i])
                        bld_progress_info(b.pg, "skipping stage %zu%s%s: the target does not use it", i,
                                          df_file_stage(b.df, i)->name ? " " : "",
                                          df_file_stage(b.df, i)->name ? df_file_stage(b.df, i)->name : "");
        }
        r = bld_build_stages(&b, needed, o->jobs, run_stage, err);
        if (r < 0) {
                free(needed);
                goto out;
        }
        free(needed);
        bld_progress_set_step(b.pg, 0);
        if (b.steps_run + b.steps_cached > 0)
                bld_progress_info(b.pg, "%zu layer steps ran, %zu came from the cache", b.steps_run, b.steps_cached);
        /* layers of imported cache hits come into the store now: the image must be whole */
        r = bld_cache_remote_ensure(b.remote, b.stages[target].layers, b.stages[target].nlayers, err);
        if (r >= 0) {
                /* the image records its inputs (docs/audit.md) */
                json_t *inputs = NULL;
                r = bld_audit_inputs(&b, text.p, text.len, target, &inputs, err);
                if (r >= 0)
                        r = finish_image(&b, &b.stages[target], inputs, ret_digest, err);
                if (inputs)
                        json_decref(inputs);
        }
        if (r < 0)
                goto out;
        {
                struct bld_stage *st = &b.stages[target];
                const char **tags = cb_xcalloc(o->ntags + 1, sizeof(char *));
                for (size_t i = 0; i < o->ntags; i++)
                        tags[i] = bld_ref_normalize(o->tags[i], NULL);
                struct bld_verify_opts vo = {
                        .policy = o->verify,
                        .report_path = o->verify_report,
                        .tags = tags,
                        .ntags = o->ntags,
                        /* its lines are no JSON: rawjson readers take the result from --verify-report */
                        .quiet = o->quiet || bld_progress_mode(b.pg) == BLD_PROGRESS_RAWJSON,
                        .require_arch = o->require_arch,
                        .require_driver = o->require_driver,
                        .ret_report = &report,
                };
                /* a stage that later stages of the Dockerfile read (COPY --from, FROM) is mounted by their
                 * build next: its layers that a COPY wrote without unpacking them are unpacked now */
                if (stage_read_later(&b, target))
                        r = unpack_layers(&b, st, err);
                if (r < 0) {
                        for (size_t i = 0; i < o->ntags; i++)
                                free((char *) tags[i]);
                        free(tags);
                        goto out;
                }
                /* a last layer COPY wrote from a directory it carries unchanged: the static report reads
                 * that directory instead of unpacking the layer */
                struct bld_rootfs xfs = { 0 };
                struct bld_compat_extra extra = { .fd = -1 };
                struct cb_err xerr;
                cb_err_init(&xerr);
                if (st->nlayers &&
                    bld_copy_direct_source(&b, st->layers[st->nlayers - 1].diff_id, &xfs, &extra.fd, &extra.path,
                                           &xerr) == 0) {
                        extra.diff_id = st->layers[st->nlayers - 1].diff_id;
                        vo.extra = &extra;
                }
                cb_err_release(&xerr);
                r = bld_verify_image(b.store, b.tmp_dir, ret_digest, st->config, st->layers, st->nlayers, &vo, err);
                if (extra.fd >= 0)
                        (void) close(extra.fd);
                if (xfs.mounted)
                        (void) bld_rootfs_unmount(&xfs, NULL);
                bld_rootfs_release(&xfs);
                if (r >= 0) /* provenance and SBOM join the report as referrers (docs/audit.md) */
                        r = bld_audit_attest(b.store, ret_digest, tags, o->ntags, started, (int64_t) time(NULL),
                                             !o->no_provenance, !o->no_sbom, err);
                for (size_t i = 0; i < o->ntags; i++)
                        free((char *) tags[i]);
                free(tags);
                if (r < 0)
                        goto out;
        }
        r = bld_outputs(&b, ret_digest, err);
        for (size_t i = 0; r >= 0 && o->push && i < o->ntags; i++)
                r = bld_push_image_progress(b.store, &o->reg, o->tags[i], NULL, b.pg, err);
        if (r >= 0)
                r = bld_cache_remote_export(b.remote, b.stages[target].layers, b.stages[target].nlayers, err);
        if (r >= 0 && o->metadata_file)
                r = write_metadata(&b, &b.stages[target], ret_digest, report, err);
        if (r >= 0 && settings.has_keep_storage)
                apply_budget(&b, settings.keep_storage, ret_digest);
        if (r >= 0)
                bld_progress_info(b.pg, "built %s", ret_digest);
out:
        if (report)
                json_decref(report);
        b.remote = bld_cache_remote_free(b.remote);
        bld_nctxs_release(&b);
        for (size_t i = 0; i < b.nstages; i++)
                stage_release(&b.stages[i]);
        free(b.stages);
        df_vars_free(b.meta);
        df_vars_free(b.build_args);
        df_ignore_free(b.ignore);
        df_file_free(b.df);
        /* what this build hashed spares the next one reading unchanged context files again */
        if (r >= 0 && b.store)
                bld_file_memo_save(b.memo, layer_store_root_fd(b.store), started);
        layer_store_free(b.store);
        b.pg = bld_progress_free(b.pg);
        free(b.tmp_dir);
        free(b.df_name);
        if (b.ctx_fd >= 0)
                (void) close(b.ctx_fd);
        b.memo = bld_file_memo_free(b.memo);
        bld_copy_direct_forget(&b);
        cb_buf_release(&text);
        return r;
}

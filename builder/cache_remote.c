/* The build cache outside the store: --cache-to and --cache-from with type=registry (an OCI registry)
 * or type=local (an OCI image layout directory).
 *
 * What travels is one OCI image manifest (artifactType application/vnd.cubuild.cache.v1+json): its
 * config blob holds the records (instruction cache key -> layer descriptor and time), its layers are
 * the layers those records name. Registries that store OCI 1.1 artifacts (distribution, Harbor, ECR)
 * take it as they take any image manifest.
 *
 * Importing reads the config blob only. A hit on an imported record costs nothing until its layer is
 * needed: for the rootfs of a later step that misses, or for the image the build writes; only then is
 * the blob fetched (bld_cache_remote_ensure()). BuildKit's registry cache works the same way. */
#include "builder/cache.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builder/bld.h"
#include "builder/internal.h"
#include "builder/progress.h"
#include "builder/steps.h"
#include "registry/reg.h"

#define CACHE_CONFIG_MAX (16u << 20)

enum src_kind { SRC_REGISTRY, SRC_LOCAL };

struct cache_src {
        enum src_kind kind;
        char *ref; /* registry: the normalised reference; local: the directory */
        struct reg_ref rr;
};

struct cache_rec {
        char key[CB_DIGEST_STR_LEN];
        struct bld_cache_entry e; /* e.layer: the layer as a build stores it (uncompressed) */
        int src; /* index into srcs for imported records; -1 for records of this build */
        /* the blob the cache carries it in (gzip), when that is not e.layer itself */
        bool has_transport;
        struct layer_desc transport;
};

struct bld_cache_remote {
        struct layer_store *store; /* borrowed */
        const struct bld_opts *opts; /* borrowed */
        struct bld_progress *pg;     /* borrowed: where messages go */
        struct reg_client *client;   /* owned, made on first use by client_pid */
        pid_t client_pid;
        /* this build's steps for --cache-to, one JSON line each, appended: stages that --jobs builds in
         * forked children append to the same file, so the parent's export sees every stage */
        int notes_fd;
        char *notes_path;
        struct cache_src *srcs;
        size_t nsrcs;
        struct cache_rec *in; /* imported */
        size_t nin;
        struct cache_rec *out; /* this build's steps, for export */
        size_t nout;
        size_t fetched; /* layers fetched from an import source */
};

static void say(const struct bld_cache_remote *rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const struct bld_cache_remote *rc, const char *fmt, ...)
{
        struct cb_buf m;
        cb_buf_init(&m, CB_BUF_UNLIMITED);
        va_list ap;
        va_start(ap, fmt);
        (void) cb_buf_vaddf(&m, fmt, ap); /* NOLINT(clang-analyzer-valist.Uninitialized): va_start above */
        va_end(ap);
        if (rc->pg)
                bld_progress_info(rc->pg, "%s", m.p);
        else if (!rc->opts->quiet)
                (void) fprintf(stderr, "%s\n", m.p);
        cb_buf_release(&m);
}

static int client(struct bld_cache_remote *rc, struct reg_client **ret, struct cb_err *err)
{
        /* a stage that --jobs builds in a forked child must not share the parent's connections: the
         * inherited client is left alone (its sockets belong to the parent) and a new one made */
        if (rc->client && rc->client_pid != getpid())
                rc->client = NULL;
        if (!rc->client) {
                int r = reg_client_new(&rc->opts->reg, &rc->client, err);
                if (r < 0)
                        return r;
                rc->client_pid = getpid();
        }
        *ret = rc->client;
        return 0;
}

/* "type=registry,ref=R,mode=max", "type=local,src=DIR", or a bare reference (docker's shorthand for
 * type=registry). ret_loc gets the ref or directory (owned), ret_max the mode. */
static int parse_spec(const char *spec, bool to, enum src_kind *ret_kind, char **ret_loc, bool *ret_max,
                      struct cb_err *err)
{
        const char *flag = to ? "--cache-to" : "--cache-from";
        if (!strchr(spec, '=')) {
                *ret_kind = SRC_REGISTRY;
                *ret_loc = cb_xstrdup(spec);
                *ret_max = false;
                return 0;
        }
        _cleanup_free_ char *type = bld_opt_get(spec, "type");
        _cleanup_free_ char *mode = bld_opt_get(spec, "mode");
        if (!type)
                return cb_failc(err, -EINVAL, "%s '%s': give type=registry or type=local", flag, spec);
        if (strcmp(type, "registry") == 0) {
                *ret_kind = SRC_REGISTRY;
                *ret_loc = bld_opt_get(spec, "ref");
        } else if (strcmp(type, "local") == 0) {
                *ret_kind = SRC_LOCAL;
                *ret_loc = bld_opt_get(spec, to ? "dest" : "src");
        } else {
                return cb_failc(err, -ENOTSUP, "%s '%s': type '%s' is not supported (use registry or local)", flag,
                                spec, type);
        }
        if (!*ret_loc || !**ret_loc) {
                free(*ret_loc);
                *ret_loc = NULL;
                return cb_failc(err, -EINVAL, "%s '%s': give %s=", flag, spec,
                                *ret_kind == SRC_REGISTRY ? "ref" : to ? "dest" : "src");
        }
        if (mode && strcmp(mode, "min") && strcmp(mode, "max")) {
                free(*ret_loc);
                *ret_loc = NULL;
                return cb_failc(err, -EINVAL, "%s '%s': mode must be min or max", flag, spec);
        }
        *ret_max = mode && strcmp(mode, "max") == 0;
        return 0;
}

/* ---- the records blob -------------------------------------------------------------------------- */

static int rec_cmp(const void *a, const void *b)
{
        return strcmp(((const struct cache_rec *) a)->key, ((const struct cache_rec *) b)->key);
}

static int parse_records(struct bld_cache_remote *rc, int src, const char *p, size_t len, struct cb_err *err)
{
        json_error_t je;
        json_t *j = json_loadb(p, len, 0, &je);
        json_t *recs = json_object_get(j, "records");
        if (!json_is_array(recs)) {
                json_decref(j);
                return cb_failc(err, -EBADMSG, "not a cubuild cache (no records)");
        }
        size_t i;
        json_t *v;
        json_array_foreach(recs, i, v)
        {
                const char *key = json_string_value(json_object_get(v, "key"));
                json_t *l = json_object_get(v, "layer");
                const char *digest = json_string_value(json_object_get(l, "digest"));
                const char *diff_id = json_string_value(json_object_get(l, "diff_id"));
                const char *mt = json_string_value(json_object_get(l, "mediaType"));
                json_t *size = json_object_get(l, "size"), *created = json_object_get(v, "created");
                if (!cb_digest_valid(key) || !cb_digest_valid(digest) || !cb_digest_valid(diff_id) || !mt ||
                    strlen(mt) >= sizeof(((struct layer_desc *) NULL)->media_type) || !json_is_integer(size) ||
                    json_integer_value(size) < 0 || !json_is_integer(created))
                        continue; /* a record we cannot use is a miss */
                rc->in = cb_xrealloc(rc->in, (rc->nin + 1) * sizeof(*rc->in));
                struct cache_rec *c = &rc->in[rc->nin++];
                memset(c, 0, sizeof(*c));
                memcpy(c->key, key, CB_DIGEST_STR_LEN);
                memcpy(c->e.layer.digest, digest, CB_DIGEST_STR_LEN);
                memcpy(c->e.layer.diff_id, diff_id, CB_DIGEST_STR_LEN);
                memcpy(c->e.layer.media_type, mt, strlen(mt) + 1);
                c->e.layer.size = (uint64_t) json_integer_value(size);
                c->e.created = (int64_t) json_integer_value(created);
                c->src = src;
                /* "layer" is the blob in the cache; "stored", when there, the uncompressed layer the build
                 * that made the record kept: a hit uses that, so every runner's image is the same */
                json_t *st = json_object_get(v, "stored");
                const char *sd = json_string_value(json_object_get(st, "digest"));
                const char *smt = json_string_value(json_object_get(st, "mediaType"));
                json_t *ssize = json_object_get(st, "size");
                if (cb_digest_valid(sd) && smt && strlen(smt) < sizeof(c->e.layer.media_type) &&
                    json_is_integer(ssize) && json_integer_value(ssize) >= 0 && strcmp(sd, digest) != 0) {
                        c->transport = c->e.layer;
                        c->has_transport = true;
                        memcpy(c->e.layer.digest, sd, CB_DIGEST_STR_LEN);
                        memcpy(c->e.layer.media_type, smt, strlen(smt) + 1);
                        c->e.layer.size = (uint64_t) json_integer_value(ssize);
                }
        }
        json_decref(j);
        return 0;
}

static char *records_json(const struct cache_rec *recs, size_t n)
{
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++) {
                const struct layer_desc *l = recs[i].has_transport ? &recs[i].transport : &recs[i].e.layer;
                json_t *rec = json_pack("{s:s, s:{s:s, s:s, s:s, s:I}, s:I}", "key", recs[i].key, "layer", "mediaType",
                                        l->media_type, "digest", l->digest, "diff_id", l->diff_id, "size",
                                        (json_int_t) l->size, "created", (json_int_t) recs[i].e.created);
                if (recs[i].has_transport) {
                        const struct layer_desc *s = &recs[i].e.layer;
                        json_object_set_new(rec, "stored", json_pack("{s:s, s:s, s:I}", "mediaType", s->media_type,
                                                                     "digest", s->digest, "size", (json_int_t) s->size));
                }
                json_array_append_new(arr, rec);
        }
        json_t *j = json_pack("{s:i, s:o}", "version", 1, "records", arr);
        char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(j);
        return text;
}

/* ---- a sink over the store that takes only some blobs ------------------------------------------ */

struct filter_sink {
        struct reg_blob_sink inner;
        const char *const *want; /* fetch mode: only these */
        size_t nwant;
        bool import_mode;        /* import: only the first blob asked about (the manifest's config) */
        bool first_seen;
        char first[CB_DIGEST_STR_LEN];
};

static bool f_has(void *ud, const char *digest)
{
        struct filter_sink *f = ud;
        if (f->import_mode) {
                /* reg_pull asks for the config before the layers (registry/pull.c, pull_blobs) */
                if (!f->first_seen) {
                        f->first_seen = true;
                        (void) snprintf(f->first, sizeof(f->first), "%s", digest);
                        return f->inner.has(f->inner.ud, digest);
                }
                return true;
        }
        for (size_t i = 0; i < f->nwant; i++)
                if (strcmp(f->want[i], digest) == 0)
                        return f->inner.has(f->inner.ud, digest);
        return true;
}

static int f_begin(void *ud, const char *digest, void **ret, struct cb_err *err)
{
        struct filter_sink *f = ud;
        return f->inner.begin(f->inner.ud, digest, ret, err);
}

static int f_write(void *ud, void *h, const void *p, size_t len, struct cb_err *err)
{
        struct filter_sink *f = ud;
        return f->inner.write(f->inner.ud, h, p, len, err);
}

static int f_commit(void *ud, void *h, const char *expected, struct cb_err *err)
{
        struct filter_sink *f = ud;
        return f->inner.commit(f->inner.ud, h, expected, err);
}

static void f_abort(void *ud, void *h)
{
        struct filter_sink *f = ud;
        f->inner.abort(f->inner.ud, h);
}

static void filter_sink_init(struct filter_sink *f, struct reg_blob_sink *s, struct layer_store *store)
{
        memset(f, 0, sizeof(*f));
        bld_blob_sink_init(&f->inner, store);
        *s = (struct reg_blob_sink){
                .ud = f, .has = f_has, .begin = f_begin, .write = f_write, .commit = f_commit, .abort = f_abort
        };
}

/* ---- import ------------------------------------------------------------------------------------ */

static int import_registry(struct bld_cache_remote *rc, int src, struct cb_err *err)
{
        struct reg_client *c = NULL;
        int r = client(rc, &c, err);
        if (r < 0)
                return r;
        struct filter_sink f;
        struct reg_blob_sink sink;
        filter_sink_init(&f, &sink, rc->store);
        f.import_mode = true;
        char mdigest[CB_DIGEST_STR_LEN];
        r = reg_pull(c, &rc->srcs[src].rr, &sink, NULL, mdigest, err);
        if (r < 0)
                return r;
        if (!f.first_seen)
                return cb_failc(err, -EBADMSG, "not a cubuild cache (no config)");
        struct cb_buf text;
        cb_buf_init(&text, CACHE_CONFIG_MAX);
        r = layer_store_read_blob(rc->store, f.first, CACHE_CONFIG_MAX, &text, err);
        if (r >= 0)
                r = parse_records(rc, src, text.p, text.len, err);
        cb_buf_release(&text);
        return r;
}

/* Reads blobs/sha256/<hex> of an OCI layout, verified, at most max bytes. */
static int layout_read(int dfd, const char *digest, size_t max, struct cb_buf *ret, struct cb_err *err)
{
        if (!cb_digest_valid(digest))
                return cb_failc(err, -EBADMSG, "bad digest '%s'", digest);
        _cleanup_free_ char *path = cb_xasprintf("blobs/sha256/%s", digest + 7);
        int r = cb_read_file(dfd, path, max, ret, err);
        if (r < 0)
                return r;
        char got[CB_DIGEST_STR_LEN];
        cb_sha256_digest(ret->p, ret->len, got);
        if (strcmp(got, digest) != 0)
                return cb_failc(err, -EBADMSG, "blob %s hashes to %s", digest, got);
        return 0;
}

static int import_local(struct bld_cache_remote *rc, int src, struct cb_err *err)
{
        _cleanup_close_ int dfd = open(rc->srcs[src].ref, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return cb_fail(err, errno, "open '%s'", rc->srcs[src].ref);
        struct cb_buf b;
        cb_buf_init(&b, LAYER_JSON_MAX);
        json_t *idx = NULL, *man = NULL;
        int r = cb_read_file(dfd, "index.json", LAYER_JSON_MAX, &b, err);
        if (r >= 0) {
                idx = json_loadb(b.p, b.len, 0, NULL);
                json_t *ms = json_object_get(idx, "manifests");
                const char *d = json_string_value(json_object_get(json_array_get(ms, json_array_size(ms) - 1), "digest"));
                cb_buf_reset(&b);
                r = d ? layout_read(dfd, d, LAYER_JSON_MAX, &b, err) : cb_failc(err, -EBADMSG, "index.json names no manifest");
        }
        if (r >= 0) {
                man = json_loadb(b.p, b.len, 0, NULL);
                const char *cd = json_string_value(json_object_get(json_object_get(man, "config"), "digest"));
                cb_buf_release(&b);
                cb_buf_init(&b, CACHE_CONFIG_MAX);
                r = cd ? layout_read(dfd, cd, CACHE_CONFIG_MAX, &b, err)
                       : cb_failc(err, -EBADMSG, "the manifest has no config");
        }
        if (r >= 0)
                r = parse_records(rc, src, b.p, b.len, err);
        json_decref(idx);
        json_decref(man);
        cb_buf_release(&b);
        return r;
}

int bld_cache_remote_open(const struct bld_opts *o, struct layer_store *s, struct bld_progress *pg,
                          struct bld_cache_remote **ret, struct cb_err *err)
{
        *ret = NULL;
        if (o->ncache_from == 0 && o->ncache_to == 0)
                return 0;
        /* check every --cache-to before any work, so a typo fails in a second, not after the build */
        for (size_t i = 0; i < o->ncache_to; i++) {
                enum src_kind k;
                _cleanup_free_ char *loc = NULL;
                bool max;
                int r = parse_spec(o->cache_to[i], true, &k, &loc, &max, err);
                if (r < 0)
                        return r;
                struct reg_ref rr;
                if (k == SRC_REGISTRY) {
                        r = reg_ref_parse(loc, &rr, err);
                        if (r < 0) {
                                cb_wrap(err, "--cache-to");
                                return r;
                        }
                        reg_ref_release(&rr);
                }
        }
        struct bld_cache_remote *rc = cb_xcalloc(1, sizeof(*rc));
        rc->store = s;
        rc->opts = o;
        rc->pg = pg;
        rc->notes_fd = -1;
        if (o->ncache_to > 0) {
                char rnd[17];
                cb_random_hex(rnd, 8);
                rc->notes_path = cb_xasprintf("%s/cache-notes-%s.jsonl", layer_store_work_path(s), rnd);
                rc->notes_fd = open(rc->notes_path, O_RDWR | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
                if (rc->notes_fd < 0) {
                        int e = errno;
                        bld_cache_remote_free(rc);
                        return cb_fail(err, e, "--cache-to: create the step list");
                }
        }
        for (size_t i = 0; i < o->ncache_from; i++) {
                enum src_kind k;
                char *loc = NULL;
                bool max;
                int r = parse_spec(o->cache_from[i], false, &k, &loc, &max, err);
                if (r < 0) {
                        bld_cache_remote_free(rc);
                        return r;
                }
                rc->srcs = cb_xrealloc(rc->srcs, (rc->nsrcs + 1) * sizeof(*rc->srcs));
                struct cache_src *cs = &rc->srcs[rc->nsrcs];
                memset(cs, 0, sizeof(*cs));
                cs->kind = k;
                cs->ref = loc;
                if (k == SRC_REGISTRY && reg_ref_parse(loc, &cs->rr, err) < 0) {
                        free(loc);
                        cb_wrap(err, "--cache-from");
                        bld_cache_remote_free(rc);
                        return -EINVAL;
                }
                rc->nsrcs++;
                /* a cache that is not there yet (the first build of a branch) is a warning, as in BuildKit */
                struct cb_err e2;
                cb_err_init(&e2);
                size_t before = rc->nin;
                r = k == SRC_REGISTRY ? import_registry(rc, (int) rc->nsrcs - 1, &e2)
                                      : import_local(rc, (int) rc->nsrcs - 1, &e2);
                if (r < 0)
                        say(rc, "warning: --cache-from '%s': %s", o->cache_from[i], cb_err_msg(&e2));
                else
                        say(rc, "cache: %zu records from '%s'", rc->nin - before, loc);
                cb_err_release(&e2);
        }
        *ret = rc;
        return 0;
}

struct bld_cache_remote *bld_cache_remote_free(struct bld_cache_remote *rc)
{
        if (!rc)
                return NULL;
        for (size_t i = 0; i < rc->nsrcs; i++) {
                free(rc->srcs[i].ref);
                if (rc->srcs[i].kind == SRC_REGISTRY)
                        reg_ref_release(&rc->srcs[i].rr);
        }
        free(rc->srcs);
        free(rc->in);
        free(rc->out);
        if (rc->notes_fd >= 0) {
                (void) close(rc->notes_fd);
                (void) unlink(rc->notes_path);
        }
        free(rc->notes_path);
        if (rc->client_pid == getpid())
                reg_client_free(rc->client);
        free(rc);
        return NULL;
}

bool bld_cache_remote_get(struct bld_cache_remote *rc, const char *key, struct bld_cache_entry *ret)
{
        if (!rc)
                return false;
        for (size_t i = 0; i < rc->nin; i++) {
                if (strcmp(rc->in[i].key, key) != 0)
                        continue;
                *ret = rc->in[i].e;
                /* remembered locally too: valid once the layer is in the store */
                (void) bld_cache_put(rc->store, key, ret, NULL);
                return true;
        }
        return false;
}

void bld_cache_remote_note(struct bld_cache_remote *rc, const char *key, const struct bld_cache_entry *e)
{
        if (!rc || rc->notes_fd < 0)
                return;
        struct cache_rec c;
        memset(&c, 0, sizeof(c));
        memcpy(c.key, key, CB_DIGEST_STR_LEN);
        c.e = *e;
        c.src = -1;
        char *line = records_json(&c, 1);
        size_t n = strlen(line);
        line[n] = '\n'; /* replaces the NUL: one write of one line, appended whole */
        int r = cb_write_all(rc->notes_fd, line, n + 1);
        free(line);
        if (r < 0)
                say(rc, "warning: --cache-to: remember a step: %s", strerror(-r));
}

/* The steps noted by this process and by forked stage builds, each key once. */
static int read_notes(struct bld_cache_remote *rc, struct cb_err *err)
{
        struct cb_buf text;
        cb_buf_init(&text, CB_BUF_UNLIMITED);
        _cleanup_close_ int fd = open(rc->notes_path, O_RDONLY | O_CLOEXEC);
        int r = fd < 0 ? -errno : cb_read_all(fd, &text);
        if (r < 0) {
                cb_buf_release(&text);
                return cb_fail(err, -r, "--cache-to: read the step list");
        }
        /* parse_records() appends to rc->in: borrow it for the notes, then swap */
        struct cache_rec *in = rc->in;
        size_t nin = rc->nin;
        rc->in = NULL;
        rc->nin = 0;
        for (char *p = text.p, *nl; p < text.p + text.len; p = nl + 1) {
                nl = memchr(p, '\n', (size_t) (text.p + text.len - p));
                if (!nl)
                        break;
                (void) parse_records(rc, -1, p, (size_t) (nl - p), NULL);
        }
        free(rc->out);
        rc->out = rc->in;
        rc->nout = 0;
        for (size_t i = 0; i < rc->nin; i++) {
                bool dup = false;
                for (size_t k = 0; k < rc->nout && !dup; k++)
                        dup = strcmp(rc->out[k].key, rc->out[i].key) == 0;
                if (!dup)
                        rc->out[rc->nout++] = rc->out[i];
        }
        rc->in = in;
        rc->nin = nin;
        cb_buf_release(&text);
        return 0;
}

/* ---- lazy fetch -------------------------------------------------------------------------------- */

/* the imported record whose stored layer is digest, or NULL */
static const struct cache_rec *imported(const struct bld_cache_remote *rc, const char *digest)
{
        for (size_t i = 0; i < rc->nin; i++)
                if (strcmp(rc->in[i].e.layer.digest, digest) == 0)
                        return &rc->in[i];
        return NULL;
}

/* the import source that has the stored layer digest, or -1 */
static int src_of(const struct bld_cache_remote *rc, const char *digest)
{
        const struct cache_rec *c = imported(rc, digest);
        return c ? c->src : -1;
}

/* the blob that carries the stored layer digest in the cache */
static const char *blob_of(const struct bld_cache_remote *rc, const char *digest)
{
        const struct cache_rec *c = imported(rc, digest);
        return c && c->has_transport ? c->transport.digest : digest;
}

/* A fetched compressed blob becomes the uncompressed layer the record names (digest checked), and the
 * store remembers the blob as that layer's gzip form, so a push sends it as it came. */
static int unpack_transport(struct bld_cache_remote *rc, const char *digest, struct cb_err *err)
{
        const struct cache_rec *c = imported(rc, digest);
        if (!c || !c->has_transport || layer_store_has_blob(rc->store, digest))
                return 0;
        struct layer_desc raw;
        int r = layer_store_compress_layer(rc->store, &c->transport, LAYER_UNCOMPRESSED, -1, &raw, err);
        if (r >= 0 && strcmp(raw.digest, digest) != 0)
                r = cb_failc(err, -EBADMSG, "cache layer %s: its uncompressed form is %s, the record says %s",
                             c->transport.digest, raw.digest, digest);
        if (r >= 0 && layer_store_remember_compressed(rc->store, &c->transport, err) < 0)
                cb_err_reset(err); /* only a lost shortcut */
        return r;
}

static int fetch_local(struct bld_cache_remote *rc, const struct cache_src *cs, const char *digest, struct cb_err *err)
{
        _cleanup_free_ char *path = cb_xasprintf("%s/blobs/sha256/%s", cs->ref, digest + 7);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return cb_fail(err, errno, "open '%s'", path);
        struct layer_blob_writer *w = NULL;
        int r = layer_store_blob_begin(rc->store, &w, err);
        if (r < 0)
                return r;
        char buf[1 << 16];
        for (;;) {
                ssize_t n = read(fd, buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        int e = errno;
                        layer_blob_writer_abort(w);
                        return cb_fail(err, e, "read '%s'", path);
                }
                if (n == 0)
                        break;
                r = layer_blob_writer_write(w, buf, (size_t) n, err);
                if (r < 0) {
                        layer_blob_writer_abort(w);
                        return r;
                }
        }
        char got[CB_DIGEST_STR_LEN];
        return layer_blob_writer_commit(w, digest, got, err);
}

int bld_cache_remote_ensure(struct bld_cache_remote *rc, const struct layer_desc *layers, size_t n,
                            struct cb_err *err)
{
        if (!rc)
                return 0;
        for (size_t si = 0; si < rc->nsrcs; si++) {
                const char **want = NULL;
                size_t nwant = 0;
                int r = 0;
                const char **stored = NULL;
                for (size_t i = 0; i < n; i++) {
                        if (layer_store_has_blob(rc->store, layers[i].digest) || src_of(rc, layers[i].digest) != (int) si)
                                continue;
                        want = cb_xrealloc(want, (nwant + 1) * sizeof(char *));
                        stored = cb_xrealloc(stored, (nwant + 1) * sizeof(char *));
                        stored[nwant] = layers[i].digest;
                        want[nwant++] = blob_of(rc, layers[i].digest);
                }
                if (nwant == 0)
                        continue;
                const struct cache_src *cs = &rc->srcs[si];
                say(rc, "cache: fetching %zu layer%s from '%s'", nwant, nwant == 1 ? "" : "s", cs->ref);
                if (cs->kind == SRC_LOCAL) {
                        for (size_t i = 0; i < nwant && r >= 0; i++)
                                r = fetch_local(rc, cs, want[i], err);
                } else {
                        struct reg_client *c = NULL;
                        r = client(rc, &c, err);
                        if (r >= 0) {
                                struct filter_sink f;
                                struct reg_blob_sink sink;
                                filter_sink_init(&f, &sink, rc->store);
                                f.want = want;
                                f.nwant = nwant;
                                char md[CB_DIGEST_STR_LEN];
                                r = reg_pull(c, &cs->rr, &sink, NULL, md, err);
                        }
                }
                for (size_t i = 0; i < nwant && r >= 0; i++)
                        r = unpack_transport(rc, stored[i], err);
                free(want);
                free(stored);
                if (r < 0) {
                        cb_wrap(err, "cache '%s': fetch layers", cs->ref);
                        return r;
                }
                rc->fetched += nwant;
        }
        return 0;
}

/* COPY --from and RUN --mount=...,from= read other stages: their layers are needed as well. */
static bool reads_other_stage(const struct df_instr *in)
{
        for (size_t i = 0; i < in->nflags; i++) {
                if (strcmp(in->flags[i].name, "from") == 0)
                        return true;
                if (strcmp(in->flags[i].name, "mount") == 0 && in->flags[i].value && strstr(in->flags[i].value, "from="))
                        return true;
        }
        return false;
}

int bld_cache_remote_need(struct bld_ctx *b, struct bld_stage *st, const struct df_instr *in, struct cb_err *err)
{
        struct bld_cache_remote *rc = b->remote;
        if (!rc || rc->nin == 0)
                return 0;
        int r = bld_cache_remote_ensure(rc, st->layers, st->nlayers, err);
        if (r < 0 || !reads_other_stage(in))
                return r;
        for (size_t i = 0; i < b->nstages && r >= 0; i++)
                if (b->stages[i].built)
                        r = bld_cache_remote_ensure(rc, b->stages[i].layers, b->stages[i].nlayers, err);
        return r;
}

size_t bld_cache_remote_fetched(const struct bld_cache_remote *rc)
{
        return rc ? rc->fetched : 0;
}

/* ---- export ------------------------------------------------------------------------------------ */

static bool in_layers(const struct layer_desc *layers, size_t n, const char *digest)
{
        for (size_t i = 0; i < n; i++)
                if (strcmp(layers[i].digest, digest) == 0)
                        return true;
        return false;
}

/* Writes config + manifest blobs into the store for recs; ret_digest gets the manifest's digest. */
static int write_manifest(struct bld_cache_remote *rc, const struct cache_rec *recs, size_t n,
                          char ret_digest[CB_DIGEST_STR_LEN], struct cb_err *err)
{
        _cleanup_free_ char *cfg = records_json(recs, n);
        char cfg_digest[CB_DIGEST_STR_LEN];
        int r = layer_store_put_blob(rc->store, cfg, strlen(cfg), cfg_digest, err);
        if (r < 0)
                return r;
        json_t *layers = json_array();
        for (size_t i = 0; i < n; i++) {
                bool dup = false;
                const struct layer_desc *l = recs[i].has_transport ? &recs[i].transport : &recs[i].e.layer;
                for (size_t k = 0; k < i && !dup; k++)
                        dup = strcmp(recs[k].has_transport ? recs[k].transport.digest : recs[k].e.layer.digest,
                                     l->digest) == 0;
                if (dup)
                        continue;
                json_array_append_new(layers, json_pack("{s:s, s:s, s:I}", "mediaType", l->media_type, "digest",
                                                        l->digest, "size", (json_int_t) l->size));
        }
        json_t *m = json_pack("{s:i, s:s, s:s, s:{s:s, s:s, s:I}, s:o}", "schemaVersion", 2, "mediaType",
                              LAYER_MT_OCI_MANIFEST, "artifactType", BLD_CACHE_ARTIFACT_TYPE, "config", "mediaType",
                              BLD_CACHE_CONFIG_TYPE, "digest", cfg_digest, "size", (json_int_t) strlen(cfg), "layers",
                              layers);
        r = layer_store_put_json(rc->store, m, ret_digest, NULL, err);
        json_decref(m);
        return r;
}

static int copy_blob_to(struct bld_cache_remote *rc, int bfd, const char *digest, struct cb_err *err)
{
        struct stat sb;
        if (fstatat(bfd, digest + 7, &sb, 0) == 0)
                return 0;
        uint64_t size = 0;
        _cleanup_close_ int in = layer_store_open_blob(rc->store, digest, &size, err);
        if (in < 0)
                return in;
        _cleanup_free_ char *tmp = cb_xasprintf("%s.tmp", digest + 7);
        _cleanup_close_ int out = openat(bfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (out < 0)
                return cb_fail(err, errno, "create '%s'", tmp);
        char buf[1 << 16];
        for (;;) {
                ssize_t n = read(in, buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return cb_fail(err, errno, "read blob %s", digest);
                if (n == 0)
                        break;
                int r = cb_write_all(out, buf, (size_t) n);
                if (r < 0)
                        return cb_fail(err, -r, "write '%s'", tmp);
        }
        if (fsync(out) < 0)
                return cb_fail(err, errno, "fsync '%s'", tmp);
        if (renameat(bfd, tmp, bfd, digest + 7) < 0)
                return cb_fail(err, errno, "rename '%s'", tmp);
        return 0;
}

static int export_local(struct bld_cache_remote *rc, const char *dir, const char *mdigest, const struct cache_rec *recs,
                        size_t n, struct cb_err *err)
{
        int r = cb_mkdir_p(AT_FDCWD, dir, 0755, err);
        if (r < 0)
                return r;
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return cb_fail(err, errno, "open '%s'", dir);
        r = cb_mkdir_p(dfd, "blobs/sha256", 0755, err);
        if (r < 0)
                return r;
        _cleanup_close_ int bfd = openat(dfd, "blobs/sha256", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (bfd < 0)
                return cb_fail(err, errno, "open '%s/blobs/sha256'", dir);
        for (size_t i = 0; i < n && r >= 0; i++)
                r = copy_blob_to(rc, bfd, recs[i].has_transport ? recs[i].transport.digest : recs[i].e.layer.digest,
                                 err);
        struct cb_buf m;
        cb_buf_init(&m, LAYER_JSON_MAX);
        if (r >= 0)
                r = layer_store_read_blob(rc->store, mdigest, LAYER_JSON_MAX, &m, err);
        json_t *man = r >= 0 ? json_loadb(m.p, m.len, 0, NULL) : NULL;
        const char *cfg = json_string_value(json_object_get(json_object_get(man, "config"), "digest"));
        if (r >= 0 && cfg)
                r = copy_blob_to(rc, bfd, cfg, err);
        if (r >= 0)
                r = copy_blob_to(rc, bfd, mdigest, err);
        if (r >= 0)
                (void) fsync(bfd);
        static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
        if (r >= 0)
                r = cb_write_file_atomic(dfd, "oci-layout", layout, sizeof(layout) - 1, 0644, err);
        if (r >= 0) {
                json_t *idx = json_pack("{s:i, s:s, s:[{s:s, s:s, s:s, s:I, s:{s:s}}]}", "schemaVersion", 2, "mediaType",
                                        LAYER_MT_OCI_INDEX, "manifests", "mediaType", LAYER_MT_OCI_MANIFEST,
                                        "artifactType", BLD_CACHE_ARTIFACT_TYPE, "digest", mdigest, "size",
                                        (json_int_t) m.len, "annotations", LAYER_ANNOTATION_REF_NAME, "latest");
                char *text = json_dumps(idx, JSON_COMPACT | JSON_SORT_KEYS);
                json_decref(idx);
                r = cb_write_file_atomic(dfd, "index.json", text, strlen(text), 0644, err);
                free(text);
        }
        json_decref(man);
        cb_buf_release(&m);
        return r;
}

int bld_cache_remote_export(struct bld_cache_remote *rc, const struct layer_desc *final_layers, size_t nfinal,
                            struct cb_err *err)
{
        if (!rc || rc->notes_fd < 0)
                return 0;
        int rn = read_notes(rc, err);
        if (rn < 0)
                return rn;
        for (size_t t = 0; t < rc->opts->ncache_to; t++) {
                const char *spec = rc->opts->cache_to[t];
                enum src_kind kind;
                _cleanup_free_ char *loc = NULL;
                bool max;
                int r = parse_spec(spec, true, &kind, &loc, &max, err);
                if (r < 0)
                        return r;
                struct reg_ref rr = { 0 };
                if (kind == SRC_REGISTRY && (r = reg_ref_parse(loc, &rr, err)) < 0)
                        return r;
                struct reg_client *c = NULL;
                if (kind == SRC_REGISTRY)
                        r = client(rc, &c, err);
                /* mode=min: the steps whose layers are in the image; max: every step of every stage */
                struct cache_rec *recs = cb_xcalloc(rc->nout + 1, sizeof(*recs));
                size_t n = 0;
                for (size_t i = 0; i < rc->nout && r >= 0; i++) {
                        const struct cache_rec *o = &rc->out[i];
                        if (!max && !in_layers(final_layers, nfinal, o->e.layer.digest))
                                continue;
                        const struct cache_rec *in = imported(rc, o->e.layer.digest);
                        const char *blob = blob_of(rc, o->e.layer.digest);
                        if (!layer_store_has_blob(rc->store, blob)) {
                                int si = src_of(rc, o->e.layer.digest);
                                if (si < 0)
                                        continue; /* nowhere to take it from: leave the record out */
                                const struct cache_src *cs = &rc->srcs[si];
                                if (kind == SRC_REGISTRY && cs->kind == SRC_REGISTRY &&
                                    strcmp(cs->rr.domain, rr.domain) == 0) {
                                        /* already in that registry: HEAD finds it, or a mount copies it */
                                        reg_client_note_blob(c, cs->rr.domain, cs->rr.path, blob);
                                } else {
                                        r = bld_cache_remote_ensure(rc, &o->e.layer, 1, err);
                                }
                        }
                        recs[n] = *o;
                        recs[n].has_transport = false;
                        if (in && in->has_transport) {
                                recs[n].transport = in->transport;
                                recs[n].has_transport = true;
                        } else if (r >= 0 && layer_store_has_blob(rc->store, o->e.layer.digest) &&
                                   (!strcmp(o->e.layer.media_type, LAYER_MT_OCI_LAYER) ||
                                    !strcmp(o->e.layer.media_type, LAYER_MT_DOCKER_LAYER))) {
                                /* the cache travels compressed, as images do: each layer compressed once */
                                r = layer_store_compress_layer(rc->store, &o->e.layer, LAYER_GZIP, -1,
                                                               &recs[n].transport, err);
                                recs[n].has_transport = r >= 0;
                        }
                        n++;
                }
                char mdigest[CB_DIGEST_STR_LEN];
                if (r >= 0) {
                        qsort(recs, n, sizeof(*recs), rec_cmp);
                        r = write_manifest(rc, recs, n, mdigest, err);
                }
                if (r >= 0 && kind == SRC_REGISTRY) {
                        struct reg_blob_sink sink;
                        bld_blob_sink_init(&sink, rc->store);
                        r = reg_push(c, &rr, &sink, mdigest, LAYER_MT_OCI_MANIFEST, NULL, err);
                } else if (r >= 0) {
                        r = export_local(rc, loc, mdigest, recs, n, err);
                }
                if (r >= 0)
                        say(rc, "cache: exported %zu records (mode=%s) to '%s'", n, max ? "max" : "min", loc);
                free(recs);
                reg_ref_release(&rr);
                if (r < 0) {
                        cb_wrap(err, "--cache-to '%s'", spec);
                        return r;
                }
        }
        return 0;
}

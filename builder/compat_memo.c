/* The static CUDA report remembered per image content: a rebuild that made no new layer (every step
 * from the cache) gets the report of the same layers without reading every ELF header again; one whose
 * top layers only add files the report merely counts (a COPY of a script) gets the report of the layers
 * below them with the counters increased, without mounting anything. */
#include "builder/verify.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "builder/bld.h"
#include "kernels/compat.h"
#include "layers/layer.h"

#define MEMO_MAX (4u << 20)
/* How many top layers a memo of the layers below them may stand for. */
#define MEMO_MAX_DERIVED 4
/* The summary inside the report's static section has no prefix (kv_compat_json()). */
#define JSON_SUMMARY_PREFIX ""

static void add(struct cb_sha256 *h, const char *tag, const char *v)
{
        cb_sha256_update(h, tag, strlen(tag) + 1);
        cb_sha256_update(h, v ? v : "\x01", v ? strlen(v) + 1 : 2);
}

void bld_compat_memo_key(const struct layer_desc *layers, size_t n, const char *cuda_version,
                         const char *nvidia_require_cuda, const char *require_arch, const char *require_driver,
                         char ret[CB_DIGEST_STR_LEN])
{
        struct cb_sha256 *h = cb_sha256_new();
        add(h, "compat-memo", "1");
        add(h, "version", bld_version());
        add(h, "commit", bld_commit());
        add(h, "CUDA_VERSION", cuda_version);
        add(h, "NVIDIA_REQUIRE_CUDA", nvidia_require_cuda);
        add(h, "require-arch", require_arch);
        add(h, "require-driver", require_driver);
        for (size_t i = 0; i < n; i++)
                add(h, "layer", layers[i].diff_id);
        cb_sha256_final(h, ret);
        cb_sha256_free(h);
}

static char *memo_path(const char *key)
{
        return cb_xasprintf("cache/compat/%s.json", key + 7);
}

bool bld_compat_memo_get(struct layer_store *s, const char *key, json_t **ret_static, char **ret_summary,
                         char **ret_gap)
{
        _cleanup_free_ char *path = memo_path(key);
        struct cb_buf b;
        cb_buf_init(&b, MEMO_MAX);
        struct cb_err e;
        cb_err_init(&e);
        int r = cb_read_file(layer_store_root_fd(s), path, MEMO_MAX, &b, &e);
        cb_err_release(&e);
        json_t *j = r >= 0 ? json_loadb(b.p ? b.p : "", b.len, 0, NULL) : NULL;
        cb_buf_release(&b);
        json_t *st = json_object_get(j, "static");
        const char *summary = json_string_value(json_object_get(j, "summary"));
        json_t *gap = json_object_get(j, "gap");
        if (!json_is_object(st) || !summary || !(json_is_null(gap) || json_is_string(gap))) {
                json_decref(j);
                return false;
        }
        *ret_static = json_incref(st);
        if (ret_summary)
                *ret_summary = cb_xstrdup(summary);
        *ret_gap = json_is_string(gap) ? cb_xstrdup(json_string_value(gap)) : NULL;
        json_decref(j);
        return true;
}

void bld_compat_memo_put(struct layer_store *s, const char *key, json_t *static_report, const char *summary,
                         const char *gap)
{
        json_t *j = json_pack("{s:O, s:s, s:o}", "static", static_report, "summary", summary ? summary : "", "gap",
                              gap ? json_string(gap) : json_null());
        char *text = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        json_decref(j);
        if (!text)
                return;
        _cleanup_free_ char *path = memo_path(key);
        struct cb_err e;
        cb_err_init(&e);
        /* only a lost shortcut when it cannot be written */
        if (cb_mkdir_p(layer_store_root_fd(s), "cache/compat", 0700, &e) >= 0)
                (void) cb_write_file_atomic(layer_store_root_fd(s), path, text, strlen(text), 0644, &e);
        cb_err_release(&e);
        free(text);
}

/* ---- memos of the layers below inert new layers ---- */

/* Paths seen in the layers above a memo's: a tar may name a path twice (the later entry wins), two of
 * those layers may hold the same path, and a file counted twice would skew the counters. 64-bit hashes,
 * open addressing; a collision only costs the shortcut. */
struct seen {
        uint64_t *v;
        size_t cap, n;
};

static uint64_t path_hash(const char *path)
{
        uint64_t h = 1469598103934665603ull;
        for (const char *p = path; *p; p++)
                h = (h ^ (unsigned char) *p) * 1099511628211ull;
        return h | 1; /* 0 marks a free slot */
}

static size_t seen_slot(const uint64_t *v, size_t cap, uint64_t h)
{
        size_t k = h & (cap - 1);
        while (v[k] && v[k] != h)
                k = (k + 1) & (cap - 1);
        return k;
}

static bool seen_has(const struct seen *t, uint64_t h)
{
        return t->cap && t->v[seen_slot(t->v, t->cap, h)] == h;
}

static void seen_add(struct seen *t, uint64_t h)
{
        if (2 * (t->n + 1) > t->cap) {
                struct seen g = { .cap = t->cap ? 2 * t->cap : 1024, .n = t->n };
                g.v = cb_xcalloc(g.cap, sizeof(*g.v));
                for (size_t i = 0; i < t->cap; i++)
                        if (t->v[i])
                                g.v[seen_slot(g.v, g.cap, t->v[i])] = t->v[i];
                free(t->v);
                *t = g;
        }
        size_t k = seen_slot(t->v, t->cap, h);
        if (!t->v[k]) {
                t->v[k] = h;
                t->n++;
        }
}

/* What the layers above a memo's add, and where. */
struct delta {
        struct layer_presence *below; /* the memo's layers */
        struct seen dirs, others;     /* paths of the layers above: directories (also implied by a
                                       * deeper path) and the rest */
        struct cb_buf parent;         /* the last entry's parent, its components checked */
        uint64_t files, bytes;
};

static void delta_release(struct delta *d)
{
        layer_presence_free(d->below);
        free(d->dirs.v);
        free(d->others.v);
        cb_buf_release(&d->parent);
}

/* Whether each directory on path's way is one in the layers above (no symlink or file of theirs, which
 * would send a tar entry elsewhere or be replaced by it); checked once per directory run. */
static bool parents_are_dirs(struct delta *d, const char *path)
{
        const char *slash = strrchr(path, '/');
        size_t len = slash ? (size_t) (slash - path) : 0;
        if (d->parent.p && d->parent.len == len && memcmp(d->parent.p, path, len) == 0)
                return true;
        if (!d->parent.p)
                cb_buf_init(&d->parent, CB_BUF_UNLIMITED);
        cb_buf_reset(&d->parent);
        (void) cb_buf_add(&d->parent, path, len);
        for (size_t i = 1; i <= len; i++) {
                if (i < len && d->parent.p[i] != '/')
                        continue;
                char c = d->parent.p[i];
                d->parent.p[i] = '\0';
                uint64_t h = path_hash(d->parent.p);
                d->parent.p[i] = c;
                if (seen_has(&d->others, h)) {
                        cb_buf_reset(&d->parent);
                        return false;
                }
                seen_add(&d->dirs, h);
        }
        return true;
}

/* 0 while the layer stays inert and new, 1 at the first entry that is not */
static int delta_entry(void *ud, const struct layer_entry *e)
{
        struct delta *d = ud;
        bool dir = S_ISDIR(e->mode);
        if (e->flags || !kv_compat_entry_inert(e->path, e->mode, e->size))
                return 1;
        uint64_t h = path_hash(e->path);
        if (seen_has(&d->others, h) || (!dir && seen_has(&d->dirs, h)) || !parents_are_dirs(d, e->path))
                return 1;
        if (layer_presence_check(d->below, e->path, dir) != 0)
                return 1;
        seen_add(dir ? &d->dirs : &d->others, h);
        if (S_ISREG(e->mode)) {
                d->files++;
                d->bytes += e->size;
        }
        return 0;
}

/* Whether layers[j] only adds entries the report counts, at paths that neither the memo's layers (opened
 * in d->below) nor the other layers above them (d's sets) hold otherwise, so the merged tree has them all
 * and hides nothing: true with its regular files and bytes added to d. False also when it cannot be
 * read. */
static bool layer_delta(struct layer_store *s, const struct layer_desc *layers, size_t j, struct delta *d)
{
        struct cb_err e;
        cb_err_init(&e);
        int r = layer_store_walk_entries(s, &layers[j], delta_entry, d, &e);
        cb_err_release(&e);
        return r == 0;
}

/* Opens the memo's layers[0..k) in d; false when one is not unpacked. */
static bool delta_init(struct delta *d, struct layer_store *s, const struct layer_desc *layers, size_t k)
{
        struct cb_err e;
        cb_err_init(&e);
        layer_presence_free(d->below);
        d->below = NULL;
        int r = layer_presence_new(s, layers, k, &d->below, &e);
        cb_err_release(&e);
        return r >= 0;
}

/* summary with its last line, the counts as kv_compat_counts_line() writes them for old_bytes, written
 * for new_bytes; NULL when the last line is not that one (then the memo is not ours to rewrite). */
static char *shift_summary(const char *summary, const char *prefix, uint64_t cuda_files, uint64_t bytes_read,
                           uint64_t old_bytes, uint64_t new_bytes)
{
        size_t len = strlen(summary);
        if (len < 2 || summary[len - 1] != '\n')
                return NULL;
        size_t start = len - 1;
        while (start > 0 && summary[start - 1] != '\n')
                start--;
        _cleanup_free_ char *old_line = kv_compat_counts_line(prefix, cuda_files, bytes_read, old_bytes);
        _cleanup_free_ char *new_line = kv_compat_counts_line(prefix, cuda_files, bytes_read, new_bytes);
        if (!old_line || !new_line || strcmp(summary + start, old_line) != 0)
                return NULL;
        return cb_xasprintf("%.*s%s", (int) start, summary, new_line);
}

static bool scan_int(json_t *scan, const char *key, uint64_t *ret)
{
        json_t *v = json_object_get(scan, key);
        if (!json_is_integer(v) || json_integer_value(v) < 0)
                return false;
        *ret = (uint64_t) json_integer_value(v);
        return true;
}

int bld_compat_memo_shift(json_t *static_report, const char *summary, int64_t files, int64_t bytes,
                          json_t **ret_static, char **ret_summary)
{
        json_t *scan = json_object_get(static_report, "scan");
        const char *jsum = json_string_value(json_object_get(static_report, "summary"));
        uint64_t nreg, nbytes, cuda_files, bytes_read;
        if (!jsum || !scan_int(scan, "regular_files", &nreg) || !scan_int(scan, "image_bytes", &nbytes) ||
            !scan_int(scan, "cuda_files", &cuda_files) || !scan_int(scan, "bytes_read", &bytes_read))
                return -EBADMSG;
        if ((files < 0 && (uint64_t) -files > nreg) || (bytes < 0 && (uint64_t) -bytes > nbytes))
                return -EBADMSG;
        uint64_t new_reg = nreg + (uint64_t) files, new_bytes = nbytes + (uint64_t) bytes;
        _cleanup_free_ char *new_jsum =
            shift_summary(jsum, JSON_SUMMARY_PREFIX, cuda_files, bytes_read, nbytes, new_bytes);
        _cleanup_free_ char *new_sum =
            shift_summary(summary, BLD_COMPAT_PREFIX, cuda_files, bytes_read, nbytes, new_bytes);
        if (!new_jsum || !new_sum)
                return -EBADMSG;
        json_t *j = json_deep_copy(static_report);
        json_t *jscan = json_object_get(j, "scan");
        if (!j || json_object_set_new(jscan, "regular_files", json_integer((json_int_t) new_reg)) < 0 ||
            json_object_set_new(jscan, "image_bytes", json_integer((json_int_t) new_bytes)) < 0 ||
            json_object_set_new(j, "summary", json_string(new_jsum)) < 0) {
                json_decref(j);
                return -ENOMEM;
        }
        *ret_static = j;
        *ret_summary = CB_TAKE_PTR(new_sum);
        return 0;
}

static void key_of(const struct layer_desc *layers, size_t n, const struct bld_compat_memo_opts *o,
                   char ret[CB_DIGEST_STR_LEN])
{
        bld_compat_memo_key(layers, n, o->cuda_version, o->nvidia_require_cuda, o->require_arch, o->require_driver,
                            ret);
}

bool bld_compat_memo_lookup(struct layer_store *s, const struct layer_desc *layers, size_t n,
                            const struct bld_compat_memo_opts *o, json_t **ret_static, char **ret_summary,
                            char **ret_gap)
{
        char key[CB_DIGEST_STR_LEN];
        key_of(layers, n, o, key);
        if (bld_compat_memo_get(s, key, ret_static, ret_summary, ret_gap))
                return true;
        for (size_t k = n; k-- > 1 && n - k <= MEMO_MAX_DERIVED;) {
                char pkey[CB_DIGEST_STR_LEN];
                json_t *st = NULL;
                _cleanup_free_ char *summary = NULL, *gap = NULL;
                key_of(layers, k, o, pkey);
                if (!bld_compat_memo_get(s, pkey, &st, &summary, &gap))
                        continue;
                /* the longest remembered prefix decides: a shorter one needs all the same layers to be
                 * inert and new, and more */
                struct delta d = { 0 };
                bool ok = delta_init(&d, s, layers, k);
                for (size_t j = n; ok && j-- > k;)
                        ok = layer_delta(s, layers, j, &d);
                json_t *nst = NULL;
                char *nsum = NULL;
                if (ok &&
                    bld_compat_memo_shift(st, summary, (int64_t) d.files, (int64_t) d.bytes, &nst, &nsum) < 0)
                        ok = false;
                delta_release(&d);
                json_decref(st);
                if (!ok)
                        return false;
                bld_compat_memo_put(s, key, nst, nsum, gap);
                *ret_static = nst;
                if (ret_summary)
                        *ret_summary = nsum;
                else
                        free(nsum);
                *ret_gap = CB_TAKE_PTR(gap);
                return true;
        }
        return false;
}

void bld_compat_memo_save(struct layer_store *s, const struct layer_desc *layers, size_t n,
                          const struct bld_compat_memo_opts *o, json_t *static_report, const char *summary,
                          const char *gap)
{
        char key[CB_DIGEST_STR_LEN];
        key_of(layers, n, o, key);
        bld_compat_memo_put(s, key, static_report, summary, gap);
        /* the next build may change its last steps: remember the layers below them too, when those steps
         * only add files the report counts */
        struct delta d = { 0 };
        for (size_t j = n; j-- > 1 && n - j <= MEMO_MAX_DERIVED;) {
                /* layers[j] against all below it: more than lookup asks of it, as cheap */
                if (!delta_init(&d, s, layers, j) || !layer_delta(s, layers, j, &d))
                        break;
                json_t *st = NULL;
                _cleanup_free_ char *sum = NULL;
                if (bld_compat_memo_shift(static_report, summary, -(int64_t) d.files, -(int64_t) d.bytes, &st,
                                          &sum) < 0)
                        break;
                key_of(layers, j, o, key);
                bld_compat_memo_put(s, key, st, sum, gap);
                json_decref(st);
        }
        delta_release(&d);
}

size_t bld_compat_memo_scan_layers(struct layer_store *s, const struct layer_desc *layers, size_t n,
                                   uint64_t *ret_files, uint64_t *ret_bytes)
{
        if (n < 2)
                return n;
        for (size_t i = 0; i + 1 < n; i++) {
                char *path = NULL;
                struct cb_err e;
                cb_err_init(&e);
                /* the mount unpacks them anyway */
                int r = layer_store_unpacked(s, &layers[i], &path, &e);
                cb_err_release(&e);
                free(path);
                if (r < 0)
                        return n;
        }
        struct delta d = { 0 };
        bool ok = delta_init(&d, s, layers, n - 1) && layer_delta(s, layers, n - 1, &d);
        delta_release(&d);
        if (!ok)
                return n;
        *ret_files = d.files;
        *ret_bytes = d.bytes;
        return n - 1;
}

int bld_compat_memo_extend(struct layer_store *s, const struct layer_desc *layers, size_t n,
                           const struct bld_compat_memo_opts *o, uint64_t files, uint64_t bytes,
                           json_t **static_report, char **summary, const char *gap)
{
        json_t *st = NULL;
        char *sum = NULL;
        int r = bld_compat_memo_shift(*static_report, *summary, (int64_t) files, (int64_t) bytes, &st, &sum);
        if (r < 0)
                return r;
        json_decref(*static_report);
        free(*summary);
        *static_report = st;
        *summary = sum;
        char key[CB_DIGEST_STR_LEN];
        key_of(layers, n, o, key);
        bld_compat_memo_put(s, key, st, sum, gap);
        return 0;
}

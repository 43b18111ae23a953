/* Image diff: manifests and configs field by field, layers matched by diff_id, file trees per layer
 * and flattened. One line per difference, or one JSON document. */
#include "builder/audit.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "layers/diff.h"
#include "layers/layer.h"

struct diff_out {
        const struct bld_diff_opts *o;
        json_t *list; /* JSON format: the differences */
        long n;
        /* per-layer context for tree differences */
        const char *kind;
        long layer_a, layer_b;
};

static char *dump(json_t *v)
{
        if (!v)
                return cb_xstrdup("(absent)");
        char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_SORT_KEYS);
        return s ? s : cb_xstrdup("?");
}

static void emit_json(struct diff_out *d, const char *kind, const char *path, const char *field, json_t *a, json_t *b)
{
        d->n++;
        if (d->o->format == BLD_DIFF_JSON) {
                json_t *e = json_pack("{s:s, s:s}", "kind", kind, "path", path);
                if (field)
                        json_object_set_new(e, "field", json_string(field));
                if (d->layer_a >= 0 && !strcmp(kind, "layer-file")) {
                        json_object_set_new(e, "layer_a", json_integer(d->layer_a));
                        json_object_set_new(e, "layer_b", json_integer(d->layer_b));
                }
                json_object_set_new(e, "a", a ? json_incref(a) : json_null());
                json_object_set_new(e, "b", b ? json_incref(b) : json_null());
                json_array_append_new(d->list, e);
                return;
        }
        FILE *f = d->o->out;
        _cleanup_free_ char *sa = dump(a), *sb = dump(b);
        if (!strcmp(kind, "layer-file"))
                (void) fprintf(f, "layer A#%ld/B#%ld %s:", d->layer_a, d->layer_b, path);
        else
                (void) fprintf(f, "%s %s:", kind, path);
        if (field && strcmp(field, "presence"))
                (void) fprintf(f, " %s", field);
        if (!a)
                (void) fprintf(f, " only in B (%s)\n", sb);
        else if (!b)
                (void) fprintf(f, " only in A (%s)\n", sa);
        else
                (void) fprintf(f, " %s != %s\n", sa, sb);
}

/* jq-style path element */
static char *path_key(const char *base, const char *key)
{
        bool plain = *key && strspn(key, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == strlen(key);
        if (plain)
                return cb_xasprintf("%s.%s", base, key);
        json_t *s = json_string(key);
        _cleanup_free_ char *q = dump(s);
        json_decref(s);
        return cb_xasprintf("%s.%s", base, q);
}

static int key_cmp(const void *a, const void *b)
{
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

static void json_diff(struct diff_out *d, const char *kind, const char *path, json_t *a, json_t *b)
{
        if (json_is_object(a) && json_is_object(b)) {
                size_t n = json_object_size(a) + json_object_size(b), k = 0;
                const char **keys = cb_xcalloc(n ? n : 1, sizeof(char *));
                const char *key;
                json_t *v;
                json_object_foreach(a, key, v)
                        keys[k++] = key;
                json_object_foreach(b, key, v)
                        if (!json_object_get(a, key))
                                keys[k++] = key;
                qsort(keys, k, sizeof(char *), key_cmp);
                for (size_t i = 0; i < k; i++) {
                        _cleanup_free_ char *p = path_key(path, keys[i]);
                        json_diff(d, kind, p, json_object_get(a, keys[i]), json_object_get(b, keys[i]));
                }
                free(keys);
                return;
        }
        if (json_is_array(a) && json_is_array(b)) {
                size_t na = json_array_size(a), nb = json_array_size(b);
                for (size_t i = 0; i < na || i < nb; i++) {
                        _cleanup_free_ char *p = cb_xasprintf("%s[%zu]", path, i);
                        json_diff(d, kind, p, json_array_get(a, i), json_array_get(b, i));
                }
                return;
        }
        if (a && b && json_equal(a, b))
                return;
        emit_json(d, kind, *path ? path : ".", NULL, a, b);
}

static void tree_cb(void *ud, const char *path, const char *field, const char *a, const char *b)
{
        struct diff_out *d = ud;
        json_t *ja = a ? json_string(a) : NULL, *jb = b ? json_string(b) : NULL;
        emit_json(d, d->kind, path, field, ja, jb);
        if (ja)
                json_decref(ja);
        if (jb)
                json_decref(jb);
}

/* --- scanning the layers, two at a time --- */
struct scan_job {
        struct layer_store *s;
        const struct layer_desc *l;
        struct layer_tree *tree;
        int r;
        struct cb_err err;
};
struct scan_pool {
        struct scan_job *jobs;
        size_t n;
        atomic_size_t next;
};

static void *scan_worker(void *arg)
{
        struct scan_pool *p = arg;
        for (;;) {
                size_t i = atomic_fetch_add(&p->next, 1);
                if (i >= p->n)
                        return NULL;
                struct scan_job *j = &p->jobs[i];
                _cleanup_close_ int fd = layer_store_open_blob(j->s, j->l->digest, NULL, &j->err);
                j->r = fd < 0 ? fd : layer_tree_scan_fd(fd, &j->tree, &j->err);
                if (j->r < 0)
                        cb_wrap(&j->err, "layer %s", j->l->diff_id);
        }
}

static long nthreads(void)
{
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        return n < 1 ? 1 : n > 4 ? 4 : n;
}

static struct layer_tree *find_tree(struct scan_pool *p, const char *diff_id)
{
        for (size_t i = 0; i < p->n; i++)
                if (!strcmp(p->jobs[i].l->diff_id, diff_id))
                        return p->jobs[i].tree;
        return NULL;
}

static bool in_list(const struct layer_image *img, const char *diff_id, size_t *ret_i)
{
        for (size_t i = 0; i < img->nlayers; i++)
                if (!strcmp(img->layers[i].diff_id, diff_id)) {
                        if (ret_i)
                                *ret_i = i;
                        return true;
                }
        return false;
}

static int diff_layers(struct diff_out *d, struct layer_store *sa, struct layer_image *a, struct layer_store *sb,
                       struct layer_image *b, struct cb_err *err)
{
        bool same = a->nlayers == b->nlayers;
        for (size_t i = 0; same && i < a->nlayers; i++)
                same = !strcmp(a->layers[i].diff_id, b->layers[i].diff_id);
        if (same)
                return 0; /* equal diff_ids: equal tars, equal trees */

        /* layers matched by diff_id */
        size_t *una = cb_xcalloc(a->nlayers + 1, sizeof(size_t)), *unb = cb_xcalloc(b->nlayers + 1, sizeof(size_t));
        size_t nua = 0, nub = 0;
        for (size_t i = 0; i < a->nlayers; i++) {
                size_t j;
                const char *p = a->layers[i].diff_id;
                if (!in_list(b, a->layers[i].diff_id, &j)) {
                        _cleanup_free_ char *at = cb_xasprintf("A layer %zu", i);
                        json_t *ja = json_string(at);
                        emit_json(d, "layers", p, NULL, ja, NULL);
                        json_decref(ja);
                        una[nua++] = i;
                } else if (i != j) {
                        _cleanup_free_ char *at = cb_xasprintf("A layer %zu", i), *bt = cb_xasprintf("B layer %zu", j);
                        json_t *ja = json_string(at), *jb = json_string(bt);
                        emit_json(d, "layers", p, "position", ja, jb);
                        json_decref(ja);
                        json_decref(jb);
                }
        }
        for (size_t j = 0; j < b->nlayers; j++) {
                if (!in_list(a, b->layers[j].diff_id, NULL)) {
                        _cleanup_free_ char *bt = cb_xasprintf("B layer %zu", j);
                        json_t *jb = json_string(bt);
                        emit_json(d, "layers", b->layers[j].diff_id, NULL, NULL, jb);
                        json_decref(jb);
                        unb[nub++] = j;
                }
        }

        /* every distinct layer scanned once */
        struct scan_pool pool = { 0 };
        pool.jobs = cb_xcalloc(a->nlayers + b->nlayers + 1, sizeof(struct scan_job));
        for (int side = 0; side < 2; side++) {
                struct layer_image *img = side ? b : a;
                for (size_t i = 0; i < img->nlayers; i++) {
                        bool dup = false;
                        for (size_t k = 0; k < pool.n && !dup; k++)
                                dup = !strcmp(pool.jobs[k].l->diff_id, img->layers[i].diff_id);
                        if (dup)
                                continue;
                        struct scan_job *j = &pool.jobs[pool.n++];
                        j->s = side ? sb : sa;
                        j->l = &img->layers[i];
                        cb_err_init(&j->err);
                }
        }
        atomic_init(&pool.next, 0);
        long nt = nthreads();
        if ((size_t) nt > pool.n)
                nt = (long) pool.n;
        pthread_t th[4];
        long started = 0;
        for (long t = 1; t < nt; t++)
                if (pthread_create(&th[started], NULL, scan_worker, &pool) == 0)
                        started++;
        (void) scan_worker(&pool);
        for (long t = 0; t < started; t++)
                (void) pthread_join(th[t], NULL);
        int r = 0;
        for (size_t k = 0; k < pool.n; k++) {
                if (pool.jobs[k].r < 0 && r >= 0) {
                        r = pool.jobs[k].r;
                        (void) cb_failc(err, r, "%s", cb_err_msg(&pool.jobs[k].err));
                }
        }
        if (r >= 0) {
                /* per layer: the unmatched layers paired in order */
                for (size_t k = 0; k < nua && k < nub; k++) {
                        d->kind = "layer-file";
                        d->layer_a = (long) una[k];
                        d->layer_b = (long) unb[k];
                        (void) layer_tree_diff(find_tree(&pool, a->layers[una[k]].diff_id),
                                               find_tree(&pool, b->layers[unb[k]].diff_id), tree_cb, d);
                }
                /* flattened */
                struct layer_tree **ta = cb_xcalloc(a->nlayers + 1, sizeof(*ta));
                struct layer_tree **tb = cb_xcalloc(b->nlayers + 1, sizeof(*tb));
                for (size_t i = 0; i < a->nlayers; i++)
                        ta[i] = find_tree(&pool, a->layers[i].diff_id);
                for (size_t i = 0; i < b->nlayers; i++)
                        tb[i] = find_tree(&pool, b->layers[i].diff_id);
                struct layer_tree *fa = layer_tree_flatten(ta, a->nlayers);
                struct layer_tree *fb = layer_tree_flatten(tb, b->nlayers);
                d->kind = "file";
                d->layer_a = d->layer_b = -1;
                (void) layer_tree_diff(fa, fb, tree_cb, d);
                if (getenv("CUBUILD_DIFF_MEM"))
                        (void) fprintf(stderr, "diff: tree records %llu + %llu bytes\n",
                                       (unsigned long long) layer_tree_mem(fa), (unsigned long long) layer_tree_mem(fb));
                layer_tree_free(fa);
                layer_tree_free(fb);
                free(ta);
                free(tb);
        }
        for (size_t k = 0; k < pool.n; k++) {
                layer_tree_free(pool.jobs[k].tree);
                cb_err_release(&pool.jobs[k].err);
        }
        free(pool.jobs);
        free(una);
        free(unb);
        return r;
}

long bld_diff_images(struct layer_store *sa, const char *manifest_a, struct layer_store *sb, const char *manifest_b,
                     const struct bld_diff_opts *o, struct cb_err *err)
{
        struct layer_image *a = NULL, *b = NULL;
        struct diff_out d = { .o = o, .layer_a = -1, .layer_b = -1 };
        int r = layer_image_read(sa, manifest_a, &a, err);
        if (r < 0)
                cb_wrap(err, "image A");
        if (r >= 0) {
                r = layer_image_read(sb, manifest_b, &b, err);
                if (r < 0)
                        cb_wrap(err, "image B");
        }
        if (r < 0)
                goto out;
        if (o->format == BLD_DIFF_JSON)
                d.list = json_array();
        if (strcmp(a->manifest_digest, b->manifest_digest)) {
                json_t *ja = json_string(a->manifest_digest), *jb = json_string(b->manifest_digest);
                emit_json(&d, "manifest", "digest", NULL, ja, jb);
                json_decref(ja);
                json_decref(jb);
        }
        json_diff(&d, "manifest", "", a->manifest, b->manifest);
        json_diff(&d, "config", "", a->config, b->config);
        if (!o->no_files)
                r = diff_layers(&d, sa, a, sb, b, err);
        if (r >= 0 && o->format == BLD_DIFF_JSON) {
                json_t *doc = json_pack("{s:s, s:s, s:b, s:O}", "a", a->manifest_digest, "b", b->manifest_digest,
                                        "equal", d.n == 0, "differences", d.list);
                char *text = json_dumps(doc, JSON_INDENT(2));
                (void) fprintf(o->out, "%s\n", text);
                free(text);
                json_decref(doc);
        }
out:
        if (d.list)
                json_decref(d.list);
        layer_image_free(a);
        layer_image_free(b);
        return r < 0 ? r : d.n;
}

/* df_vars: the ordered variable map expansion reads (ENV and ARG scopes, build args). */
#include "parser/df.h"

#include <stdlib.h>
#include <string.h>

struct df_vars {
        char **keys, **values;
        size_t n, cap;
        /* open-addressing index: slot holds position + 1, 0 is empty; keeps set/get O(1) when a
         * hostile file declares 100,000 ARGs */
        size_t *idx;
        size_t idx_cap;
};

static size_t hash(const char *s)
{
        size_t h = 1469598103934665603ull; /* FNV-1a */
        for (; *s; s++) {
                h ^= (unsigned char) *s;
                h *= 1099511628211ull;
        }
        return h;
}

static void index_put(struct df_vars *v, size_t pos)
{
        for (size_t i = hash(v->keys[pos]) & (v->idx_cap - 1);; i = (i + 1) & (v->idx_cap - 1))
                if (!v->idx[i]) {
                        v->idx[i] = pos + 1;
                        return;
                }
}

static void reindex(struct df_vars *v, size_t want)
{
        size_t cap = 16;
        while (cap < want * 2)
                cap *= 2;
        free(v->idx);
        v->idx = cb_xcalloc(cap, sizeof(*v->idx));
        v->idx_cap = cap;
        for (size_t i = 0; i < v->n; i++)
                index_put(v, i);
}

struct df_vars *df_vars_new(void)
{
        return cb_xcalloc(1, sizeof(struct df_vars));
}

struct df_vars *df_vars_free(struct df_vars *v)
{
        if (!v)
                return NULL;
        for (size_t i = 0; i < v->n; i++) {
                free(v->keys[i]);
                free(v->values[i]);
        }
        free(v->keys);
        free(v->values);
        free(v->idx);
        free(v);
        return NULL;
}

struct df_vars *df_vars_copy(const struct df_vars *v)
{
        struct df_vars *c = df_vars_new();
        if (v)
                for (size_t i = 0; i < v->n; i++)
                        df_vars_set(c, v->keys[i], v->values[i]);
        return c;
}

static long find(const struct df_vars *v, const char *key)
{
        if (!v || !v->idx_cap)
                return -1;
        for (size_t i = hash(key) & (v->idx_cap - 1);; i = (i + 1) & (v->idx_cap - 1)) {
                size_t p = v->idx[i];
                if (!p)
                        return -1;
                if (strcmp(v->keys[p - 1], key) == 0)
                        return (long) (p - 1);
        }
}

void df_vars_set(struct df_vars *v, const char *key, const char *value)
{
        long i = find(v, key);
        char *nv = cb_xstrdup(value ? value : "");
        if (i >= 0) {
                free(v->values[i]);
                v->values[i] = nv;
                return;
        }
        if (v->n == v->cap) {
                v->cap = v->cap ? v->cap * 2 : 8;
                v->keys = cb_xrealloc(v->keys, v->cap * sizeof(*v->keys));
                v->values = cb_xrealloc(v->values, v->cap * sizeof(*v->values));
        }
        v->keys[v->n] = cb_xstrdup(key);
        v->values[v->n] = nv;
        v->n++;
        if (v->n * 2 > v->idx_cap)
                reindex(v, v->n);
        else
                index_put(v, v->n - 1);
}

void df_vars_unset(struct df_vars *v, const char *key)
{
        long i = find(v, key);
        if (i < 0)
                return;
        free(v->keys[i]);
        free(v->values[i]);
        memmove(v->keys + i, v->keys + i + 1, (v->n - (size_t) i - 1) * sizeof(*v->keys));
        memmove(v->values + i, v->values + i + 1, (v->n - (size_t) i - 1) * sizeof(*v->values));
        v->n--;
        reindex(v, v->n);
}

const char *df_vars_get(const struct df_vars *v, const char *key)
{
        long i = find(v, key);
        return i >= 0 ? v->values[i] : NULL;
}

size_t df_vars_count(const struct df_vars *v)
{
        return v ? v->n : 0;
}

const char *df_vars_key(const struct df_vars *v, size_t i)
{
        return v && i < v->n ? v->keys[i] : NULL;
}

const char *df_vars_value(const struct df_vars *v, size_t i)
{
        return v && i < v->n ? v->values[i] : NULL;
}

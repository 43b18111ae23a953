/* The parsed file's bump allocator and the realloc'd vector its arrays are built in. */
#include "parser/internal.h"

#include <stdlib.h>
#include <string.h>

#define ARENA_CHUNK (64u * 1024u)

struct df_arena_chunk {
        struct df_arena_chunk *next;
        size_t used, cap;
        max_align_t data[];
};

void *df_arena_alloc(struct df_arena *a, size_t n)
{
        struct df_arena_chunk *c = a->head;
        const size_t align = sizeof(max_align_t);

        n = (n + align - 1) / align * align;
        if (n == 0)
                n = align;
        if (!c || c->cap - c->used < n) {
                size_t cap = n > ARENA_CHUNK / 4 ? n : ARENA_CHUNK;
                struct df_arena_chunk *nc = cb_xmalloc(sizeof(*nc) + cap);
                nc->used = 0;
                nc->cap = cap;
                if (c && cap != ARENA_CHUNK) {
                        /* a big one-off block goes behind the current chunk, which keeps its room */
                        nc->next = c->next;
                        c->next = nc;
                } else {
                        nc->next = c;
                        a->head = nc;
                }
                c = nc;
        }
        void *p = (char *) c->data + c->used;
        c->used += n;
        memset(p, 0, n);
        return p;
}

char *df_arena_strndup(struct df_arena *a, const char *s, size_t n)
{
        char *p = df_arena_alloc(a, n + 1);
        if (n)
                memcpy(p, s, n);
        p[n] = '\0';
        return p;
}

char *df_arena_strdup(struct df_arena *a, const char *s)
{
        return s ? df_arena_strndup(a, s, strlen(s)) : NULL;
}

void df_arena_release(struct df_arena *a)
{
        struct df_arena_chunk *c = a->head;
        while (c) {
                struct df_arena_chunk *next = c->next;
                free(c);
                c = next;
        }
        a->head = NULL;
}

void df_vec_init(struct df_vec *vec, size_t size)
{
        vec->v = NULL;
        vec->n = vec->cap = 0;
        vec->size = size;
}

void *df_vec_push(struct df_vec *vec)
{
        if (vec->n == vec->cap) {
                vec->cap = vec->cap ? vec->cap * 2 : 4;
                vec->v = cb_xrealloc(vec->v, vec->cap * vec->size);
        }
        void *p = (char *) vec->v + vec->n * vec->size;
        memset(p, 0, vec->size);
        vec->n++;
        return p;
}

void *df_vec_to_arena(struct df_vec *vec, struct df_arena *a)
{
        void *p = NULL;
        if (vec->n) {
                p = df_arena_alloc(a, vec->n * vec->size);
                memcpy(p, vec->v, vec->n * vec->size);
        }
        free(vec->v);
        vec->v = NULL;
        vec->cap = 0;
        return p;
}

void df_vec_release(struct df_vec *vec)
{
        free(vec->v);
        df_vec_init(vec, vec->size);
}

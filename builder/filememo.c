/* File content digests remembered for one build (filememo.h). */
#include "builder/filememo.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct memo_entry {
        dev_t dev;
        ino_t ino;
        off_t size;
        struct timespec mtime, ctime;
        char digest[CB_DIGEST_STR_LEN];
};

/* open addressing over indexes into a growing array of entries; slot value 0 is empty, i+1 is entry i */
struct bld_file_memo {
        struct memo_entry *v;
        size_t n, cap;
        uint32_t *slots;
        size_t nslots; /* a power of two, at least twice n */
        size_t hits;
};

struct bld_file_memo *bld_file_memo_new(void)
{
        struct bld_file_memo *m = cb_xcalloc(1, sizeof(*m));
        m->nslots = 1024;
        m->slots = cb_xcalloc(m->nslots, sizeof(uint32_t));
        return m;
}

struct bld_file_memo *bld_file_memo_free(struct bld_file_memo *m)
{
        if (m) {
                free(m->v);
                free(m->slots);
                free(m);
        }
        return NULL;
}

size_t bld_file_memo_hits(const struct bld_file_memo *m)
{
        return m ? m->hits : 0;
}

static uint64_t key_hash(dev_t dev, ino_t ino)
{
        uint64_t h = (uint64_t) ino * 0x9E3779B97F4A7C15ull ^ ((uint64_t) dev + 0x632BE59BD9B4E019ull);
        h ^= h >> 29;
        return h * 0xBF58476D1CE4E5B9ull;
}

static bool same_ts(const struct timespec *a, const struct timespec *b)
{
        return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

/* the slot that holds (dev, ino), or the empty slot where it would go */
static size_t find_slot(const struct bld_file_memo *m, dev_t dev, ino_t ino)
{
        size_t mask = m->nslots - 1;
        for (size_t i = (size_t) key_hash(dev, ino) & mask;; i = (i + 1) & mask) {
                uint32_t s = m->slots[i];
                if (s == 0 || (m->v[s - 1].dev == dev && m->v[s - 1].ino == ino))
                        return i;
        }
}

static void grow(struct bld_file_memo *m)
{
        free(m->slots);
        m->nslots *= 2;
        m->slots = cb_xcalloc(m->nslots, sizeof(uint32_t));
        for (size_t k = 0; k < m->n; k++)
                m->slots[find_slot(m, m->v[k].dev, m->v[k].ino)] = (uint32_t) (k + 1);
}

int bld_file_digest(struct bld_file_memo *m, int dir_fd, const char *name, const struct stat *st,
                    char ret[CB_DIGEST_STR_LEN], unsigned long long *ret_size, struct cb_err *err)
{
        size_t slot = 0;
        if (m) {
                slot = find_slot(m, st->st_dev, st->st_ino);
                uint32_t s = m->slots[slot];
                if (s) {
                        const struct memo_entry *e = &m->v[s - 1];
                        if (e->size == st->st_size && same_ts(&e->mtime, &st->st_mtim) &&
                            same_ts(&e->ctime, &st->st_ctim)) {
                                memcpy(ret, e->digest, CB_DIGEST_STR_LEN);
                                if (ret_size)
                                        *ret_size = (unsigned long long) e->size;
                                m->hits++;
                                return 0;
                        }
                }
        }
        unsigned long long size = 0;
        int r = cb_sha256_file(dir_fd, name, ret, &size, err);
        if (r < 0)
                return r;
        if (ret_size)
                *ret_size = size;
        /* only a file that did not change while it was read is remembered */
        if (!m || (unsigned long long) st->st_size != size || m->n >= UINT32_MAX - 1)
                return 0;
        struct memo_entry *e;
        if (m->slots[slot]) {
                e = &m->v[m->slots[slot] - 1];
        } else {
                if (m->n == m->cap) {
                        m->cap = m->cap ? m->cap * 2 : 256;
                        m->v = cb_xrealloc(m->v, m->cap * sizeof(*m->v));
                }
                e = &m->v[m->n++];
                m->slots[slot] = (uint32_t) m->n;
        }
        *e = (struct memo_entry){ .dev = st->st_dev, .ino = st->st_ino, .size = st->st_size,
                                  .mtime = st->st_mtim, .ctime = st->st_ctim };
        memcpy(e->digest, ret, CB_DIGEST_STR_LEN);
        if (m->n * 2 > m->nslots)
                grow(m);
        return 0;
}

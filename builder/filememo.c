/* File content digests remembered for one build (filememo.h). */
#include "builder/filememo.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct memo_entry {
        dev_t dev;
        ino_t ino;
        off_t size;
        struct timespec mtime, ctime;
        unsigned char digest[32]; /* sha256, raw */
        bool used;                /* read or added by this build (saved first) */
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

/* Stores e in slot (which find_slot() gave for e's device and inode), replacing what was there. */
static void put(struct bld_file_memo *m, size_t slot, const struct memo_entry *e)
{
        if (m->slots[slot]) {
                m->v[m->slots[slot] - 1] = *e;
                return;
        }
        if (m->n >= UINT32_MAX - 1)
                return;
        if (m->n == m->cap) {
                m->cap = m->cap ? m->cap * 2 : 256;
                m->v = cb_xrealloc(m->v, m->cap * sizeof(*m->v));
        }
        m->v[m->n++] = *e;
        m->slots[slot] = (uint32_t) m->n;
        if (m->n * 2 > m->nslots)
                grow(m);
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
                                m->v[s - 1].used = true;
                                cb_digest_from_raw(e->digest, ret);
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
        if (!m || (unsigned long long) st->st_size != size)
                return 0;
        struct memo_entry e = { .dev = st->st_dev, .ino = st->st_ino, .size = st->st_size, .mtime = st->st_mtim,
                                .ctime = st->st_ctim, .used = true };
        if (cb_digest_to_raw(ret, e.digest) == 0)
                put(m, slot, &e);
        return 0;
}

/* ---- kept in the store between builds: cache/filememo ---- */

#define MEMO_PATH "cache/filememo"
#define MEMO_MAGIC "cubuild-filememo 1\n"
#define MEMO_REC 88u /* 7 numbers of 8 bytes, the raw digest */
#define MEMO_SAVE_MAX 120000u
/* a file changed this close before the build began may change again within the same timestamp tick
 * (ext4 stamps with the coarse clock), looking the same afterwards: such digests are not kept */
#define MEMO_RACY_S 2

static void put_u64(unsigned char *p, uint64_t v)
{
        memcpy(p, &v, 8);
}

static uint64_t get_u64(const unsigned char *p)
{
        uint64_t v;
        memcpy(&v, p, 8);
        return v;
}

static void rec_write(unsigned char *p, const struct memo_entry *e)
{
        put_u64(p, (uint64_t) e->dev);
        put_u64(p + 8, (uint64_t) e->ino);
        put_u64(p + 16, (uint64_t) e->size);
        put_u64(p + 24, (uint64_t) e->mtime.tv_sec);
        put_u64(p + 32, (uint64_t) e->mtime.tv_nsec);
        put_u64(p + 40, (uint64_t) e->ctime.tv_sec);
        put_u64(p + 48, (uint64_t) e->ctime.tv_nsec);
        memcpy(p + 56, e->digest, 32);
}

static void rec_read(const unsigned char *p, struct memo_entry *e)
{
        *e = (struct memo_entry){ .dev = (dev_t) get_u64(p), .ino = (ino_t) get_u64(p + 8),
                                  .size = (off_t) get_u64(p + 16) };
        e->mtime.tv_sec = (time_t) get_u64(p + 24);
        e->mtime.tv_nsec = (long) get_u64(p + 32);
        e->ctime.tv_sec = (time_t) get_u64(p + 40);
        e->ctime.tv_nsec = (long) get_u64(p + 48);
        memcpy(e->digest, p + 56, 32);
}

/* Records are read and written this many at a time: the memo is never held twice in memory. */
#define MEMO_CHUNK 744u

/* Reads up to len bytes (fewer only at the end of the file); < 0 on errors. */
static ssize_t read_full(int fd, void *buf, size_t len)
{
        size_t got = 0;
        while (got < len) {
                ssize_t n = read(fd, (char *) buf + got, len - got);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -1;
                if (n == 0)
                        break;
                got += (size_t) n;
        }
        return (ssize_t) got;
}

void bld_file_memo_load(struct bld_file_memo *m, int store_root_fd)
{
        _cleanup_close_ int fd = openat(store_root_fd, MEMO_PATH, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        struct stat st;
        size_t ml = strlen(MEMO_MAGIC);
        char magic[32];
        /* a missing, foreign or truncated memo is no memo: every file is read, as without one */
        if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t) st.st_size < ml ||
            ((uint64_t) st.st_size - ml) % MEMO_REC != 0 ||
            ((uint64_t) st.st_size - ml) / MEMO_REC > MEMO_SAVE_MAX || read_full(fd, magic, ml) != (ssize_t) ml ||
            memcmp(magic, MEMO_MAGIC, ml) != 0)
                return;
        /* room for all of them at once: growing by doubling would hold the table twice for a moment */
        size_t count = ((size_t) st.st_size - ml) / MEMO_REC;
        if (m->cap < m->n + count + 256) {
                m->cap = m->n + count + 256;
                m->v = cb_xrealloc(m->v, m->cap * sizeof(*m->v));
        }
        _cleanup_free_ unsigned char *buf = cb_xmalloc((size_t) MEMO_CHUNK * MEMO_REC);
        for (;;) {
                ssize_t n = read_full(fd, buf, (size_t) MEMO_CHUNK * MEMO_REC);
                if (n <= 0 || (size_t) n % MEMO_REC != 0)
                        return;
                for (size_t off = 0; off < (size_t) n; off += MEMO_REC) {
                        struct memo_entry x;
                        rec_read(buf + off, &x);
                        size_t slot = find_slot(m, x.dev, x.ino);
                        if (!m->slots[slot])
                                put(m, slot, &x);
                }
        }
}

void bld_file_memo_save(const struct bld_file_memo *m, int store_root_fd, int64_t build_started)
{
        if (!m || m->n == 0)
                return;
        char rnd[17];
        cb_random_hex(rnd, 8);
        _cleanup_free_ char *tmp = cb_xasprintf("cache/.filememo-%s", rnd);
        struct cb_err e;
        cb_err_init(&e);
        int r = cb_mkdir_p(store_root_fd, "cache", 0755, &e);
        cb_err_release(&e);
        _cleanup_close_ int fd =
                r < 0 ? -1 : openat(store_root_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return;
        _cleanup_free_ unsigned char *buf = cb_xmalloc((size_t) MEMO_CHUNK * MEMO_REC);
        size_t fill = 0, k = 0;
        r = cb_write_all(fd, MEMO_MAGIC, strlen(MEMO_MAGIC));
        /* this build's files first, then what earlier builds (other contexts) left, up to the cap */
        for (int pass = 0; pass < 2 && r >= 0; pass++)
                for (size_t i = 0; i < m->n && k < MEMO_SAVE_MAX && r >= 0; i++) {
                        const struct memo_entry *x = &m->v[i];
                        if (x->used != (pass == 0) || x->ctime.tv_sec >= build_started - MEMO_RACY_S ||
                            x->mtime.tv_sec >= build_started - MEMO_RACY_S)
                                continue;
                        rec_write(buf + fill * MEMO_REC, x);
                        k++;
                        if (++fill == MEMO_CHUNK) {
                                r = cb_write_all(fd, buf, (size_t) fill * MEMO_REC);
                                fill = 0;
                        }
                }
        if (r >= 0 && fill)
                r = cb_write_all(fd, buf, (size_t) fill * MEMO_REC);
        /* renamed over the old one only when whole: a reader sees one memo or the other */
        if (r >= 0 && fsync(fd) == 0 && renameat(store_root_fd, tmp, store_root_fd, MEMO_PATH) == 0)
                return;
        (void) unlinkat(store_root_fd, tmp, 0);
}

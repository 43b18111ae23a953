/* Compression streams: the sink (tar -> gzip|zstd|none -> fd) and the source (fd -> detect -> tar), each
 * hashing both sides in the same pass so diff_id and digest never need a second read. */
#include "layers/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "common/cb.h"

/* ---- pigz-style parallel gzip ----
 * The tar stream is cut into GZ_BLOCK pieces; each is deflated on its own (raw deflate, primed with the
 * previous piece's last 32 KiB as dictionary, ended with a sync flush, the last one with Z_FINISH), and the
 * pieces are written in order behind one gzip header, with the CRCs combined. The bytes depend on the
 * input, the level, GZ_BLOCK and the zlib version only: never on the number of threads, which is why a
 * one-core machine runs the very same jobs inline. */
#define GZ_BLOCK (128u * 1024u)
#define GZ_DICT 32768u

struct gz_job {
        unsigned char *in;
        size_t in_len;
        unsigned char dict[GZ_DICT];
        size_t dict_len;
        unsigned char *out;
        size_t out_len, out_cap;
        uLong crc;
        bool last;
        bool done;
        int rc;
};

struct gz_pool {
        int level;
        unsigned nth;
        pthread_t *th;
        z_stream *zs; /* one per worker, or one for inline work */
        pthread_mutex_t mu;
        pthread_cond_t cv_work, cv_done;
        bool sync_init;
        struct gz_job *ring;
        size_t ring_n;
        uint64_t head, tail, next_work; /* emit <= work <= submit */
        bool stop;
        /* writer side (the caller's thread only) */
        unsigned char prev_dict[GZ_DICT];
        size_t prev_dict_len;
        uLong crc;
        uint64_t total;
};

static int gz_run(z_stream *z, struct gz_job *j)
{
        if (deflateReset(z) != Z_OK)
                return -EIO;
        if (j->dict_len && deflateSetDictionary(z, j->dict, (uInt) j->dict_len) != Z_OK)
                return -EIO;
        size_t need = deflateBound(z, j->in_len) + 16;
        if (j->out_cap < need) {
                free(j->out);
                j->out = cb_xmalloc(need);
                j->out_cap = need;
        }
        z->next_in = j->in;
        z->avail_in = (uInt) j->in_len;
        z->next_out = j->out;
        z->avail_out = (uInt) j->out_cap;
        int zr = deflate(z, j->last ? Z_FINISH : Z_SYNC_FLUSH);
        if (j->last ? zr != Z_STREAM_END : (zr != Z_OK || z->avail_in != 0))
                return -EIO;
        j->out_len = j->out_cap - z->avail_out;
        j->crc = crc32(0L, j->in, (uInt) j->in_len);
        return 0;
}

static void *gz_worker(void *arg)
{
        struct gz_pool *p = ((void **) arg)[0];
        z_stream *z = ((void **) arg)[1];
        free(arg);
        pthread_mutex_lock(&p->mu);
        for (;;) {
                while (!p->stop && p->next_work == p->tail)
                        pthread_cond_wait(&p->cv_work, &p->mu);
                if (p->stop)
                        break;
                struct gz_job *j = &p->ring[p->next_work % p->ring_n];
                p->next_work++;
                pthread_mutex_unlock(&p->mu);
                int rc = gz_run(z, j);
                pthread_mutex_lock(&p->mu);
                j->rc = rc;
                j->done = true;
                pthread_cond_broadcast(&p->cv_done);
        }
        pthread_mutex_unlock(&p->mu);
        return NULL;
}

/* Test and benchmark hook: > 0 forces the worker count (the bytes must not change with it). */
unsigned layer_gzip_threads_override;

static unsigned gz_threads(void)
{
        if (layer_gzip_threads_override)
                return layer_gzip_threads_override;
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        if (n < 1)
                n = 1;
        if (n > 16)
                n = 16;
        return (unsigned) n;
}

static void gz_pool_free(struct gz_pool *p)
{
        if (!p)
                return;
        if (p->sync_init) {
                pthread_mutex_lock(&p->mu);
                p->stop = true;
                pthread_cond_broadcast(&p->cv_work);
                pthread_mutex_unlock(&p->mu);
                for (unsigned i = 0; i < p->nth; i++)
                        if (p->th[i])
                                pthread_join(p->th[i], NULL);
                pthread_mutex_destroy(&p->mu);
                pthread_cond_destroy(&p->cv_work);
                pthread_cond_destroy(&p->cv_done);
        }
        if (p->zs)
                for (unsigned i = 0; i < (p->nth ? p->nth : 1); i++)
                        if (p->zs[i].state)
                                (void) deflateEnd(&p->zs[i]);
        for (size_t i = 0; i < p->ring_n; i++) {
                free(p->ring[i].in);
                free(p->ring[i].out);
        }
        free(p->ring);
        free(p->zs);
        free(p->th);
        free(p);
}

static struct gz_pool *gz_pool_new(int level)
{
        struct gz_pool *p = cb_xcalloc(1, sizeof(*p));
        p->level = level;
        unsigned n = gz_threads();
        p->nth = n > 1 ? n : 0; /* 0: inline */
        unsigned nz = p->nth ? p->nth : 1;
        p->zs = cb_xcalloc(nz, sizeof(*p->zs));
        for (unsigned i = 0; i < nz; i++) {
                if (deflateInit2(&p->zs[i], level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
                        gz_pool_free(p);
                        return NULL;
                }
        }
        p->ring_n = p->nth ? 2 * (size_t) p->nth + 2 : 1;
        p->ring = cb_xcalloc(p->ring_n, sizeof(*p->ring));
        for (size_t i = 0; i < p->ring_n; i++)
                p->ring[i].in = cb_xmalloc(GZ_BLOCK);
        p->crc = crc32(0L, Z_NULL, 0);
        if (p->nth) {
                pthread_mutex_init(&p->mu, NULL);
                pthread_cond_init(&p->cv_work, NULL);
                pthread_cond_init(&p->cv_done, NULL);
                p->sync_init = true;
                p->th = cb_xcalloc(p->nth, sizeof(*p->th));
                for (unsigned i = 0; i < p->nth; i++) {
                        void **arg = cb_xmalloc(2 * sizeof(void *));
                        arg[0] = p;
                        arg[1] = &p->zs[i];
                        if (pthread_create(&p->th[i], NULL, gz_worker, arg) != 0) {
                                free(arg);
                                p->th[i] = 0;
                                gz_pool_free(p);
                                return NULL;
                        }
                }
        }
        return p;
}

/* The job being filled by the writer: p->ring[p->tail % ring_n]. */
static struct gz_job *gz_cur(struct gz_pool *p)
{
        return &p->ring[p->tail % p->ring_n];
}

struct layer_sink {
        enum layer_compression c;
        int out_fd;
        struct cb_sha256 *tar_hash;
        struct cb_sha256 *blob_hash;
        uint64_t out_size;
        struct gz_pool *gz;
        ZSTD_CCtx *zc;
        unsigned char *out;
        size_t out_cap;
        size_t out_fill; /* uncompressed only */
        bool writeback_ok;
        uint64_t writeback_done;
        struct plain_hasher *hasher; /* uncompressed: the tar hashed beside the writes, once it is large */
        uint64_t write_limit;        /* past this many output bytes nothing more is written, only hashed */
        bool dropped;                /* the limit was passed: out_fd holds a prefix, to be thrown away */
};

/* ---- uncompressed: the diff_id hashed on a second thread ----
 * sha256 of a tar costs about what reading and writing it cost: a thread hashes one gathered buffer while
 * the caller writes it and fills the other (double buffering), in order, so the digest is the same. */
struct plain_hasher {
        pthread_t th;
        pthread_mutex_t mu;
        pthread_cond_t cv;
        struct cb_sha256 *h;
        const unsigned char *p;
        size_t len;
        bool busy, quit;
        unsigned char *spare; /* the buffer the caller fills while the other is hashed */
};

static void *hasher_main(void *arg)
{
        struct plain_hasher *x = arg;
        pthread_mutex_lock(&x->mu);
        for (;;) {
                while (!x->busy && !x->quit)
                        pthread_cond_wait(&x->cv, &x->mu);
                if (!x->busy)
                        break;
                const unsigned char *p = x->p;
                size_t len = x->len;
                pthread_mutex_unlock(&x->mu);
                cb_sha256_update(x->h, p, len);
                pthread_mutex_lock(&x->mu);
                x->busy = false;
                pthread_cond_broadcast(&x->cv);
        }
        pthread_mutex_unlock(&x->mu);
        return NULL;
}

/* Waits until the hasher is idle: what it was given is hashed. */
static void hasher_wait(struct plain_hasher *x)
{
        pthread_mutex_lock(&x->mu);
        while (x->busy)
                pthread_cond_wait(&x->cv, &x->mu);
        pthread_mutex_unlock(&x->mu);
}

static void hasher_give(struct plain_hasher *x, const unsigned char *p, size_t len)
{
        pthread_mutex_lock(&x->mu);
        while (x->busy)
                pthread_cond_wait(&x->cv, &x->mu);
        x->p = p;
        x->len = len;
        x->busy = true;
        pthread_cond_broadcast(&x->cv);
        pthread_mutex_unlock(&x->mu);
}

static struct plain_hasher *hasher_new(struct cb_sha256 *h, size_t cap)
{
        struct plain_hasher *x = cb_xcalloc(1, sizeof(*x));
        x->h = h;
        pthread_mutex_init(&x->mu, NULL);
        pthread_cond_init(&x->cv, NULL);
        if (pthread_create(&x->th, NULL, hasher_main, x) != 0) {
                pthread_mutex_destroy(&x->mu);
                pthread_cond_destroy(&x->cv);
                free(x);
                return NULL; /* the caller hashes on its own thread */
        }
        x->spare = cb_xmalloc(cap);
        return x;
}

static void hasher_free(struct plain_hasher *x)
{
        if (!x)
                return;
        pthread_mutex_lock(&x->mu);
        x->quit = true;
        pthread_cond_broadcast(&x->cv);
        pthread_mutex_unlock(&x->mu);
        (void) pthread_join(x->th, NULL);
        pthread_mutex_destroy(&x->mu);
        pthread_cond_destroy(&x->cv);
        free(x->spare);
        free(x);
}

#define WRITEBACK_STEP (8u << 20)

const char *layer_compression_media_type(enum layer_compression c)
{
        switch (c) {
        case LAYER_GZIP:
                return LAYER_MT_OCI_LAYER_GZIP;
        case LAYER_ZSTD:
                return LAYER_MT_OCI_LAYER_ZSTD;
        case LAYER_UNCOMPRESSED:
                return LAYER_MT_OCI_LAYER;
        }
        return LAYER_MT_OCI_LAYER;
}

static int sink_emit(struct layer_sink *k, const void *p, size_t len, struct cb_err *err)
{
        if (len == 0)
                return 0;
        /* uncompressed: the blob is the tar, hashed once as diff_id */
        if (k->c != LAYER_UNCOMPRESSED)
                cb_sha256_update(k->blob_hash, p, len);
        if (!k->dropped && k->out_size + len > k->write_limit)
                k->dropped = true;
        if (k->dropped) {
                k->out_size += len;
                return 0;
        }
        int r = layer_fault_hit() ? -EIO : cb_write_all(k->out_fd, p, len);
        if (r < 0)
                return cb_fail(err, -r, "write layer blob");
        k->out_size += len;
        /* start writeback of what we wrote every few MiB, so the fsync before the blob's rename finds little
         * left to do and disk writes overlap with tarring and compressing (pipes and sockets refuse: then
         * stop asking) */
        if (k->writeback_ok && k->out_size - k->writeback_done >= WRITEBACK_STEP) {
                if (sync_file_range(k->out_fd, (off64_t) k->writeback_done, (off64_t) (k->out_size - k->writeback_done),
                                    SYNC_FILE_RANGE_WRITE) < 0)
                        k->writeback_ok = false;
                k->writeback_done = k->out_size;
        }
        return 0;
}

extern unsigned layer_gzip_threads_override;

#define ZSTD_JOB_SIZE (1 << 20)

static unsigned zstd_workers(void)
{
        if (layer_gzip_threads_override)
                return layer_gzip_threads_override;
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        if (n < 1)
                n = 1;
        if (n > 8)
                n = 8; /* ~4 MiB per worker with 1 MiB jobs; more workers rarely pay at level 3 */
        return (unsigned) n;
}

const char *layer_compressor_version(enum layer_compression c)
{
        static char z[32], zs[32];
        switch (c) {
        case LAYER_GZIP:
                (void) snprintf(z, sizeof(z), "zlib %s", zlibVersion());
                return z;
        case LAYER_ZSTD:
                (void) snprintf(zs, sizeof(zs), "zstd %s", ZSTD_versionString());
                return zs;
        default:
                return "";
        }
}

int layer_sink_new(enum layer_compression c, int level, int out_fd, struct layer_sink **ret, struct cb_err *err)
{
        struct layer_sink *k = cb_xcalloc(1, sizeof(*k));
        k->c = c;
        k->out_fd = out_fd;
        k->write_limit = out_fd < 0 ? 0 : UINT64_MAX;
        k->dropped = out_fd < 0;
        k->writeback_ok = out_fd >= 0 && lseek(out_fd, 0, SEEK_CUR) == 0;
        k->tar_hash = cb_sha256_new();
        k->blob_hash = cb_sha256_new();
        k->out_cap = LAYER_IO_CHUNK;
        k->out = cb_xmalloc(k->out_cap);
        switch (c) {
        case LAYER_GZIP: {
                if (level < 0)
                        level = 6;
                if (level > 9) {
                        layer_sink_free(k);
                        return cb_failc(err, -EINVAL, "gzip level %d out of range 0-9", level);
                }
                k->gz = gz_pool_new(level);
                if (!k->gz) {
                        layer_sink_free(k);
                        return cb_failc(err, -ENOMEM, "cannot start the gzip workers");
                }
                /* the gzip header zlib would write: no name, mtime 0, OS unix; XFL as zlib sets it */
                unsigned char hdr[10] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, level == 9 ? 2 : level == 1 ? 4 : 0, 3 };
                int r = sink_emit(k, hdr, sizeof(hdr), err);
                if (r < 0) {
                        layer_sink_free(k);
                        return r;
                }
                break;
        }
        case LAYER_ZSTD: {
                if (level < 0)
                        level = 3;
                if (level > ZSTD_maxCLevel()) {
                        layer_sink_free(k);
                        return cb_failc(err, -EINVAL, "zstd level %d out of range 0-%d", level, ZSTD_maxCLevel());
                }
                k->zc = ZSTD_createCCtx();
                if (!k->zc) {
                        layer_sink_free(k);
                        return cb_failc(err, -ENOMEM, "ZSTD_createCCtx failed");
                }
                (void) ZSTD_CCtx_setParameter(k->zc, ZSTD_c_compressionLevel, level);
                (void) ZSTD_CCtx_setParameter(k->zc, ZSTD_c_checksumFlag, 1);
                /* zstd's output is the same for every nbWorkers >= 1 (jobs are cut by size, not by thread), so
                 * always running threaded keeps the bytes equal across machines with different core counts */
                /* a fixed job size keeps the bytes the same for every worker count and bounds memory at
                 * about (2 x workers + 2) jobs; the default (4 x window) costs ~50 MiB per worker at level 19 */
                (void) ZSTD_CCtx_setParameter(k->zc, ZSTD_c_jobSize, ZSTD_JOB_SIZE);
                size_t zr = ZSTD_CCtx_setParameter(k->zc, ZSTD_c_nbWorkers, (int) zstd_workers());
                if (ZSTD_isError(zr)) {
                        layer_sink_free(k);
                        return cb_failc(err, -ENOTSUP, "libzstd without threads: %s", ZSTD_getErrorName(zr));
                }
                break;
        }
        case LAYER_UNCOMPRESSED:
                break;
        default:
                layer_sink_free(k);
                return cb_failc(err, -EINVAL, "unknown compression %d", (int) c);
        }
        *ret = k;
        return 0;
}

void layer_sink_limit_writes(struct layer_sink *k, uint64_t max)
{
        k->write_limit = max;
}

bool layer_sink_dropped(const struct layer_sink *k)
{
        return k->dropped;
}

struct layer_sink *layer_sink_free(struct layer_sink *k)
{
        if (!k)
                return NULL;
        gz_pool_free(k->gz);
        ZSTD_freeCCtx(k->zc);
        hasher_free(k->hasher); /* before the hash and the buffers it may still read */
        cb_sha256_free(k->tar_hash);
        cb_sha256_free(k->blob_hash);
        free(k->out);
        free(k);
        return NULL;
}

/* Writes out the oldest job once it is done. */
static int gz_emit_head(struct layer_sink *k, struct cb_err *err)
{
        struct gz_pool *p = k->gz;
        struct gz_job *j = &p->ring[p->head % p->ring_n];
        if (p->nth) {
                pthread_mutex_lock(&p->mu);
                while (!j->done)
                        pthread_cond_wait(&p->cv_done, &p->mu);
                pthread_mutex_unlock(&p->mu);
        }
        if (j->rc < 0)
                return cb_failc(err, j->rc, "deflate failed");
        p->crc = crc32_combine(p->crc, j->crc, (z_off_t) j->in_len);
        p->total += j->in_len;
        p->head++;
        return sink_emit(k, j->out, j->out_len, err);
}

/* Hands the current job to the workers (or runs it inline) and readies the next slot. */
static int gz_submit(struct layer_sink *k, bool last, struct cb_err *err)
{
        struct gz_pool *p = k->gz;
        struct gz_job *j = gz_cur(p);
        memcpy(j->dict, p->prev_dict, p->prev_dict_len);
        j->dict_len = p->prev_dict_len;
        if (j->in_len >= GZ_DICT) {
                memcpy(p->prev_dict, j->in + j->in_len - GZ_DICT, GZ_DICT);
                p->prev_dict_len = GZ_DICT;
        } else {
                /* shorter than a window (only the last block can be): keep the tail of both */
                size_t keep = p->prev_dict_len + j->in_len > GZ_DICT ? GZ_DICT - j->in_len : p->prev_dict_len;
                memmove(p->prev_dict, p->prev_dict + p->prev_dict_len - keep, keep);
                memcpy(p->prev_dict + keep, j->in, j->in_len);
                p->prev_dict_len = keep + j->in_len;
        }
        j->last = last;
        j->done = false;
        j->rc = 0;
        if (!p->nth) {
                j->rc = gz_run(&p->zs[0], j);
                j->done = true;
                p->tail++;
        } else {
                pthread_mutex_lock(&p->mu);
                p->tail++;
                pthread_cond_signal(&p->cv_work);
                pthread_mutex_unlock(&p->mu);
        }
        /* the next slot must be free before the writer fills it */
        while (p->tail - p->head >= p->ring_n) {
                int r = gz_emit_head(k, err);
                if (r < 0)
                        return r;
        }
        gz_cur(p)->in_len = 0;
        return 0;
}

static int gzip_write(struct layer_sink *k, const void *p, size_t len, struct cb_err *err)
{
        const unsigned char *c = p;
        while (len > 0) {
                struct gz_job *j = gz_cur(k->gz);
                size_t n = GZ_BLOCK - j->in_len < len ? GZ_BLOCK - j->in_len : len;
                memcpy(j->in + j->in_len, c, n);
                j->in_len += n;
                c += n;
                len -= n;
                if (j->in_len == GZ_BLOCK) {
                        int r = gz_submit(k, false, err);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

static int gzip_finish(struct layer_sink *k, struct cb_err *err)
{
        struct gz_pool *p = k->gz;
        int r = gz_submit(k, true, err);
        while (r == 0 && p->head < p->tail)
                r = gz_emit_head(k, err);
        if (r < 0)
                return r;
        unsigned char tr[8];
        uint32_t isize = (uint32_t) p->total;
        for (int i = 0; i < 4; i++) {
                tr[i] = (unsigned char) (p->crc >> (8 * i));
                tr[4 + i] = (unsigned char) (isize >> (8 * i));
        }
        return sink_emit(k, tr, sizeof(tr), err);
}

static int zstd_pump(struct layer_sink *k, const void *p, size_t len, ZSTD_EndDirective mode, struct cb_err *err)
{
        ZSTD_inBuffer in = { p, len, 0 };
        for (;;) {
                ZSTD_outBuffer out = { k->out, k->out_cap, 0 };
                size_t rem = ZSTD_compressStream2(k->zc, &out, &in, mode);
                if (ZSTD_isError(rem))
                        return cb_failc(err, -EIO, "zstd: %s", ZSTD_getErrorName(rem));
                int r = sink_emit(k, k->out, out.pos, err);
                if (r < 0)
                        return r;
                if (mode == ZSTD_e_end ? rem == 0 : in.pos == in.size)
                        break;
        }
        return 0;
}

/* Uncompressed: tar headers and small files come in 512-byte pieces; gather them into k->out so the blob is
 * written in LAYER_IO_CHUNK writes. */
static int plain_flush(struct layer_sink *k, struct cb_err *err)
{
        if (k->out_fill == k->out_cap && !k->hasher)
                k->hasher = hasher_new(k->tar_hash, k->out_cap); /* a layer larger than one buffer */
        if (!k->hasher) {
                cb_sha256_update(k->tar_hash, k->out, k->out_fill);
        } else {
                /* this buffer is hashed while it is written, and the next one filled into the spare */
                hasher_give(k->hasher, k->out, k->out_fill);
        }
        int r = sink_emit(k, k->out, k->out_fill, err);
        k->out_fill = 0;
        if (k->hasher) {
                unsigned char *t = k->out;
                k->out = k->hasher->spare;
                k->hasher->spare = t;
        }
        return r;
}

static int plain_write(struct layer_sink *k, const void *p, size_t len, struct cb_err *err)
{
        if (k->out_fill + len > k->out_cap) {
                int r = plain_flush(k, err);
                if (r < 0)
                        return r;
        }
        if (len >= k->out_cap) {
                /* the caller's buffer, hashed here in turn after what the hasher has */
                if (k->hasher)
                        hasher_wait(k->hasher);
                cb_sha256_update(k->tar_hash, p, len);
                return sink_emit(k, p, len, err);
        }
        memcpy(k->out + k->out_fill, p, len);
        k->out_fill += len;
        return 0;
}

int layer_sink_write(struct layer_sink *k, const void *p, size_t len, struct cb_err *err)
{
        if (len == 0)
                return 0;
        if (k->c != LAYER_UNCOMPRESSED) /* plain_write() hashes what it gathers */
                cb_sha256_update(k->tar_hash, p, len);
        switch (k->c) {
        case LAYER_GZIP:
                return gzip_write(k, p, len, err);
        case LAYER_ZSTD:
                return zstd_pump(k, p, len, ZSTD_e_continue, err);
        default:
                return plain_write(k, p, len, err);
        }
}

int layer_sink_finish(struct layer_sink *k, char ret_diff_id[CB_DIGEST_STR_LEN], char ret_digest[CB_DIGEST_STR_LEN],
                      uint64_t *ret_size, struct cb_err *err)
{
        int r = 0;
        if (k->c == LAYER_GZIP)
                r = gzip_finish(k, err);
        else if (k->c == LAYER_ZSTD)
                r = zstd_pump(k, "", 0, ZSTD_e_end, err);
        else
                r = plain_flush(k, err);
        if (k->hasher)
                hasher_wait(k->hasher);
        if (r < 0)
                return r;
        cb_sha256_final(k->tar_hash, ret_diff_id);
        if (k->c == LAYER_UNCOMPRESSED)
                memcpy(ret_digest, ret_diff_id, CB_DIGEST_STR_LEN);
        else
                cb_sha256_final(k->blob_hash, ret_digest);
        if (ret_size)
                *ret_size = k->out_size;
        return 0;
}

/* ---- source ---- */

enum src_kind { SRC_UNKNOWN, SRC_PLAIN, SRC_GZIP, SRC_ZSTD };

struct layer_source {
        int in_fd;
        enum src_kind kind;
        struct cb_sha256 *raw_hash;
        struct cb_sha256 *tar_hash;
        uint64_t raw_bytes;
        unsigned char *in;
        size_t in_len, in_pos;
        bool in_eof;
        unsigned char *out;
        size_t out_cap;
        z_stream z;
        bool z_init;
        bool z_done; /* a gzip member ended and no further member followed */
        ZSTD_DCtx *zd;
        size_t zstd_last; /* ZSTD_decompressStream's last hint: 0 when a frame ended */
        uint64_t max_rest;  /* layer_source_finish(): most decompressed bytes it reads */
};

void layer_source_limit_rest(struct layer_source *src, uint64_t max)
{
        src->max_rest = max;
}

int layer_source_new(int in_fd, struct layer_source **ret, struct cb_err *err)
{
        struct layer_source *src = cb_xcalloc(1, sizeof(*src));
        src->in_fd = in_fd;
        src->raw_hash = cb_sha256_new();
        src->tar_hash = cb_sha256_new();
        src->max_rest = UINT64_MAX;
        src->in = cb_xmalloc(LAYER_IO_CHUNK);
        src->out_cap = LAYER_IO_CHUNK;
        src->out = cb_xmalloc(src->out_cap);
        *ret = src;
        return 0;
}

struct layer_source *layer_source_free(struct layer_source *src)
{
        if (!src)
                return NULL;
        if (src->z_init)
                (void) inflateEnd(&src->z);
        ZSTD_freeDCtx(src->zd);
        cb_sha256_free(src->raw_hash);
        cb_sha256_free(src->tar_hash);
        free(src->in);
        free(src->out);
        free(src);
        return NULL;
}

uint64_t layer_source_raw_bytes(const struct layer_source *src)
{
        return src->raw_bytes;
}

/* Refills the input buffer when it is empty. Returns 0 (maybe at EOF) or < 0. */
static int fill(struct layer_source *src, struct cb_err *err)
{
        if (src->in_pos < src->in_len || src->in_eof)
                return 0;
        for (;;) {
                ssize_t n = read(src->in_fd, src->in, LAYER_IO_CHUNK);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return cb_fail(err, errno, "read layer");
                }
                src->in_pos = 0;
                src->in_len = (size_t) n;
                if (n == 0)
                        src->in_eof = true;
                cb_sha256_update(src->raw_hash, src->in, (size_t) n);
                src->raw_bytes += (uint64_t) n;
                return 0;
        }
}

static int detect(struct layer_source *src, struct cb_err *err)
{
        int r = fill(src, err);
        if (r < 0)
                return r;
        /* a short first read could split the magic; layer blobs come from files and pipes that deliver more
         * than 4 bytes at once, and a 1-3 byte input is no valid tar anyway */
        size_t n = src->in_len - src->in_pos;
        const unsigned char *p = src->in + src->in_pos;
        if (n >= 2 && p[0] == 0x1f && p[1] == 0x8b) {
                src->kind = SRC_GZIP;
                /* 15+32: zlib and gzip headers both accepted */
                if (inflateInit2(&src->z, 15 + 32) != Z_OK)
                        return cb_failc(err, -ENOMEM, "inflateInit2 failed");
                src->z_init = true;
        } else if (n >= 4 && p[0] == 0x28 && p[1] == 0xb5 && p[2] == 0x2f && p[3] == 0xfd) {
                src->kind = SRC_ZSTD;
                src->zd = ZSTD_createDCtx();
                if (!src->zd)
                        return cb_failc(err, -ENOMEM, "ZSTD_createDCtx failed");
                /* bound the window a hostile frame may ask for: 2^27 = 128 MiB is zstd's default limit */
                (void) ZSTD_DCtx_setParameter(src->zd, ZSTD_d_windowLogMax, 27);
        } else {
                src->kind = SRC_PLAIN;
        }
        return 0;
}

static ssize_t read_gzip(struct layer_source *src, struct cb_err *err)
{
        for (;;) {
                if (src->z_done)
                        return 0;
                int r = fill(src, err);
                if (r < 0)
                        return r;
                bool at_eof = src->in_pos == src->in_len && src->in_eof;
                src->z.next_in = src->in + src->in_pos;
                src->z.avail_in = (uInt) (src->in_len - src->in_pos);
                src->z.next_out = src->out;
                src->z.avail_out = (uInt) src->out_cap;
                int zr = inflate(&src->z, Z_NO_FLUSH);
                src->in_pos = src->in_len - src->z.avail_in;
                size_t produced = src->out_cap - src->z.avail_out;
                if (zr == Z_STREAM_END) {
                        /* concatenated members (pigz -i, cat a.gz b.gz) continue the same stream */
                        r = fill(src, err);
                        if (r < 0)
                                return r;
                        if (src->in_pos < src->in_len && src->in[src->in_pos] == 0x1f)
                                (void) inflateReset(&src->z);
                        else
                                src->z_done = true;
                } else if (zr == Z_BUF_ERROR && produced == 0 && at_eof) {
                        return cb_failc(err, -EBADMSG, "gzip stream truncated");
                } else if (zr != Z_OK && zr != Z_BUF_ERROR) {
                        return cb_failc(err, -EBADMSG, "gzip stream corrupt: %s",
                                        src->z.msg ? src->z.msg : "inflate failed");
                }
                if (produced > 0)
                        return (ssize_t) produced;
        }
}

static ssize_t read_zstd(struct layer_source *src, struct cb_err *err)
{
        for (;;) {
                int r = fill(src, err);
                if (r < 0)
                        return r;
                bool at_eof = src->in_pos == src->in_len && src->in_eof;
                /* 0 from the last call: a frame ended and nothing is pending (asked again at the end of the
                 * input, zstd would answer with the size of the next frame's header instead) */
                if (at_eof && src->zstd_last == 0)
                        return 0;
                ZSTD_inBuffer in = { src->in, src->in_len, src->in_pos };
                ZSTD_outBuffer out = { src->out, src->out_cap, 0 };
                size_t zr = ZSTD_decompressStream(src->zd, &out, &in);
                if (ZSTD_isError(zr))
                        return cb_failc(err, -EBADMSG, "zstd stream corrupt: %s", ZSTD_getErrorName(zr));
                src->in_pos = in.pos;
                src->zstd_last = zr;
                if (out.pos > 0)
                        return (ssize_t) out.pos;
                if (at_eof)
                        return cb_failc(err, -EBADMSG, "zstd stream truncated");
        }
}

ssize_t layer_source_read(struct layer_source *src, const void **ret_p, struct cb_err *err)
{
        if (src->kind == SRC_UNKNOWN) {
                int r = detect(src, err);
                if (r < 0)
                        return r;
        }
        ssize_t n;
        switch (src->kind) {
        case SRC_GZIP:
                n = read_gzip(src, err);
                *ret_p = src->out;
                break;
        case SRC_ZSTD:
                n = read_zstd(src, err);
                *ret_p = src->out;
                break;
        default: {
                int r = fill(src, err);
                if (r < 0)
                        return r;
                n = (ssize_t) (src->in_len - src->in_pos);
                *ret_p = src->in + src->in_pos;
                src->in_pos = src->in_len;
                break;
        }
        }
        /* a plain tar is its own blob: fill() hashes those bytes once for both digests */
        if (n > 0 && src->kind != SRC_PLAIN)
                cb_sha256_update(src->tar_hash, *ret_p, (size_t) n);
        return n;
}

int layer_source_finish(struct layer_source *src, char ret_diff_id[CB_DIGEST_STR_LEN], char ret_digest[CB_DIGEST_STR_LEN],
                        struct cb_err *err)
{
        uint64_t trailing = 0;
        for (;;) {
                const void *p;
                ssize_t n = layer_source_read(src, &p, err);
                if (n < 0)
                        return (int) n;
                if (n == 0)
                        break;
                trailing += (uint64_t) n;
                if (trailing > src->max_rest)
                        return cb_failc(err, -E2BIG, "more than %llu bytes of data after the end of the archive",
                                        (unsigned long long) src->max_rest);
        }
        /* bytes after the end of the compressed stream: still part of the blob's digest */
        while (!src->in_eof) {
                src->in_pos = src->in_len;
                int r = fill(src, err);
                if (r < 0)
                        return r;
        }
        char raw[CB_DIGEST_STR_LEN];
        cb_sha256_final(src->raw_hash, raw);
        if (ret_diff_id && src->kind == SRC_PLAIN)
                memcpy(ret_diff_id, raw, CB_DIGEST_STR_LEN);
        else if (ret_diff_id)
                cb_sha256_final(src->tar_hash, ret_diff_id);
        if (ret_digest)
                memcpy(ret_digest, raw, CB_DIGEST_STR_LEN);
        return 0;
}

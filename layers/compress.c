/* Compression streams: the sink (tar -> gzip|zstd|none -> fd) and the source (fd -> detect -> tar), each
 * hashing both sides in the same pass so diff_id and digest never need a second read. */
#include "layers/internal.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "common/cb.h"

struct layer_sink {
        enum layer_compression c;
        int out_fd;
        struct cb_sha256 *tar_hash;
        struct cb_sha256 *blob_hash;
        uint64_t out_size;
        z_stream z;
        bool z_init;
        ZSTD_CCtx *zc;
        unsigned char *out;
        size_t out_cap;
};

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
        cb_sha256_update(k->blob_hash, p, len);
        int r = cb_write_all(k->out_fd, p, len);
        if (r < 0)
                return cb_fail(err, -r, "write layer blob");
        k->out_size += len;
        return 0;
}

static unsigned zstd_workers(void)
{
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        if (n < 1)
                n = 1;
        if (n > 16)
                n = 16;
        return (unsigned) n;
}

int layer_sink_new(enum layer_compression c, int level, int out_fd, struct layer_sink **ret, struct cb_err *err)
{
        struct layer_sink *k = cb_xcalloc(1, sizeof(*k));
        k->c = c;
        k->out_fd = out_fd;
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
                /* windowBits 15+16: a gzip wrapper whose header zlib writes with mtime 0 and OS unix, so
                 * the bytes depend only on the input, the level and the zlib version */
                if (deflateInit2(&k->z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
                        layer_sink_free(k);
                        return cb_failc(err, -ENOMEM, "deflateInit2 failed");
                }
                k->z_init = true;
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

struct layer_sink *layer_sink_free(struct layer_sink *k)
{
        if (!k)
                return NULL;
        if (k->z_init)
                (void) deflateEnd(&k->z);
        ZSTD_freeCCtx(k->zc);
        cb_sha256_free(k->tar_hash);
        cb_sha256_free(k->blob_hash);
        free(k->out);
        free(k);
        return NULL;
}

static int gzip_pump(struct layer_sink *k, const void *p, size_t len, int flush, struct cb_err *err)
{
        k->z.next_in = (Bytef *) p;
        /* zlib counts in uInt; feed huge buffers in pieces */
        size_t left = len;
        do {
                uInt piece = left > (1u << 30) ? (1u << 30) : (uInt) left;
                k->z.avail_in = piece;
                left -= piece;
                int f = left ? Z_NO_FLUSH : flush;
                for (;;) {
                        k->z.next_out = k->out;
                        k->z.avail_out = (uInt) k->out_cap;
                        int zr = deflate(&k->z, f);
                        if (zr == Z_STREAM_ERROR)
                                return cb_failc(err, -EIO, "deflate failed");
                        int r = sink_emit(k, k->out, k->out_cap - k->z.avail_out, err);
                        if (r < 0)
                                return r;
                        if (f == Z_FINISH ? zr == Z_STREAM_END : (k->z.avail_out != 0 && k->z.avail_in == 0))
                                break;
                }
        } while (left);
        return 0;
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

int layer_sink_write(struct layer_sink *k, const void *p, size_t len, struct cb_err *err)
{
        if (len == 0)
                return 0;
        cb_sha256_update(k->tar_hash, p, len);
        switch (k->c) {
        case LAYER_GZIP:
                return gzip_pump(k, p, len, Z_NO_FLUSH, err);
        case LAYER_ZSTD:
                return zstd_pump(k, p, len, ZSTD_e_continue, err);
        default:
                return sink_emit(k, p, len, err);
        }
}

int layer_sink_finish(struct layer_sink *k, char ret_diff_id[CB_DIGEST_STR_LEN], char ret_digest[CB_DIGEST_STR_LEN],
                      uint64_t *ret_size, struct cb_err *err)
{
        int r = 0;
        if (k->c == LAYER_GZIP)
                r = gzip_pump(k, "", 0, Z_FINISH, err);
        else if (k->c == LAYER_ZSTD)
                r = zstd_pump(k, "", 0, ZSTD_e_end, err);
        if (r < 0)
                return r;
        cb_sha256_final(k->tar_hash, ret_diff_id);
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
};

int layer_source_new(int in_fd, struct layer_source **ret, struct cb_err *err)
{
        struct layer_source *src = cb_xcalloc(1, sizeof(*src));
        src->in_fd = in_fd;
        src->raw_hash = cb_sha256_new();
        src->tar_hash = cb_sha256_new();
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
        if (n > 0)
                cb_sha256_update(src->tar_hash, *ret_p, (size_t) n);
        return n;
}

int layer_source_finish(struct layer_source *src, char ret_diff_id[CB_DIGEST_STR_LEN], char ret_digest[CB_DIGEST_STR_LEN],
                        struct cb_err *err)
{
        for (;;) {
                const void *p;
                ssize_t n = layer_source_read(src, &p, err);
                if (n < 0)
                        return (int) n;
                if (n == 0)
                        break;
        }
        /* bytes after the end of the compressed stream: still part of the blob's digest */
        while (!src->in_eof) {
                src->in_pos = src->in_len;
                int r = fill(src, err);
                if (r < 0)
                        return r;
        }
        if (ret_diff_id)
                cb_sha256_final(src->tar_hash, ret_diff_id);
        if (ret_digest)
                cb_sha256_final(src->raw_hash, ret_digest);
        return 0;
}

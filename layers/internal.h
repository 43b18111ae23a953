/* layers/ internals: nothing outside layers/ includes this. */
#ifndef LAYER_INTERNAL_H
#define LAYER_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "layers/layer.h"

struct layer_store {
        char *root;
        int root_fd;
        int blobs_fd; /* blobs/sha256 */
        int layers_fd;
        int tmp_fd;
        int lock_fd; /* "lock", held LOCK_SH while open */
        int work_fd; /* tmp/work-<rand>, held LOCK_EX while open */
        char *work_name;
        char *work_path;
};

static inline void layer_json_decrefp(json_t **j)
{
        if (*j)
                json_decref(*j);
}
#define _cleanup_json_ _cleanup_(layer_json_decrefp)

/* Buffer sizes of the streaming paths: bounded, whatever the layer size. */
#define LAYER_IO_CHUNK (256u * 1024u)

/* Compressing sink: tar bytes in, compressed bytes out to out_fd, with sha256 of both streams. */
struct layer_sink;
int layer_sink_new(enum layer_compression c, int level, int out_fd, struct layer_sink **ret, struct cb_err *err);
int layer_sink_write(struct layer_sink *k, const void *p, size_t len, struct cb_err *err);
/* Flushes the compressor; fills the digests and the compressed size. */
int layer_sink_finish(struct layer_sink *k, char ret_diff_id[CB_DIGEST_STR_LEN], char ret_digest[CB_DIGEST_STR_LEN],
                      uint64_t *ret_size, struct cb_err *err);
struct layer_sink *layer_sink_free(struct layer_sink *k);
/* Output bytes past max are hashed and counted but not written (out_fd < 0 at layer_sink_new(): none is
 * written); layer_sink_dropped() tells whether that happened, leaving out_fd with a prefix only. */
void layer_sink_limit_writes(struct layer_sink *k, uint64_t max);
bool layer_sink_dropped(const struct layer_sink *k);
const char *layer_compression_media_type(enum layer_compression c);

/* Test hooks: force the gzip worker count (0: one per CPU), pretend openat2 is missing. */
extern unsigned layer_gzip_threads_override;
extern bool layer_extract_no_openat2;

/* Fault injection for tests (STYLE.md: fail the Nth write or fsync): when layer_fault_countdown is > 0,
 * each blob write or fsync decrements it and the one that brings it to 0 fails with EIO. */
extern unsigned layer_fault_countdown;
static inline bool layer_fault_hit(void)
{
        return layer_fault_countdown > 0 && --layer_fault_countdown == 0;
}

/* Decompressing source: raw bytes from in_fd (gzip, zstd or plain tar, detected by magic), with sha256 of
 * the raw stream (digest) and of the decompressed one (diff_id). */
struct layer_source;
int layer_source_new(int in_fd, struct layer_source **ret, struct cb_err *err);
/* Returns bytes read (0 at EOF) or < 0. *ret_p is borrowed until the next call. */
ssize_t layer_source_read(struct layer_source *src, const void **ret_p, struct cb_err *err);
/* Caps what layer_source_finish() will still decompress (-E2BIG past it); default unlimited. */
void layer_source_limit_rest(struct layer_source *src, uint64_t max);
/* Reads (and hashes) the rest of the input, then gives both digests. */
int layer_source_finish(struct layer_source *src, char ret_diff_id[CB_DIGEST_STR_LEN],
                        char ret_digest[CB_DIGEST_STR_LEN], struct cb_err *err);
struct layer_source *layer_source_free(struct layer_source *src);
/* Total compressed bytes read so far. */
uint64_t layer_source_raw_bytes(const struct layer_source *src);

/* Blob writer internals used by commit: write without hashing, commit with a digest the caller hashed. */
int layer_blob_writer_commit_hashed(struct layer_blob_writer *w, const char *digest, struct cb_err *err);

/* The tar of dir_fd (layer_commit_dir()'s stream, compressed as o says) into out_fd, of which at most
 * write_limit bytes are written (out_fd < 0: none); *ret_dropped tells whether the rest was only hashed.
 * ret gets the digests, size and media type, *ret_tar_size (may be NULL) the uncompressed size. */
int layer_tar_dir_limit(int dir_fd, int out_fd, const struct layer_commit_opts *o, uint64_t write_limit,
                        bool *ret_dropped, struct layer_desc *ret, uint64_t *ret_tar_size, struct cb_err *err);

/* Directory-backed layers (dirlayer.c): the blob of a layer recorded in dirlayers/<hex> is written from
 * layers/<hex>/ when first needed. layer_blob_ensure() makes sure blobs/sha256/<hex> exists (0), writing
 * it from the directory if the layer is directory-backed (-ENOENT when there is neither). */
int layer_blob_ensure(struct layer_store *s, const char *digest, struct cb_err *err);
/* True (and *ret_size) when digest is a directory-backed layer whose directory is present. */
bool layer_dirlayer_size(struct layer_store *s, const char *digest, uint64_t *ret_size);
/* The tar of directory-backed layer digest, compressed with c at level, into out_fd; its diff_id and
 * size are checked against the record (-EBADMSG: the directory was changed). -ENOENT when digest is not
 * directory-backed. */
int layer_dirlayer_tar(struct layer_store *s, const char *digest, enum layer_compression c, int level, int out_fd,
                       struct layer_desc *ret, struct cb_err *err);
#define LAYER_DIRLAYERS "dirlayers"
/* Removes the records whose directory is gone, whose blob exists, or that keep() refuses; returns how many. */
int layer_dirlayers_sweep(struct layer_store *s, bool (*keep)(void *ud, const char *hex), void *ud,
                          struct cb_err *err);

/* Index (tags) helpers. layer_index_lock() returns the fd holding flock(op) on index.lock (close it to
 * unlock). */
int layer_index_lock(struct layer_store *s, int op, struct cb_err *err);
int layer_index_load(struct layer_store *s, json_t **ret, struct cb_err *err);

/* Blob path relative to root_fd: "blobs/sha256/<hex>" (owned). -EINVAL for a bad digest. */
int layer_blob_relpath(const char *digest, char **ret, struct cb_err *err);

/* Reads a JSON blob, verifying its digest. */
int layer_store_read_json(struct layer_store *s, const char *digest, json_t **ret, struct cb_err *err);

/* Copies in_fd to the store as a blob, verifying expected (may be NULL). */
int layer_store_put_blob_fd(struct layer_store *s, int in_fd, const char *expected, char ret_digest[CB_DIGEST_STR_LEN],
                            uint64_t *ret_size, struct cb_err *err);

/* RFC 3339 "2024-01-02T03:04:05Z" (fraction and offset accepted) to Unix seconds. */
int layer_parse_rfc3339(const char *s, int64_t *ret);

/* Opens path (relative) inside root_fd, symlinks resolved inside the root (openat2 RESOLVE_IN_ROOT, or the
 * component walk for the directory and O_NOFOLLOW for the last component). Returns an fd or -errno. */
int layer_open_in_root(int root_fd, const char *path, int flags);

/* Overlay whiteout helpers (whiteout.c). */
#define LAYER_WH_PREFIX ".wh."
#define LAYER_WH_OPAQUE ".wh..wh..opq"
/* True for a 0/0 character device (overlayfs whiteout). */
bool layer_is_overlay_whiteout(mode_t mode, dev_t rdev);
/* True when the directory fd carries trusted.overlay.opaque=y or user.overlay.opaque=y. */
bool layer_dir_is_opaque(int dir_fd);
/* Makes name in dir_fd an overlay whiteout (0/0 char device). */
int layer_make_overlay_whiteout(int dir_fd, const char *name, struct cb_err *err);
/* Marks the directory opaque for overlayfs (trusted.overlay.opaque=y, or user.* when trusted is refused). */
int layer_mark_opaque(int dir_fd, struct cb_err *err);
/* True for xattrs that belong to overlayfs itself and never go into a layer or come out of one. */
bool layer_xattr_is_overlay(const char *name);

#endif

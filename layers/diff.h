/* layers/: file trees of layers and images, read by streaming the layer tar (libarchive), for
 * `cubuild diff`. A tree keeps one small record per entry (path, type, mode, owner, size, content
 * sha256, link target, xattrs, mtime), never file contents: memory is O(entries x (path length +
 * ~150 bytes)) whatever the file sizes, plus libarchive's read buffer and one 1 MiB block per scan.
 *
 * Every function that can fail takes a struct cb_err last and returns < 0 (-errno) on failure. */
#ifndef LAYER_DIFF_H
#define LAYER_DIFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/cb.h"

/* One entry of a layer tar or of a flattened image. Paths are relative ("etc/passwd": no "./", no
 * leading or trailing '/'). In a layer, whiteouts are entries of type 'w' (".wh.NAME") and 'o' (the
 * opaque marker ".wh..wh..opq"); a flattened tree has none. */
struct layer_tree_entry {
        const char *path;
        const char *link;   /* symlink target or hard link target; NULL otherwise */
        const char *xattrs; /* "name=value\n" sorted by name, values escaped (\xHH), long ones as their
                               sha256; NULL when none */
        uint64_t size;
        int64_t mtime;
        long mtime_nsec;
        uint32_t mode; /* permission bits and setuid/setgid/sticky (07777) */
        uint32_t uid, gid;
        uint32_t rdev_major, rdev_minor;
        char type;                           /* f d l h c b p w o */
        char sha256[CB_DIGEST_STR_LEN];      /* regular files: "sha256:<hex>" of the content; else "" */
        size_t seq;                          /* order in the tar (a later duplicate wins) */
};

/* A sorted list of entries (by strcmp of path, one entry per path). Opaque. */
struct layer_tree;

/* Reads a layer (tar, gzip or zstd, detected) from fd to its end and builds its tree. The stream's
 * digests are not verified here: the store verified them when the blob came in. */
int layer_tree_scan_fd(int fd, struct layer_tree **ret, struct cb_err *err);
/* The tree of the image whose layers (bottom first) are given: whiteouts and opaque markers applied,
 * an entry that is no directory hiding what lower layers had below it. The result borrows the
 * entries of layers, which must outlive it. */
struct layer_tree *layer_tree_flatten(struct layer_tree *const *layers, size_t n);
struct layer_tree *layer_tree_free(struct layer_tree *t); /* NULL-safe, returns NULL */
size_t layer_tree_count(const struct layer_tree *t);
const struct layer_tree_entry *layer_tree_get(const struct layer_tree *t, size_t i);
/* Bytes the tree holds (records and strings), for the memory bound. */
uint64_t layer_tree_mem(const struct layer_tree *t);

/* Compares two trees entry by entry and calls fn once per difference: field is "type", "mode", "uid",
 * "gid", "size", "content", "link", "xattrs", "mtime", "rdev", or "presence" (then a or b is NULL:
 * the path is only on the other side); a and b are the values as text. Returns the number of
 * differences. */
typedef void (*layer_tree_diff_fn)(void *ud, const char *path, const char *field, const char *a, const char *b);
size_t layer_tree_diff(const struct layer_tree *a, const struct layer_tree *b, layer_tree_diff_fn fn, void *ud);

#endif

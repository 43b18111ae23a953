/* layers/: the content-addressed image store, layer commit (directory -> deterministic tar -> gzip|zstd
 * blob), secure extraction, image config/manifest JSON, OCI layout export and import.
 *
 * Store layout under root (docs/layers.md has the details):
 *   blobs/sha256/<hex>   content-addressed blobs (layers, configs, manifests), written atomically
 *   index.json           OCI index whose manifests carry the tags (annotation org.opencontainers.image.ref.name)
 *   layers/<hex>/        each layer unpacked once by diff_id, usable as an overlay lower directory
 *   cache/               the builder's instruction cache (layers/ only creates it)
 *   tmp/                 work in progress; each open store owns one locked directory in it, and
 *                        directories whose owner died are removed by the next open
 *   lock                 flock: shared while a store is open, exclusive for prune
 *
 * Every function takes a struct cb_err as its last argument and returns < 0 (-errno) on failure. */
#ifndef LAYER_H
#define LAYER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "common/cb.h"

#define LAYER_MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define LAYER_MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define LAYER_MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define LAYER_MT_OCI_LAYER "application/vnd.oci.image.layer.v1.tar"
#define LAYER_MT_OCI_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define LAYER_MT_OCI_LAYER_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"
#define LAYER_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define LAYER_MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define LAYER_MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define LAYER_MT_DOCKER_LAYER_GZIP "application/vnd.docker.image.rootfs.diff.tar.gzip"
#define LAYER_MT_DOCKER_LAYER "application/vnd.docker.image.rootfs.diff.tar"
#define LAYER_ANNOTATION_REF_NAME "org.opencontainers.image.ref.name"

/* Largest manifest/config/index JSON we read (hostile input is capped, not trusted). */
#define LAYER_JSON_MAX (8u * 1024u * 1024u)

struct layer_store; /* opaque */

/* The default store root (DESIGN.md): /var/lib/cubuild as root, else $XDG_DATA_HOME/cubuild, else
 * $HOME/.local/share/cubuild. $CUBUILD_ROOT, when set and not empty, wins over all. Owned: free(). */
int layer_default_root(char **ret, struct cb_err *err);

/* Opens (creating) a store at root: blobs/sha256/, index.json (tags), layers/<diff_id hex>/ (unpacked),
 * cache/, tmp/ (cleared of stale work on open). On success *ret is owned: layer_store_free(). */
int layer_store_open(const char *root, struct layer_store **ret, struct cb_err *err);
/* Closes fds, removes this store's own tmp/ directory, releases locks. NULL is fine; returns NULL. */
struct layer_store *layer_store_free(struct layer_store *s);
/* Borrowed: valid until layer_store_free(). Absolute path. */
const char *layer_store_root(const struct layer_store *s);
/* Borrowed: the store root directory fd (O_DIRECTORY|O_CLOEXEC); do not close. */
int layer_store_root_fd(const struct layer_store *s);
/* Borrowed fd of this process's private work directory inside tmp/ (removed at layer_store_free()
 * and, after a crash, by the next open). Callers may build scratch trees there. */
int layer_store_work_fd(const struct layer_store *s);
/* Borrowed absolute path of the same directory. */
const char *layer_store_work_path(const struct layer_store *s);

/* Blobs. digest is "sha256:<64 hex>"; anything else is -EINVAL. */
bool layer_store_has_blob(struct layer_store *s, const char *digest);
int layer_store_put_blob(struct layer_store *s, const void *p, size_t len, char ret_digest[CB_DIGEST_STR_LEN],
                         struct cb_err *err);
/* Reads a whole blob (at most max bytes, else -E2BIG) into ret (appended) and verifies its digest
 * (-EBADMSG on mismatch). -ENOENT when absent. */
/* Serialises j deterministically (sorted keys, compact) and stores it as a blob; ret_size may be NULL. */
int layer_store_put_json(struct layer_store *s, json_t *j, char ret_digest[CB_DIGEST_STR_LEN], uint64_t *ret_size,
                         struct cb_err *err);
int layer_store_read_blob(struct layer_store *s, const char *digest, size_t max, struct cb_buf *ret,
                          struct cb_err *err);
/* Returns an owned read-only fd (close it) on the blob; *ret_size (if not NULL) gets its size. The
 * content is not re-verified here; layer_store_unpacked() and the readers that stream it do. */
int layer_store_open_blob(struct layer_store *s, const char *digest, uint64_t *ret_size, struct cb_err *err);
/* Size of a stored blob; 0 when absent or the digest is invalid. */
uint64_t layer_store_blob_size(struct layer_store *s, const char *digest);
/* Absolute path of a blob (owned, free()); it need not exist. */
char *layer_store_blob_path(struct layer_store *s, const char *digest);

/* Streaming write for pulled blobs: begin gives a temp file in tmp/; commit verifies against expected
 * (if not NULL) and renames into blobs/ (fsync of file and directory). On success *ret is owned and
 * ends with exactly one of commit or abort. */
struct layer_blob_writer;
int layer_store_blob_begin(struct layer_store *s, struct layer_blob_writer **ret, struct cb_err *err);
/* Borrowed: the temp file's fd, for callers that must write it themselves (registry/ via curl). Bytes
 * written straight to the fd are not hashed: commit then re-reads the file to hash it. Do not mix
 * with layer_blob_writer_write(). */
int layer_blob_writer_fd(const struct layer_blob_writer *w);
int layer_blob_writer_write(struct layer_blob_writer *w, const void *p, size_t len, struct cb_err *err);
/* Bytes written so far through layer_blob_writer_write(). */
uint64_t layer_blob_writer_size(const struct layer_blob_writer *w);
/* Frees w (also on failure; a failed commit leaves nothing in blobs/). -EBADMSG when the content does
 * not match expected_digest. */
int layer_blob_writer_commit(struct layer_blob_writer *w, const char *expected_digest,
                             char ret_digest[CB_DIGEST_STR_LEN], struct cb_err *err);
/* Frees w, unlinks the temp file. NULL is fine. */
void layer_blob_writer_abort(struct layer_blob_writer *w);

/* Tags: name is a full reference string as the caller normalised it ("localhost/golden:latest",
 * "docker.io/nvidia/cuda:11.8.0-runtime-ubuntu20.04"). index.json is rewritten atomically under an
 * exclusive lock, so concurrent processes do not lose each other's tags. Tagging needs the manifest
 * blob in the store (-ENOENT otherwise). */
int layer_store_tag(struct layer_store *s, const char *name, const char *manifest_digest, struct cb_err *err);
/* -ENOENT when name is not a tag. */
int layer_store_untag(struct layer_store *s, const char *name, struct cb_err *err);
/* -ENOENT when unknown; accepts a tag, a full digest, "sha256:<prefix>" or a bare hex prefix of >= 12
 * digits that matches exactly one manifest in the index or one blob (-EINVAL when ambiguous). */
int layer_store_resolve(struct layer_store *s, const char *name_or_digest, char ret_manifest_digest[CB_DIGEST_STR_LEN],
                        struct cb_err *err);
/* One entry per tag, sorted by name. size: manifest + config + layer blobs (compressed, as stored);
 * created: the config's "created" as Unix seconds (0 when absent). *ret owned: layer_image_entries_free(). */
struct layer_image_entry {
        char *name;
        char manifest_digest[CB_DIGEST_STR_LEN];
        uint64_t size;
        int64_t created;
};
int layer_store_list(struct layer_store *s, struct layer_image_entry **ret, size_t *ret_n, struct cb_err *err);
void layer_image_entries_free(struct layer_image_entry *v, size_t n);

/* Store maintenance (library side of `cubuild rm/prune/inspect`). */
/* Removes name_or_digest: a tag is untagged; a digest or id prefix loses every tag that points to it. The
 * manifest blob itself is deleted when no tag is left on it; its config and layers go at the next prune. */
int layer_store_rm(struct layer_store *s, const char *name_or_digest, struct cb_err *err);
/* Deletes every blob not reachable from a tagged image (manifest, config, layers; the children of an
 * image index), nor named in keep (e.g. layers the build cache still points to), and every unpacked
 * layers/<diff_id>/ no kept image uses. Takes the store lock exclusively: -EBUSY when another process
 * has the store open (a build in flight may hold blobs no tag reaches yet). */
struct layer_prune_stats {
        uint64_t blobs_removed, bytes_removed, layers_removed;
};
int layer_store_prune(struct layer_store *s, const char *const *keep, size_t nkeep, struct layer_prune_stats *ret,
                      struct cb_err *err);
/* A JSON object describing the image (docker inspect's spirit): Id (config digest), Digest (manifest),
 * RepoTags, Size, Created, Architecture, Os, Manifest, Config. *ret owned: json_decref(). */
int layer_store_inspect(struct layer_store *s, const char *name_or_digest, json_t **ret, struct cb_err *err);

/* Layers. A transparent value type. media_type is the OCI layer type matching the compression. */
struct layer_desc {
        char digest[CB_DIGEST_STR_LEN];
        char diff_id[CB_DIGEST_STR_LEN];
        uint64_t size;
        char media_type[64];
};
enum layer_compression { LAYER_GZIP, LAYER_ZSTD, LAYER_UNCOMPRESSED };
struct layer_commit_opts {
        enum layer_compression compression;
        int level;                 /* -1 default (gzip 6, zstd 3) */
        int64_t source_date_epoch; /* -1 unset: keep mtimes; else mtimes later than it are clamped to it */
        bool overlay_whiteouts;    /* translate 0/0 char devs + opaque xattrs */
        /* called every few MiB of tar written, with the tar bytes so far (NULL: not called) */
        void (*progress)(void *ud, uint64_t tar_bytes);
        void *progress_ud;
};
/* Defaults: gzip, level -1, no clamping, no whiteout translation. Start from this (or set level and
 * source_date_epoch to -1): a zeroed struct means gzip level 0 (stored, uncompressed deflate) and every mtime
 * clamped to 1970. */
void layer_commit_opts_init(struct layer_commit_opts *o);
/* "zlib 1.2.13", "zstd 1.5.4", "" for none: layer bytes depend on it, so images record it (annotation
 * LAYER_ANNOTATION_COMPRESSOR on OCI manifests). Borrowed, static. */
const char *layer_compressor_version(enum layer_compression c);
#define LAYER_ANNOTATION_COMPRESSOR "io.cubuild.layer.compressor"
/* Tar the tree under dir_fd (an overlay upperdir or a plain dir) into a layer blob in the store: entries
 * sorted, PAX, numeric uid/gid, whiteouts translated, diff_id and digest computed in the same pass. The
 * directory itself is not an entry (its children are, as "name", "dir/name"). */
int layer_commit_dir(struct layer_store *s, int dir_fd, const struct layer_commit_opts *o, struct layer_desc *ret,
                     struct cb_err *err);
/* Commits parent_fd/name (a directory on the store's filesystem: an overlay upper directory) as
 * layer_commit_dir() does and keeps it as the layer's unpacked form, layers/<diff_id hex>/ (renamed there).
 * An uncompressed layer of more than dir_min bytes is directory-backed: its blob is not written now, but
 * the first time something opens it (layer_store_open_blob(), an OCI export), made again from
 * layers/<hex>/ and checked against the digest; until then dirlayers/<hex> records it, and the store is
 * not a complete OCI layout for it. The tree is synced to disk (syncfs, beside the hashing) before the
 * layer is recorded, since it is the layer's only copy. */
int layer_commit_adopt(struct layer_store *s, int parent_fd, const char *name, const struct layer_commit_opts *o,
                       uint64_t dir_min, struct layer_desc *ret, struct cb_err *err);
/* Hashes the directory of every directory-backed layer that has no blob yet (nothing is written) and
 * calls report() for each whose tar no longer matches its record or cannot be read; with repair, such a
 * layer's directory and record are removed first (removed says whether that worked). Returns how many
 * layers were checked, or < 0. */
typedef void (*layer_check_report)(void *ud, const char *digest, const char *why, bool removed);
int layer_store_check_dirlayers(struct layer_store *s, bool repair, layer_check_report report, void *ud,
                                struct cb_err *err);
/* Copy-and-compare fallback for when overlayfs is unavailable: the layer holds what differs between base_fd
 * (the tree before, e.g. the parent rootfs copied with mtimes kept: cp -a) and dir_fd (the tree after):
 * entries that are new or changed (type, mode, owner, mtime, size, device or link target differ; contents
 * of equal size and mtime are taken as equal, as docker's naive differ does), and ".wh." whiteouts for what
 * was removed. A directory is written when its own metadata changed; its children are compared either way.
 * Same format and determinism as layer_commit_dir(); o->overlay_whiteouts is ignored. */
int layer_commit_diff(struct layer_store *s, int base_fd, int dir_fd, const struct layer_commit_opts *o,
                      struct layer_desc *ret, struct cb_err *err);
/* A layer written entry by entry, with no directory of its own to walk: what COPY makes of its sources
 * without writing them into an upper directory first. Entries must come in the order layer_commit_dir()
 * writes a tree (parents before children, names in byte order within a directory); same format,
 * determinism and options (o->overlay_whiteouts is ignored). */
struct layer_writer;
int layer_writer_begin(struct layer_store *s, const struct layer_commit_opts *o, struct layer_writer **ret,
                       struct cb_err *err);
/* One entry at path ("opt/venv", no leading '/'), not walked into. st gives its type, mode, owner, mtime,
 * size, device, and the (dev, ino, nlink) that make hard links of later entries with the same inode.
 * src_dir_fd/src_name: where its data (regular file), target (symlink) and, with xattrs, extended
 * attributes are read; src_dir_fd < 0 for a directory or empty file made of st alone. */
int layer_writer_add(struct layer_writer *w, const char *path, const struct stat *st, int src_dir_fd,
                     const char *src_name, bool xattrs, struct cb_err *err);
/* Offered each entry of a tree before it is written, rel being its path below the tree: false leaves it,
 * and what is under it, out; it may change st's mode and owner. */
typedef bool (*layer_tree_visit)(void *ud, const char *rel, struct stat *st);
/* What is under dir_fd, below path ("" for the layer's root), walked as layer_commit_dir() walks a tree;
 * no xattrs are carried. */
int layer_writer_add_tree(struct layer_writer *w, const char *path, int dir_fd, layer_tree_visit visit, void *ud,
                          struct cb_err *err);
/* Finishes the tar and stores the blob; frees w (also on failure). */
int layer_writer_commit(struct layer_writer *w, struct layer_desc *ret, struct cb_err *err);
/* Frees w and discards what it wrote. NULL is fine. */
void layer_writer_abort(struct layer_writer *w);
/* Same tar stream written to an arbitrary fd (no store): for tests and `cubuild save` of a single layer. */
int layer_write_tar_fd(int dir_fd, int out_fd, const struct layer_commit_opts *o, char ret_diff_id[CB_DIGEST_STR_LEN],
                       char ret_digest[CB_DIGEST_STR_LEN], uint64_t *ret_size, struct cb_err *err);
/* Ensures layers/<diff_id hex>/ holds the layer unpacked (extracting the blob once, securely; whiteouts
 * kept as overlay whiteouts (0/0 char devices, trusted.overlay.opaque) so the dir works as an overlay
 * lowerdir); returns its absolute path (owned, free()). The blob's digest and the tar's diff_id are both
 * verified while extracting; a mismatch or a corrupt blob leaves nothing in layers/. */
int layer_store_unpacked(struct layer_store *s, const struct layer_desc *l, char **ret_path, struct cb_err *err);
/* Makes dir_fd/name the unpacked form of l (renamed into layers/<diff_id hex>/, same filesystem) instead of
 * extracting l's blob later: for the overlay upper directory that l was just committed from with
 * o->overlay_whiteouts (its whiteouts and opaque directories are already in lowerdir form). The caller
 * vouches that the tree is what the blob holds; mtimes may be newer than a clamped blob's, and overlayfs'
 * own xattrs stay. Returns 1 when adopted, 0 when layers/ already had l (dir_fd/name is left to the caller,
 * as it is on error). Saves the extraction the next step would do and the removal of the upper dir. */
int layer_store_adopt_unpacked(struct layer_store *s, const struct layer_desc *l, int dir_fd, const char *name,
                               struct cb_err *err);

/* A layer's entries, streamed without extracting it (entries.c): from layers/<diff_id hex>/ when the store
 * has it unpacked (overlay form: a 0/0 character device is a whiteout, trusted.overlay.opaque marks an
 * opaque directory), else from the tar headers of its blob (image-spec form: ".wh.NAME" is reported as a
 * whiteout of NAME, ".wh..wh..opq" as its directory with LAYER_ENTRY_OPAQUE). Order is the directory's or
 * the tar's; a directory comes before what it holds when the source has it so. Memory stays bounded
 * whatever the layer's size. A transparent value type; path is borrowed for the callback's duration:
 * relative, without "/" or "./" in front or "/" behind ("usr/lib/x").*/
#define LAYER_ENTRY_WHITEOUT (1u << 0) /* path is removed from the layers below (mode S_IFCHR) */
#define LAYER_ENTRY_OPAQUE (1u << 1)   /* a directory hiding what the layers below hold in it */
#define LAYER_ENTRY_HARDLINK (1u << 2) /* tar form: a hard link to an earlier entry; size is 0, not the file's */
struct layer_entry {
        const char *path;
        unsigned mode;  /* S_IF* type and permission bits */
        uint64_t size;  /* regular files; 0 for others */
        unsigned flags; /* LAYER_ENTRY_* */
};
/* Returns 0 to go on, anything else to stop the walk with that value (< 0: an error, set in err). */
typedef int (*layer_entry_fn)(void *ud, const struct layer_entry *e);
/* Returns 0 when every entry was seen, the callback's stopping value, or < 0 (unreadable layer or blob). */
int layer_store_walk_entries(struct layer_store *s, const struct layer_desc *l, layer_entry_fn fn, void *ud,
                             struct cb_err *err);
/* An owned fd (close it) on l's unpacked directory, without extracting it: -ENOENT when it is not unpacked. */
int layer_store_open_unpacked(struct layer_store *s, const struct layer_desc *l, struct cb_err *err);
/* Which of a set of unpacked layers already hold a path: layer_presence_new() opens layers[0..n) (-ENOENT
 * when one is not unpacked); *ret owned: layer_presence_free(). layer_presence_check() looks path
 * (relative, as layer_entry's) up in each without following any symlink, also in parent components:
 * 0 when no layer has it (a directory path may exist as a directory), 1 when one has it otherwise,
 * < 0 (-ELOOP, -ENOTDIR, ...) when a parent is a symlink or no directory, or on error. Cheapest when
 * paths come grouped by directory, as layer_store_walk_entries() gives them. */
struct layer_presence;
int layer_presence_new(struct layer_store *s, const struct layer_desc *layers, size_t n,
                       struct layer_presence **ret, struct cb_err *err);
int layer_presence_check(struct layer_presence *p, const char *path, bool is_dir);
struct layer_presence *layer_presence_free(struct layer_presence *p);

/* Compression belongs to an output (DESIGN.md): a build may commit LAYER_UNCOMPRESSED and compress once
 * per layer and algorithm when it pushes or exports. Returns in *ret the layer in compression c (level -1:
 * default): l itself when it already is; otherwise the blob is streamed through decompression and the new
 * compressor once (its diff_id verified), and the result is remembered under cache/compressed/ so the next
 * push or export of any image with this layer costs nothing. */
int layer_store_compress_layer(struct layer_store *s, const struct layer_desc *l, enum layer_compression c, int level,
                               struct layer_desc *ret, struct cb_err *err);
/* Remembers that l, a compressed layer whose blob is in the store, is what compressing its diff_id at the
 * default level gives, so layer_store_compress_layer() returns l rather than compressing again: for a layer
 * fetched compressed whose uncompressed form the store then keeps (a build cache import). */
int layer_store_remember_compressed(struct layer_store *s, const struct layer_desc *l, struct cb_err *err);
/* Writes a manifest for the same config (same image id) whose layers use compression c; docker_format as
 * in layer_image_write(). The new manifest digest goes to ret_manifest_digest; nothing is tagged. */
int layer_image_convert(struct layer_store *s, const char *manifest_digest, enum layer_compression c, int level,
                        bool docker_format, char ret_manifest_digest[CB_DIGEST_STR_LEN], struct cb_err *err);
/* The image as an output carries it: its uncompressed layers (what builds commit) in compression c, at the
 * default level, every other layer (a pulled base's) byte for byte, in the manifest's own format. An image
 * with no uncompressed layer, or c LAYER_UNCOMPRESSED, is its own output: ret is manifest_digest. */
int layer_image_compress(struct layer_store *s, const char *manifest_digest, enum layer_compression c,
                         char ret_manifest_digest[CB_DIGEST_STR_LEN], struct cb_err *err);

/* Secure extraction of a (possibly compressed: detect gzip/zstd/none) tar stream into root_fd; OCI
 * whiteouts applied by deleting in root (mode LAYER_EXTRACT_APPLY) or kept as overlay whiteouts
 * (LAYER_EXTRACT_OVERLAY). Nothing is created outside root_fd: names with ".." components are rejected,
 * leading "/" is stripped, and every parent is resolved inside the root (openat2 RESOLVE_IN_ROOT, or an
 * O_NOFOLLOW component walk where openat2 is missing). Device nodes are created only as root. */
enum layer_extract_mode { LAYER_EXTRACT_APPLY, LAYER_EXTRACT_OVERLAY };
struct layer_extract_opts {
        enum layer_extract_mode mode;
        bool keep_setuid;        /* keep setuid/setgid bits (image layers: yes; user tarballs: ask) */
        bool no_chown;           /* do not chown (non-root callers get this implicitly) */
        uint64_t max_entries;    /* 0: default 10,000,000 */
        uint64_t max_total_size; /* sum of entry sizes; 0: default 1 TiB */
        size_t max_name_len;     /* 0: default 4096 */
        /* Out: when not NULL, set to the sha256 of the uncompressed tar / of the raw input stream. */
        char *ret_diff_id;    /* CB_DIGEST_STR_LEN bytes */
        char *ret_digest;     /* CB_DIGEST_STR_LEN bytes */
};
void layer_extract_opts_init(struct layer_extract_opts *o);
/* Image-layer semantics: keeps setuid bits, chowns when root, default limits. */
int layer_extract_fd(int root_fd, int tar_fd, enum layer_extract_mode mode, struct cb_err *err);
int layer_extract_fd_opts(int root_fd, int tar_fd, const struct layer_extract_opts *o, struct cb_err *err);

/* Images. config: the OCI image config (the caller fills architecture/os/config/history; layer_image_write
 * sets rootfs.diff_ids from layers). Writes config blob and manifest blob (OCI media types by default;
 * docker v2s2 when docker_format). JSON is serialised with sorted keys, so equal input gives equal digests.
 * config is borrowed (its rootfs key is replaced); annotations borrowed. */
int layer_image_write(struct layer_store *s, json_t *config, const struct layer_desc *layers, size_t n,
                      bool docker_format, json_t *annotations /* may be NULL */,
                      char ret_manifest_digest[CB_DIGEST_STR_LEN], struct cb_err *err);
/* Reads manifest + config (both verified by digest); layers in manifest order with diff_ids from the config.
 * *ret owned: layer_image_free(). */
struct layer_image {
        json_t *manifest;
        json_t *config;
        char manifest_digest[CB_DIGEST_STR_LEN];
        char config_digest[CB_DIGEST_STR_LEN];
        struct layer_desc *layers;
        size_t nlayers;
};
int layer_image_read(struct layer_store *s, const char *manifest_digest, struct layer_image **ret, struct cb_err *err);
struct layer_image *layer_image_free(struct layer_image *img);

/* Export/import. */
/* Creates or adds to an OCI image layout at dest_dir (blobs copied, or hard-linked when on the same
 * filesystem); ref_name (may be NULL) becomes the entry's org.opencontainers.image.ref.name, replacing an
 * earlier entry of that name. */
int layer_export_oci_dir(struct layer_store *s, const char *manifest_digest, const char *dest_dir, const char *ref_name,
                         struct cb_err *err);
/* Copies (verifying every digest) the manifest named ref_name (NULL: the only manifest) and its blobs into
 * the store. The image is not tagged; the caller tags it. */
int layer_import_oci_dir(struct layer_store *s, const char *src_dir, const char *ref_name /* NULL: the only manifest */,
                         char ret_manifest_digest[CB_DIGEST_STR_LEN], struct cb_err *err);
/* Archives (tar streams, written to or read from an fd; no compression of the outer tar). */
/* oci-archive: the OCI image layout of layer_export_oci_dir() as one tar (deterministic: sorted, mtime 0). */
int layer_export_oci_archive(struct layer_store *s, const char *manifest_digest, const char *ref_name, int out_fd,
                             struct cb_err *err);
int layer_import_oci_archive(struct layer_store *s, int in_fd, const char *ref_name /* NULL: the only manifest */,
                             char ret_manifest_digest[CB_DIGEST_STR_LEN], struct cb_err *err);
/* docker-archive (docker save's format: manifest.json, <config hex>.json, <diff_id hex>.tar), loadable by
 * docker load and podman load. Layers are written uncompressed (an uncompressed copy of a compressed
 * layer is made in the store once, see layer_store_compress_layer()). repo_tags may be NULL/0. */
int layer_export_docker_archive(struct layer_store *s, const char *manifest_digest, const char *const *repo_tags,
                                size_t ntags, int out_fd, struct cb_err *err);
/* One loaded image: the OCI manifest written for it and the tags the archive gave it (the caller tags). */
struct layer_loaded {
        char manifest_digest[CB_DIGEST_STR_LEN];
        char **repo_tags;
        size_t ntags;
};
/* Loads a docker-archive or an oci-archive (detected: manifest.json or oci-layout). Every image of a
 * docker-archive is loaded; layer digests and diff_ids are verified against the config. *ret owned:
 * layer_loaded_free(). */
int layer_import_archive(struct layer_store *s, int in_fd, struct layer_loaded **ret, size_t *ret_n, struct cb_err *err);
void layer_loaded_free(struct layer_loaded *v, size_t n);

/* Import a rootfs tarball (like docker import) as a one-layer image with a minimal config. The tarball is
 * extracted securely into a scratch directory and re-committed with o, so the layer is deterministic. */
int layer_import_rootfs_tar(struct layer_store *s, const char *tar_path, const struct layer_commit_opts *o,
                            char ret_manifest_digest[CB_DIGEST_STR_LEN], struct cb_err *err);

#endif

/* ADD's extras: local tar archives unpacked into the destination, and http(s) URLs downloaded.
 * Internal to builder/. */
#ifndef BLD_COPY_ADD_H
#define BLD_COPY_ADD_H

#include <stdbool.h>
#include <stdint.h>

#include "builder/steps.h"

/* Whether the regular file open on fd is a tar archive that ADD unpacks: plain, or compressed with
 * gzip, bzip2, xz or zstd (moby's DetectCompression set), with a valid first tar header (BuildKit's
 * isArchivePath: an empty tar or a compressed non-tar is copied as a file). Leaves the offset at 0. */
int bld_archive_detect(int fd, bool *ret_is_tar, struct cb_err *err);

/* Unpacks the archive open on fd into dir_fd through layers/' secure extraction: no entry lands
 * outside dir_fd, whatever its name or the symlinks before it. bzip2 and xz are first decompressed
 * through libarchive into an unlinked temp file under tmp_dir. Ownership, modes and mtimes come
 * from the archive, as Docker keeps them. */
int bld_archive_extract(int fd, int dir_fd, const char *tmp_dir, struct cb_err *err);

/* Owned (free()): the file name ADD gives a URL source: the last element of its path, or
 * "__unnamed__" when the path has none (BuildKit). */
char *bld_url_basename(const char *url);

/* Downloads url into this build's work directory (the store's private tmp dir), through libcurl
 * with the host's CA bundle ($SSL_CERT_FILE when set) and the proxy variables libcurl honours. The
 * file's mtime is the Last-Modified header's time when the server sent one, else the download
 * time. With reuse, a file an earlier call of this process downloaded for the same URL is taken
 * as it is. On success *ret_path is owned (free()) and ret_digest holds the content's sha256. */
int bld_url_fetch(struct bld_ctx *b, const char *url, bool reuse, char **ret_path,
                  char ret_digest[CB_DIGEST_STR_LEN], struct cb_err *err);

/* Checks the downloaded file against ADD --checksum ("sha256:<hex>" or "sha512:<hex>"): -EBADMSG
 * "checksum mismatch for 'URL': expected X, got Y" when it differs. */
int bld_url_verify(const char *path, const char *sha256_digest, const char *url, const char *checksum,
                   struct cb_err *err);

#endif

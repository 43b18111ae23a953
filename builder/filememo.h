/* File content digests: the COPY cache keys and the recorded context digest read the same context
 * files, each read and hashed once per build, and not again by the next build when unchanged. */
#ifndef CB_BUILDER_FILEMEMO_H
#define CB_BUILDER_FILEMEMO_H

#include "common/cb.h"

#include <sys/stat.h>

struct bld_file_memo;
struct bld_file_memo *bld_file_memo_new(void);
struct bld_file_memo *bld_file_memo_free(struct bld_file_memo *m);
/* sha256 of the regular file dir_fd/name whose lstat() is st. A file seen before with the same device,
 * inode, size, mtime and ctime is not read again. m may be NULL (no memo). */
int bld_file_digest(struct bld_file_memo *m, int dir_fd, const char *name, const struct stat *st,
                    char ret[CB_DIGEST_STR_LEN], unsigned long long *ret_size, struct cb_err *err);
/* The digests earlier builds left in the store (cache/filememo), as BuildKit keeps its content hashes:
 * a context file whose device, inode, size, mtime and ctime are unchanged is not read again. A missing
 * or damaged memo is none. */
void bld_file_memo_load(struct bld_file_memo *m, int store_root_fd);
/* Writes the memo back for the next build (atomically, best effort): this build's files first, at most
 * 120,000 (about 11 MiB in memory). A file changed within 2 s before build_started (seconds since the
 * epoch) is left out: it could change again within the same timestamp tick and look unchanged. */
void bld_file_memo_save(const struct bld_file_memo *m, int store_root_fd, int64_t build_started);
/* How many digests came from the memo (for tests and --debug). */
size_t bld_file_memo_hits(const struct bld_file_memo *m);

#endif

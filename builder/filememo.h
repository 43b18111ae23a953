/* File content digests remembered for one build: the COPY cache keys and the recorded context digest
 * read the same context files, and each file is read and hashed once. */
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
/* How many digests came from the memo (for tests and --debug). */
size_t bld_file_memo_hits(const struct bld_file_memo *m);

#endif

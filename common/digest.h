/* Streaming sha256 over libcrypto, shared by layers/ and registry/. */
#ifndef CB_DIGEST_H
#define CB_DIGEST_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

#define CB_SHA256_LEN 32
#define CB_SHA256_HEX_LEN 64
/* "sha256:" + 64 hex + NUL */
#define CB_DIGEST_STR_LEN (7 + CB_SHA256_HEX_LEN + 1)

struct cb_sha256;

/* Owned: release with cb_sha256_free(). */
struct cb_sha256 *cb_sha256_new(void);
struct cb_sha256 *cb_sha256_free(struct cb_sha256 *h);
void cb_sha256_update(struct cb_sha256 *h, const void *p, size_t len);
/* Writes "sha256:<hex>" into out (CB_DIGEST_STR_LEN bytes). The hash may not be updated after. */
void cb_sha256_final(struct cb_sha256 *h, char out[CB_DIGEST_STR_LEN]);
/* One-shot. */
void cb_sha256_digest(const void *p, size_t len, char out[CB_DIGEST_STR_LEN]);
/* Hashes a file from dir_fd/path, returning its size in *ret_size when not NULL. */
int cb_sha256_file(int dir_fd, const char *path, char out[CB_DIGEST_STR_LEN], unsigned long long *ret_size,
                   struct cb_err *err);

/* True for "sha256:" followed by exactly 64 lower-case hex digits. */
bool cb_digest_valid(const char *s);
/* "sha256:<hex>" of the raw digest md, and back (-EINVAL unless cb_digest_valid()). */
void cb_digest_from_raw(const unsigned char md[CB_SHA256_LEN], char out[CB_DIGEST_STR_LEN]);
int cb_digest_to_raw(const char *digest, unsigned char md[CB_SHA256_LEN]);

#endif

#include "digest.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"

struct cb_sha256 {
        EVP_MD_CTX *ctx;
};

struct cb_sha256 *cb_sha256_new(void)
{
        struct cb_sha256 *h = cb_xmalloc(sizeof(*h));
        h->ctx = EVP_MD_CTX_new();
        if (!h->ctx || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
                (void) fputs("cubuild: libcrypto cannot initialise sha256\n", stderr);
                abort();
        }
        return h;
}

struct cb_sha256 *cb_sha256_free(struct cb_sha256 *h)
{
        if (h) {
                EVP_MD_CTX_free(h->ctx);
                free(h);
        }
        return NULL;
}

void cb_sha256_update(struct cb_sha256 *h, const void *p, size_t len)
{
        if (len)
                (void) EVP_DigestUpdate(h->ctx, p, len);
}

void cb_digest_from_raw(const unsigned char md[CB_SHA256_LEN], char out[CB_DIGEST_STR_LEN])
{
        static const char digits[] = "0123456789abcdef";
        memcpy(out, "sha256:", 7);
        for (size_t i = 0; i < CB_SHA256_LEN; i++) {
                out[7 + 2 * i] = digits[md[i] >> 4];
                out[7 + 2 * i + 1] = digits[md[i] & 15];
        }
        out[CB_DIGEST_STR_LEN - 1] = '\0';
}

void cb_sha256_final(struct cb_sha256 *h, char out[CB_DIGEST_STR_LEN])
{
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int n = 0;
        (void) EVP_DigestFinal_ex(h->ctx, md, &n);
        cb_digest_from_raw(md, out);
}

void cb_sha256_digest(const void *p, size_t len, char out[CB_DIGEST_STR_LEN])
{
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int n = 0;
        (void) EVP_Digest(p, len, md, &n, EVP_sha256(), NULL);
        cb_digest_from_raw(md, out);
}

int cb_sha256_file(int dir_fd, const char *path, char out[CB_DIGEST_STR_LEN], unsigned long long *ret_size,
                   struct cb_err *err)
{
        _cleanup_close_ int fd = openat(dir_fd, path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return cb_fail(err, errno, "open '%s'", path);
        struct cb_sha256 *h = cb_sha256_new();
        static __thread char chunk[1 << 16];
        unsigned long long total = 0;
        for (;;) {
                ssize_t n = read(fd, chunk, sizeof(chunk));
                if (n < 0) {
                        int e = errno;
                        if (e == EINTR)
                                continue;
                        cb_sha256_free(h);
                        return cb_fail(err, e, "read '%s'", path);
                }
                if (n == 0)
                        break;
                cb_sha256_update(h, chunk, (size_t) n);
                total += (unsigned long long) n;
        }
        cb_sha256_final(h, out);
        cb_sha256_free(h);
        if (ret_size)
                *ret_size = total;
        return 0;
}

bool cb_digest_valid(const char *s)
{
        if (!s || strncmp(s, "sha256:", 7) != 0)
                return false;
        s += 7;
        size_t i;
        for (i = 0; s[i]; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        return i == CB_SHA256_HEX_LEN;
}

/* c is a lowercase hex digit (cb_digest_valid() checked) */
static unsigned hexval(char c)
{
        return c >= '0' && c <= '9' ? (unsigned) (c - '0') : (unsigned) (c - 'a' + 10) & 15u;
}

int cb_digest_to_raw(const char *digest, unsigned char md[CB_SHA256_LEN])
{
        if (!cb_digest_valid(digest))
                return -EINVAL;
        for (size_t i = 0; i < CB_SHA256_LEN; i++)
                md[i] = (unsigned char) (hexval(digest[7 + 2 * i]) << 4 | hexval(digest[8 + 2 * i]));
        return 0;
}

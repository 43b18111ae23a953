/* ADD's extras: local tar archives unpacked (libarchive detects, layers/ extracts) and http(s)
 * sources downloaded with libcurl. */
#include "builder/copy_add.h"

#include <archive.h>
#include <archive_entry.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builder/internal.h"

#define ADD_IO_CHUNK (256u * 1024u)

/* Docker's DetectCompression set; libarchive would also take lz4, lzip, compress and more, which
 * Docker copies as plain files. */
static void support_docker_filters(struct archive *a)
{
        (void) archive_read_support_filter_gzip(a);
        (void) archive_read_support_filter_bzip2(a);
        (void) archive_read_support_filter_xz(a);
        (void) archive_read_support_filter_zstd(a);
}

int bld_archive_detect(int fd, bool *ret_is_tar, struct cb_err *err)
{
        if (lseek(fd, 0, SEEK_SET) < 0)
                return cb_fail(err, errno, "seek");
        struct archive *a = archive_read_new();
        if (!a)
                return cb_failc(err, -ENOMEM, "archive_read_new failed");
        support_docker_filters(a);
        (void) archive_read_support_format_tar(a);
        bool is_tar = false;
        if (archive_read_open_fd(a, fd, ADD_IO_CHUNK) == ARCHIVE_OK) {
                struct archive_entry *e;
                int r = archive_read_next_header(a, &e);
                is_tar = r == ARCHIVE_OK || r == ARCHIVE_WARN;
        }
        (void) archive_read_free(a);
        if (lseek(fd, 0, SEEK_SET) < 0)
                return cb_fail(err, errno, "seek");
        *ret_is_tar = is_tar;
        return 0;
}

/* An unlinked scratch file in dir. */
static int scratch_file(const char *dir, struct cb_err *err)
{
        int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (fd >= 0)
                return fd;
        char hex[17];
        cb_random_hex(hex, 8);
        _cleanup_free_ char *p = cb_xasprintf("%s/add-%s", dir, hex);
        fd = open(p, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0)
                return cb_fail(err, errno, "create a scratch file in '%s'", dir);
        (void) unlink(p);
        return fd;
}

/* bzip2 and xz through libarchive's raw format into a plain tar the extractor reads. */
static int decompress_to(int in_fd, int out_fd, struct cb_err *err)
{
        struct archive *a = archive_read_new();
        if (!a)
                return cb_failc(err, -ENOMEM, "archive_read_new failed");
        support_docker_filters(a);
        (void) archive_read_support_format_raw(a);
        int r = 0;
        struct archive_entry *e;
        if (archive_read_open_fd(a, in_fd, ADD_IO_CHUNK) != ARCHIVE_OK ||
            archive_read_next_header(a, &e) < ARCHIVE_WARN) {
                r = cb_failc(err, -EBADMSG, "decompress: %s", archive_error_string(a));
                goto out;
        }
        _cleanup_free_ char *buf = cb_xmalloc(ADD_IO_CHUNK);
        for (;;) {
                la_ssize_t n = archive_read_data(a, buf, ADD_IO_CHUNK);
                if (n == 0)
                        break;
                if (n < 0) {
                        r = cb_failc(err, -EBADMSG, "decompress: %s", archive_error_string(a));
                        goto out;
                }
                if (cb_write_all(out_fd, buf, (size_t) n) < 0) {
                        r = cb_fail(err, errno, "write the decompressed archive");
                        goto out;
                }
        }
        if (lseek(out_fd, 0, SEEK_SET) < 0)
                r = cb_fail(err, errno, "seek");
out:
        (void) archive_read_free(a);
        return r;
}

int bld_archive_extract(int fd, int dir_fd, const char *tmp_dir, struct cb_err *err)
{
        unsigned char m[6] = {0};
        ssize_t n = pread(fd, m, sizeof(m), 0);
        if (n < 0)
                return cb_fail(err, errno, "read");
        bool bz2 = n >= 3 && m[0] == 'B' && m[1] == 'Z' && m[2] == 'h';
        static const unsigned char xz_magic[6] = {0xfd, '7', 'z', 'X', 'Z', 0};
        bool xz = n >= 6 && !memcmp(m, xz_magic, sizeof(xz_magic));
        _cleanup_close_ int plain = -1;
        int src = fd;
        if (bz2 || xz) {
                /* layers/ reads gzip, zstd and plain tar itself; the other two Docker formats are
                 * unpacked to a scratch file first, so the one secure extractor does the writing */
                plain = scratch_file(tmp_dir, err);
                if (plain < 0)
                        return plain;
                if (lseek(fd, 0, SEEK_SET) < 0)
                        return cb_fail(err, errno, "seek");
                int r = decompress_to(fd, plain, err);
                if (r < 0)
                        return r;
                src = plain;
        } else if (lseek(fd, 0, SEEK_SET) < 0) {
                return cb_fail(err, errno, "seek");
        }
        struct layer_extract_opts o;
        layer_extract_opts_init(&o);
        o.mode = LAYER_EXTRACT_APPLY;
        o.keep_setuid = true; /* tar keeps them, and so does Docker's ADD */
        return layer_extract_fd_opts(dir_fd, src, &o, err);
}

char *bld_url_basename(const char *url)
{
        const char *p = strstr(url, "://");
        p = p ? p + 3 : url;
        size_t end = strcspn(p, "?#");
        const char *path = memchr(p, '/', end);
        if (!path)
                return cb_xstrdup("__unnamed__");
        size_t len = end - (size_t) (path - p);
        while (len > 1 && path[len - 1] == '/')
                len--;
        const char *base = path + len;
        while (base > path && base[-1] != '/')
                base--;
        size_t bl = (size_t) (path + len - base);
        if (bl == 0 || (bl == 1 && base[0] == '.'))
                return cb_xstrdup("__unnamed__");
        return cb_xstrndup(base, bl);
}

struct download {
        int fd;
        int werr;
        struct cb_sha256 *h;
};

static size_t on_data(char *p, size_t size, size_t nmemb, void *ud)
{
        struct download *d = ud;
        size_t n = size * nmemb;
        if (cb_write_all(d->fd, p, n) < 0) {
                d->werr = errno;
                return 0;
        }
        cb_sha256_update(d->h, p, n);
        return n;
}

int bld_url_fetch(struct bld_ctx *b, const char *url, bool reuse, char **ret_path,
                  char ret_digest[CB_DIGEST_STR_LEN], struct cb_err *err)
{
        char key[CB_DIGEST_STR_LEN];
        cb_sha256_digest(url, strlen(url), key);
        _cleanup_free_ char *path =
            cb_xasprintf("%s/add-url-%.32s", layer_store_work_path(b->store), key + 7);
        if (reuse && access(path, F_OK) == 0) {
                int r = cb_sha256_file(AT_FDCWD, path, ret_digest, NULL, err);
                if (r < 0)
                        return r;
                *ret_path = CB_TAKE_PTR(path);
                return 0;
        }
        _cleanup_free_ char *part = cb_xasprintf("%s.part", path);
        _cleanup_close_ int fd = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
                return cb_fail(err, errno, "create '%s'", part);
        static bool curl_ready;
        if (!curl_ready) {
                (void) curl_global_init(CURL_GLOBAL_DEFAULT);
                curl_ready = true;
        }
        CURL *c = curl_easy_init();
        if (!c)
                return cb_failc(err, -ENOMEM, "curl_easy_init failed");
        struct download d = {.fd = fd, .h = cb_sha256_new()};
        char errbuf[CURL_ERROR_SIZE] = "";
        (void) curl_easy_setopt(c, CURLOPT_URL, url);
        (void) curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        (void) curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
        (void) curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
        (void) curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
        (void) curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
        (void) curl_easy_setopt(c, CURLOPT_FILETIME, 1L);
        (void) curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        (void) curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
        (void) curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
        (void) curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
        (void) curl_easy_setopt(c, CURLOPT_USERAGENT, "cubuild");
        (void) curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
        (void) curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
        (void) curl_easy_setopt(c, CURLOPT_WRITEDATA, &d);
        /* libcurl's default bundle is the host's; a TLS-inspecting proxy's CA is often given this way */
        const char *ca = getenv("SSL_CERT_FILE");
        if (ca && *ca)
                (void) curl_easy_setopt(c, CURLOPT_CAINFO, ca);
        CURLcode cr = curl_easy_perform(c);
        long status = 0;
        curl_off_t ft = -1;
        (void) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        (void) curl_easy_getinfo(c, CURLINFO_FILETIME_T, &ft);
        curl_easy_cleanup(c);
        cb_sha256_final(d.h, ret_digest);
        cb_sha256_free(d.h);
        int r = 0;
        if (d.werr)
                r = cb_fail(err, d.werr, "download '%s': write '%s'", url, part);
        else if (cr != CURLE_OK && cr == CURLE_HTTP_RETURNED_ERROR)
                r = cb_failc(err, -EIO, "download '%s': HTTP status %ld", url, status);
        else if (cr != CURLE_OK)
                r = cb_failc(err, -EIO, "download '%s': %s", url,
                             errbuf[0] ? errbuf : curl_easy_strerror(cr));
        if (r >= 0 && ft >= 0) {
                /* BuildKit's http source: the Last-Modified time becomes the file's mtime */
                struct timespec ts[2] = {{(time_t) ft, 0}, {(time_t) ft, 0}};
                (void) futimens(fd, ts);
        }
        if (r >= 0 && close(CB_TAKE_FD(fd)) < 0)
                r = cb_fail(err, errno, "close '%s'", part);
        if (r >= 0 && rename(part, path) < 0)
                r = cb_fail(err, errno, "rename '%s'", part);
        if (r < 0) {
                (void) unlink(part);
                return r;
        }
        *ret_path = CB_TAKE_PTR(path);
        return 0;
}

static int sha512_file(const char *path, char **ret, struct cb_err *err)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return cb_fail(err, errno, "open '%s'", path);
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha512(), NULL) != 1) {
                EVP_MD_CTX_free(ctx);
                return cb_failc(err, -ENOMEM, "sha512 init failed");
        }
        _cleanup_free_ char *buf = cb_xmalloc(ADD_IO_CHUNK);
        int r = 0;
        for (;;) {
                ssize_t n = read(fd, buf, ADD_IO_CHUNK);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r = cb_fail(err, errno, "read '%s'", path);
                        break;
                }
                if (n == 0)
                        break;
                (void) EVP_DigestUpdate(ctx, buf, (size_t) n);
        }
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned mdlen = 0;
        if (r >= 0 && EVP_DigestFinal_ex(ctx, md, &mdlen) == 1) {
                struct cb_buf out;
                cb_buf_init(&out, CB_BUF_UNLIMITED);
                (void) cb_buf_adds(&out, "sha512:");
                for (unsigned i = 0; i < mdlen; i++)
                        (void) cb_buf_addf(&out, "%02x", md[i]);
                *ret = cb_buf_take(&out, NULL);
        } else if (r >= 0) {
                r = cb_failc(err, -EIO, "sha512 failed");
        }
        EVP_MD_CTX_free(ctx);
        return r;
}

int bld_url_verify(const char *path, const char *sha256_digest, const char *url, const char *checksum,
                   struct cb_err *err)
{
        _cleanup_free_ char *got = NULL;
        if (strncmp(checksum, "sha256:", 7) == 0) {
                got = cb_xstrdup(sha256_digest);
        } else if (strncmp(checksum, "sha512:", 7) == 0) {
                int r = sha512_file(path, &got, err);
                if (r < 0)
                        return r;
        } else {
                return cb_failc(err, -EINVAL, "--checksum '%s': use sha256:<hex> or sha512:<hex>", checksum);
        }
        if (strcmp(got, checksum) != 0)
                return cb_failc(err, -EBADMSG, "checksum mismatch for '%s': expected %s, got %s", url,
                                checksum, got);
        return 0;
}

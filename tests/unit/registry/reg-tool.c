/* Test driver for registry/: pull and push between a registry and a directory holding blobs the way
 * an OCI image layout does (DIR/blobs/sha256/<hex>), through reg_blob_sink callbacks like the ones
 * the builder implements over its store. Used by tests/cli/registry-*.bats and bench/registry/.
 *
 *   reg-tool [options] pull REF DIR          prints the manifest digest
 *   reg-tool [options] push DIR DIGEST REF   pushes the manifest DIGEST (and what it names)
 *   reg-tool [options] login REGISTRY USER   password on stdin
 *   reg-tool [options] logout REGISTRY
 *   reg-tool [options] check-login REGISTRY USER   password on stdin
 *   reg-tool [options] copy SRC DIR DEST      pull SRC into DIR, push it to DEST with the same client
 *                                             (so blobs of the same registry are mounted)
 *   reg-tool ref REF                          prints canonical and familiar forms
 * options: --mirror SPEC --insecure HOST --config FILE --auth-file FILE --platform P --max-conns N
 *          --certs-dir DIR --retries N --retry-base-ms N --stall-timeout S --chunk-threshold N
 *          --chunk-size N --stats FILE (JSON counters) --events FILE (one line per progress event)
 *          --media-type T (push) */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cb.h"
#include "registry/reg.h"

struct dir_sink {
        int dir_fd;
        FILE *events;
};

struct dir_handle {
        int fd;
        char tmp[64];
        struct cb_sha256 *h;
};

static char *blob_path(const char *digest)
{
        return cb_xasprintf("blobs/sha256/%s", digest + 7);
}

static bool ds_has(void *ud, const char *digest)
{
        struct dir_sink *s = ud;
        _cleanup_free_ char *p = blob_path(digest);
        return faccessat(s->dir_fd, p, F_OK, 0) == 0;
}

static int ds_begin(void *ud, const char *digest, void **ret, struct cb_err *err)
{
        struct dir_sink *s = ud;
        struct dir_handle *h = cb_xcalloc(1, sizeof(*h));
        char rnd[17];
        cb_random_hex(rnd, 8);
        snprintf(h->tmp, sizeof(h->tmp), "blobs/tmp-%s", rnd);
        h->fd = openat(s->dir_fd, h->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (h->fd < 0) {
                int e = errno;
                free(h);
                return cb_fail(err, e, "create temp blob");
        }
        h->h = cb_sha256_new();
        *ret = h;
        return 0;
}

static int ds_write(void *ud, void *handle, const void *p, size_t len, struct cb_err *err)
{
        struct dir_handle *h = handle;
        if (cb_write_all(h->fd, p, len) < 0)
                return cb_fail(err, errno, "write blob");
        cb_sha256_update(h->h, p, len);
        return 0;
}

static void ds_abort(void *ud, void *handle)
{
        struct dir_sink *s = ud;
        struct dir_handle *h = handle;
        close(h->fd);
        (void) unlinkat(s->dir_fd, h->tmp, 0);
        cb_sha256_free(h->h);
        free(h);
}

static int ds_commit(void *ud, void *handle, const char *expected, struct cb_err *err)
{
        struct dir_sink *s = ud;
        struct dir_handle *h = handle;
        char got[CB_DIGEST_STR_LEN];
        cb_sha256_final(h->h, got);
        if (strcmp(got, expected)) {
                ds_abort(ud, handle);
                return cb_failc(err, -EBADMSG, "blob %s hashes to %s", expected, got);
        }
        if (fsync(h->fd) < 0 || close(h->fd) < 0) {
                int e = errno;
                (void) unlinkat(s->dir_fd, h->tmp, 0);
                cb_sha256_free(h->h);
                free(h);
                return cb_fail(err, e, "close blob");
        }
        _cleanup_free_ char *p = blob_path(expected);
        int r = 0;
        if (renameat(s->dir_fd, h->tmp, s->dir_fd, p) < 0)
                r = cb_fail(err, errno, "rename blob");
        cb_sha256_free(h->h);
        free(h);
        return r;
}

static int ds_open(void *ud, const char *digest, uint64_t *ret_size, struct cb_err *err)
{
        struct dir_sink *s = ud;
        _cleanup_free_ char *p = blob_path(digest);
        int fd = openat(s->dir_fd, p, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return cb_fail(err, errno, "open blob %s", digest);
        struct stat st;
        if (fstat(fd, &st) < 0) {
                int e = errno;
                close(fd);
                return cb_fail(err, e, "stat blob %s", digest);
        }
        *ret_size = (uint64_t) st.st_size;
        return fd;
}

static void ev(void *ud, const char *what, const char *digest, uint64_t done, uint64_t total)
{
        struct dir_sink *s = ud;
        /* byte-level progress is noisy: record starts and ends only */
        if (s->events && (done == total || strcmp(what, "pull")))
                fprintf(s->events, "%s %s %llu %llu\n", what, digest, (unsigned long long) done,
                        (unsigned long long) total);
}

static int open_layout(const char *dir, struct cb_err *err)
{
        int r = cb_mkdir_p(AT_FDCWD, dir, 0755, err);
        if (r < 0)
                return r;
        _cleanup_free_ char *b = cb_xasprintf("%s/blobs/sha256", dir);
        r = cb_mkdir_p(AT_FDCWD, b, 0755, err);
        if (r < 0)
                return r;
        return cb_open_dir(AT_FDCWD, dir, err);
}

static char *read_stdin_line(void)
{
        struct cb_buf b;
        cb_buf_init(&b, 4096);
        (void) cb_read_all(0, &b);
        while (b.len > 0 && (b.p[b.len - 1] == '\n' || b.p[b.len - 1] == '\r'))
                cb_buf_truncate(&b, b.len - 1);
        return cb_buf_take(&b, NULL);
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
                { "mirror", required_argument, NULL, 'm' },      { "insecure", required_argument, NULL, 'i' },
                { "config", required_argument, NULL, 'c' },      { "auth-file", required_argument, NULL, 'a' },
                { "platform", required_argument, NULL, 'p' },    { "max-conns", required_argument, NULL, 'n' },
                { "certs-dir", required_argument, NULL, 'd' },   { "retries", required_argument, NULL, 'r' },
                { "retry-base-ms", required_argument, NULL, 'b' }, { "stall-timeout", required_argument, NULL, 't' },
                { "chunk-threshold", required_argument, NULL, 'T' }, { "chunk-size", required_argument, NULL, 'C' },
                { "stats", required_argument, NULL, 's' },       { "events", required_argument, NULL, 'e' },
                { "media-type", required_argument, NULL, 'M' },  { NULL, 0, NULL, 0 },
        };
        const char *mirrors[16], *insecure[16], *certs[16];
        struct reg_opts o = { .mirrors = mirrors, .insecure = insecure, .certs_dirs = certs };
        const char *stats_path = NULL, *events_path = NULL, *media_type = NULL;
        int ch;
        uint64_t v;
        while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                switch (ch) {
                case 'm':
                        if (o.nmirrors < 16)
                                mirrors[o.nmirrors++] = optarg;
                        break;
                case 'i':
                        if (o.ninsecure < 16)
                                insecure[o.ninsecure++] = optarg;
                        break;
                case 'd':
                        if (o.ncerts_dirs < 16)
                                certs[o.ncerts_dirs++] = optarg;
                        break;
                case 'c': o.config_path = optarg; break;
                case 'a': o.auth_file = optarg; break;
                case 'p': o.platform = optarg; break;
                case 's': stats_path = optarg; break;
                case 'e': events_path = optarg; break;
                case 'M': media_type = optarg; break;
                case 'n': case 'r': case 'b': case 't': case 'T': case 'C':
                        if (cb_parse_u64(cb_str_c(optarg), UINT32_MAX * 1024ull, &v) < 0) {
                                fprintf(stderr, "reg-tool: bad number '%s'\n", optarg);
                                return 2;
                        }
                        if (ch == 'n') o.max_conns = (unsigned) v;
                        if (ch == 'r') o.max_retries = (unsigned) v;
                        if (ch == 'b') o.retry_base_ms = (unsigned) v;
                        if (ch == 't') o.stall_timeout_s = (unsigned) v;
                        if (ch == 'T') o.chunk_threshold = v;
                        if (ch == 'C') o.chunk_size = v;
                        break;
                default:
                        return 2;
                }
        }
        argc -= optind;
        argv += optind;
        if (argc < 1) {
                fprintf(stderr, "usage: reg-tool [options] pull|push|login|logout|check-login|ref ...\n");
                return 2;
        }
        struct cb_err err;
        cb_err_init(&err);
        int r = 0;
        const char *cmd = argv[0];
        struct reg_client *c = NULL;
        struct dir_sink ds = { .dir_fd = -1 };
        struct reg_blob_sink sink = { .ud = &ds, .has = ds_has, .begin = ds_begin, .write = ds_write,
                                      .commit = ds_commit, .abort = ds_abort, .open = ds_open };
        struct reg_progress pg = { .ud = &ds, .event = ev };
        struct reg_ref ref = { 0 };
        if (events_path)
                ds.events = fopen(events_path, "ae");

        if (!strcmp(cmd, "ref") && argc == 2) {
                r = reg_ref_parse(argv[1], &ref, &err);
                if (r == 0) {
                        _cleanup_free_ char *s = reg_ref_string(&ref);
                        _cleanup_free_ char *f = reg_ref_familiar(&ref);
                        printf("%s\n%s\n", s, f);
                }
        } else if (!strcmp(cmd, "login") && argc == 3) {
                _cleanup_free_ char *pw = read_stdin_line();
                r = reg_login(o.auth_file, argv[1], argv[2], pw, &err);
        } else if (!strcmp(cmd, "logout") && argc == 2) {
                r = reg_logout(o.auth_file, argv[1], &err);
        } else if (!strcmp(cmd, "check-login") && argc == 3) {
                _cleanup_free_ char *pw = read_stdin_line();
                r = reg_client_new(&o, &c, &err);
                if (r == 0)
                        r = reg_client_check_login(c, argv[1], argv[2], pw, &err);
        } else if (!strcmp(cmd, "pull") && argc == 3) {
                char digest[CB_DIGEST_STR_LEN];
                r = reg_ref_parse(argv[1], &ref, &err);
                if (r == 0)
                        r = ds.dir_fd = open_layout(argv[2], &err);
                if (r >= 0)
                        r = reg_client_new(&o, &c, &err);
                if (r == 0)
                        r = reg_pull(c, &ref, &sink, &pg, digest, &err);
                if (r == 0)
                        printf("%s\n", digest);
        } else if (!strcmp(cmd, "push") && argc == 4) {
                r = reg_ref_parse(argv[3], &ref, &err);
                if (r == 0)
                        r = ds.dir_fd = open_layout(argv[1], &err);
                if (r >= 0)
                        r = reg_client_new(&o, &c, &err);
                if (r == 0)
                        r = reg_push(c, &ref, &sink, argv[2], media_type, &pg, &err);
        } else if (!strcmp(cmd, "copy") && argc == 4) {
                char digest[CB_DIGEST_STR_LEN];
                struct reg_ref dst = { 0 };
                r = reg_ref_parse(argv[1], &ref, &err);
                if (r == 0)
                        r = reg_ref_parse(argv[3], &dst, &err);
                if (r == 0)
                        r = ds.dir_fd = open_layout(argv[2], &err);
                if (r >= 0)
                        r = reg_client_new(&o, &c, &err);
                if (r == 0)
                        r = reg_pull(c, &ref, &sink, &pg, digest, &err);
                if (r == 0)
                        r = reg_push(c, &dst, &sink, digest, media_type, &pg, &err);
                if (r == 0)
                        printf("%s\n", digest);
                reg_ref_release(&dst);
        } else {
                fprintf(stderr, "reg-tool: bad command line\n");
                return 2;
        }
        if (c && stats_path) {
                struct reg_stats st;
                reg_client_stats(c, &st);
                FILE *f = fopen(stats_path, "we");
                if (f) {
                        fprintf(f,
                                "{\"requests\":%llu,\"head\":%llu,\"get\":%llu,\"put\":%llu,\"post\":%llu,"
                                "\"token\":%llu,\"retries\":%llu,\"bytes_down\":%llu,\"bytes_up\":%llu}\n",
                                (unsigned long long) st.requests, (unsigned long long) st.head_requests,
                                (unsigned long long) st.get_requests, (unsigned long long) st.put_requests,
                                (unsigned long long) st.post_requests, (unsigned long long) st.token_requests,
                                (unsigned long long) st.retries, (unsigned long long) st.bytes_down,
                                (unsigned long long) st.bytes_up);
                        fclose(f);
                }
        }
        if (r < 0)
                fprintf(stderr, "reg-tool: %s\n", cb_err_msg(&err));
        if (ds.events)
                fclose(ds.events);
        if (ds.dir_fd >= 0)
                close(ds.dir_fd);
        reg_ref_release(&ref);
        reg_client_free(c);
        cb_err_release(&err);
        return r < 0 ? 1 : 0;
}

/* registry/referrers.c: the referrers API, the fallback tag, and hostile replies, against a canned
 * HTTP server on loopback (a forked child serving a fixed table of paths). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "registry/internal.h"

#define SUBJECT "sha256:1111111111111111111111111111111111111111111111111111111111111111"

struct route {
        const char *path; /* exact request path */
        int status;
        const char *body;
};

struct server {
        pid_t pid;
        int port;
        char host[32];
};

static void serve(int lfd, const struct route *routes, size_t n)
{
        for (;;) {
                int c = accept(lfd, NULL, NULL);
                if (c < 0)
                        continue;
                char req[8192];
                size_t got = 0;
                while (got < sizeof(req) - 1) {
                        ssize_t k = read(c, req + got, sizeof(req) - 1 - got);
                        if (k <= 0)
                                break;
                        got += (size_t) k;
                        req[got] = '\0';
                        if (req[0] == 0x16 || strstr(req, "\r\n\r\n"))
                                break;
                }
                if (got == 0 || req[0] == 0x16) {
                        /* a TLS hello: the client learns the host speaks plain HTTP */
                        (void) close(c);
                        continue;
                }
                req[got] = '\0';
                char method[16] = "", path[1024] = "";
                (void) sscanf(req, "%15s %1023s", method, path);
                int status = 404;
                const char *body = "{\"errors\":[{\"code\":\"NOT_FOUND\",\"message\":\"not here\"}]}";
                if (!strcmp(path, "/v2/")) {
                        status = 200;
                        body = "{}";
                }
                for (size_t i = 0; i < n; i++)
                        if (!strcmp(routes[i].path, path)) {
                                status = routes[i].status;
                                body = routes[i].body;
                        }
                char head[256];
                int hl = snprintf(head, sizeof(head),
                                  "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                                  "Connection: close\r\n\r\n",
                                  status, strlen(body));
                (void) !write(c, head, (size_t) hl);
                if (strcmp(method, "HEAD"))
                        (void) !write(c, body, strlen(body));
                (void) close(c);
        }
}

static void server_start(struct server *s, const struct route *routes, size_t n)
{
        int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(lfd >= 0);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        assert_int_equal(bind(lfd, (struct sockaddr *) &a, sizeof(a)), 0);
        socklen_t al = sizeof(a);
        assert_int_equal(getsockname(lfd, (struct sockaddr *) &a, &al), 0);
        assert_int_equal(listen(lfd, 16), 0);
        s->port = ntohs(a.sin_port);
        (void) snprintf(s->host, sizeof(s->host), "127.0.0.1:%d", s->port);
        s->pid = fork();
        assert_true(s->pid >= 0);
        if (s->pid == 0) {
                serve(lfd, routes, n);
                _exit(0);
        }
        (void) close(lfd);
}

static void server_stop(struct server *s)
{
        (void) kill(s->pid, SIGKILL);
        (void) waitpid(s->pid, NULL, 0);
}

/* an in-memory sink that checks what it is given */
struct mem_sink {
        char digests[16][CB_DIGEST_STR_LEN];
        size_t n;
};
struct mem_handle {
        struct cb_sha256 *h;
};

static bool m_has(void *ud, const char *digest)
{
        struct mem_sink *m = ud;
        for (size_t i = 0; i < m->n; i++)
                if (!strcmp(m->digests[i], digest))
                        return true;
        return false;
}
static int m_begin(void *ud, const char *digest, void **ret, struct cb_err *err)
{
        (void) ud, (void) digest, (void) err;
        struct mem_handle *h = calloc(1, sizeof(*h));
        h->h = cb_sha256_new();
        *ret = h;
        return 0;
}
static int m_write(void *ud, void *handle, const void *p, size_t len, struct cb_err *err)
{
        (void) ud, (void) err;
        cb_sha256_update(((struct mem_handle *) handle)->h, p, len);
        return 0;
}
static int m_commit(void *ud, void *handle, const char *expected, struct cb_err *err)
{
        struct mem_sink *m = ud;
        struct mem_handle *h = handle;
        char got[CB_DIGEST_STR_LEN];
        cb_sha256_final(h->h, got);
        cb_sha256_free(h->h);
        free(h);
        if (strcmp(got, expected))
                return cb_failc(err, -EBADMSG, "sink: %s is %s", expected, got);
        assert_true(m->n < 16);
        memcpy(m->digests[m->n++], got, CB_DIGEST_STR_LEN);
        return 0;
}
static void m_abort(void *ud, void *handle)
{
        (void) ud;
        struct mem_handle *h = handle;
        cb_sha256_free(h->h);
        free(h);
}

struct fx {
        char doc[CB_DIGEST_STR_LEN], art[CB_DIGEST_STR_LEN], idx[CB_DIGEST_STR_LEN];
        char *doc_text, *art_text, *idx_text;
        char *p_doc, *p_empty, *p_art, *p_api, *p_tag;
};

#define EMPTY "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"

static void fx_init(struct fx *f, const char *doc_text)
{
        f->doc_text = cb_xstrdup(doc_text);
        cb_sha256_digest(f->doc_text, strlen(f->doc_text), f->doc);
        f->art_text = cb_xasprintf("{\"schemaVersion\":2,\"mediaType\":\"" REG_MT_OCI_MANIFEST "\",\"artifactType\":"
                                   "\"application/spdx+json\",\"config\":{\"mediaType\":"
                                   "\"application/vnd.oci.empty.v1+json\",\"digest\":\"" EMPTY "\",\"size\":2},"
                                   "\"layers\":[{\"mediaType\":\"application/spdx+json\","
                                   "\"digest\":\"%s\",\"size\":%zu}],"
                                   "\"subject\":{\"mediaType\":\"" REG_MT_OCI_MANIFEST "\",\"digest\":\"" SUBJECT
                                   "\",\"size\":1}}",
                                   f->doc, strlen(doc_text));
        cb_sha256_digest(f->art_text, strlen(f->art_text), f->art);
        f->idx_text = cb_xasprintf("{\"schemaVersion\":2,\"mediaType\":\"" REG_MT_OCI_INDEX "\",\"manifests\":[{"
                                   "\"mediaType\":\"" REG_MT_OCI_MANIFEST "\",\"digest\":\"%s\",\"size\":%zu,"
                                   "\"artifactType\":\"application/spdx+json\"}]}",
                                   f->art, strlen(f->art_text));
        cb_sha256_digest(f->idx_text, strlen(f->idx_text), f->idx);
        f->p_doc = cb_xasprintf("/v2/r/blobs/%s", f->doc);
        f->p_empty = cb_xstrdup("/v2/r/blobs/" EMPTY);
        f->p_art = cb_xasprintf("/v2/r/manifests/%s", f->art);
        f->p_api = cb_xstrdup("/v2/r/referrers/" SUBJECT);
        f->p_tag = cb_xasprintf("/v2/r/manifests/sha256-%s", SUBJECT + 7);
}

static void fx_release(struct fx *f)
{
        free(f->doc_text);
        free(f->art_text);
        free(f->idx_text);
        free(f->p_doc);
        free(f->p_empty);
        free(f->p_art);
        free(f->p_api);
        free(f->p_tag);
}

/* runs reg_pull_referrers against routes; returns its result */
static int pull(const struct route *routes, size_t n, struct mem_sink *m, bool *api, char idx[CB_DIGEST_STR_LEN],
                struct cb_err *err)
{
        struct server s;
        server_start(&s, routes, n);
        struct reg_opts o = { .max_retries = 1, .retry_base_ms = 1 };
        struct reg_client *c = NULL;
        assert_int_equal(reg_client_new(&o, &c, err), 0);
        struct reg_ref ref;
        char *name = cb_xasprintf("%s/r:1", s.host);
        assert_int_equal(reg_ref_parse(name, &ref, err), 0);
        struct reg_blob_sink sink = { .ud = m, .has = m_has, .begin = m_begin, .write = m_write,
                                      .commit = m_commit, .abort = m_abort };
        int r = reg_pull_referrers(c, &ref, SUBJECT, &sink, 0, api, idx, err);
        reg_ref_release(&ref);
        free(name);
        reg_client_free(c);
        server_stop(&s);
        return r;
}

static void test_fallback_tag_without_referrers_api(void **state)
{
        (void) state;
        struct fx f;
        fx_init(&f, "{\"spdxVersion\":\"SPDX-2.3\"}");
        struct route routes[] = { { f.p_tag, 200, f.idx_text }, { f.p_art, 200, f.art_text },
                                  { f.p_doc, 200, f.doc_text }, { f.p_empty, 200, "{}" } };
        struct mem_sink m = { 0 };
        struct cb_err err;
        cb_err_init(&err);
        bool api = true;
        char idx[CB_DIGEST_STR_LEN];
        assert_int_equal(pull(routes, CB_ARRAY_SIZE(routes), &m, &api, idx, &err), 0);
        assert_false(api);
        assert_string_equal(idx, f.idx);
        assert_true(m_has(&m, f.doc) && m_has(&m, f.art) && m_has(&m, f.idx) && m_has(&m, EMPTY));
        assert_string_equal(m.digests[m.n - 1], f.idx); /* the index last */
        cb_err_release(&err);
        fx_release(&f);
}

static void test_referrers_api_wins(void **state)
{
        (void) state;
        struct fx f;
        fx_init(&f, "{\"spdxVersion\":\"SPDX-2.3\"}");
        /* the fallback tag answers an index that names nothing: the API's answer is taken */
        struct route routes[] = { { f.p_api, 200, f.idx_text }, { f.p_art, 200, f.art_text },
                                  { f.p_doc, 200, f.doc_text }, { f.p_empty, 200, "{}" },
                                  { f.p_tag, 200, "{\"schemaVersion\":2,\"manifests\":[]}" } };
        struct mem_sink m = { 0 };
        struct cb_err err;
        cb_err_init(&err);
        bool api = false;
        char idx[CB_DIGEST_STR_LEN];
        assert_int_equal(pull(routes, CB_ARRAY_SIZE(routes), &m, &api, idx, &err), 0);
        assert_true(api);
        assert_true(m_has(&m, f.doc));
        cb_err_release(&err);
        fx_release(&f);
}

static void test_none_is_enoent(void **state)
{
        (void) state;
        struct mem_sink m = { 0 };
        struct cb_err err;
        cb_err_init(&err);
        bool api = false;
        char idx[CB_DIGEST_STR_LEN];
        assert_int_equal(pull(NULL, 0, &m, &api, idx, &err), -ENOENT);
        assert_int_equal(m.n, 0);
        /* an API that answers an empty index: none either */
        struct route empty[] = { { "/v2/r/referrers/" SUBJECT, 200,
                                   "{\"schemaVersion\":2,\"mediaType\":\"" REG_MT_OCI_INDEX "\",\"manifests\":[]}" } };
        assert_int_equal(pull(empty, 1, &m, &api, idx, &err), -ENOENT);
        cb_err_release(&err);
}

static void test_tampered_document_stores_nothing_that_names_it(void **state)
{
        (void) state;
        struct fx f;
        fx_init(&f, "{\"spdxVersion\":\"SPDX-2.3\"}");
        struct route routes[] = { { f.p_tag, 200, f.idx_text }, { f.p_art, 200, f.art_text },
                                  { f.p_doc, 200, "{\"spdxVersion\":\"SPDX-6.6\"}" }, { f.p_empty, 200, "{}" } };
        struct mem_sink m = { 0 };
        struct cb_err err;
        cb_err_init(&err);
        bool api = false;
        char idx[CB_DIGEST_STR_LEN];
        assert_int_equal(pull(routes, CB_ARRAY_SIZE(routes), &m, &api, idx, &err), -EBADMSG);
        assert_non_null(strstr(cb_err_msg(&err), f.doc));
        assert_false(m_has(&m, f.doc) || m_has(&m, f.art) || m_has(&m, f.idx));
        cb_err_release(&err);
        fx_release(&f);
}

static void test_missing_referrer_is_trouble_not_none(void **state)
{
        (void) state;
        struct fx f;
        fx_init(&f, "{\"spdxVersion\":\"SPDX-2.3\"}");
        struct route routes[] = { { f.p_tag, 200, f.idx_text } }; /* the artifact manifest is gone */
        struct mem_sink m = { 0 };
        struct cb_err err;
        cb_err_init(&err);
        bool api = false;
        char idx[CB_DIGEST_STR_LEN];
        int r = pull(routes, CB_ARRAY_SIZE(routes), &m, &api, idx, &err);
        assert_true(r < 0 && r != -ENOENT);
        assert_non_null(strstr(cb_err_msg(&err), f.art));
        assert_false(m_has(&m, f.idx));
        cb_err_release(&err);
        fx_release(&f);
}

static void test_too_many_referrers_is_e2big(void **state)
{
        (void) state;
        struct fx f;
        fx_init(&f, "{}");
        struct cb_buf b;
        cb_buf_init(&b, CB_BUF_UNLIMITED);
        (void) cb_buf_adds(&b, "{\"schemaVersion\":2,\"mediaType\":\"" REG_MT_OCI_INDEX "\",\"manifests\":[");
        for (int i = 0; i < 257; i++)
                (void) cb_buf_addf(&b, "%s{\"mediaType\":\"" REG_MT_OCI_MANIFEST "\",\"digest\":\"%s\",\"size\":%zu}",
                                   i ? "," : "", f.art, strlen(f.art_text));
        (void) cb_buf_adds(&b, "]}");
        struct route routes[] = { { f.p_tag, 200, b.p }, { f.p_art, 200, f.art_text }, { f.p_doc, 200, f.doc_text },
                                  { f.p_empty, 200, "{}" } };
        struct mem_sink m = { 0 };
        struct cb_err err;
        cb_err_init(&err);
        bool api = false;
        char idx[CB_DIGEST_STR_LEN];
        assert_int_equal(pull(routes, CB_ARRAY_SIZE(routes), &m, &api, idx, &err), -E2BIG);
        assert_int_equal(m.n, 0);
        cb_err_release(&err);
        cb_buf_release(&b);
        fx_release(&f);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_fallback_tag_without_referrers_api),
                cmocka_unit_test(test_referrers_api_wins),
                cmocka_unit_test(test_none_is_enoent),
                cmocka_unit_test(test_tampered_document_stores_nothing_that_names_it),
                cmocka_unit_test(test_missing_referrer_is_trouble_not_none),
                cmocka_unit_test(test_too_many_referrers_is_e2big),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

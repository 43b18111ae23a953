/* The transfer engine: every registry request goes through one libcurl multi handle, at most
 * max_conns at a time. It owns what every request needs and no caller should repeat: the scheme
 * (HTTPS, or HTTP for insecure and loopback hosts), TLS settings per host (certs.d), auth (Basic, or
 * Bearer tokens fetched from the challenge's realm and cached per scope), and retries with
 * exponential backoff and jitter on dropped connections, 429 and 5xx, honouring Retry-After. Owners
 * see final replies only, through step(), and may re-arm a transfer for their next request (uploads
 * are POST, PATCH..., PUT). */
#include "reg.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <poll.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include "internal.h"

enum { XS_PENDING, XS_ACTIVE, XS_DONE };

static void slist_free_wipe(struct curl_slist *l);
enum { SCHEME_UNKNOWN, SCHEME_HTTPS, SCHEME_HTTP };

struct reg_token {
        char *scope;
        char *token;
        int64_t expires_ms;
};

struct reg_host {
        struct reg_client *c;
        char *name;
        bool allow_http, skip_verify;
        int scheme;
        /* until one reply has told us the scheme and the auth the host wants, one request at a time
         * (parallel first requests would each fail TLS or collect a 401) */
        bool known, probing;
        bool tls_loaded;
        struct cb_buf ca_blob;
        char *client_cert, *client_key;
        enum reg_auth_scheme auth;
        char *realm, *service;
        bool cred_loaded, has_cred;
        struct reg_cred cred;
        struct reg_token *tokens;
        size_t ntokens;
};

int64_t reg_now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *reg_host_name(const struct reg_host *h)
{
        return h->name;
}

char *reg_host_base(struct reg_host *h)
{
        return cb_xasprintf("%s://%s", h->scheme == SCHEME_HTTP ? "http" : "https", h->name);
}

static void token_release(struct reg_token *t)
{
        free(t->scope);
        reg_secret_free(t->token);
}

void reg_host_free(struct reg_host *h)
{
        if (!h)
                return;
        free(h->name);
        cb_buf_release(&h->ca_blob);
        free(h->client_cert);
        free(h->client_key);
        free(h->realm);
        free(h->service);
        reg_cred_release(&h->cred);
        for (size_t i = 0; i < h->ntokens; i++)
                token_release(&h->tokens[i]);
        free(h->tokens);
        free(h);
}

struct reg_host *reg_host_new(struct reg_client *c, const char *name, bool insecure)
{
        struct reg_host *h = cb_xcalloc(1, sizeof(*h));
        h->c = c;
        h->name = cb_xstrdup(name);
        h->skip_verify = insecure;
        h->allow_http = insecure || reg_host_is_loopback(name);
        h->scheme = h->allow_http ? SCHEME_UNKNOWN : SCHEME_HTTPS;
        cb_buf_init(&h->ca_blob, 16u * 1024u * 1024u);
        return h;
}

/* Sets host credentials directly (reg_client_check_login). */
void reg_host_set_cred(struct reg_host *h, const char *user, const char *secret)
{
        reg_cred_release(&h->cred);
        h->cred.user = cb_xstrdup(user);
        h->cred.secret = cb_xstrdup(secret);
        h->cred_loaded = h->has_cred = true;
        for (size_t i = 0; i < h->ntokens; i++)
                token_release(&h->tokens[i]);
        h->ntokens = 0;
}

/* ---- TLS: certs.d/HOST/{*.crt, client.cert, client.key} (docker's layout) ---- */

static int load_tls(struct reg_host *h, struct cb_err *err)
{
        if (h->tls_loaded)
                return 0;
        h->tls_loaded = true;
        struct reg_config *cfg = &h->c->cfg;
        bool found = false;
        for (size_t i = 0; i < cfg->ncerts_dirs && !found; i++) {
                _cleanup_free_ char *dir = cb_xasprintf("%s/%s", cfg->certs_dirs[i], h->name);
                DIR *d = opendir(dir);
                if (!d)
                        continue;
                found = true;
                struct dirent *de;
                bool any_ca = false;
                while ((de = readdir(d))) {
                        size_t l = strlen(de->d_name);
                        _cleanup_free_ char *p = cb_xasprintf("%s/%s", dir, de->d_name);
                        if (l > 4 && strcmp(de->d_name + l - 4, ".crt") == 0) {
                                if (!any_ca) {
                                        /* certs.d adds to the system roots, as docker's does */
                                        (void) cb_read_file(AT_FDCWD, "/etc/ssl/certs/ca-certificates.crt",
                                                            h->ca_blob.max, &h->ca_blob, NULL);
                                        (void) cb_buf_addc(&h->ca_blob, '\n');
                                        any_ca = true;
                                }
                                struct cb_err e2;
                                cb_err_init(&e2);
                                int r = cb_read_file(AT_FDCWD, p, h->ca_blob.max, &h->ca_blob, &e2);
                                if (r < 0) {
                                        (void) cb_fail(err, 0, "registry %s: CA file: %s", h->name, cb_err_msg(&e2));
                                        cb_err_release(&e2);
                                        closedir(d);
                                        return r;
                                }
                                cb_err_release(&e2);
                                (void) cb_buf_addc(&h->ca_blob, '\n');
                        } else if (l > 5 && strcmp(de->d_name + l - 5, ".cert") == 0) {
                                free(h->client_cert);
                                h->client_cert = CB_TAKE_PTR(p);
                        } else if (l > 4 && strcmp(de->d_name + l - 4, ".key") == 0) {
                                free(h->client_key);
                                h->client_key = CB_TAKE_PTR(p);
                        }
                }
                closedir(d);
        }
        if ((h->client_cert == NULL) != (h->client_key == NULL))
                return cb_failc(err, -EINVAL, "registry %s: certs.d has a client %s without its %s", h->name,
                                h->client_cert ? "certificate" : "key", h->client_cert ? "key" : "certificate");
        return 0;
}

static void apply_tls(CURL *e, struct reg_host *h)
{
        if (h->ca_blob.len > 0) {
                struct curl_blob blob = { .data = h->ca_blob.p, .len = h->ca_blob.len, .flags = CURL_BLOB_NOCOPY };
                curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &blob);
        }
        if (h->client_cert) {
                curl_easy_setopt(e, CURLOPT_SSLCERT, h->client_cert);
                curl_easy_setopt(e, CURLOPT_SSLKEY, h->client_key);
        }
        if (h->skip_verify) {
                curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
                curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
        }
}

/* ---- credentials and tokens ---- */

static int load_cred(struct reg_host *h, const char *registry, struct cb_err *err)
{
        if (h->cred_loaded)
                return 0;
        int r = reg_auth_lookup(h->c->auth_file, registry, &h->cred, err);
        if (r < 0 && r != -ENOENT)
                return r;
        h->cred_loaded = true;
        h->has_cred = r == 0;
        return 0;
}

/* The auth file names registries by their public name; a host reached as docker.io's API host
 * (registry-1.docker.io) uses docker.io's credentials. */
static const char *cred_name(const struct reg_host *h)
{
        if (strcmp(h->name, "registry-1.docker.io") == 0)
                return "docker.io";
        return h->name;
}

static char *basic_header(const struct reg_cred *cr)
{
        _cleanup_free_ char *plain = cb_xasprintf("%s:%s", cr->user, cr->secret);
        size_t n = strlen(plain);
        char *b64 = cb_xmalloc(4 * ((n + 2) / 3) + 1);
        EVP_EncodeBlock((unsigned char *) b64, (const unsigned char *) plain, (int) n);
        explicit_bzero(plain, n);
        char *hdr = cb_xasprintf("Authorization: Basic %s", b64);
        reg_secret_free(b64);
        return hdr;
}

static struct reg_token *token_find(struct reg_host *h, const char *scope)
{
        const char *s = scope ? scope : "";
        for (size_t i = 0; i < h->ntokens; i++)
                if (strcmp(h->tokens[i].scope, s) == 0)
                        return &h->tokens[i];
        return NULL;
}

static void token_drop(struct reg_host *h, const char *scope)
{
        struct reg_token *t = token_find(h, scope);
        if (!t)
                return;
        token_release(t);
        *t = h->tokens[--h->ntokens];
}

static size_t buf_write_cb(char *p, size_t sz, size_t n, void *ud)
{
        struct cb_buf *b = ud;
        if (cb_buf_add(b, p, sz * n) < 0)
                return 0;
        return sz * n;
}

static int backoff_ms(struct reg_client *c, unsigned tries)
{
        unsigned shift = tries > 0 ? tries - 1 : 0;
        if (shift > 16)
                shift = 16;
        uint64_t d = (uint64_t) c->retry_base_ms << shift;
        if (d > 30000)
                d = 30000;
        uint32_t rnd = 0;
        if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t) sizeof(rnd))
                rnd = (uint32_t) reg_now_ms();
        /* full delay halved plus a random half: retries of parallel transfers spread out */
        return (int) (d / 2 + (d / 2 ? rnd % (d / 2 + 1) : 0));
}

static void sleep_ms(int ms)
{
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000L };
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

static bool curl_retryable(CURLcode cc)
{
        switch (cc) {
        case CURLE_COULDNT_CONNECT:
        case CURLE_PARTIAL_FILE:
        case CURLE_RECV_ERROR:
        case CURLE_SEND_ERROR:
        case CURLE_GOT_NOTHING:
        case CURLE_OPERATION_TIMEDOUT:
        case CURLE_HTTP2:
        case CURLE_HTTP2_STREAM:
        case CURLE_WEIRD_SERVER_REPLY:
        case CURLE_SSL_CONNECT_ERROR:
                return true;
        default:
                return false;
        }
}

static bool status_retryable(long st)
{
        return st == 429 || st == 500 || st == 502 || st == 503 || st == 504;
}

/* Seconds from Retry-After (delta-seconds or an HTTP date), capped at 60; -1 when absent. */
static int retry_after_ms(const char *v)
{
        if (!v || !*v)
                return -1;
        uint64_t s;
        if (cb_parse_u64(cb_str_c(v), 3600, &s) == 0)
                return (int) (s > 60 ? 60000 : s * 1000);
        time_t t = curl_getdate(v, NULL);
        if (t < 0)
                return -1;
        time_t now = time(NULL);
        if (t <= now)
                return 0;
        return (int) (t - now > 60 ? 60000 : (t - now) * 1000);
}

static void curlu_freep(CURLU **u)
{
        curl_url_cleanup(*u);
}

static void curl_strfreep(char **s)
{
        curl_free(*s);
}

static int fetch_token(struct reg_client *c, struct reg_host *h, const char *scope, struct cb_err *err)
{
        if (!h->realm)
                return cb_failc(err, -EPROTO, "registry %s: Bearer challenge without a realm", h->name);
        _cleanup_(curlu_freep) CURLU *u = curl_url();
        if (curl_url_set(u, CURLUPART_URL, h->realm, 0) != CURLUE_OK)
                return cb_failc(err, -EPROTO, "registry %s: bad token realm '%s'", h->name, h->realm);
        _cleanup_free_ char *realm_host = NULL;
        {
                char *hn = NULL, *port = NULL;
                if (curl_url_get(u, CURLUPART_HOST, &hn, 0) != CURLUE_OK)
                        return cb_failc(err, -EPROTO, "registry %s: bad token realm '%s'", h->name, h->realm);
                (void) curl_url_get(u, CURLUPART_PORT, &port, 0);
                realm_host = port ? cb_xasprintf("%s:%s", hn, port) : cb_xstrdup(hn);
                curl_free(hn);
                curl_free(port);
        }
        if (h->service) {
                _cleanup_free_ char *q = cb_xasprintf("service=%s", h->service);
                curl_url_set(u, CURLUPART_QUERY, q, CURLU_APPENDQUERY | CURLU_URLENCODE);
        }
        if (scope && *scope) {
                for (const char *s = scope; *s;) {
                        size_t l = strcspn(s, " ");
                        if (l > 0) {
                                _cleanup_free_ char *q = cb_xasprintf("scope=%.*s", (int) l, s);
                                curl_url_set(u, CURLUPART_QUERY, q, CURLU_APPENDQUERY | CURLU_URLENCODE);
                        }
                        s += l;
                        while (*s == ' ')
                                s++;
                }
        }
        _cleanup_(curl_strfreep) char *url = NULL;
        if (curl_url_get(u, CURLUPART_URL, &url, 0) != CURLUE_OK)
                return cb_failc(err, -EPROTO, "registry %s: bad token realm '%s'", h->name, h->realm);

        struct reg_host *rh = reg_client_host(c, realm_host, false);
        int r = load_tls(rh, err);
        if (r < 0)
                return r;
        r = load_cred(h, cred_name(h), err);
        if (r < 0)
                return cb_wrap(err, "registry %s", h->name), r;

        struct cb_buf body;
        cb_buf_init(&body, REG_TOKEN_MAX);
        long st = 0;
        CURLcode cc = CURLE_OK;
        char msg[CURL_ERROR_SIZE];
        for (unsigned tries = 0;; tries++) {
                CURL *e = curl_easy_init();
                if (!e) {
                        cb_buf_release(&body);
                        return cb_failc(err, -ENOMEM, "curl_easy_init");
                }
                cb_buf_reset(&body);
                msg[0] = '\0';
                curl_easy_setopt(e, CURLOPT_URL, url);
                curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, buf_write_cb);
                curl_easy_setopt(e, CURLOPT_WRITEDATA, &body);
                curl_easy_setopt(e, CURLOPT_ERRORBUFFER, msg);
                curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
                curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 30L);
                curl_easy_setopt(e, CURLOPT_TIMEOUT, 120L);
                curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
                curl_easy_setopt(e, CURLOPT_USERAGENT, "cubuild/0.1");
                apply_tls(e, rh);
                if (h->has_cred) {
                        curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long) CURLAUTH_BASIC);
                        curl_easy_setopt(e, CURLOPT_USERNAME, h->cred.user);
                        curl_easy_setopt(e, CURLOPT_PASSWORD, h->cred.secret);
                }
                c->stats.token_requests++;
                cc = curl_easy_perform(e);
                st = 0;
                curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &st);
                curl_easy_cleanup(e);
                bool again = (cc != CURLE_OK && curl_retryable(cc)) || (cc == CURLE_OK && status_retryable(st));
                if (!again || tries >= c->max_retries)
                        break;
                c->stats.retries++;
                sleep_ms(backoff_ms(c, tries + 1));
        }
        if (cc != CURLE_OK) {
                r = cb_failc(err, -EIO, "registry %s: token server %s: %s", h->name, realm_host,
                             msg[0] ? msg : curl_easy_strerror(cc));
                cb_buf_release(&body);
                return r;
        }
        if (st == 401 || st == 403) {
                cb_buf_release(&body);
                return cb_failc(err, -EACCES, "registry %s: token server %s refused %s (HTTP %ld)", h->name,
                                realm_host, h->has_cred ? "the credentials" : "anonymous access", st);
        }
        if (st != 200) {
                cb_buf_release(&body);
                return cb_failc(err, -EPROTO, "registry %s: token server %s: HTTP %ld", h->name, realm_host, st);
        }
        json_error_t je;
        _cleanup_(reg_json_decrefp) json_t *j = json_loadb(body.p, body.len, 0, &je);
        explicit_bzero(body.p, body.len);
        cb_buf_release(&body);
        const char *tok = NULL;
        json_int_t expires = 60;
        if (json_is_object(j)) {
                tok = json_string_value(json_object_get(j, "token"));
                if (!tok || !*tok)
                        tok = json_string_value(json_object_get(j, "access_token"));
                json_t *ex = json_object_get(j, "expires_in");
                if (json_is_integer(ex) && json_integer_value(ex) >= 60)
                        expires = json_integer_value(ex);
        }
        if (!tok || !*tok)
                return cb_failc(err, -EPROTO, "registry %s: token server %s answered without a token", h->name,
                                realm_host);
        token_drop(h, scope);
        h->tokens = cb_xrealloc(h->tokens, (h->ntokens + 1) * sizeof(*h->tokens));
        h->tokens[h->ntokens++] = (struct reg_token){
                .scope = cb_xstrdup(scope ? scope : ""),
                .token = cb_xstrdup(tok),
                /* refresh a little early so a token never expires in flight */
                .expires_ms = reg_now_ms() + (int64_t) expires * 1000 - 10000,
        };
        /* jansson's copy of the token goes away with j; wipe it first */
        json_t *jt = json_object_get(j, "token");
        if (json_is_string(jt))
                explicit_bzero((char *) json_string_value(jt), json_string_length(jt));
        jt = json_object_get(j, "access_token");
        if (json_is_string(jt))
                explicit_bzero((char *) json_string_value(jt), json_string_length(jt));
        return 0;
}

/* Owned: the Authorization header line for x, or NULL for none. */
static int auth_header(struct reg_client *c, struct reg_xfer *x, char **ret, struct cb_err *err)
{
        struct reg_host *h = x->host;
        *ret = NULL;
        if (h->auth == REG_AUTH_BASIC) {
                int r = load_cred(h, cred_name(h), err);
                if (r < 0)
                        return r;
                if (h->has_cred)
                        *ret = basic_header(&h->cred);
                return 0;
        }
        if (h->auth != REG_AUTH_BEARER)
                return 0;
        struct reg_token *t = token_find(h, x->scope);
        if (!t || t->expires_ms <= reg_now_ms()) {
                int r = fetch_token(c, h, x->scope, err);
                if (r < 0)
                        return r;
                t = token_find(h, x->scope);
        }
        *ret = cb_xasprintf("Authorization: Bearer %s", t->token);
        return 0;
}

/* ---- transfers ---- */

void reg_xfer_init(struct reg_xfer *x)
{
        *x = (struct reg_xfer){ .fd = -1, .body_max = REG_MANIFEST_MAX };
        cb_buf_init(&x->body, REG_MANIFEST_MAX);
        cb_buf_init(&x->errbody, REG_ERRBODY_MAX);
        cb_err_init(&x->err);
}

static void reply_reset(struct reg_xfer *x)
{
        free(x->location);
        free(x->content_type);
        free(x->docker_digest);
        free(x->www_auth);
        free(x->retry_after);
        free(x->range);
        free(x->content_range);
        x->location = x->content_type = x->docker_digest = x->www_auth = x->retry_after = x->range =
                x->content_range = NULL;
        x->status = 0;
}

void reg_xfer_release(struct reg_xfer *x)
{
        if (x->easy)
                curl_easy_cleanup(x->easy);
        x->easy = NULL;
        free(x->url);
        free(x->scope);
        curl_slist_free_all(x->headers);
        slist_free_wipe(x->attempt_headers);
        reply_reset(x);
        cb_buf_release(&x->body);
        cb_buf_release(&x->errbody);
        cb_err_release(&x->err);
        x->url = x->scope = NULL;
        x->headers = x->attempt_headers = NULL;
}

void reg_xfer_set(struct reg_xfer *x, const char *method, char *url_owned)
{
        free(x->url);
        x->url = url_owned;
        x->method = method;
        curl_slist_free_all(x->headers);
        x->headers = NULL;
        x->mem = NULL;
        x->mem_len = 0;
        x->fd = -1;
        x->off = x->len = 0;
        x->no_retry = false;
        x->tries = x->auth_tries = 0;
        x->not_before_ms = 0;
        cb_buf_reset(&x->body);
        x->body.max = x->body_max;
}

static size_t header_cb(char *p, size_t sz, size_t n, void *ud)
{
        struct reg_xfer *x = ud;
        size_t len = sz * n;
        if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
                reply_reset(x);
                cb_buf_reset(&x->errbody);
                const char *sp = memchr(p, ' ', len);
                if (sp) {
                        uint64_t st = 0;
                        const char *q = sp + 1;
                        size_t dl = 0;
                        while (q + dl < p + len && q[dl] >= '0' && q[dl] <= '9')
                                dl++;
                        if (cb_parse_u64(cb_str_from(q, dl), 999, &st) == 0)
                                x->status = (long) st;
                }
                return len;
        }
        const char *colon = memchr(p, ':', len);
        if (!colon)
                return len;
        struct cb_str name = cb_str_from(p, (size_t) (colon - p));
        const char *v = colon + 1;
        const char *end = p + len;
        while (v < end && (*v == ' ' || *v == '\t'))
                v++;
        while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
                end--;
        char **slot = NULL;
        if (cb_str_eq_nocase_c(name, "location"))
                slot = &x->location;
        else if (cb_str_eq_nocase_c(name, "content-type"))
                slot = &x->content_type;
        else if (cb_str_eq_nocase_c(name, "docker-content-digest"))
                slot = &x->docker_digest;
        else if (cb_str_eq_nocase_c(name, "www-authenticate"))
                slot = &x->www_auth;
        else if (cb_str_eq_nocase_c(name, "retry-after"))
                slot = &x->retry_after;
        else if (cb_str_eq_nocase_c(name, "range"))
                slot = &x->range;
        else if (cb_str_eq_nocase_c(name, "content-range"))
                slot = &x->content_range;
        if (slot) {
                /* several challenges: keep the first Bearer one, else the first */
                if (slot == &x->www_auth && *slot && strncasecmp(*slot, "bearer", 6) == 0)
                        return len;
                free(*slot);
                *slot = cb_xstrndup(v, (size_t) (end - v));
        }
        return len;
}

static size_t write_cb(char *p, size_t sz, size_t n, void *ud)
{
        struct reg_xfer *x = ud;
        size_t len = sz * n;
        x->attempt_bytes += len;
        if (x->status < 200 || x->status > 299) {
                size_t room = x->errbody.max - x->errbody.len;
                (void) cb_buf_add(&x->errbody, p, len < room ? len : room);
                return len;
        }
        if (x->on_data) {
                if (x->on_data(x, p, len) < 0) {
                        x->failed = true;
                        return 0;
                }
                return len;
        }
        if (x->keep_body && cb_buf_add(&x->body, p, len) < 0) {
                x->failed = true;
                (void) cb_failc(&x->err, -E2BIG, "registry %s: reply to %s larger than %zu bytes",
                                x->host->name, x->method, x->body.max);
                return 0;
        }
        return len;
}

static size_t read_cb(char *p, size_t sz, size_t n, void *ud)
{
        struct reg_xfer *x = ud;
        size_t want = sz * n;
        uint64_t total = x->fd >= 0 ? x->len : x->mem_len;
        if (x->upload_pos >= total)
                return 0;
        if (want > total - x->upload_pos)
                want = (size_t) (total - x->upload_pos);
        if (x->fd < 0) {
                memcpy(p, x->mem + x->upload_pos, want);
                x->upload_pos += want;
                return want;
        }
        ssize_t r;
        do
                r = pread(x->fd, p, want, (off_t) (x->off + x->upload_pos));
        while (r < 0 && errno == EINTR);
        if (r <= 0) {
                x->failed = true;
                (void) cb_fail(&x->err, r < 0 ? errno : EIO, "read blob for upload");
                return CURL_READFUNC_ABORT;
        }
        x->upload_pos += (uint64_t) r;
        x->host->c->stats.bytes_up += (uint64_t) r;
        return (size_t) r;
}

static int seek_cb(void *ud, curl_off_t off, int origin)
{
        struct reg_xfer *x = ud;
        if (origin != SEEK_SET || off < 0)
                return CURL_SEEKFUNC_CANTSEEK;
        x->upload_pos = (uint64_t) off;
        return CURL_SEEKFUNC_OK;
}

static const char *url_path_for_msg(const char *url, struct cb_buf *tmp)
{
        /* the path only: upload URLs carry long opaque state in their query */
        const char *p = url;
        const char *s = strstr(url, "://");
        if (s) {
                p = strchr(s + 3, '/');
                if (!p)
                        p = "/";
        }
        const char *q = strchr(p, '?');
        cb_buf_reset(tmp);
        (void) cb_buf_add(tmp, p, q ? (size_t) (q - p) : strlen(p));
        return tmp->p;
}

/* Headers may hold a credential: wipe them before curl frees them. */
static void slist_free_wipe(struct curl_slist *l)
{
        for (struct curl_slist *i = l; i; i = i->next)
                explicit_bzero(i->data, strlen(i->data));
        curl_slist_free_all(l);
}

/* Credentials go only to the registry itself: an absolute URL (an upload Location) on another host
 * gets none. */
static bool same_host(const char *url, const struct reg_host *h)
{
        if (url[0] == '/')
                return true;
        const char *s = strstr(url, "://");
        if (!s)
                return false;
        s += 3;
        size_t n = strcspn(s, "/?#");
        size_t hl = strlen(h->name);
        if (n == hl && strncasecmp(s, h->name, n) == 0)
                return true;
        /* "host:443" for https and "host:80" for http name the same host as "host" */
        return n > hl && strncasecmp(s, h->name, hl) == 0 && s[hl] == ':' && !strchr(h->name, ':') &&
               ((n - hl == 4 && !strncmp(s + hl, ":443", 4)) || (n - hl == 3 && !strncmp(s + hl, ":80", 3)));
}

static int xfer_start(struct reg_client *c, struct reg_xfer *x, struct cb_err *err)
{
        struct reg_host *h = x->host;
        int r = load_tls(h, err);
        if (r < 0)
                return r;
        if (!x->easy) {
                x->easy = curl_easy_init();
                if (!x->easy)
                        return cb_failc(err, -ENOMEM, "curl_easy_init");
        } else {
                curl_easy_reset(x->easy);
        }
        CURL *e = x->easy;
        reply_reset(x);
        cb_buf_reset(&x->errbody);
        x->attempt_bytes = 0;
        x->upload_pos = 0;
        x->curl_msg[0] = '\0';
        slist_free_wipe(x->attempt_headers);
        x->attempt_headers = NULL;
        if (x->on_attempt && (r = x->on_attempt(x)) < 0)
                return r;
        for (struct curl_slist *l = x->headers; l; l = l->next)
                x->attempt_headers = curl_slist_append(x->attempt_headers, l->data);
        /* the body goes whole or not at all; a 100-continue round trip buys nothing here */
        x->attempt_headers = curl_slist_append(x->attempt_headers, "Expect:");
        _cleanup_free_ char *authz = NULL;
        if (same_host(x->url, h)) {
                r = auth_header(c, x, &authz, err);
                if (r < 0)
                        return r;
        }
        if (authz) {
                x->attempt_headers = curl_slist_append(x->attempt_headers, authz);
                explicit_bzero(authz, strlen(authz));
        }
        _cleanup_free_ char *url = NULL;
        if (x->url[0] == '/') {
                _cleanup_free_ char *base = reg_host_base(h);
                url = cb_xasprintf("%s%s", base, x->url);
        } else {
                url = cb_xstrdup(x->url);
        }
        curl_easy_setopt(e, CURLOPT_URL, url);
        curl_easy_setopt(e, CURLOPT_PRIVATE, x);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->attempt_headers);
        curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
        curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
        curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->curl_msg);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_USERAGENT, "cubuild/0.1");
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 30L);
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long) c->stall_timeout_s);
        curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 512L * 1024L);
        curl_easy_setopt(e, CURLOPT_UPLOAD_BUFFERSIZE, 512L * 1024L);
        /* HTTP/1.1: parallel blobs get their own connections instead of sharing one h2 window */
        curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_1_1);
        /* blob GETs redirect to storage; curl keeps our Authorization header off other hosts */
        curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, strcmp(x->method, "GET") == 0 || strcmp(x->method, "HEAD") == 0 ? 1L : 0L);
        curl_easy_setopt(e, CURLOPT_MAXREDIRS, 5L);
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
        apply_tls(e, h);

        bool has_body = x->fd >= 0 || x->mem != NULL;
        uint64_t blen = x->fd >= 0 ? x->len : x->mem_len;
        if (strcmp(x->method, "HEAD") == 0) {
                curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
                c->stats.head_requests++;
        } else if (strcmp(x->method, "GET") == 0) {
                c->stats.get_requests++;
        } else if (strcmp(x->method, "POST") == 0) {
                c->stats.post_requests++;
                curl_easy_setopt(e, CURLOPT_POST, 1L);
                if (has_body) {
                        curl_easy_setopt(e, CURLOPT_READFUNCTION, read_cb);
                        curl_easy_setopt(e, CURLOPT_READDATA, x);
                        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) blen);
                } else {
                        curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
                        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, 0L);
                }
        } else {
                c->stats.put_requests++;
                curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
                curl_easy_setopt(e, CURLOPT_READFUNCTION, read_cb);
                curl_easy_setopt(e, CURLOPT_READDATA, x);
                curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, seek_cb);
                curl_easy_setopt(e, CURLOPT_SEEKDATA, x);
                curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t) (has_body ? blen : 0));
                if (strcmp(x->method, "PUT") != 0)
                        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, x->method);
        }
        c->stats.requests++;
        CURLMcode mc = curl_multi_add_handle(c->multi, e);
        if (mc != CURLM_OK)
                return cb_failc(err, -EIO, "curl_multi_add_handle: %s", curl_multi_strerror(mc));
        return 0;
}

/* What the reply to the last attempt means: -1 final, else a delay in ms before trying again. */
static int xfer_judge(struct reg_client *c, struct reg_xfer *x)
{
        struct reg_host *h = x->host;
        if (x->failed)
                return -1;
        if (x->cc != CURLE_OK) {
                if (h->scheme == SCHEME_UNKNOWN &&
                    (x->cc == CURLE_SSL_CONNECT_ERROR || x->cc == CURLE_RECV_ERROR || x->cc == CURLE_GOT_NOTHING)) {
                        /* an HTTP-only server answering a TLS hello: an insecure or loopback host */
                        h->scheme = SCHEME_HTTP;
                        return 0;
                }
                if (x->no_retry || !curl_retryable(x->cc))
                        return -1;
                /* a transfer that moved bytes before it dropped keeps its budget (Range resume) */
                if (x->attempt_bytes == 0 || x->tries > 4 * c->max_retries + 8)
                        x->tries++;
                if (x->tries > c->max_retries)
                        return -1;
                c->stats.retries++;
                return backoff_ms(c, x->tries);
        }
        if (h->scheme == SCHEME_UNKNOWN)
                h->scheme = SCHEME_HTTPS;
        if (x->status == 401 && x->www_auth && x->auth_tries < 2) {
                struct reg_challenge ch;
                if (reg_challenge_parse(x->www_auth, &ch) < 0)
                        return -1;
                bool had = h->auth != REG_AUTH_NONE;
                bool again = false;
                if (ch.scheme == REG_AUTH_BEARER) {
                        if (!h->realm || strcmp(h->realm, ch.realm) != 0 ||
                            (ch.service && (!h->service || strcmp(h->service, ch.service) != 0))) {
                                free(h->realm);
                                free(h->service);
                                h->realm = cb_xstrdup(ch.realm);
                                h->service = ch.service ? cb_xstrdup(ch.service) : NULL;
                        }
                        /* a token we sent was refused (expired, revoked): fetch a new one once */
                        if (had && h->auth == REG_AUTH_BEARER)
                                token_drop(h, x->scope);
                        h->auth = REG_AUTH_BEARER;
                        again = true;
                } else if (ch.scheme == REG_AUTH_BASIC) {
                        bool sent = had && h->auth == REG_AUTH_BASIC && h->has_cred;
                        h->auth = REG_AUTH_BASIC;
                        struct cb_err e2;
                        cb_err_init(&e2);
                        if (load_cred(h, cred_name(h), &e2) < 0) {
                                cb_err_release(&x->err);
                                x->err = e2;
                                x->failed = true;
                                reg_challenge_release(&ch);
                                return -1;
                        }
                        cb_err_release(&e2);
                        again = h->has_cred && !sent;
                }
                reg_challenge_release(&ch);
                if (again) {
                        x->auth_tries++;
                        return 0;
                }
                return -1;
        }
        if (status_retryable(x->status) && !x->no_retry) {
                x->tries++;
                if (x->tries > c->max_retries)
                        return -1;
                c->stats.retries++;
                int d = backoff_ms(c, x->tries);
                int ra = retry_after_ms(x->retry_after);
                return ra > d ? ra : d;
        }
        return -1;
}

int reg_xfer_fail_status(struct reg_xfer *x, const char *what, struct cb_err *err)
{
        struct cb_buf tmp;
        cb_buf_init(&tmp, CB_BUF_UNLIMITED);
        if (x->cc != CURLE_OK) {
                int r = cb_failc(err, -EIO, "registry %s: %s: %s %s: %s", reg_host_name(x->host), what, x->method,
                                 url_path_for_msg(x->url, &tmp), x->curl_msg[0] ? x->curl_msg : curl_easy_strerror(x->cc));
                cb_buf_release(&tmp);
                return r;
        }
        /* {"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]} */
        struct cb_buf detail;
        cb_buf_init(&detail, 1024);
        json_error_t je;
        _cleanup_(reg_json_decrefp) json_t *j = json_loadb(x->errbody.p, x->errbody.len, 0, &je);
        json_t *errs = json_object_get(j, "errors");
        size_t i;
        json_t *e;
        json_array_foreach(errs, i, e)
        {
                const char *code = json_string_value(json_object_get(e, "code"));
                const char *msg = json_string_value(json_object_get(e, "message"));
                (void) cb_buf_addf(&detail, "%s%s%s%s", i ? "; " : "", code ? code : "", code && msg ? ": " : "",
                                   msg ? msg : "");
        }
        int code = -EIO;
        if (x->status == 401 || x->status == 403)
                code = -EACCES;
        else if (x->status == 404)
                code = -ENOENT;
        int r;
        if (x->status == 401) {
                struct reg_host *h = x->host;
                r = cb_failc(err, code, "registry %s: %s: %s (HTTP 401%s%s%s)", reg_host_name(h), what,
                             h->has_cred ? "credentials refused" : "authentication required",
                             detail.len ? ", " : "", detail.p, h->has_cred ? "" : "; see 'cubuild login'");
        } else {
                r = cb_failc(err, code, "registry %s: %s: %s %s: HTTP %ld%s%s%s", reg_host_name(x->host), what,
                             x->method, url_path_for_msg(x->url, &tmp), x->status, detail.len ? " (" : "", detail.p,
                             detail.len ? ")" : "");
        }
        cb_buf_release(&detail);
        cb_buf_release(&tmp);
        return r;
}

int reg_xfers_run(struct reg_client *c, struct reg_xfer **xs, size_t n, struct cb_err *err)
{
        size_t done = 0, active = 0;
        int first_err = 0;
        for (size_t i = 0; i < n; i++) {
                xs[i]->state = XS_PENDING;
                xs[i]->failed = false;
                xs[i]->not_before_ms = 0;
        }
        while (done < n) {
                int64_t now = reg_now_ms();
                int64_t wake = now + 1000;
                for (size_t i = 0; i < n && !first_err; i++) {
                        struct reg_xfer *x = xs[i];
                        if (x->state != XS_PENDING)
                                continue;
                        if (x->not_before_ms > now) {
                                if (x->not_before_ms < wake)
                                        wake = x->not_before_ms;
                                continue;
                        }
                        if (active >= c->max_conns)
                                break;
                        if (!x->host->known && x->host->probing && !x->probe)
                                continue;
                        if (!x->host->known) {
                                x->host->probing = true;
                                x->probe = true;
                        }
                        int r = xfer_start(c, x, &x->err);
                        if (r < 0) {
                                x->failed = true;
                                x->state = XS_DONE;
                                done++;
                                first_err = r;
                                cb_err_release(err);
                                *err = x->err;
                                cb_err_init(&x->err);
                                continue;
                        }
                        x->state = XS_ACTIVE;
                        active++;
                }
                if (first_err)
                        break;
                int running = 0;
                CURLMcode mc = curl_multi_perform(c->multi, &running);
                if (mc != CURLM_OK) {
                        first_err = cb_failc(err, -EIO, "curl_multi_perform: %s", curl_multi_strerror(mc));
                        break;
                }
                CURLMsg *m;
                int q;
                while ((m = curl_multi_info_read(c->multi, &q))) {
                        if (m->msg != CURLMSG_DONE)
                                continue;
                        struct reg_xfer *x = NULL;
                        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **) &x);
                        CURLcode cc = m->data.result;
                        curl_multi_remove_handle(c->multi, m->easy_handle);
                        active--;
                        x->cc = cc;
                        long st = 0;
                        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &st);
                        if (cc == CURLE_OK)
                                x->status = st;
                        int delay = xfer_judge(c, x);
                        if (x->probe) {
                                if (cc == CURLE_OK && !(st == 401 && delay >= 0))
                                        x->host->known = true;
                                if (x->host->known || delay < 0) {
                                        x->host->probing = false;
                                        x->probe = false;
                                }
                        }
                        if (delay >= 0) {
                                x->state = XS_PENDING;
                                x->not_before_ms = reg_now_ms() + delay;
                                continue;
                        }
                        int r = 0;
                        if (x->failed) {
                                r = -EIO;
                                if (!cb_err_set(&x->err))
                                        (void) cb_failc(&x->err, -EIO, "registry %s: transfer failed", x->host->name);
                        } else if (x->step) {
                                r = x->step(x, &x->err);
                                if (r == REG_STEP_AGAIN) {
                                        x->state = XS_PENDING;
                                        continue;
                                }
                        } else if (x->cc != CURLE_OK) {
                                r = reg_xfer_fail_status(x, "request", &x->err);
                        }
                        x->state = XS_DONE;
                        done++;
                        if (r < 0) {
                                x->failed = true;
                                if (!first_err) {
                                        first_err = r < 0 ? r : -EIO;
                                        cb_err_release(err);
                                        *err = x->err;
                                        cb_err_init(&x->err);
                                }
                        }
                }
                if (first_err)
                        break;
                if (done >= n)
                        break;
                now = reg_now_ms();
                wake = now + 1000;
                for (size_t i = 0; i < n; i++) {
                        struct reg_xfer *x = xs[i];
                        if (x->state != XS_PENDING)
                                continue;
                        if (x->not_before_ms > now) {
                                if (x->not_before_ms < wake)
                                        wake = x->not_before_ms;
                                continue;
                        }
                        /* ready, unless it waits for a free connection or for its host's first reply */
                        bool blocked = active >= c->max_conns || (!x->host->known && x->host->probing && !x->probe);
                        if (!blocked)
                                wake = now;
                }
                if (wake <= now)
                        continue; /* something is ready to start */
                curl_multi_poll(c->multi, NULL, 0, (int) (wake - now), NULL);
        }
        if (first_err) {
                /* stop the rest: the owners clean up what they had begun */
                for (size_t i = 0; i < n; i++) {
                        struct reg_xfer *x = xs[i];
                        if (x->state == XS_ACTIVE)
                                curl_multi_remove_handle(c->multi, x->easy);
                        if (x->probe) {
                                x->host->probing = false;
                                x->probe = false;
                        }
                        if (x->state != XS_DONE) {
                                x->state = XS_DONE;
                                x->failed = true;
                        }
                }
                return first_err;
        }
        return 0;
}

int reg_xfer_run1(struct reg_client *c, struct reg_xfer *x, struct cb_err *err)
{
        struct reg_xfer *v[1] = { x };
        return reg_xfers_run(c, v, 1, err);
}

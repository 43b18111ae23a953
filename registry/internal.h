/* registry/ internals: shared between the module's files and its unit tests, never other modules. */
#ifndef REG_INTERNAL_H
#define REG_INTERNAL_H

#include <curl/curl.h>
#include <jansson.h>

#include "reg.h"

#define REG_MANIFEST_MAX (4u * 1024u * 1024u)
#define REG_ERRBODY_MAX (16u * 1024u)
#define REG_TOKEN_MAX (1u * 1024u * 1024u)

static inline void reg_json_decrefp(json_t **j)
{
        if (*j)
                json_decref(*j);
}
static inline void reg_curl_slist_freep(struct curl_slist **l)
{
        curl_slist_free_all(*l);
}

/* ---- ref.c ---- */
bool reg_domain_valid(const char *p, size_t len);

/* ---- auth.c: credentials and challenges ---- */
struct reg_cred {
        char *user;
        char *secret; /* wiped before it is freed */
};
void reg_cred_release(struct reg_cred *c);
/* Frees s after overwriting it. */
void reg_secret_free(char *s);
/* Owned: the auth file this process reads and writes (explicit path, $REGISTRY_AUTH_FILE,
 * $DOCKER_CONFIG/config.json, ~/.docker/config.json). */
char *reg_auth_file_path(const char *auth_file);
/* The auths key docker uses for a registry: "https://index.docker.io/v1/" for docker.io, else the host. */
const char *reg_auth_key(const char *registry);
/* 0 with *ret filled, -ENOENT when there are none, other < 0 on a broken file or helper. */
int reg_auth_lookup(const char *auth_file, const char *registry, struct reg_cred *ret, struct cb_err *err);

enum reg_auth_scheme { REG_AUTH_NONE, REG_AUTH_BASIC, REG_AUTH_BEARER };
struct reg_challenge {
        enum reg_auth_scheme scheme;
        char *realm, *service, *scope, *error;
};
/* Parses one WWW-Authenticate value (RFC 7235 auth-params, quoted strings with escapes). */
int reg_challenge_parse(const char *v, struct reg_challenge *ret);
void reg_challenge_release(struct reg_challenge *ch);

/* ---- config.c: registries config, mirrors, insecure ---- */
struct reg_mirror {
        char *location; /* "host[:port][/path]" */
        bool insecure;
};
struct reg_rule {
        char *prefix;   /* "docker.io", "docker.io/library", "*.example.com" */
        char *location; /* NULL: same as prefix */
        bool insecure;
        bool blocked;
        struct reg_mirror *mirrors;
        size_t nmirrors;
};
struct reg_config {
        struct reg_rule *rules;
        size_t nrules;
        char **certs_dirs;
        size_t ncerts_dirs;
};
void reg_config_release(struct reg_config *cfg);
/* Parses YAML text (docs/registry.md). name is for messages. */
int reg_config_parse(const char *p, size_t len, const char *name, struct reg_config *ret, struct cb_err *err);
int reg_config_load(const char *path, struct reg_config *ret, struct cb_err *err);
/* Adds "--registry-mirror" and "--insecure-registry" values. */
int reg_config_add_mirror(struct reg_config *cfg, const char *spec, struct cb_err *err);
void reg_config_add_insecure(struct reg_config *cfg, const char *host);

struct reg_endpoint {
        char *host; /* "127.0.0.1:5000", "registry-1.docker.io" */
        char *repo; /* repository path on that host */
        bool insecure;
        bool mirror;
};
void reg_endpoints_free(struct reg_endpoint *v, size_t n);
/* Where to fetch domain/path from: mirrors first (pull only), then the location. */
int reg_config_endpoints(const struct reg_config *cfg, const char *domain, const char *path, bool pull,
                         struct reg_endpoint **ret, size_t *ret_n, struct cb_err *err);
/* Loopback hosts may use plain HTTP without being listed (docker's rule for 127.0.0.0/8). */
bool reg_host_is_loopback(const char *host);

/* ---- manifest.c ---- */
struct reg_descriptor {
        char *media_type;
        char *digest;
        uint64_t size;
        char *os, *arch, *variant; /* index entries only */
};
struct reg_manifest {
        bool is_index;
        char *media_type;
        struct reg_descriptor config;  /* manifests only */
        struct reg_descriptor *items;  /* layers, or an index's manifests */
        size_t nitems;
};
/* content_type: from the HTTP reply or the caller, may be NULL (then the JSON decides). */
int reg_manifest_parse(const char *p, size_t len, const char *content_type, struct reg_manifest *ret,
                       struct cb_err *err);
void reg_manifest_release(struct reg_manifest *m);
/* Picks the index entry for platform "os/arch[/variant]"; -ENOENT naming what is offered. */
int reg_index_choose(const struct reg_manifest *idx, const char *platform, size_t *ret_i, struct cb_err *err);
/* Owned: "linux/amd64" etc for this machine. */
char *reg_host_platform(void);

/* ---- http.c: the transfer engine ---- */
struct reg_host;
struct reg_xfer;

enum reg_step { REG_STEP_DONE = 0, REG_STEP_AGAIN = 1 };

struct reg_xfer {
        /* request, set by the owner before each step */
        const char *method; /* "GET", "HEAD", "PUT", "POST", "PATCH" */
        struct reg_host *host;
        char *url;   /* owned; absolute "https://h/v2/..." or a path "/v2/..." on host */
        char *scope; /* owned; "repository:a/b:pull,push" (space-separated list), NULL: none */
        struct curl_slist *headers;
        const char *mem;
        size_t mem_len;
        int fd; /* body from fd at [off, off+len) when fd >= 0 */
        uint64_t off, len;
        bool no_retry; /* the owner's step() decides what a failure means (uploads) */
        bool keep_body; /* collect a 2xx body in body (else only on_data sees it) */
        size_t body_max;

        /* owner's hooks */
        void *ud;
        int (*on_attempt)(struct reg_xfer *x);
        int (*on_data)(struct reg_xfer *x, const void *p, size_t len); /* 2xx bodies */
        int (*step)(struct reg_xfer *x, struct cb_err *err);          /* after a final reply */

        /* reply of the last attempt */
        long status;
        CURLcode cc;
        char curl_msg[CURL_ERROR_SIZE];
        char *location, *content_type, *docker_digest, *www_auth, *retry_after, *range, *content_range;
        struct cb_buf body;
        struct cb_buf errbody;
        uint64_t attempt_bytes;

        /* engine state */
        CURL *easy;
        struct curl_slist *attempt_headers;
        uint64_t upload_pos;
        unsigned tries, auth_tries;
        int64_t not_before_ms;
        int state;
        bool failed, probe;
        struct cb_err err;
};

void reg_xfer_init(struct reg_xfer *x);
void reg_xfer_release(struct reg_xfer *x);
/* Re-arms x for a new request (keeps hooks and ud). */
void reg_xfer_set(struct reg_xfer *x, const char *method, char *url_owned);
/* Runs all transfers, at most the client's max_conns at a time. Each one ends when its step() says
 * DONE (or, without step, after its final reply). Returns the first failure (owner errors and
 * transport errors); HTTP statuses are the owners' to judge. */
int reg_xfers_run(struct reg_client *c, struct reg_xfer **xs, size_t n, struct cb_err *err);
/* One transfer, no step(): the reply is left in x. */
int reg_xfer_run1(struct reg_client *c, struct reg_xfer *x, struct cb_err *err);
/* "registry H: repository R: METHOD: HTTP 404 (MANIFEST_UNKNOWN: manifest unknown)" */
int reg_xfer_fail_status(struct reg_xfer *x, const char *what, struct cb_err *err);
/* Owned: the host's base URL "https://host". */
char *reg_host_base(struct reg_host *h);
const char *reg_host_name(const struct reg_host *h);

struct reg_host *reg_host_new(struct reg_client *c, const char *name, bool insecure);
void reg_host_free(struct reg_host *h);
/* Credentials given directly (reg_client_check_login), used instead of the auth file's. */
void reg_host_set_cred(struct reg_host *h, const char *user, const char *secret);

/* ---- client.c ---- */
struct reg_client {
        struct reg_config cfg;
        char *auth_file;
        char *platform;
        unsigned max_conns, max_retries, retry_base_ms, stall_timeout_s;
        uint64_t chunk_threshold, chunk_size;
        CURLM *multi;
        struct reg_host **hosts;
        size_t nhosts;
        struct reg_stats stats;
        /* blobs known to exist: "host\ndigest" -> repo */
        json_t *known_blobs;
};
struct reg_host *reg_client_host(struct reg_client *c, const char *host, bool insecure);
const char *reg_client_known_repo(struct reg_client *c, const char *host, const char *digest);
int64_t reg_now_ms(void);

#endif

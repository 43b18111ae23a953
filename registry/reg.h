/* registry/: an OCI distribution client (pull and push of images) over libcurl.
 *
 * References are parsed and normalised as docker does; pulls resolve manifest lists and OCI indexes
 * to one platform and write every blob, verified by digest, into a sink the caller implements over
 * its store; pushes read blobs from the same kind of callbacks. This module never prints and never
 * puts credentials into an error message. */
#ifndef REG_H
#define REG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/cb.h"

/* ---- References -------------------------------------------------------------------------------- */

/* Transparent: every field is owned by the struct (release with reg_ref_release()).
 * "ubuntu" parses to { "docker.io", "library/ubuntu", "latest", NULL }. tag and digest may both be
 * set ("name:tag@sha256:..."); a reference with a digest and no tag has tag == NULL. */
struct reg_ref {
        char *domain;
        char *path;
        char *tag;
        char *digest;
};

/* Parses and normalises like docker's ParseNormalizedNamed + TagNameOnly: a missing domain means
 * docker.io (index.docker.io is folded into it), a single-component docker.io path gets "library/",
 * a missing tag and digest means ":latest". Upper case in the path, bad tags, bad digests, names over
 * 255 characters and bare 64-hex names are rejected with -EINVAL and an error naming the reference. */
int reg_ref_parse(const char *s, struct reg_ref *ret, struct cb_err *err);
void reg_ref_release(struct reg_ref *r);
/* Owned: "docker.io/library/ubuntu:latest", "host:5000/a/b@sha256:...", "d/p:tag@sha256:...". */
char *reg_ref_string(const struct reg_ref *r);
/* Owned: the short form docker prints: "ubuntu:latest", "nvidia/cuda:11.8.0-runtime-ubuntu20.04". */
char *reg_ref_familiar(const struct reg_ref *r);
/* Owned: "docker.io/library/ubuntu" (no tag or digest). */
char *reg_ref_name(const struct reg_ref *r);

/* ---- Client ------------------------------------------------------------------------------------ */

struct reg_opts {
        /* YAML config (docs/registry.md: registries:, certs_dirs:) or NULL for defaults */
        const char *config_path;
        /* "docker.io=127.0.0.1:5000", "quay.io=mirror.local/quay", or a plain host (a docker.io mirror) */
        const char *const *mirrors;
        size_t nmirrors;
        /* hosts ("127.0.0.1:5000") reached over plain HTTP or unverified TLS */
        const char *const *insecure;
        size_t ninsecure;
        /* NULL: $REGISTRY_AUTH_FILE, then $DOCKER_CONFIG/config.json, then ~/.docker/config.json */
        const char *auth_file;
        /* "linux/amd64", "linux/arm64/v8"; NULL: the host's */
        const char *platform;
        /* parallel blob transfers; 0: 6 */
        unsigned max_conns;
        /* extra certs.d roots searched before /etc/cubuild/certs.d, /etc/docker/certs.d,
         * /etc/containers/certs.d (each holds HOST[:PORT]/{*.crt,client.cert,client.key}) */
        const char *const *certs_dirs;
        size_t ncerts_dirs;
        /* retries after the first attempt on 429, 5xx and dropped connections; 0: 5 */
        unsigned max_retries;
        /* first backoff step in milliseconds (doubled per retry, with jitter, capped at 30 s); 0: 250 */
        unsigned retry_base_ms;
        /* per-transfer stall limit: abort when fewer than 1 byte/s flows for this long; 0: 60 s */
        unsigned stall_timeout_s;
        /* blobs larger than this are pushed in chunks of chunk_size; 0: 64 MiB each */
        uint64_t chunk_threshold;
        uint64_t chunk_size;
};

struct reg_client;

/* On success *ret is owned by the caller; free it with reg_client_free(). */
int reg_client_new(const struct reg_opts *o, struct reg_client **ret, struct cb_err *err);
struct reg_client *reg_client_free(struct reg_client *c);

/* Counters since reg_client_new(), for tests and benchmarks. */
struct reg_stats {
        uint64_t requests; /* HTTP requests sent to registries (token requests not included) */
        uint64_t head_requests;
        uint64_t get_requests;
        uint64_t put_requests; /* PUT and PATCH */
        uint64_t post_requests;
        uint64_t token_requests;
        uint64_t retries;
        uint64_t bytes_down;
        uint64_t bytes_up;
};
void reg_client_stats(const struct reg_client *c, struct reg_stats *ret);

/* Tells the client that blob digest exists in repository domain/path, so a push to another
 * repository of the same registry can mount it instead of uploading (pulls record this on their own). */
void reg_client_note_blob(struct reg_client *c, const char *domain, const char *path, const char *digest);

/* Where pulled blobs go and pushed blobs come from: the builder implements these over its store. */
struct reg_blob_sink {
        void *ud;
        bool (*has)(void *ud, const char *digest);
        int (*begin)(void *ud, const char *digest, void **ret_handle, struct cb_err *err);
        int (*write)(void *ud, void *handle, const void *p, size_t len, struct cb_err *err);
        /* verifies, stores; owns (and frees) the handle from then on, whatever it returns */
        int (*commit)(void *ud, void *handle, const char *expected_digest, struct cb_err *err);
        void (*abort)(void *ud, void *handle);
        /* fd for reading, for push; the caller of open closes it */
        int (*open)(void *ud, const char *digest, uint64_t *ret_size, struct cb_err *err);
};

/* Progress events (may be NULL). what: "pull" (bytes so far, per chunk received), "push" (per MiB
 * sent and at the end of each request), "skip" (present already), "mount", "manifest". Called from
 * the calling thread only. */
struct reg_progress {
        void *ud;
        void (*event)(void *ud, const char *what, const char *digest, uint64_t done, uint64_t total);
};

/* Resolves ref to the platform manifest (an index or manifest list is resolved to o->platform),
 * fetches the config and all layer blobs into the sink (skipping ones it has), verifying every digest
 * and size while streaming. The manifest bytes (and the index's, when there is one) are put into the
 * sink too; ret_manifest_digest gets the platform manifest's digest. Mirrors are tried first, then the
 * registry itself. */
int reg_pull(struct reg_client *c, const struct reg_ref *ref, const struct reg_blob_sink *sink,
             const struct reg_progress *pg, char ret_manifest_digest[CB_DIGEST_STR_LEN], struct cb_err *err);

/* Pushes an image: the manifest bytes (already in the sink, by digest) and every blob it references
 * (for an index, every child manifest the sink has and their blobs), HEAD first, mount when possible;
 * tags ref (or pushes by digest when ref has a digest only). */
int reg_push(struct reg_client *c, const struct reg_ref *ref, const struct reg_blob_sink *src,
             const char *manifest_digest, const char *manifest_media_type, const struct reg_progress *pg,
             struct cb_err *err);

/* Checks credentials against registry (a host such as "docker.io" or "127.0.0.1:5000") by asking
 * for /v2/ (and a token where the registry wants Bearer auth). -EACCES when they are refused. */
int reg_client_check_login(struct reg_client *c, const char *registry, const char *user, const char *password,
                           struct cb_err *err);

/* Writes the credentials into the auth file (NULL: as reg_opts.auth_file) the way docker login does:
 * through the credential helper that config names for the registry, else as base64 "auth" under
 * "auths" (mode 0600, written atomically, other keys kept). */
int reg_login(const char *auth_file, const char *registry, const char *user, const char *password,
              struct cb_err *err);
/* Removes them again; -ENOENT when there was nothing to remove. */
int reg_logout(const char *auth_file, const char *registry, struct cb_err *err);

/* Fetches the referrers of the manifest subject ("sha256:...") in ref's repository (ref's tag and
 * digest are ignored): the registry's referrers API where it answers with an index, else the OCI 1.1
 * fallback tag "sha256-<hex>". Each referring manifest (at most 256) and the blobs it names (each at
 * most blob_max bytes; 0: 64 MiB), verified by digest, go into the sink, then the index itself; *ret_api says which
 * way it came, ret_index_digest gets its digest. -ENOENT (err untouched) when there are none. */
int reg_pull_referrers(struct reg_client *c, const struct reg_ref *ref, const char *subject,
                       const struct reg_blob_sink *sink, uint64_t blob_max, bool *ret_api,
                       char ret_index_digest[CB_DIGEST_STR_LEN], struct cb_err *err);

/* Media types */
#define REG_MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define REG_MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define REG_MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define REG_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"

#endif

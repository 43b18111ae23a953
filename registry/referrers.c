/* Referrers of a manifest (OCI distribution spec 1.1): the registry's referrers API where it has one,
 * the fallback tag "sha256-<hex>" otherwise (Debian's docker-registry 2.8 has no API). Referrers are
 * small documents (provenance, SBOM, reports), so each blob is fetched whole into memory, verified,
 * and handed to the sink; nothing reaches the sink before its digest is checked. */
#include "reg.h"

#include <errno.h>
#include <string.h>

#include "internal.h"

#define ACCEPT_INDEX "Accept: " REG_MT_OCI_INDEX
/* a hostile index must not make a pull fetch without end: each referrer costs up to blob_max per blob */
#define REG_REFERRERS_MAX 256u
#define ACCEPT_ANY_MANIFEST "Accept: " REG_MT_OCI_MANIFEST ", " REG_MT_OCI_INDEX ", " REG_MT_DOCKER_MANIFEST

struct ref_ctx {
        struct reg_client *c;
        const struct reg_endpoint *ep;
        struct reg_host *host;
        const struct reg_blob_sink *sink;
        uint64_t blob_max;
};

/* GET path into *ret_body. With ret_status, "not here" answers (404, and the 400 and 405 some
 * registries give for a path they do not route) are left to the caller; any other non-200 fails. */
static int get(struct ref_ctx *ctx, char *path_owned, const char *accept, size_t max, long *ret_status,
               struct cb_buf *ret_body, const char *what, struct cb_err *err)
{
        struct reg_xfer x;
        reg_xfer_init(&x);
        x.host = ctx->host;
        x.scope = cb_xasprintf("repository:%s:pull", ctx->ep->repo);
        x.body_max = max;
        reg_xfer_set(&x, "GET", path_owned);
        x.keep_body = true;
        if (accept)
                x.headers = curl_slist_append(NULL, accept);
        int r = reg_xfer_run1(ctx->c, &x, err);
        bool absent = x.status == 404 || x.status == 400 || x.status == 405;
        if (r == 0 && x.status != 200 && (!ret_status || !absent))
                r = reg_xfer_fail_status(&x, what, err);
        if (r == 0) {
                if (ret_status)
                        *ret_status = x.status;
                cb_buf_release(ret_body);
                *ret_body = x.body;
                cb_buf_init(&x.body, max);
        }
        reg_xfer_release(&x);
        return r;
}

static int check_digest(struct ref_ctx *ctx, const struct cb_buf *b, const char *digest, uint64_t size,
                        struct cb_err *err)
{
        char got[CB_DIGEST_STR_LEN];
        cb_sha256_digest(b->p, b->len, got);
        if (strcmp(got, digest) != 0 || b->len != size)
                return cb_failc(err, -EBADMSG, "registry %s: repository %s: %s hashes to %s (%zu bytes, expected %llu)",
                                ctx->ep->host, ctx->ep->repo, digest, got, b->len, (unsigned long long) size);
        return 0;
}

static int put(struct ref_ctx *ctx, const char *digest, const struct cb_buf *b, struct cb_err *err)
{
        const struct reg_blob_sink *sink = ctx->sink;
        if (sink->has && sink->has(sink->ud, digest))
                return 0;
        void *h = NULL;
        int r = sink->begin(sink->ud, digest, &h, err);
        if (r < 0)
                return r;
        r = sink->write(sink->ud, h, b->p, b->len, err);
        if (r < 0) {
                sink->abort(sink->ud, h);
                return r;
        }
        return sink->commit(sink->ud, h, digest, err);
}

static int fetch_blob(struct ref_ctx *ctx, const struct reg_descriptor *d, struct cb_err *err)
{
        if (ctx->sink->has && ctx->sink->has(ctx->sink->ud, d->digest))
                return 0;
        if (d->size > ctx->blob_max)
                return cb_failc(err, -E2BIG,
                                "registry %s: repository %s: referrer blob %s has %llu bytes, more than %llu",
                                ctx->ep->host, ctx->ep->repo, d->digest, (unsigned long long) d->size,
                                (unsigned long long) ctx->blob_max);
        struct cb_buf b;
        cb_buf_init(&b, (size_t) d->size + 1);
        _cleanup_free_ char *what = cb_xasprintf("repository %s: blob %s", ctx->ep->repo, d->digest);
        int r = get(ctx, cb_xasprintf("/v2/%s/blobs/%s", ctx->ep->repo, d->digest), NULL, (size_t) d->size + 1, NULL,
                    &b, what, err);
        if (r >= 0)
                r = check_digest(ctx, &b, d->digest, d->size, err);
        if (r >= 0)
                r = put(ctx, d->digest, &b, err);
        cb_buf_release(&b);
        return r;
}

/* One referrer: its manifest by digest, then the blobs it names, then the manifest itself. */
static int fetch_referrer(struct ref_ctx *ctx, const struct reg_descriptor *d, struct cb_err *err)
{
        if (ctx->sink->has && ctx->sink->has(ctx->sink->ud, d->digest))
                return 0;
        struct cb_buf b;
        cb_buf_init(&b, REG_MANIFEST_MAX);
        struct reg_manifest m = { 0 };
        _cleanup_free_ char *what = cb_xasprintf("repository %s: referrer %s", ctx->ep->repo, d->digest);
        int r = get(ctx, cb_xasprintf("/v2/%s/manifests/%s", ctx->ep->repo, d->digest), ACCEPT_ANY_MANIFEST,
                    REG_MANIFEST_MAX, NULL, &b, what, err);
        if (r >= 0)
                r = check_digest(ctx, &b, d->digest, d->size, err);
        if (r >= 0)
                r = reg_manifest_parse(b.p, b.len, NULL, &m, err);
        if (r >= 0 && m.is_index)
                r = cb_failc(err, -EPROTONOSUPPORT, "%s is an index", what);
        if (r >= 0)
                r = fetch_blob(ctx, &m.config, err);
        for (size_t i = 0; r >= 0 && i < m.nitems; i++)
                r = fetch_blob(ctx, &m.items[i], err);
        /* the manifest last: a store that has it has everything it names */
        if (r >= 0)
                r = put(ctx, d->digest, &b, err);
        if (r < 0 && !strstr(cb_err_msg(err), what))
                cb_wrap(err, "%s", what);
        reg_manifest_release(&m);
        cb_buf_release(&b);
        return r;
}

/* Whether a 200 reply of the referrers API is an index (a registry that does not know the path may
 * still answer 200 with a page of its own). */
static bool is_index(const struct cb_buf *b)
{
        json_error_t je;
        _cleanup_(reg_json_decrefp) json_t *j = json_loadb(b->p, b->len, 0, &je);
        return json_is_object(j) && json_is_array(json_object_get(j, "manifests"));
}

static int referrers_from(struct ref_ctx *ctx, const char *subject, bool *ret_api,
                          char ret_index_digest[CB_DIGEST_STR_LEN], struct cb_err *err)
{
        struct cb_buf b;
        cb_buf_init(&b, REG_MANIFEST_MAX);
        long st = 0;
        _cleanup_free_ char *what = cb_xasprintf("repository %s: referrers of %s", ctx->ep->repo, subject);
        int r = get(ctx, cb_xasprintf("/v2/%s/referrers/%s", ctx->ep->repo, subject), ACCEPT_INDEX, REG_MANIFEST_MAX,
                    &st, &b, what, err);
        bool api = r >= 0 && st == 200 && is_index(&b);
        if (r >= 0 && !api) {
                /* no referrers API: the OCI 1.1 fallback tag */
                r = get(ctx, cb_xasprintf("/v2/%s/manifests/sha256-%s", ctx->ep->repo, subject + 7), ACCEPT_INDEX,
                        REG_MANIFEST_MAX, &st, &b, what, err);
                if (r >= 0 && st != 200)
                        r = -ENOENT; /* no referrers: not an error the caller reports */
        }
        struct reg_manifest idx = { 0 };
        if (r >= 0)
                r = reg_manifest_parse(b.p, b.len, REG_MT_OCI_INDEX, &idx, err);
        if (r >= 0 && !idx.is_index)
                r = cb_failc(err, -EBADMSG, "registry %s: %s: not an index", ctx->ep->host, what);
        if (r >= 0 && idx.nitems == 0)
                r = -ENOENT; /* the API's answer when there are none */
        if (r >= 0 && idx.nitems > REG_REFERRERS_MAX)
                r = cb_failc(err, -E2BIG, "registry %s: %s: %zu referrers, more than %u", ctx->ep->host, what,
                             idx.nitems, REG_REFERRERS_MAX);
        for (size_t i = 0; r >= 0 && i < idx.nitems; i++)
                r = fetch_referrer(ctx, &idx.items[i], err);
        if (r == -ENOENT && cb_err_set(err))
                r = -EIO; /* a referrer the index names is missing: trouble, not "none" */
        if (r >= 0) {
                cb_sha256_digest(b.p, b.len, ret_index_digest);
                r = put(ctx, ret_index_digest, &b, err);
        }
        if (r >= 0)
                *ret_api = api;
        reg_manifest_release(&idx);
        cb_buf_release(&b);
        return r;
}

int reg_pull_referrers(struct reg_client *c, const struct reg_ref *ref, const char *subject,
                       const struct reg_blob_sink *sink, uint64_t blob_max, bool *ret_api,
                       char ret_index_digest[CB_DIGEST_STR_LEN], struct cb_err *err)
{
        if (!cb_digest_valid(subject))
                return cb_failc(err, -EINVAL, "referrers: '%s' is not a digest", subject);
        struct reg_endpoint *eps = NULL;
        size_t n = 0;
        int r = reg_config_endpoints(&c->cfg, ref->domain, ref->path, true, &eps, &n, err);
        if (r < 0)
                return r;
        r = -ENOENT;
        for (size_t i = 0; i < n; i++) {
                struct ref_ctx ctx = { .c = c, .ep = &eps[i], .sink = sink };
                ctx.blob_max = blob_max ? blob_max : 64u << 20;
                ctx.host = reg_client_host(c, eps[i].host, eps[i].insecure);
                struct cb_err e;
                cb_err_init(&e);
                r = referrers_from(&ctx, subject, ret_api, ret_index_digest, &e);
                /* a mirror may lack what the registry itself has: only the last answer counts */
                if (r >= 0 || i + 1 == n) {
                        if (r < 0 && r != -ENOENT) {
                                cb_err_release(err);
                                *err = e;
                        } else {
                                cb_err_release(&e);
                        }
                        break;
                }
                cb_err_release(&e);
        }
        reg_endpoints_free(eps, n);
        return r;
}

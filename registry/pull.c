/* Pull: manifest (an index resolved to the platform), then the config and layers the sink lacks,
 * in parallel on the transfer engine. Each blob is hashed while it streams into the sink; a dropped
 * connection resumes with a Range request where the registry allows it (206) and starts over where it
 * does not (200); a blob whose size or digest is wrong is aborted in the sink, so nothing of it stays. */
#include "reg.h"

#include <errno.h>
#include <string.h>

#include "internal.h"

#define ACCEPT_MANIFESTS                                                                                     \
        "Accept: " REG_MT_OCI_INDEX ", " REG_MT_DOCKER_LIST ", " REG_MT_OCI_MANIFEST ", " REG_MT_DOCKER_MANIFEST

struct pull_ctx {
        struct reg_client *c;
        const struct reg_blob_sink *sink;
        const struct reg_progress *pg;
        const struct reg_endpoint *ep;
        struct reg_host *host;
};

struct blob_job {
        struct reg_xfer x;
        struct pull_ctx *ctx;
        const struct reg_descriptor *d;
        void *handle;
        bool begun, committed, attempt_started;
        struct cb_sha256 *hash;
        uint64_t got;
};

static void progress(const struct reg_progress *pg, const char *what, const char *digest, uint64_t done,
                     uint64_t total)
{
        if (pg && pg->event)
                pg->event(pg->ud, what, digest, done, total);
}

static char *scope_pull(const char *repo)
{
        return cb_xasprintf("repository:%s:pull", repo);
}

/* GETs /v2/<repo>/manifests/<reference> into *ret (body) with its content type. */
static int fetch_manifest(struct pull_ctx *ctx, const char *reference, struct cb_buf *ret_body,
                          char **ret_type, struct cb_err *err)
{
        struct reg_xfer x;
        reg_xfer_init(&x);
        x.host = ctx->host;
        x.scope = scope_pull(ctx->ep->repo);
        reg_xfer_set(&x, "GET", cb_xasprintf("/v2/%s/manifests/%s", ctx->ep->repo, reference));
        x.keep_body = true;
        x.headers = curl_slist_append(NULL, ACCEPT_MANIFESTS);
        int r = reg_xfer_run1(ctx->c, &x, err);
        if (r == 0 && x.status != 200) {
                _cleanup_free_ char *what = cb_xasprintf("repository %s: manifest '%s'", ctx->ep->repo, reference);
                r = reg_xfer_fail_status(&x, what, err);
        }
        if (r == 0) {
                cb_buf_release(ret_body);
                *ret_body = x.body;
                cb_buf_init(&x.body, REG_MANIFEST_MAX);
                *ret_type = x.content_type ? cb_xstrdup(x.content_type) : NULL;
        }
        reg_xfer_release(&x);
        return r;
}

static int sink_put(const struct reg_blob_sink *sink, const char *digest, const void *p, size_t len,
                    struct cb_err *err)
{
        if (sink->has && sink->has(sink->ud, digest))
                return 0;
        void *h = NULL;
        int r = sink->begin(sink->ud, digest, &h, err);
        if (r < 0)
                return r;
        r = sink->write(sink->ud, h, p, len, err);
        if (r < 0) {
                sink->abort(sink->ud, h);
                return r;
        }
        return sink->commit(sink->ud, h, digest, err);
}

static int blob_attempt(struct reg_xfer *x)
{
        struct blob_job *j = x->ud;
        j->attempt_started = false;
        if (j->got > 0) {
                _cleanup_free_ char *h = cb_xasprintf("Range: bytes=%llu-", (unsigned long long) j->got);
                x->attempt_headers = curl_slist_append(x->attempt_headers, h);
        }
        return 0;
}

static void blob_restart(struct blob_job *j)
{
        if (j->begun)
                j->ctx->sink->abort(j->ctx->sink->ud, j->handle);
        j->begun = false;
        j->handle = NULL;
        cb_sha256_free(j->hash);
        j->hash = cb_sha256_new();
        j->got = 0;
}

static int blob_data(struct reg_xfer *x, const void *p, size_t len)
{
        struct blob_job *j = x->ud;
        struct pull_ctx *ctx = j->ctx;
        if (!j->attempt_started) {
                j->attempt_started = true;
                if (j->got > 0) {
                        /* resumed: only "206 bytes got-..." continues; anything else starts over */
                        _cleanup_free_ char *want = cb_xasprintf("bytes %llu-", (unsigned long long) j->got);
                        if (x->status != 206 || !x->content_range || strncmp(x->content_range, want, strlen(want)))
                                blob_restart(j);
                }
        }
        if (!j->begun) {
                if (ctx->sink->begin(ctx->sink->ud, j->d->digest, &j->handle, &x->err) < 0)
                        return -1;
                j->begun = true;
        }
        if (len > j->d->size - j->got)
                return cb_failc(&x->err, -EBADMSG, "registry %s: repository %s: blob %s is larger than the %llu bytes its descriptor gives",
                                reg_host_name(ctx->host), ctx->ep->repo, j->d->digest, (unsigned long long) j->d->size);
        if (ctx->sink->write(ctx->sink->ud, j->handle, p, len, &x->err) < 0)
                return -1;
        cb_sha256_update(j->hash, p, len);
        j->got += len;
        ctx->c->stats.bytes_down += len;
        progress(ctx->pg, "pull", j->d->digest, j->got, j->d->size);
        return 0;
}

static int blob_step(struct reg_xfer *x, struct cb_err *err)
{
        struct blob_job *j = x->ud;
        struct pull_ctx *ctx = j->ctx;
        _cleanup_free_ char *what = cb_xasprintf("repository %s: blob %s", ctx->ep->repo, j->d->digest);
        if (x->cc != CURLE_OK || (x->status != 200 && x->status != 206))
                return reg_xfer_fail_status(x, what, err);
        if (j->got != j->d->size)
                return cb_failc(err, -EBADMSG, "registry %s: %s: got %llu bytes, expected %llu", reg_host_name(ctx->host),
                                what, (unsigned long long) j->got, (unsigned long long) j->d->size);
        char got[CB_DIGEST_STR_LEN];
        cb_sha256_final(j->hash, got);
        if (strcmp(got, j->d->digest) != 0)
                return cb_failc(err, -EBADMSG, "registry %s: %s: digest mismatch, the content hashes to %s",
                                reg_host_name(ctx->host), what, got);
        if (!j->begun) {
                /* an empty blob: no data arrived to begin it */
                if (ctx->sink->begin(ctx->sink->ud, j->d->digest, &j->handle, err) < 0)
                        return -EIO;
                j->begun = true;
        }
        int r = ctx->sink->commit(ctx->sink->ud, j->handle, j->d->digest, err);
        j->committed = true; /* the sink owns the handle after commit, whatever it returned */
        if (r < 0)
                return r;
        reg_client_note_blob(ctx->c, reg_host_name(ctx->host), ctx->ep->repo, j->d->digest);
        return REG_STEP_DONE;
}

static int pull_blobs(struct pull_ctx *ctx, const struct reg_manifest *m, struct cb_err *err)
{
        size_t n = m->nitems + 1;
        const struct reg_descriptor **want = cb_xcalloc(n, sizeof(*want));
        size_t nwant = 0;
        for (size_t i = 0; i < n; i++) {
                const struct reg_descriptor *d = i == 0 ? &m->config : &m->items[i - 1];
                bool dup = false;
                for (size_t k = 0; k < nwant; k++)
                        if (!strcmp(want[k]->digest, d->digest))
                                dup = true;
                if (dup)
                        continue;
                if (ctx->sink->has && ctx->sink->has(ctx->sink->ud, d->digest)) {
                        progress(ctx->pg, "skip", d->digest, d->size, d->size);
                        continue;
                }
                want[nwant++] = d;
        }
        struct blob_job *jobs = cb_xcalloc(nwant ? nwant : 1, sizeof(*jobs));
        struct reg_xfer **xs = cb_xcalloc(nwant ? nwant : 1, sizeof(*xs));
        for (size_t i = 0; i < nwant; i++) {
                struct blob_job *j = &jobs[i];
                reg_xfer_init(&j->x);
                j->ctx = ctx;
                j->d = want[i];
                j->hash = cb_sha256_new();
                j->x.host = ctx->host;
                j->x.scope = scope_pull(ctx->ep->repo);
                j->x.ud = j;
                j->x.on_attempt = blob_attempt;
                j->x.on_data = blob_data;
                j->x.step = blob_step;
                reg_xfer_set(&j->x, "GET", cb_xasprintf("/v2/%s/blobs/%s", ctx->ep->repo, j->d->digest));
                xs[i] = &j->x;
        }
        int r = reg_xfers_run(ctx->c, xs, nwant, err);
        for (size_t i = 0; i < nwant; i++) {
                struct blob_job *j = &jobs[i];
                if (j->begun && !j->committed)
                        ctx->sink->abort(ctx->sink->ud, j->handle);
                cb_sha256_free(j->hash);
                reg_xfer_release(&j->x);
        }
        free(jobs);
        free(xs);
        free(want);
        return r;
}

static int pull_from(struct reg_client *c, const struct reg_endpoint *ep, const struct reg_ref *ref,
                     const struct reg_blob_sink *sink, const struct reg_progress *pg,
                     char ret_digest[CB_DIGEST_STR_LEN], struct cb_err *err)
{
        struct pull_ctx ctx = { .c = c, .sink = sink, .pg = pg, .ep = ep };
        ctx.host = reg_client_host(c, ep->host, ep->insecure);
        const char *reference = ref->digest ? ref->digest : ref->tag;
        struct cb_buf body;
        cb_buf_init(&body, REG_MANIFEST_MAX);
        _cleanup_free_ char *ctype = NULL;
        struct reg_manifest m = { 0 };
        char digest[CB_DIGEST_STR_LEN];
        int r = fetch_manifest(&ctx, reference, &body, &ctype, err);
        if (r < 0)
                goto out;
        cb_sha256_digest(body.p, body.len, digest);
        if (ref->digest && strcmp(digest, ref->digest) != 0) {
                r = cb_failc(err, -EBADMSG, "registry %s: repository %s: manifest %s: content hashes to %s",
                             ep->host, ep->repo, ref->digest, digest);
                goto out;
        }
        r = reg_manifest_parse(body.p, body.len, ctype, &m, err);
        if (r < 0) {
                cb_wrap(err, "registry %s: repository %s: manifest '%s'", ep->host, ep->repo, reference);
                goto out;
        }
        if (m.is_index) {
                size_t i;
                r = reg_index_choose(&m, c->platform, &i, err);
                if (r < 0) {
                        cb_wrap(err, "%s/%s:%s", ep->host, ep->repo, reference);
                        goto out;
                }
                r = sink_put(sink, digest, body.p, body.len, err);
                if (r < 0)
                        goto out;
                _cleanup_free_ char *child = cb_xstrdup(m.items[i].digest);
                uint64_t child_size = m.items[i].size;
                reg_manifest_release(&m);
                free(ctype);
                ctype = NULL;
                r = fetch_manifest(&ctx, child, &body, &ctype, err);
                if (r < 0)
                        goto out;
                cb_sha256_digest(body.p, body.len, digest);
                if (strcmp(digest, child) != 0 || body.len != child_size) {
                        r = cb_failc(err, -EBADMSG, "registry %s: repository %s: manifest %s: content hashes to %s (%zu bytes)",
                                     ep->host, ep->repo, child, digest, body.len);
                        goto out;
                }
                r = reg_manifest_parse(body.p, body.len, ctype, &m, err);
                if (r < 0) {
                        cb_wrap(err, "registry %s: repository %s: manifest %s", ep->host, ep->repo, child);
                        goto out;
                }
                if (m.is_index) {
                        r = cb_failc(err, -EBADMSG, "registry %s: repository %s: index %s names another index",
                                     ep->host, ep->repo, child);
                        goto out;
                }
        }
        progress(pg, "manifest", digest, body.len, body.len);
        r = pull_blobs(&ctx, &m, err);
        if (r < 0)
                goto out;
        /* the manifest last: a store that has it has everything it names */
        r = sink_put(sink, digest, body.p, body.len, err);
        if (r < 0)
                goto out;
        memcpy(ret_digest, digest, CB_DIGEST_STR_LEN);
out:
        reg_manifest_release(&m);
        cb_buf_release(&body);
        return r;
}

int reg_pull(struct reg_client *c, const struct reg_ref *ref, const struct reg_blob_sink *sink,
             const struct reg_progress *pg, char ret_manifest_digest[CB_DIGEST_STR_LEN], struct cb_err *err)
{
        struct reg_endpoint *eps = NULL;
        size_t n = 0;
        int r = reg_config_endpoints(&c->cfg, ref->domain, ref->path, true, &eps, &n, err);
        if (r < 0)
                return r;
        struct cb_err mirror_err;
        cb_err_init(&mirror_err);
        for (size_t i = 0; i < n; i++) {
                struct cb_err e;
                cb_err_init(&e);
                r = pull_from(c, &eps[i], ref, sink, pg, ret_manifest_digest, &e);
                if (r == 0 || !eps[i].mirror || i + 1 == n) {
                        if (r < 0) {
                                cb_err_release(err);
                                *err = e;
                                _cleanup_free_ char *s = reg_ref_familiar(ref);
                                cb_wrap(err, "pull '%s'", s);
                        } else {
                                cb_err_release(&e);
                        }
                        break;
                }
                /* a mirror that fails is skipped; the registry itself still answers */
                cb_err_release(&mirror_err);
                mirror_err = e;
        }
        cb_err_release(&mirror_err);
        reg_endpoints_free(eps, n);
        return r;
}

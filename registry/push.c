/* Push: every blob the manifest names goes through one state machine on the transfer engine, in
 * parallel with the others:
 *   HEAD blob ── 200 ──────────────────────────────────────────────► skip
 *      └ 404 ─► POST ?mount=&from= (when another repository here has it) ── 201 ─► mounted
 *               POST uploads/ ── 202 Location ─► PUT ?digest= (whole blob)           ── 201 ─► done
 *                                             └► PATCH chunk... ─► PUT ?digest= (empty) ── 201 ─► done
 * A dropped PATCH asks the upload for its Range and goes on from there; a dropped monolithic PUT
 * starts a new upload (a half-written one cannot be trusted), with backoff, a bounded number of times.
 * Then the manifest: HEAD by tag first, PUT only when the registry has another digest there. */
#include "reg.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

enum { PS_HEAD, PS_MOUNT, PS_POST, PS_PUT, PS_PATCH, PS_STATUS, PS_FINAL_PUT };

struct push_ctx {
        struct reg_client *c;
        const struct reg_blob_sink *src;
        const struct reg_progress *pg;
        struct reg_host *host;
        const char *repo;
        const char *registry; /* for messages: the host */
};

struct push_job {
        struct reg_xfer x;
        struct push_ctx *ctx;
        const char *digest;
        uint64_t size;
        int fd;
        int stage;
        char *upload; /* Location of the upload session */
        uint64_t sent;
        unsigned restarts;
};

static void progress(const struct reg_progress *pg, const char *what, const char *digest, uint64_t done,
                     uint64_t total)
{
        if (pg && pg->event)
                pg->event(pg->ud, what, digest, done, total);
}

static char *scope_push(const char *repo)
{
        return cb_xasprintf("repository:%s:pull,push", repo);
}

/* Location may be a path or an absolute URL; either is fine for reg_xfer. */
static char *with_digest(const char *loc, const char *digest)
{
        const char *colon = strchr(digest, ':');
        return cb_xasprintf("%s%cdigest=%.*s%%3A%s", loc, strchr(loc, '?') ? '&' : '?', (int) (colon - digest), digest,
                            colon + 1);
}

static int job_what(struct push_job *j, struct cb_err *err)
{
        _cleanup_free_ char *what = cb_xasprintf("repository %s: push blob %s", j->ctx->repo, j->digest);
        return reg_xfer_fail_status(&j->x, what, err);
}

static void arm_post(struct push_job *j, const char *from)
{
        struct push_ctx *ctx = j->ctx;
        free(j->x.scope);
        if (from) {
                j->x.scope = cb_xasprintf("repository:%s:pull,push repository:%s:pull", ctx->repo, from);
                reg_xfer_set(&j->x, "POST",
                             cb_xasprintf("/v2/%s/blobs/uploads/?mount=%s&from=%s", ctx->repo, j->digest, from));
                j->stage = PS_MOUNT;
        } else {
                j->x.scope = scope_push(ctx->repo);
                reg_xfer_set(&j->x, "POST", cb_xasprintf("/v2/%s/blobs/uploads/", ctx->repo));
                j->stage = PS_POST;
        }
}

static void arm_patch(struct push_job *j)
{
        struct reg_client *c = j->ctx->c;
        uint64_t n = j->size - j->sent;
        if (n > c->chunk_size)
                n = c->chunk_size;
        reg_xfer_set(&j->x, "PATCH", cb_xstrdup(j->upload));
        _cleanup_free_ char *cr = cb_xasprintf("Content-Range: %llu-%llu", (unsigned long long) j->sent,
                                               (unsigned long long) (j->sent + n - 1));
        j->x.headers = curl_slist_append(NULL, "Content-Type: application/octet-stream");
        j->x.headers = curl_slist_append(j->x.headers, cr);
        j->x.fd = j->fd;
        j->x.off = j->sent;
        j->x.len = n;
        j->x.no_retry = true;
        j->stage = PS_PATCH;
}

static void arm_upload(struct push_job *j)
{
        struct reg_client *c = j->ctx->c;
        j->sent = 0;
        if (j->size > c->chunk_threshold) {
                arm_patch(j);
                return;
        }
        reg_xfer_set(&j->x, "PUT", with_digest(j->upload, j->digest));
        j->x.headers = curl_slist_append(NULL, "Content-Type: application/octet-stream");
        j->x.fd = j->fd;
        j->x.off = 0;
        j->x.len = j->size;
        j->x.no_retry = true;
        j->stage = PS_PUT;
}

static void set_upload(struct push_job *j)
{
        free(j->upload);
        j->upload = cb_xstrdup(j->x.location);
}

/* A failed upload request: start a new upload session after a backoff, a bounded number of times. */
static int restart(struct push_job *j, struct cb_err *err)
{
        struct reg_client *c = j->ctx->c;
        if (++j->restarts > c->max_retries)
                return job_what(j, err);
        c->stats.retries++;
        arm_post(j, NULL);
        unsigned shift = j->restarts > 10 ? 10 : j->restarts;
        j->x.not_before_ms = reg_now_ms() + (int64_t) (c->retry_base_ms << shift) / 2;
        return REG_STEP_AGAIN;
}

static bool transient(const struct reg_xfer *x)
{
        return x->cc != CURLE_OK || x->status == 429 || x->status >= 500;
}

/* "0-1234" -> 1235. distribution answers "0-0" for an upload that holds nothing yet (its end is
 * the size minus one, floored at 0), so "0-0" means 0 here: re-sending one byte is harmless, skipping
 * one would corrupt the blob. */
static int parse_range_end(const char *v, uint64_t *ret)
{
        if (!v)
                return -EINVAL;
        if (!strncmp(v, "bytes=", 6))
                v += 6;
        if (!strcmp(v, "0-0")) {
                *ret = 0;
                return 0;
        }
        const char *dash = strchr(v, '-');
        if (!dash)
                return -EINVAL;
        uint64_t end;
        if (cb_parse_u64(cb_str_c(dash + 1), UINT64_MAX - 1, &end) < 0)
                return -EINVAL;
        *ret = end + 1;
        return 0;
}

static int push_step(struct reg_xfer *x, struct cb_err *err)
{
        struct push_job *j = x->ud;
        struct push_ctx *ctx = j->ctx;
        switch (j->stage) {
        case PS_HEAD:
                if (x->cc == CURLE_OK && x->status == 200) {
                        progress(ctx->pg, "skip", j->digest, j->size, j->size);
                        return REG_STEP_DONE;
                }
                if (x->cc != CURLE_OK || x->status != 404)
                        return job_what(j, err);
                {
                        uint64_t size = 0;
                        int fd = ctx->src->open(ctx->src->ud, j->digest, &size, err);
                        if (fd < 0)
                                return fd;
                        j->fd = fd;
                        if (size != j->size)
                                return cb_failc(err, -EBADMSG, "blob %s: the store has %llu bytes, the manifest says %llu",
                                                j->digest, (unsigned long long) size, (unsigned long long) j->size);
                }
                {
                        const char *from = reg_client_known_repo(ctx->c, reg_host_name(ctx->host), j->digest);
                        arm_post(j, from && strcmp(from, ctx->repo) ? from : NULL);
                }
                return REG_STEP_AGAIN;
        case PS_MOUNT:
                if (x->cc == CURLE_OK && x->status == 201) {
                        progress(ctx->pg, "mount", j->digest, j->size, j->size);
                        return REG_STEP_DONE;
                }
                if (x->cc == CURLE_OK && x->status == 202 && x->location) {
                        set_upload(j);
                        arm_upload(j);
                        return REG_STEP_AGAIN;
                }
                /* the mount was refused: upload instead */
                arm_post(j, NULL);
                return REG_STEP_AGAIN;
        case PS_POST:
                if (x->cc == CURLE_OK && x->status == 202 && x->location) {
                        set_upload(j);
                        arm_upload(j);
                        return REG_STEP_AGAIN;
                }
                return job_what(j, err);
        case PS_PUT:
        case PS_FINAL_PUT:
                if (x->cc == CURLE_OK && x->status == 201) {
                        if (x->docker_digest && strcmp(x->docker_digest, j->digest))
                                return cb_failc(err, -EBADMSG, "registry %s: repository %s: blob %s stored as %s",
                                                ctx->registry, ctx->repo, j->digest, x->docker_digest);
                        progress(ctx->pg, "push", j->digest, j->size, j->size);
                        return REG_STEP_DONE;
                }
                if (transient(x))
                        return restart(j, err);
                return job_what(j, err);
        case PS_PATCH:
                if (x->cc == CURLE_OK && x->status == 202) {
                        uint64_t end;
                        if (x->location)
                                set_upload(j);
                        if (parse_range_end(x->range, &end) == 0 && end > j->sent && end <= j->size)
                                j->sent = end;
                        else
                                j->sent += x->len;
                        progress(ctx->pg, "push", j->digest, j->sent, j->size);
                        if (j->sent < j->size) {
                                arm_patch(j);
                                return REG_STEP_AGAIN;
                        }
                        reg_xfer_set(&j->x, "PUT", with_digest(j->upload, j->digest));
                        j->stage = PS_FINAL_PUT;
                        return REG_STEP_AGAIN;
                }
                if (transient(x) || x->status == 416) {
                        /* where did the upload get to? */
                        if (++j->restarts > ctx->c->max_retries)
                                return job_what(j, err);
                        ctx->c->stats.retries++;
                        reg_xfer_set(&j->x, "GET", cb_xstrdup(j->upload));
                        j->stage = PS_STATUS;
                        j->x.not_before_ms = reg_now_ms() + ctx->c->retry_base_ms;
                        return REG_STEP_AGAIN;
                }
                return job_what(j, err);
        case PS_STATUS:
                if (x->cc == CURLE_OK && x->status == 204) {
                        uint64_t end = 0;
                        if (x->location)
                                set_upload(j);
                        if (x->range && parse_range_end(x->range, &end) == 0 && end <= j->size)
                                j->sent = end;
                        else if (!x->range)
                                j->sent = 0;
                        if (j->sent < j->size)
                                arm_patch(j);
                        else {
                                reg_xfer_set(&j->x, "PUT", with_digest(j->upload, j->digest));
                                j->stage = PS_FINAL_PUT;
                        }
                        return REG_STEP_AGAIN;
                }
                return restart(j, err);
        }
        return cb_failc(err, -EINVAL, "push: bad state");
}

static int push_blobs(struct push_ctx *ctx, const struct reg_manifest *m, struct cb_err *err)
{
        size_t n = m->nitems + 1;
        struct push_job *jobs = cb_xcalloc(n, sizeof(*jobs));
        struct reg_xfer **xs = cb_xcalloc(n, sizeof(*xs));
        size_t nj = 0;
        for (size_t i = 0; i < n; i++) {
                const struct reg_descriptor *d = i == 0 ? &m->config : &m->items[i - 1];
                bool dup = false;
                for (size_t k = 0; k < nj; k++)
                        if (!strcmp(jobs[k].digest, d->digest))
                                dup = true;
                if (dup)
                        continue;
                struct push_job *j = &jobs[nj];
                reg_xfer_init(&j->x);
                j->ctx = ctx;
                j->digest = d->digest;
                j->size = d->size;
                j->fd = -1;
                j->stage = PS_HEAD;
                j->x.host = ctx->host;
                j->x.scope = scope_push(ctx->repo);
                j->x.ud = j;
                j->x.step = push_step;
                j->x.body_max = REG_ERRBODY_MAX;
                reg_xfer_set(&j->x, "HEAD", cb_xasprintf("/v2/%s/blobs/%s", ctx->repo, d->digest));
                xs[nj++] = &j->x;
        }
        int r = reg_xfers_run(ctx->c, xs, nj, err);
        for (size_t i = 0; i < nj; i++) {
                if (jobs[i].fd >= 0)
                        close(jobs[i].fd);
                free(jobs[i].upload);
                if (r == 0)
                        reg_client_note_blob(ctx->c, reg_host_name(ctx->host), ctx->repo, jobs[i].digest);
                reg_xfer_release(&jobs[i].x);
        }
        free(jobs);
        free(xs);
        return r;
}

static int read_manifest(const struct reg_blob_sink *src, const char *digest, struct cb_buf *ret, struct cb_err *err)
{
        uint64_t size = 0;
        int fd = src->open(src->ud, digest, &size, err);
        if (fd < 0)
                return fd;
        if (size > REG_MANIFEST_MAX) {
                close(fd);
                return cb_failc(err, -E2BIG, "manifest %s is larger than %u bytes", digest, REG_MANIFEST_MAX);
        }
        int r = cb_read_all(fd, ret);
        close(fd);
        if (r < 0)
                return cb_fail(err, -r, "read manifest %s", digest);
        char got[CB_DIGEST_STR_LEN];
        cb_sha256_digest(ret->p, ret->len, got);
        if (strcmp(got, digest))
                return cb_failc(err, -EBADMSG, "manifest %s in the store hashes to %s", digest, got);
        return 0;
}

/* HEAD the manifest at reference; PUT it unless the registry already has these bytes there. */
static int put_manifest(struct push_ctx *ctx, const char *reference, const char *digest, const char *mtype,
                        const struct cb_buf *body, struct cb_err *err)
{
        struct reg_xfer x;
        reg_xfer_init(&x);
        x.host = ctx->host;
        x.scope = scope_push(ctx->repo);
        reg_xfer_set(&x, "HEAD", cb_xasprintf("/v2/%s/manifests/%s", ctx->repo, reference));
        _cleanup_free_ char *accept = cb_xasprintf("Accept: %s", mtype);
        x.headers = curl_slist_append(NULL, accept);
        int r = reg_xfer_run1(ctx->c, &x, err);
        if (r == 0 && x.status == 200 && x.docker_digest && !strcmp(x.docker_digest, digest)) {
                progress(ctx->pg, "skip", digest, body->len, body->len);
                reg_xfer_release(&x);
                return 0;
        }
        if (r < 0) {
                reg_xfer_release(&x);
                return r;
        }
        reg_xfer_set(&x, "PUT", cb_xasprintf("/v2/%s/manifests/%s", ctx->repo, reference));
        _cleanup_free_ char *ct = cb_xasprintf("Content-Type: %s", mtype);
        x.headers = curl_slist_append(NULL, ct);
        x.mem = body->p;
        x.mem_len = body->len;
        r = reg_xfer_run1(ctx->c, &x, err);
        if (r == 0 && x.status != 201) {
                _cleanup_free_ char *what = cb_xasprintf("repository %s: manifest '%s'", ctx->repo, reference);
                r = reg_xfer_fail_status(&x, what, err);
        }
        if (r == 0 && x.docker_digest && strcmp(x.docker_digest, digest))
                r = cb_failc(err, -EBADMSG, "registry %s: repository %s: manifest stored as %s, expected %s",
                             ctx->registry, ctx->repo, x.docker_digest, digest);
        if (r == 0)
                progress(ctx->pg, "manifest", digest, body->len, body->len);
        reg_xfer_release(&x);
        return r;
}

static int push_tree(struct push_ctx *ctx, const char *digest, const char *mtype, const char *reference,
                     unsigned depth, struct cb_err *err)
{
        struct cb_buf body;
        cb_buf_init(&body, REG_MANIFEST_MAX);
        struct reg_manifest m = { 0 };
        int r = read_manifest(ctx->src, digest, &body, err);
        if (r < 0)
                goto out;
        r = reg_manifest_parse(body.p, body.len, mtype, &m, err);
        if (r < 0) {
                cb_wrap(err, "manifest %s", digest);
                goto out;
        }
        if (m.is_index) {
                if (depth > 0) {
                        r = cb_failc(err, -EBADMSG, "index %s names another index", digest);
                        goto out;
                }
                for (size_t i = 0; i < m.nitems; i++) {
                        const struct reg_descriptor *d = &m.items[i];
                        if (ctx->src->has && !ctx->src->has(ctx->src->ud, d->digest))
                                continue; /* an entry the store does not hold must already be there */
                        r = push_tree(ctx, d->digest, d->media_type, d->digest, depth + 1, err);
                        if (r < 0)
                                goto out;
                }
        } else {
                r = push_blobs(ctx, &m, err);
                if (r < 0)
                        goto out;
        }
        r = put_manifest(ctx, reference, digest, m.media_type, &body, err);
out:
        reg_manifest_release(&m);
        cb_buf_release(&body);
        return r;
}

int reg_push(struct reg_client *c, const struct reg_ref *ref, const struct reg_blob_sink *src,
             const char *manifest_digest, const char *manifest_media_type, const struct reg_progress *pg,
             struct cb_err *err)
{
        if (!manifest_digest || !cb_digest_valid(manifest_digest))
                return cb_failc(err, -EINVAL, "push: bad manifest digest '%s'", manifest_digest ? manifest_digest : "");
        if (ref->digest && strcmp(ref->digest, manifest_digest))
                return cb_failc(err, -EINVAL, "push: the reference names %s but the manifest is %s", ref->digest,
                                manifest_digest);
        struct reg_endpoint *eps = NULL;
        size_t n = 0;
        int r = reg_config_endpoints(&c->cfg, ref->domain, ref->path, false, &eps, &n, err);
        if (r < 0)
                return r;
        const struct reg_endpoint *ep = &eps[n - 1];
        struct push_ctx ctx = {
                .c = c,
                .src = src,
                .pg = pg,
                .host = reg_client_host(c, ep->host, ep->insecure),
                .repo = ep->repo,
                .registry = ep->host,
        };
        r = push_tree(&ctx, manifest_digest, manifest_media_type, ref->tag ? ref->tag : manifest_digest, 0, err);
        if (r < 0) {
                _cleanup_free_ char *s = reg_ref_familiar(ref);
                cb_wrap(err, "push '%s'", s);
        }
        reg_endpoints_free(eps, n);
        return r;
}

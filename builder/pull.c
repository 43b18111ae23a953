/* FROM an image that is not in the store: pulled through registry/ into the store's blobs. The
 * registry module never sees the store; it gets this sink. */
#include "builder/steps.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "registry/reg.h"
#include "builder/audit.h"
#include "builder/bld.h"
#include "builder/internal.h"
#include "builder/progress.h"
#include <jansson.h>
#include <stdlib.h>

static bool sink_has(void *ud, const char *digest)
{
        return layer_store_has_blob(ud, digest);
}

static int sink_begin(void *ud, const char *digest, void **ret_handle, struct cb_err *err)
{
        (void) digest;
        struct layer_blob_writer *w = NULL;
        int r = layer_store_blob_begin(ud, &w, err);
        if (r < 0)
                return r;
        *ret_handle = w;
        return 0;
}

static int sink_write(void *ud, void *handle, const void *p, size_t len, struct cb_err *err)
{
        (void) ud;
        /* Ctrl-C stops a long pull here rather than after its last byte */
        if (bld_interrupted())
                return cb_failc(err, -EINTR, "interrupted by signal %d", bld_interrupted());
        return layer_blob_writer_write(handle, p, len, err);
}

static int sink_commit(void *ud, void *handle, const char *expected, struct cb_err *err)
{
        (void) ud;
        char got[CB_DIGEST_STR_LEN];
        return layer_blob_writer_commit(handle, expected, got, err);
}

static void sink_abort(void *ud, void *handle)
{
        (void) ud;
        layer_blob_writer_abort(handle);
}

static int sink_open(void *ud, const char *digest, uint64_t *ret_size, struct cb_err *err)
{
        return layer_store_open_blob(ud, digest, ret_size, err);
}

void bld_blob_sink_init(struct reg_blob_sink *s, struct layer_store *store)
{
        *s = (struct reg_blob_sink){
                .ud = store,
                .has = sink_has,
                .begin = sink_begin,
                .write = sink_write,
                .commit = sink_commit,
                .abort = sink_abort,
                .open = sink_open,
        };
}

/* registry/'s transfer counters as the current step's byte counters */
static void on_transfer(void *ud, const char *what, const char *digest, uint64_t done, uint64_t total)
{
        struct bld_progress *pg = ud;
        if (strcmp(what, "pull") == 0 || strcmp(what, "push") == 0)
                bld_progress_bytes(pg, bld_progress_step(pg), what, digest, done, total);
}

int bld_pull(struct bld_ctx *b, const char *ref, char ret_digest[CB_DIGEST_STR_LEN], struct cb_err *err)
{
        struct reg_ref rr;
        struct reg_client *c = NULL;
        struct reg_blob_sink sink;
        int r = reg_ref_parse(ref, &rr, err);
        if (r < 0)
                return r;
        r = reg_client_new(&b->opts->reg, &c, err);
        if (r >= 0) {
                struct reg_progress pg = { .ud = b->pg, .event = on_transfer };
                bld_progress_info(b->pg, "pulling %s", ref);
                bld_blob_sink_init(&sink, b->store);
                r = reg_pull(c, &rr, &sink, &pg, ret_digest, err);
        }
        if (r >= 0)
                r = layer_store_tag(b->store, ref, ret_digest, err);
        reg_client_free(c);
        reg_ref_release(&rr);
        return r;
}

static int push_one(struct reg_client *c, struct layer_store *s, const char *digest, const char *dest,
                    const char *media_type, const struct reg_progress *pg, struct cb_err *err)
{
        struct reg_ref rr;
        struct reg_blob_sink sink;
        int r = reg_ref_parse(dest, &rr, err);
        if (r < 0)
                return r;
        bld_blob_sink_init(&sink, s);
        r = reg_push(c, &rr, &sink, digest, media_type, pg, err);
        reg_ref_release(&rr);
        return r;
}

int bld_push_image(struct layer_store *s, const struct reg_opts *ro, const char *name, const char *dest, bool quiet,
                   struct cb_err *err)
{
        struct bld_progress *pg = bld_progress_new(quiet ? BLD_PROGRESS_QUIET : BLD_PROGRESS_PLAIN, STDERR_FILENO);
        int r = bld_push_image_progress(s, ro, name, dest, pg, err);
        bld_progress_free(pg);
        return r;
}

int bld_push_image_progress(struct layer_store *s, const struct reg_opts *ro, const char *name, const char *dest,
                            struct bld_progress *pg, struct cb_err *err)
{
        char digest[CB_DIGEST_STR_LEN];
        _cleanup_free_ char *src = cb_digest_valid(name) ? cb_xstrdup(name) : bld_ref_normalize(name, err);
        if (!src)
                return -EINVAL;
        _cleanup_free_ char *to = dest ? bld_ref_normalize(dest, err) : cb_xstrdup(src);
        if (!to)
                return -EINVAL;
        int r = layer_store_resolve(s, src, digest, err);
        if (r < 0)
                return r;
        /* a built image's layers are stored uncompressed: the registry gets them gzipped (each layer
         * compressed once and remembered), and the image's referrers follow it to that manifest */
        char out[CB_DIGEST_STR_LEN];
        r = layer_image_compress(s, digest, LAYER_GZIP, out, err);
        if (r >= 0 && strcmp(out, digest) != 0) {
                r = bld_referrers_retarget(s, src, digest, out, err);
                memcpy(digest, out, sizeof(digest));
        }
        if (r < 0) {
                cb_wrap(err, "push '%s'", src);
                return r;
        }
        struct cb_buf m;
        cb_buf_init(&m, LAYER_JSON_MAX);
        r = layer_store_read_blob(s, digest, LAYER_JSON_MAX, &m, err);
        json_t *man = r >= 0 ? json_loadb(m.p, m.len, 0, NULL) : NULL;
        cb_buf_release(&m);
        if (r < 0)
                return r;
        _cleanup_free_ char *mt = cb_xstrdup(json_string_value(json_object_get(man, "mediaType"))
                                                     ? json_string_value(json_object_get(man, "mediaType"))
                                                     : LAYER_MT_OCI_MANIFEST);
        json_decref(man);
        struct reg_client *c = NULL;
        struct reg_progress rp = { .ud = pg, .event = on_transfer };
        r = reg_client_new(ro, &c, err);
        if (r >= 0) {
                bld_progress_info(pg, "pushing %s", to);
                r = push_one(c, s, digest, to, mt, &rp, err);
        }
        if (r >= 0) {
                /* the verification report travels with the image: its referrers index under the
                 * OCI 1.1 fallback tag, which registries without the referrers API serve */
                const char *names[1] = { src };
                char idx[CB_DIGEST_STR_LEN];
                if (bld_referrers_find(s, digest, names, cb_digest_valid(src) ? 0 : 1, idx) == 0) {
                        _cleanup_free_ char *dest_tag = bld_referrers_tag(to, digest);
                        r = push_one(c, s, idx, dest_tag, LAYER_MT_OCI_INDEX, &rp, err);
                        if (r < 0)
                                cb_wrap(err, "push the verification report");
                }
        }
        if (r < 0)
                cb_wrap(err, "push '%s'", to);
        reg_client_free(c);
        return r;
}

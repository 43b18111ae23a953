/* FROM an image that is not in the store: pulled through registry/ into the store's blobs. The
 * registry module never sees the store; it gets this sink. */
#include "builder/steps.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "registry/reg.h"

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

int bld_pull(struct bld_ctx *b, const char *ref, char ret_digest[CB_DIGEST_STR_LEN], struct cb_err *err)
{
        struct reg_ref rr;
        struct reg_client *c = NULL;
        struct reg_blob_sink sink;
        int r = reg_ref_parse(ref, &rr, err);
        if (r < 0)
                return r;
        struct reg_opts ro;
        memset(&ro, 0, sizeof(ro));
        r = reg_client_new(&ro, &c, err);
        if (r >= 0) {
                if (!b->opts->quiet)
                        (void) fprintf(stderr, "pulling %s\n", ref);
                bld_blob_sink_init(&sink, b->store);
                r = reg_pull(c, &rr, &sink, NULL, ret_digest, err);
        }
        if (r >= 0)
                r = layer_store_tag(b->store, ref, ret_digest, err);
        reg_client_free(c);
        reg_ref_release(&rr);
        return r;
}

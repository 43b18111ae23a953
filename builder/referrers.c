/* An image's referrers (verification report, provenance, SBOM) carried over to the same image in another
 * manifest: the one whose build layers were compressed for a push or an export. */
#include "builder/audit.h"
#include "builder/internal.h"
#include "builder/steps.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "layers/layer.h"

/* text with every from_hex replaced by to_hex (both 64 hex digits) */
static void replace_hex(const char *p, size_t len, const char *from_hex, const char *to_hex, struct cb_buf *out)
{
        size_t i = 0;
        while (i < len) {
                const char *hit = len - i >= 64 ? memmem(p + i, len - i, from_hex, 64) : NULL;
                if (!hit) {
                        (void) cb_buf_add(out, p + i, len - i);
                        break;
                }
                (void) cb_buf_add(out, p + i, (size_t) (hit - (p + i)));
                (void) cb_buf_add(out, to_hex, 64);
                i = (size_t) (hit - p) + 64;
        }
}

/* blob digest → the same blob with the digest replaced, stored; its new digest and size */
static int retarget_blob(struct layer_store *s, const char *digest, const char *from_hex, const char *to_hex,
                         char ret[CB_DIGEST_STR_LEN], size_t *ret_len, struct cb_err *err)
{
        struct cb_buf in, out;
        cb_buf_init(&in, LAYER_JSON_MAX);
        cb_buf_init(&out, CB_BUF_UNLIMITED);
        int r = layer_store_read_blob(s, digest, LAYER_JSON_MAX, &in, err);
        if (r >= 0) {
                replace_hex(in.p ? in.p : "", in.len, from_hex, to_hex, &out);
                *ret_len = out.len;
                r = layer_store_put_blob(s, out.p ? out.p : "", out.len, ret, err);
        }
        cb_buf_release(&in);
        cb_buf_release(&out);
        return r;
}

static json_t *read_json(struct layer_store *s, const char *digest, const char *from_hex, const char *to_hex,
                         struct cb_err *err)
{
        struct cb_buf in, out;
        cb_buf_init(&in, LAYER_JSON_MAX);
        cb_buf_init(&out, CB_BUF_UNLIMITED);
        json_t *j = NULL;
        if (layer_store_read_blob(s, digest, LAYER_JSON_MAX, &in, err) >= 0) {
                replace_hex(in.p ? in.p : "", in.len, from_hex, to_hex, &out);
                j = json_loadb(out.p ? out.p : "", out.len, 0, NULL);
                if (!json_is_object(j)) {
                        (void) cb_failc(err, -EINVAL, "referrer %s is no JSON object", digest);
                        json_decref(j);
                        j = NULL;
                }
        }
        cb_buf_release(&in);
        cb_buf_release(&out);
        return j;
}

int bld_referrers_retarget(struct layer_store *s, const char *name, const char *from_digest, const char *to_digest,
                           struct cb_err *err)
{
        if (strcmp(from_digest, to_digest) == 0)
                return 0;
        /* by the digest key or a name's fallback tag; a name may be a digest (an image built without -t) */
        const char *names[1] = { name };
        size_t nnames = cb_digest_valid(name) ? 0 : 1;
        char idx[CB_DIGEST_STR_LEN];
        if (bld_referrers_find(s, from_digest, names, nnames, idx) < 0)
                return 0; /* nothing refers to it */
        const char *fh = from_digest + 7, *th = to_digest + 7;
        uint64_t to_size = layer_store_blob_size(s, to_digest);
        json_t *index = read_json(s, idx, fh, th, err);
        if (!index)
                return -EINVAL;
        json_t *ms = json_object_get(index, "manifests");
        int r = 0;
        for (size_t i = 0; i < json_array_size(ms) && r >= 0; i++) {
                json_t *d = json_array_get(ms, i);
                const char *ad = json_string_value(json_object_get(d, "digest"));
                if (!ad || !cb_digest_valid(ad)) {
                        r = cb_failc(err, -EINVAL, "referrers index %s: entry %zu has no digest", idx, i);
                        break;
                }
                _cleanup_free_ char *old_ad = cb_xstrdup(ad);
                json_t *art = read_json(s, old_ad, fh, th, err);
                if (!art) {
                        r = -EINVAL;
                        break;
                }
                json_t *layers = json_object_get(art, "layers");
                for (size_t k = 0; k < json_array_size(layers) && r >= 0; k++) {
                        json_t *l = json_array_get(layers, k);
                        const char *ld = json_string_value(json_object_get(l, "digest"));
                        char nd[CB_DIGEST_STR_LEN];
                        size_t nlen = 0;
                        if (!ld) {
                                r = cb_failc(err, -EINVAL, "referrer %s: a layer has no digest", old_ad);
                                break;
                        }
                        r = retarget_blob(s, ld, fh, th, nd, &nlen, err);
                        if (r >= 0) {
                                json_object_set_new(l, "digest", json_string(nd));
                                json_object_set_new(l, "size", json_integer((json_int_t) nlen));
                        }
                }
                json_t *subject = json_object_get(art, "subject");
                if (json_is_object(subject))
                        json_object_set_new(subject, "size", json_integer((json_int_t) to_size));
                char nd[CB_DIGEST_STR_LEN];
                uint64_t nlen = 0;
                if (r >= 0)
                        r = layer_store_put_json(s, art, nd, &nlen, err);
                json_decref(art);
                if (r >= 0) {
                        json_object_set_new(d, "digest", json_string(nd));
                        json_object_set_new(d, "size", json_integer((json_int_t) nlen));
                }
        }
        char nidx[CB_DIGEST_STR_LEN];
        if (r >= 0)
                r = layer_store_put_json(s, index, nidx, NULL, err);
        json_decref(index);
        if (r >= 0)
                r = bld_referrers_tag_index(s, to_digest, names, nnames, nidx, err);
        if (r < 0)
                cb_wrap(err, "carry the referrers of %s over to %s", from_digest, to_digest);
        return r;
}

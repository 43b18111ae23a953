/* The store's referrers index of an image (provenance, SBOM, GPU report), keyed by the subject
 * manifest's digest as the OCI 1.1 fallback tag scheme is: "sha256-<hex>" in the store, beside
 * "<repo>:sha256-<hex>" for each name the image has, which is what a push sends. An image built
 * without -t has the digest key only. Pulling fetches the index with the image (registry/referrers.c). */
#include "builder/audit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builder/internal.h"
#include "builder/steps.h"
#include "layers/layer.h"

char *bld_referrers_key(const char *manifest_digest)
{
        return cb_xasprintf("sha256-%s", manifest_digest + 7);
}

int bld_referrers_find(struct layer_store *s, const char *manifest_digest, const char *const *names, size_t nnames,
                       char ret_index[CB_DIGEST_STR_LEN])
{
        _cleanup_free_ char *key = bld_referrers_key(manifest_digest);
        if (layer_store_resolve(s, key, ret_index, NULL) == 0)
                return 0;
        for (size_t i = 0; i < nnames; i++) {
                _cleanup_free_ char *t = bld_referrers_tag(names[i], manifest_digest);
                if (layer_store_resolve(s, t, ret_index, NULL) == 0)
                        return 0;
        }
        /* a store written before the digest key: any name's fallback tag for this digest */
        struct layer_image_entry *v = NULL;
        size_t n = 0;
        int r = -ENOENT;
        if (layer_store_list(s, &v, &n, NULL) < 0)
                return -ENOENT;
        _cleanup_free_ char *suffix = cb_xasprintf(":%s", key);
        size_t sl = strlen(suffix);
        for (size_t i = 0; i < n && r < 0; i++) {
                size_t l = strlen(v[i].name);
                if (l > sl && !strcmp(v[i].name + l - sl, suffix)) {
                        memcpy(ret_index, v[i].manifest_digest, CB_DIGEST_STR_LEN);
                        r = 0;
                }
        }
        layer_image_entries_free(v, n);
        return r;
}

json_t *bld_referrers_load(struct layer_store *s, const char *manifest_digest, const char *const *names,
                           size_t nnames)
{
        char idx[CB_DIGEST_STR_LEN];
        json_t *index = NULL;
        if (bld_referrers_find(s, manifest_digest, names, nnames, idx) == 0) {
                struct cb_buf b;
                cb_buf_init(&b, LAYER_JSON_MAX);
                if (layer_store_read_blob(s, idx, LAYER_JSON_MAX, &b, NULL) >= 0)
                        index = json_loadb(b.p, b.len, 0, NULL);
                cb_buf_release(&b);
        }
        if (json_is_object(index) && json_is_array(json_object_get(index, "manifests")))
                return index;
        if (index)
                json_decref(index);
        return json_pack("{s:i, s:s, s:[]}", "schemaVersion", 2, "mediaType", LAYER_MT_OCI_INDEX, "manifests");
}

int bld_referrers_tag_index(struct layer_store *s, const char *manifest_digest, const char *const *names,
                            size_t nnames, const char *idx, struct cb_err *err)
{
        _cleanup_free_ char *key = bld_referrers_key(manifest_digest);
        int r = layer_store_tag(s, key, idx, err);
        for (size_t i = 0; r >= 0 && i < nnames; i++) {
                _cleanup_free_ char *t = bld_referrers_tag(names[i], manifest_digest);
                r = layer_store_tag(s, t, idx, err);
        }
        return r;
}

int bld_referrers_save(struct layer_store *s, const char *manifest_digest, const char *const *names, size_t nnames,
                       json_t *index, struct cb_err *err)
{
        char *text = json_dumps(index, JSON_COMPACT);
        if (!text)
                return cb_failc(err, -ENOMEM, "serialise the referrers index");
        char idx[CB_DIGEST_STR_LEN];
        int r = layer_store_put_blob(s, text, strlen(text), idx, err);
        free(text);
        if (r >= 0)
                r = bld_referrers_tag_index(s, manifest_digest, names, nnames, idx, err);
        return r;
}

int bld_audit_pull_referrers(struct layer_store *s, struct reg_client *c, const struct reg_ref *rr,
                             const char *manifest_digest, const char *name, bool *ret_api, struct cb_err *err)
{
        struct reg_blob_sink sink;
        char idx[CB_DIGEST_STR_LEN];
        bool api = false;
        bld_blob_sink_init(&sink, s);
        int r = reg_pull_referrers(c, rr, manifest_digest, &sink, 0, &api, idx, err);
        if (r < 0)
                return r;
        const char *names[1] = { name };
        if (ret_api)
                *ret_api = api;
        return bld_referrers_tag_index(s, manifest_digest, names, name ? 1 : 0, idx, err);
}

void bld_pull_referrers_or_warn(struct layer_store *s, struct reg_client *c, const struct reg_ref *rr,
                                const char *manifest_digest, const char *name, bool quiet)
{
        struct cb_err err;
        cb_err_init(&err);
        bool api = false;
        int r = bld_audit_pull_referrers(s, c, rr, manifest_digest, name, &api, &err);
        if (r < 0 && r != -ENOENT)
                (void) fprintf(stderr, "warning: %s: pulled without its referrers: %s\n", name ? name : manifest_digest,
                               cb_err_msg(&err));
        else if (r >= 0 && !quiet)
                (void) fprintf(stderr, "pulled the referrers of %s (%s)\n", manifest_digest,
                               api ? "referrers API" : "fallback tag");
        cb_err_release(&err);
}

/* "sha256-<hex>" or "REPO:sha256-<hex>": the subject's hex, else NULL */
static const char *referrers_subject_hex(const char *name)
{
        const char *colon = strrchr(name, ':');
        const char *t = colon ? colon + 1 : name;
        if (strncmp(t, "sha256-", 7) != 0 || strlen(t + 7) != 64 || strspn(t + 7, "0123456789abcdef") != 64)
                return NULL;
        return t + 7;
}

int bld_referrers_prune(struct layer_store *s, struct cb_err *err)
{
        struct layer_image_entry *v = NULL;
        size_t n = 0;
        int r = layer_store_list(s, &v, &n, err);
        if (r < 0)
                return r;
        for (size_t i = 0; r >= 0 && i < n; i++) {
                const char *hex = referrers_subject_hex(v[i].name);
                if (!hex)
                        continue;
                bool held = false;
                for (size_t k = 0; k < n && !held; k++)
                        held = !referrers_subject_hex(v[k].name) && !strcmp(v[k].manifest_digest + 7, hex);
                if (!held && (r = layer_store_untag(s, v[i].name, err)) == -ENOENT) {
                        cb_err_reset(err);
                        r = 0;
                }
        }
        layer_image_entries_free(v, n);
        return r < 0 ? r : 0;
}

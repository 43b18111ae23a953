/* The static CUDA report remembered per image content: a rebuild that made no new layer (every step
 * from the cache) gets the report of the same layers without reading every ELF header again. */
#include "builder/verify.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "builder/bld.h"
#include "layers/layer.h"

#define MEMO_MAX (4u << 20)

static void add(struct cb_sha256 *h, const char *tag, const char *v)
{
        cb_sha256_update(h, tag, strlen(tag) + 1);
        cb_sha256_update(h, v ? v : "\x01", v ? strlen(v) + 1 : 2);
}

void bld_compat_memo_key(const struct layer_desc *layers, size_t n, const char *cuda_version,
                         const char *nvidia_require_cuda, const char *require_arch, const char *require_driver,
                         char ret[CB_DIGEST_STR_LEN])
{
        struct cb_sha256 *h = cb_sha256_new();
        add(h, "compat-memo", "1");
        add(h, "version", bld_version());
        add(h, "commit", bld_commit());
        add(h, "CUDA_VERSION", cuda_version);
        add(h, "NVIDIA_REQUIRE_CUDA", nvidia_require_cuda);
        add(h, "require-arch", require_arch);
        add(h, "require-driver", require_driver);
        for (size_t i = 0; i < n; i++)
                add(h, "layer", layers[i].diff_id);
        cb_sha256_final(h, ret);
        cb_sha256_free(h);
}

static char *memo_path(const char *key)
{
        return cb_xasprintf("cache/compat/%s.json", key + 7);
}

bool bld_compat_memo_get(struct layer_store *s, const char *key, json_t **ret_static, char **ret_summary,
                         char **ret_gap)
{
        _cleanup_free_ char *path = memo_path(key);
        struct cb_buf b;
        cb_buf_init(&b, MEMO_MAX);
        struct cb_err e;
        cb_err_init(&e);
        int r = cb_read_file(layer_store_root_fd(s), path, MEMO_MAX, &b, &e);
        cb_err_release(&e);
        json_t *j = r >= 0 ? json_loadb(b.p ? b.p : "", b.len, 0, NULL) : NULL;
        cb_buf_release(&b);
        json_t *st = json_object_get(j, "static");
        const char *summary = json_string_value(json_object_get(j, "summary"));
        json_t *gap = json_object_get(j, "gap");
        if (!json_is_object(st) || !summary || !(json_is_null(gap) || json_is_string(gap))) {
                json_decref(j);
                return false;
        }
        *ret_static = json_incref(st);
        if (ret_summary)
                *ret_summary = cb_xstrdup(summary);
        *ret_gap = json_is_string(gap) ? cb_xstrdup(json_string_value(gap)) : NULL;
        json_decref(j);
        return true;
}

void bld_compat_memo_put(struct layer_store *s, const char *key, json_t *static_report, const char *summary,
                         const char *gap)
{
        json_t *j = json_pack("{s:O, s:s, s:o}", "static", static_report, "summary", summary ? summary : "", "gap",
                              gap ? json_string(gap) : json_null());
        char *text = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        json_decref(j);
        if (!text)
                return;
        _cleanup_free_ char *path = memo_path(key);
        struct cb_err e;
        cb_err_init(&e);
        /* only a lost shortcut when it cannot be written */
        if (cb_mkdir_p(layer_store_root_fd(s), "cache/compat", 0700, &e) >= 0)
                (void) cb_write_file_atomic(layer_store_root_fd(s), path, text, strlen(text), 0644, &e);
        cb_err_release(&e);
        free(text);
}

/* The build cache on disk: cache/<key hex> holds a small JSON record. Records are written
 * atomically; a record whose layer blob was pruned is a miss, not an error. */
#include "builder/cache.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#define RECORD_MAX 4096

bool bld_cache_get(struct layer_store *s, const char *key, struct bld_cache_entry *ret)
{
        if (!cb_digest_valid(key))
                return false;
        _cleanup_free_ char *path = cb_xasprintf("cache/%s", key + 7);
        struct cb_buf text;
        cb_buf_init(&text, RECORD_MAX);
        if (cb_read_file(layer_store_root_fd(s), path, RECORD_MAX, &text, NULL) < 0) {
                cb_buf_release(&text);
                return false;
        }
        json_t *j = json_loadb(text.p, text.len, 0, NULL);
        cb_buf_release(&text);
        const char *digest = json_string_value(json_object_get(j, "digest"));
        const char *diff_id = json_string_value(json_object_get(j, "diff_id"));
        const char *mt = json_string_value(json_object_get(j, "media_type"));
        json_t *size = json_object_get(j, "size"), *created = json_object_get(j, "created");
        bool ok = cb_digest_valid(digest) && cb_digest_valid(diff_id) && mt && strlen(mt) < sizeof(ret->layer.media_type) &&
                  json_is_integer(size) && json_integer_value(size) >= 0 && json_is_integer(created) &&
                  layer_store_has_blob(s, digest);
        if (ok) {
                memset(ret, 0, sizeof(*ret));
                memcpy(ret->layer.digest, digest, CB_DIGEST_STR_LEN);
                memcpy(ret->layer.diff_id, diff_id, CB_DIGEST_STR_LEN);
                memcpy(ret->layer.media_type, mt, strlen(mt) + 1);
                ret->layer.size = (uint64_t) json_integer_value(size);
                ret->created = (int64_t) json_integer_value(created);
        }
        json_decref(j);
        return ok;
}

int bld_cache_put(struct layer_store *s, const char *key, const struct bld_cache_entry *e, struct cb_err *err)
{
        json_t *j = json_pack("{s:s, s:s, s:s, s:I, s:I}", "digest", e->layer.digest, "diff_id", e->layer.diff_id,
                              "media_type", e->layer.media_type, "size", (json_int_t) e->layer.size, "created",
                              (json_int_t) e->created);
        char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(j);
        _cleanup_free_ char *path = cb_xasprintf("cache/%s", key + 7);
        int r = cb_mkdir_p(layer_store_root_fd(s), "cache", 0755, err);
        if (r >= 0)
                r = cb_write_file_atomic(layer_store_root_fd(s), path, text, strlen(text), 0644, err);
        free(text);
        return r;
}

int bld_cache_layers(struct layer_store *s, char ***ret, size_t *ret_n, struct cb_err *err)
{
        *ret = NULL;
        *ret_n = 0;
        int fd = openat(layer_store_root_fd(s), "cache", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : cb_fail(err, errno, "open the build cache");
        DIR *d = fdopendir(fd);
        if (!d) {
                int e = errno;
                (void) close(fd);
                return cb_fail(err, e, "open the build cache");
        }
        size_t cap = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                char key[CB_DIGEST_STR_LEN];
                if (strlen(de->d_name) != CB_SHA256_HEX_LEN)
                        continue;
                memcpy(key, "sha256:", 7);
                memcpy(key + 7, de->d_name, CB_SHA256_HEX_LEN + 1);
                struct bld_cache_entry e;
                if (!bld_cache_get(s, key, &e))
                        continue;
                if (*ret_n == cap) {
                        cap = cap ? cap * 2 : 32;
                        *ret = cb_xrealloc(*ret, cap * sizeof(char *));
                }
                (*ret)[(*ret_n)++] = cb_xstrdup(e.layer.digest);
        }
        (void) closedir(d);
        return 0;
}

int bld_cache_clear(struct layer_store *s, struct cb_err *err)
{
        int r = cb_rm_rf(layer_store_root_fd(s), "cache", err);
        if (r < 0)
                return r;
        return cb_mkdir_p(layer_store_root_fd(s), "cache", 0755, err);
}

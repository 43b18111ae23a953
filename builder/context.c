/* Named build contexts (--build-context NAME=VALUE), as docker buildx resolves them. */
#include "builder/context.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builder/steps.h"
#include "layers/layer.h"
#include "parser/df.h"

#define IGNORE_MAX (16u << 20)
#define OCI_JSON_MAX (4u << 20)

static bool has_prefix(const char *s, const char *p)
{
        return strncmp(s, p, strlen(p)) == 0;
}

/* What buildx sends to a remote source instead of the local file system: Git repositories and
 * http(s) tarballs. */
static bool is_remote(const char *v)
{
        size_t n = strlen(v);
        return has_prefix(v, "http://") || has_prefix(v, "https://") || has_prefix(v, "git://") ||
               has_prefix(v, "git@") || has_prefix(v, "ssh://") || has_prefix(v, "github.com/") ||
               (n > 4 && strcmp(v + n - 4, ".git") == 0) || strstr(v, ".git#") != NULL;
}

int bld_nctx_check(const char *spec, struct cb_err *err)
{
        const char *eq = strchr(spec, '=');
        if (!eq || eq == spec || !eq[1])
                return cb_failc(err, -EINVAL,
                                "--build-context '%s': use NAME=docker-image://REF, NAME=oci-layout://PATH[:TAG] or "
                                "NAME=DIR",
                                spec);
        const char *v = eq + 1;
        if (is_remote(v))
                return cb_failc(err, -ENOTSUP,
                                "--build-context '%s': Git and URL contexts are not supported; use a local directory, "
                                "docker-image:// or oci-layout://",
                                spec);
        if (has_prefix(v, "docker-image://") || has_prefix(v, "oci-layout://")) {
                if (!strchr(v, '/')[2])
                        return cb_failc(err, -EINVAL, "--build-context '%s': nothing after '://'", spec);
                return 0;
        }
        if (strstr(v, "://") || has_prefix(v, "target:") || has_prefix(v, "input:"))
                return cb_failc(err, -EINVAL,
                                "--build-context '%s': unknown kind of context (use docker-image://, oci-layout:// or a "
                                "directory)",
                                spec);
        return 0;
}

/* "PATH[:TAG|@DIGEST]": a ':' only counts after the last '/', so "./dir:with:colons/x" is a path. */
static void oci_split(const char *v, char **ret_path, char **ret_tag, char **ret_digest)
{
        const char *at = strrchr(v, '@');
        *ret_tag = *ret_digest = NULL;
        if (at && cb_digest_valid(at + 1)) {
                *ret_path = cb_xstrndup(v, (size_t) (at - v));
                *ret_digest = cb_xstrdup(at + 1);
                return;
        }
        const char *slash = strrchr(v, '/');
        const char *colon = strrchr(v, ':');
        if (colon && (!slash || colon > slash) && colon[1]) {
                *ret_path = cb_xstrndup(v, (size_t) (colon - v));
                *ret_tag = cb_xstrdup(colon + 1);
                return;
        }
        *ret_path = cb_xstrdup(v);
}

/* @DIGEST: a one-entry index beside the layout's blobs (a symlink to them) lets the layout import
 * take exactly that manifest or index, whatever index.json names. */
static int import_digest(struct bld_ctx *b, const char *path, const char *digest, char ret[CB_DIGEST_STR_LEN],
                         struct cb_err *err)
{
        _cleanup_free_ char *abs = realpath(path, NULL);
        if (!abs)
                return cb_fail(err, errno, "'%s'", path);
        _cleanup_close_ int lfd = open(abs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (lfd < 0)
                return cb_fail(err, errno, "open '%s'", abs);
        struct cb_buf blob;
        cb_buf_init(&blob, OCI_JSON_MAX);
        _cleanup_free_ char *rel = cb_xasprintf("blobs/sha256/%s", digest + 7);
        int r = cb_read_file(lfd, rel, OCI_JSON_MAX, &blob, err);
        json_t *j = r < 0 ? NULL : json_loadb(blob.p, blob.len, 0, NULL);
        cb_buf_release(&blob);
        if (r < 0)
                return r;
        if (!json_is_object(j)) {
                if (j)
                        json_decref(j);
                return cb_failc(err, -EBADMSG, "'%s' in '%s' is not a manifest", digest, path);
        }
        const char *mt = json_string_value(json_object_get(j, "mediaType"));
        _cleanup_free_ char *media = cb_xstrdup(mt ? mt
                                                   : json_object_get(j, "manifests") ? LAYER_MT_OCI_INDEX
                                                                                      : LAYER_MT_OCI_MANIFEST);
        json_decref(j);
        _cleanup_free_ char *tmp = cb_xasprintf("%s/ocictx-XXXXXX", b->tmp_dir);
        if (!mkdtemp(tmp))
                return cb_fail(err, errno, "mkdtemp '%s'", tmp);
        _cleanup_free_ char *blobs = cb_xasprintf("%s/blobs", abs);
        json_t *idx = json_pack("{s:i, s:s, s:[{s:s, s:s}]}", "schemaVersion", 2, "mediaType", LAYER_MT_OCI_INDEX,
                                "manifests", "mediaType", media, "digest", digest);
        char *text = idx ? json_dumps(idx, JSON_COMPACT) : NULL;
        if (idx)
                json_decref(idx);
        _cleanup_close_ int tfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (tfd < 0 || !text)
                r = cb_fail(err, tfd < 0 ? errno : ENOMEM, "'%s'", tmp);
        else if (symlinkat(blobs, tfd, "blobs") < 0)
                r = cb_fail(err, errno, "symlink '%s/blobs'", tmp);
        else
                r = cb_write_file_atomic(tfd, "index.json", text, strlen(text), 0644, err);
        free(text);
        if (r >= 0)
                r = layer_import_oci_dir(b->store, tmp, NULL, ret, err);
        struct cb_err e2;
        cb_err_init(&e2);
        (void) cb_rm_rf(AT_FDCWD, tmp, &e2);
        cb_err_release(&e2);
        return r;
}

static int open_oci(struct bld_ctx *b, struct bld_nctx *c, struct cb_err *err)
{
        _cleanup_free_ char *path = NULL, *tag = NULL, *digest = NULL;
        oci_split(c->value, &path, &tag, &digest);
        int r;
        if (digest) {
                r = import_digest(b, path, digest, c->image, err);
        } else {
                /* buildx's default tag; a layout holding one unnamed image is taken as it is */
                r = layer_import_oci_dir(b->store, path, tag ? tag : "latest", c->image, err);
                if (r == -ENOENT && !tag) {
                        cb_err_reset(err);
                        r = layer_import_oci_dir(b->store, path, NULL, c->image, err);
                }
        }
        return r;
}

static int open_dir(struct bld_nctx *c, struct cb_err *err)
{
        c->fd = open(c->value, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (c->fd < 0)
                return cb_fail(err, errno, "open directory '%s'", c->value);
        /* BuildKit's named local context reads the .dockerignore at its own root */
        struct cb_buf text;
        cb_buf_init(&text, IGNORE_MAX);
        int r = cb_read_file(c->fd, ".dockerignore", IGNORE_MAX, &text, err);
        if (r == -ENOENT) {
                cb_err_reset(err);
                r = 0;
        } else if (r >= 0) {
                _cleanup_free_ char *what = cb_xasprintf("%s/.dockerignore", c->value);
                r = df_ignore_parse(cb_buf_str(&text), what, &c->ignore, err);
        }
        cb_buf_release(&text);
        return r;
}

int bld_nctxs_open(struct bld_ctx *b, struct cb_err *err)
{
        const struct bld_opts *o = b->opts;
        if (!o->nbuild_contexts)
                return 0;
        b->nctx = cb_xcalloc(o->nbuild_contexts, sizeof(*b->nctx));
        for (size_t i = 0; i < o->nbuild_contexts; i++) {
                const char *spec = o->build_contexts[i];
                int r = bld_nctx_check(spec, err);
                if (r < 0)
                        return r;
                const char *eq = strchr(spec, '=');
                struct bld_nctx *c = &b->nctx[b->nnctx++];
                c->fd = -1;
                c->name = cb_xstrndup(spec, (size_t) (eq - spec));
                const char *v = eq + 1;
                if (has_prefix(v, "docker-image://")) {
                        c->kind = BLD_NCTX_IMAGE;
                        c->value = cb_xstrdup(v + 15);
                } else if (has_prefix(v, "oci-layout://")) {
                        c->kind = BLD_NCTX_OCI_LAYOUT;
                        c->value = cb_xstrdup(v + 13);
                        r = open_oci(b, c, err);
                } else {
                        c->kind = BLD_NCTX_DIR;
                        c->value = cb_xstrdup(v);
                        r = open_dir(c, err);
                }
                if (r < 0) {
                        cb_wrap(err, "--build-context %s", c->name);
                        return r;
                }
        }
        return 0;
}

void bld_nctxs_release(struct bld_ctx *b)
{
        for (size_t i = 0; i < b->nnctx; i++) {
                struct bld_nctx *c = &b->nctx[i];
                free(c->name);
                free(c->value);
                if (c->fd >= 0)
                        (void) close(c->fd);
                df_ignore_free(c->ignore);
        }
        free(b->nctx);
        b->nctx = NULL;
        b->nnctx = 0;
}

const struct bld_nctx *bld_nctx_find(const struct bld_ctx *b, const char *name)
{
        for (size_t i = 0; i < b->nnctx; i++)
                if (strcmp(b->nctx[i].name, name) == 0)
                        return &b->nctx[i];
        return NULL;
}

const struct bld_nctx *bld_nctx_dir_for(const struct bld_ctx *b, const char *from)
{
        const struct bld_nctx *c = bld_nctx_find(b, from);
        if (!c || c->kind != BLD_NCTX_DIR)
                return NULL;
        for (size_t i = 0; i < b->nstages; i++)
                if (b->stages[i].built && b->stages[i].name && strcasecmp(b->stages[i].name, from) == 0)
                        return NULL;
        return c;
}

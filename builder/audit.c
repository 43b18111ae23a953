/* Recorded inputs: every image says which bases, Dockerfile, context, args and epoch made it. */
#include "builder/audit.h"
#include "builder/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builder/bld.h"
#include "builder/context.h"
#include "builder/filememo.h"
#include "builder/steps.h"
#include "parser/df.h"

#define CTX_MAX_DEPTH 256

static char type_char(mode_t m)
{
        if (S_ISREG(m))
                return 'f';
        if (S_ISDIR(m))
                return 'd';
        if (S_ISLNK(m))
                return 'l';
        return 'o';
}

/* Digest of directory dir_fd (rel: its path from the context root, "" for the root). */
static int walk_dir(int dir_fd, const char *rel, const struct df_ignore *ig, struct bld_file_memo *memo,
                    unsigned depth, char ret[CB_DIGEST_STR_LEN], struct cb_err *err)
{
        if (depth > CTX_MAX_DEPTH)
                return cb_failc(err, -ELOOP, "context: '%s' is nested too deep", rel);
        char **names = NULL;
        size_t n = 0;
        int lr = bld_dir_names(dir_fd, &names, &n);
        if (lr < 0)
                return cb_fail(err, -lr, "context: '%s'", rel);
        struct cb_sha256 *h = cb_sha256_new();
        int r = 0;
        for (size_t i = 0; i < n && r >= 0; i++) {
                _cleanup_free_ char *crel = *rel ? cb_xasprintf("%s/%s", rel, names[i]) : cb_xstrdup(names[i]);
                struct stat st;
                if (fstatat(dir_fd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        r = cb_fail(err, errno, "context: stat '%s'", crel);
                        break;
                }
                bool excluded = ig && df_ignore_match(ig, crel);
                if (excluded && !(S_ISDIR(st.st_mode) && df_ignore_may_reinclude(ig, crel)))
                        continue;
                char child[CB_DIGEST_STR_LEN] = "";
                char link[4096];
                const char *what = child;
                if (S_ISDIR(st.st_mode)) {
                        _cleanup_close_ int cfd = openat(dir_fd, names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (cfd < 0) {
                                r = cb_fail(err, errno, "context: open '%s'", crel);
                                break;
                        }
                        r = walk_dir(cfd, crel, ig, memo, depth + 1, child, err);
                } else if (excluded) {
                        continue;
                } else if (S_ISREG(st.st_mode)) {
                        unsigned long long size;
                        r = bld_file_digest(memo, dir_fd, names[i], &st, child, &size, err);
                } else if (S_ISLNK(st.st_mode)) {
                        ssize_t k = readlinkat(dir_fd, names[i], link, sizeof(link) - 1);
                        if (k < 0) {
                                r = cb_fail(err, errno, "context: readlink '%s'", crel);
                                break;
                        }
                        link[k] = '\0';
                        what = link;
                }
                if (r < 0)
                        break;
                _cleanup_free_ char *line = cb_xasprintf("%c %o %s", type_char(st.st_mode),
                                                         (unsigned) (st.st_mode & 07777), names[i]);
                cb_sha256_update(h, line, strlen(line) + 1);
                cb_sha256_update(h, what, strlen(what));
                cb_sha256_update(h, "\n", 1);
        }
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
        if (r >= 0)
                cb_sha256_final(h, ret);
        cb_sha256_free(h);
        return r;
}

int bld_audit_context_digest(int ctx_fd, const struct df_ignore *ig, struct bld_file_memo *memo,
                             char ret[CB_DIGEST_STR_LEN], struct cb_err *err)
{
        return walk_dir(ctx_fd, "", ig, memo, 0, ret, err);
}

/* The image a stage starts from, following FROM <stage> to the stage's own base. */
static const struct bld_stage *root_stage(const struct bld_ctx *b, size_t si)
{
        for (unsigned hops = 0; hops < 1000; hops++) {
                const struct bld_stage *st = &b->stages[si];
                if (st->base_digest[0] || !st->base_ref)
                        return st;
                bool found = false;
                for (size_t j = 0; j < si && !found; j++) {
                        if (b->stages[j].name && b->stages[j].built && !strcasecmp(b->stages[j].name, st->base_ref)) {
                                si = j;
                                found = true;
                        }
                }
                if (!found)
                        return st;
        }
        return NULL;
}

/* "REF@DIGEST" for a stage whose FROM is an image; NULL for a stage or scratch. */
static char *stage_base(const struct bld_stage *st)
{
        if (!st->base_digest[0] || !st->base_ref)
                return NULL;
        _cleanup_free_ char *norm = bld_ref_normalize(st->base_ref, NULL);
        if (!norm)
                return NULL;
        if (strchr(norm, '@'))
                return CB_TAKE_PTR(norm);
        return cb_xasprintf("%s@%s", norm, st->base_digest);
}

int bld_audit_inputs(struct bld_ctx *b, const void *dockerfile, size_t dockerfile_len, size_t target, json_t **ret,
                     struct cb_err *err)
{
        const struct bld_opts *o = b->opts;
        json_t *an = json_object();
        char dg[CB_DIGEST_STR_LEN];

        for (size_t i = 0; i <= target && i < b->nstages; i++) {
                const struct bld_stage *st = &b->stages[i];
                if (!st->built)
                        continue;
                _cleanup_free_ char *key = cb_xasprintf("%s%zu", BLD_AN_FROM, i);
                _cleanup_free_ char *base = stage_base(st);
                if (base)
                        json_object_set_new(an, key, json_string(base));
                else if (st->base_ref && !strcmp(st->base_ref, "scratch"))
                        json_object_set_new(an, key, json_string("scratch"));
        }
        const struct bld_stage *rs = root_stage(b, target);
        if (rs && rs->base_digest[0]) {
                _cleanup_free_ char *norm = bld_ref_normalize(rs->base_ref, NULL);
                if (norm) {
                        json_object_set_new(an, BLD_AN_BASE_NAME, json_string(norm));
                        json_object_set_new(an, BLD_AN_BASE_DIGEST, json_string(rs->base_digest));
                }
        }
        cb_sha256_digest(dockerfile, dockerfile_len, dg);
        json_object_set_new(an, BLD_AN_DOCKERFILE, json_string(dg));
        int r = bld_audit_context_digest(b->ctx_fd, b->ignore, b->memo, dg, err);
        if (r < 0) {
                json_decref(an);
                return r;
        }
        json_object_set_new(an, BLD_AN_CONTEXT, json_string(dg));
        /* named contexts are inputs too: a directory by its Merkle digest, as the main context */
        for (size_t i = 0; i < b->nnctx; i++) {
                const struct bld_nctx *nc = &b->nctx[i];
                _cleanup_free_ char *key = cb_xasprintf("%s%s", BLD_AN_NCTX, nc->name);
                _cleanup_free_ char *val = NULL;
                if (nc->kind == BLD_NCTX_DIR) {
                        char nd[CB_DIGEST_STR_LEN];
                        r = bld_audit_context_digest(nc->fd, nc->ignore, b->memo, nd, err);
                        if (r < 0) {
                                cb_wrap(err, "--build-context %s", nc->name);
                                json_decref(an);
                                return r;
                        }
                        val = cb_xasprintf("dir %s", nd);
                } else if (nc->kind == BLD_NCTX_OCI_LAYOUT) {
                        val = cb_xasprintf("oci-layout %s", nc->image);
                } else {
                        val = cb_xasprintf("docker-image %s", nc->value);
                }
                json_object_set_new(an, key, json_string(val));
        }
        for (size_t i = 0; b->build_args && i < df_vars_count(b->build_args); i++) {
                _cleanup_free_ char *key = cb_xasprintf("%s%s", BLD_AN_ARG, df_vars_key(b->build_args, i));
                json_object_set_new(an, key, json_string(df_vars_value(b->build_args, i)));
        }
        for (size_t i = 0; i < o->nlabels; i++) {
                const char *l = o->labels[i];
                const char *eq = strchr(l, '=');
                _cleanup_free_ char *key = eq ? cb_xasprintf("%s%.*s", BLD_AN_LABEL, (int) (eq - l), l)
                                              : cb_xasprintf("%s%s", BLD_AN_LABEL, l);
                json_object_set_new(an, key, json_string(eq ? eq + 1 : ""));
        }
        if (o->target)
                json_object_set_new(an, BLD_AN_TARGET, json_string(o->target));
        if (o->source_date_epoch >= 0) {
                _cleanup_free_ char *v = cb_xasprintf("%lld", (long long) o->source_date_epoch);
                json_object_set_new(an, BLD_AN_SDE, json_string(v));
        }
        json_object_set_new(an, BLD_AN_COMPRESSION, json_string(o->compression ? o->compression : "gzip"));
        json_object_set_new(an, BLD_AN_VERSION, json_string(bld_version()));
        *ret = an;
        return 0;
}

void bld_audit_print_inputs(FILE *f, json_t *manifest)
{
        json_t *an = json_object_get(manifest, "annotations");
        if (!json_is_object(an) || !json_object_get(an, BLD_AN_VERSION))
                return;
        static const struct {
                const char *key, *label;
        } fixed[] = {
                { BLD_AN_BASE_NAME, "base image" },     { BLD_AN_BASE_DIGEST, "base digest" },
                { BLD_AN_DOCKERFILE, "Dockerfile" },    { BLD_AN_CONTEXT, "context" },
                { BLD_AN_TARGET, "target" },            { BLD_AN_SDE, "SOURCE_DATE_EPOCH" },
                { BLD_AN_COMPRESSION, "compression" },  { BLD_AN_VERSION, "cubuild" },
        };
        (void) fprintf(f, "Recorded inputs:\n");
        for (size_t i = 0; i < CB_ARRAY_SIZE(fixed); i++) {
                const char *v = json_string_value(json_object_get(an, fixed[i].key));
                if (v)
                        (void) fprintf(f, "  %-18s %s\n", fixed[i].label, v);
        }
        const char *k;
        json_t *v;
        static const char *const groups[] = { BLD_AN_FROM, BLD_AN_ARG, BLD_AN_LABEL, BLD_AN_NCTX };
        for (size_t g = 0; g < CB_ARRAY_SIZE(groups); g++) {
                size_t pl = strlen(groups[g]);
                json_object_foreach(an, k, v)
                {
                        if (strncmp(k, groups[g], pl) != 0 || !json_string_value(v))
                                continue;
                        _cleanup_free_ char *label = g == 0 ? cb_xasprintf("FROM, stage %s", k + pl) : NULL;
                        if (label)
                                (void) fprintf(f, "  %-18s %s\n", label, json_string_value(v));
                        else
                                (void) fprintf(f, "  %s %s=%s\n",
                                               g == 1 ? "build arg" : g == 2 ? "--label  " : "--build-context", k + pl,
                                               json_string_value(v));
                }
        }
}

json_t *bld_audit_inputs_json(json_t *manifest)
{
        json_t *an = json_object_get(manifest, "annotations");
        if (!json_is_object(an) || !json_object_get(an, BLD_AN_VERSION))
                return NULL;
        json_t *o = json_object();
        const char *k;
        json_t *v;
        json_object_foreach(an, k, v)
        {
                if (!strncmp(k, BLD_AN_PREFIX, strlen(BLD_AN_PREFIX)))
                        json_object_set(o, k + strlen(BLD_AN_PREFIX), v);
                else if (!strcmp(k, BLD_AN_BASE_NAME) || !strcmp(k, BLD_AN_BASE_DIGEST))
                        json_object_set(o, k + strlen("org.opencontainers.image."), v);
        }
        return o;
}

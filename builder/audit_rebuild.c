/* cubuild rebuild-check REF --context DIR [-f Dockerfile]: does this source really make that digest? */
#include "builder/audit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "builder/bld.h"
#include "builder/cli.h"
#include "builder/exit.h"
#include "builder/internal.h"
#include "builder/regopts.h"
#include "builder/steps.h"
#include "layers/layer.h"
#include "parser/df.h"

#define DF_MAX (16u << 20)

static int check_usage(FILE *f, int rc)
{
        (void) fputs("Usage: cubuild rebuild-check [--format text|json] IMAGE --context DIR [-f DOCKERFILE]\n\n"
                     "Check that the Dockerfile and the context match the digests IMAGE records, rebuild it\n"
                     "in a temporary store from the recorded bases (by digest), build args, target and\n"
                     "SOURCE_DATE_EPOCH, and compare the result with IMAGE's digest; on a mismatch print\n"
                     "the differences as 'cubuild diff' does.\n\n"
                     "IMAGE is anything 'cubuild diff' takes. Exit status: 0 the digest is reproduced,\n"
                     "1 it is not (or the sources do not match the record), 2 trouble.\n",
                     f);
        return rc;
}

static const char *an_get(json_t *an, const char *key)
{
        return json_string_value(json_object_get(an, key));
}

/* Puts the base image "REF@DIGEST" into dst under the names the build will look up: REF (and the
 * pinned form), taking it from src when src has it, else from the registry. */
static int seed_base(struct bld_image_sides *sd, struct layer_store *src, struct layer_store *dst, const char *pinned,
                     struct cb_err *err)
{
        const char *at = strrchr(pinned, '@');
        if (!at || !cb_digest_valid(at + 1))
                return cb_failc(err, -EINVAL, "recorded base '%s' has no digest", pinned);
        const char *digest = at + 1;
        _cleanup_free_ char *name = cb_xstrndup(pinned, (size_t) (at - pinned));
        int r;
        if (layer_store_has_blob(src, digest) || layer_store_has_blob(sd->store, digest)) {
                struct layer_store *from = layer_store_has_blob(src, digest) ? src : sd->store;
                _cleanup_free_ char *dir = cb_xasprintf("%s/base-%s", layer_store_work_path(dst), digest + 7);
                r = layer_export_oci_dir(from, digest, dir, NULL, err);
                char got[CB_DIGEST_STR_LEN];
                if (r >= 0)
                        r = layer_import_oci_dir(dst, dir, NULL, got, err);
                (void) cb_rm_rf(AT_FDCWD, dir, NULL);
        } else {
                struct reg_ref rr;
                struct reg_client *c = NULL;
                struct reg_blob_sink sink;
                char got[CB_DIGEST_STR_LEN];
                r = reg_ref_parse(pinned, &rr, err);
                if (r >= 0) {
                        r = reg_client_new(&sd->reg, &c, err);
                        if (r >= 0) {
                                bld_blob_sink_init(&sink, dst);
                                r = reg_pull(c, &rr, &sink, NULL, got, err);
                        }
                        reg_client_free(c);
                        reg_ref_release(&rr);
                }
        }
        if (r >= 0 && !strchr(name, '@'))
                r = layer_store_tag(dst, name, digest, err);
        if (r >= 0)
                r = layer_store_tag(dst, pinned, digest, err);
        if (r < 0)
                cb_wrap(err, "base '%s'", pinned);
        return r;
}

static void add(const char ***v, size_t *n, const char *s)
{
        *v = cb_xrealloc(*v, (*n + 1) * sizeof(char *));
        (*v)[(*n)++] = s;
}

int bld_cmd_rebuild_check(const struct bld_global *g, int argc, char **argv)
{
        const char *ref = NULL, *context = NULL, *file = NULL;
        struct bld_diff_opts dopt = { .format = BLD_DIFF_TEXT, .out = stdout };
        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];
                if (!strcmp(a, "-h") || !strcmp(a, "--help"))
                        return check_usage(stdout, BLD_EXIT_OK);
                if (!strcmp(a, "--context") && i + 1 < argc)
                        context = argv[++i];
                else if ((!strcmp(a, "-f") || !strcmp(a, "--file")) && i + 1 < argc)
                        file = argv[++i];
                else if (!strcmp(a, "--format") && i + 1 < argc && !strcmp(argv[i + 1], "json") && ++i)
                        dopt.format = BLD_DIFF_JSON;
                else if (!strcmp(a, "--format") && i + 1 < argc && !strcmp(argv[i + 1], "text") && ++i)
                        dopt.format = BLD_DIFF_TEXT;
                else if (a[0] == '-' || ref)
                        return check_usage(stderr, 2);
                else
                        ref = a;
        }
        if (!ref || !context)
                return check_usage(stderr, 2);

        struct cb_err err;
        struct bld_image_sides sd = { 0 };
        struct layer_store *src = NULL, *tmp = NULL;
        struct layer_image *img = NULL;
        struct df_ignore *ig = NULL;
        struct cb_buf text, ign;
        char digest[CB_DIGEST_STR_LEN], built[CB_DIGEST_STR_LEN], dg[CB_DIGEST_STR_LEN];
        const char **args = NULL, **labels = NULL;
        size_t nargs = 0, nlabels = 0;
        _cleanup_free_ char *df_path = file ? cb_xstrdup(file) : cb_xasprintf("%s/Dockerfile", context);
        _cleanup_free_ char *tmp_root = NULL;
        int rc = 2;
        cb_err_init(&err);
        cb_buf_init(&text, DF_MAX);
        cb_buf_init(&ign, DF_MAX);
        bld_reg_opts(g, &sd.reg);
        int r = layer_store_open(g->root, &sd.store, &err);
        if (r >= 0)
                r = bld_audit_open_image(&sd, ref, &src, digest, &err);
        if (r >= 0)
                r = layer_image_read(src, digest, &img, &err);
        if (r < 0)
                goto out;
        json_t *an = json_object_get(img->manifest, "annotations");
        if (!an_get(an, BLD_AN_VERSION)) {
                r = cb_failc(&err, -EINVAL, "'%s' records no build inputs (not built by cubuild, or before 0.1)", ref);
                goto out;
        }
        if (strcmp(an_get(an, BLD_AN_VERSION), bld_version()))
                (void) fprintf(stderr, "warning: '%s' was built by cubuild %s, this is %s\n", ref,
                               an_get(an, BLD_AN_VERSION), bld_version());
        if (!an_get(an, BLD_AN_SDE))
                (void) fprintf(stderr, "warning: '%s' was built without SOURCE_DATE_EPOCH: its times will not "
                                       "reproduce\n",
                               ref);

        /* 1. the sources match the record, before anything is built */
        r = cb_read_file(AT_FDCWD, df_path, DF_MAX, &text, &err);
        if (r < 0)
                goto out;
        cb_sha256_digest(text.p, text.len, dg);
        if (!an_get(an, BLD_AN_DOCKERFILE) || strcmp(dg, an_get(an, BLD_AN_DOCKERFILE))) {
                (void) printf("rebuild-check: the Dockerfile %s does not match: recorded %s, found %s\n", df_path,
                              an_get(an, BLD_AN_DOCKERFILE) ? an_get(an, BLD_AN_DOCKERFILE) : "(none)", dg);
                rc = 1;
                goto out;
        }
        {
                _cleanup_close_ int cfd = open(context, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (cfd < 0) {
                        r = cb_fail(&err, errno, "open context '%s'", context);
                        goto out;
                }
                r = cb_read_file(cfd, ".dockerignore", DF_MAX, &ign, &err);
                if (r == -ENOENT) {
                        cb_err_reset(&err);
                        r = 0;
                } else if (r >= 0) {
                        r = df_ignore_parse(cb_buf_str(&ign), ".dockerignore", &ig, &err);
                }
                if (r >= 0)
                        r = bld_audit_context_digest(cfd, ig, NULL, dg, &err);
                if (r < 0)
                        goto out;
        }
        if (!an_get(an, BLD_AN_CONTEXT) || strcmp(dg, an_get(an, BLD_AN_CONTEXT))) {
                (void) printf("rebuild-check: the context %s does not match: recorded %s, found %s\n", context,
                              an_get(an, BLD_AN_CONTEXT) ? an_get(an, BLD_AN_CONTEXT) : "(none)", dg);
                rc = 1;
                goto out;
        }

        /* 2. a temporary store holding the recorded bases, by digest */
        tmp_root = cb_xasprintf("%s/rebuild-store", layer_store_work_path(sd.store));
        r = layer_store_open(tmp_root, &tmp, &err);
        const char *k;
        json_t *v;
        json_object_foreach(an, k, v)
        {
                if (r < 0)
                        break;
                const char *val = json_string_value(v);
                if (!val)
                        continue;
                if (!strncmp(k, BLD_AN_FROM, strlen(BLD_AN_FROM)) && strcmp(val, "scratch"))
                        r = seed_base(&sd, src, tmp, val, &err);
                else if (!strncmp(k, BLD_AN_ARG, strlen(BLD_AN_ARG)))
                        add(&args, &nargs, cb_xasprintf("%s=%s", k + strlen(BLD_AN_ARG), val));
                else if (!strncmp(k, BLD_AN_LABEL, strlen(BLD_AN_LABEL)))
                        add(&labels, &nlabels, cb_xasprintf("%s=%s", k + strlen(BLD_AN_LABEL), val));
                else if (!strncmp(k, BLD_AN_NCTX, strlen(BLD_AN_NCTX)))
                        r = cb_failc(&err, -ENOTSUP,
                                     "%s was built with --build-context %s (%s): rebuild-check does not take named "
                                     "contexts yet",
                                     ref, k + strlen(BLD_AN_NCTX), val);
        }
        tmp = layer_store_free(tmp);
        if (r < 0)
                goto out;

        /* 3. the rebuild */
        {
                struct bld_opts o;
                bld_opts_init(&o);
                o.root = tmp_root;
                o.file = df_path;
                o.context = context;
                o.target = an_get(an, BLD_AN_TARGET);
                o.build_args = args;
                o.nbuild_args = nargs;
                o.labels = labels;
                o.nlabels = nlabels;
                o.compression = an_get(an, BLD_AN_COMPRESSION);
                /* an image as a build leaves it in the store keeps its own layers uncompressed (they are
                 * compressed when it is pushed or exported): the rebuild does the same */
                for (size_t i = 0; i < img->nlayers; i++)
                        if (!strcmp(img->layers[i].media_type, LAYER_MT_OCI_LAYER) ||
                            !strcmp(img->layers[i].media_type, LAYER_MT_DOCKER_LAYER))
                                o.compression = NULL;
                o.verify = "skip";
                /* the rebuild is compared, never kept: attestations of it would be work thrown away */
                o.no_provenance = o.no_sbom = true;
                o.quiet = true;
                o.debug = g->debug;
                o.reg = sd.reg;
                uint64_t sde;
                if (an_get(an, BLD_AN_SDE) && cb_parse_u64(cb_str_c(an_get(an, BLD_AN_SDE)), INT64_MAX, &sde) == 0)
                        o.source_date_epoch = (int64_t) sde;
                (void) fprintf(stderr, "rebuilding %s in a temporary store\n", ref);
                r = bld_sandbox_init(&err);
                if (r >= 0)
                        r = bld_build(&o, built, &err);
                if (r < 0) {
                        cb_wrap(&err, "rebuild");
                        goto out;
                }
        }

        /* 4. the verdict */
        if (!strcmp(built, digest)) {
                if (dopt.format == BLD_DIFF_JSON)
                        (void) printf("{\"reproduced\": true, \"digest\": \"%s\"}\n", digest);
                else
                        (void) printf("rebuild-check: %s reproduces %s\n", ref, digest);
                rc = 0;
                goto out;
        }
        if (dopt.format == BLD_DIFF_TEXT)
                (void) printf("rebuild-check: %s is %s, the rebuild gave %s\n", ref, digest, built);
        r = layer_store_open(tmp_root, &tmp, &err);
        if (r >= 0) {
                long n = bld_diff_images(src, digest, tmp, built, &dopt, &err);
                r = n < 0 ? (int) n : 0;
        }
        if (r >= 0)
                rc = 1;
out:
        if (r < 0) {
                (void) bld_report(g, &err);
                rc = 2;
        }
        layer_store_free(tmp);
        layer_image_free(img);
        df_ignore_free(ig);
        for (size_t i = 0; i < nargs; i++)
                free((char *) args[i]);
        for (size_t i = 0; i < nlabels; i++)
                free((char *) labels[i]);
        free(args);
        free(labels);
        cb_buf_release(&text);
        cb_buf_release(&ign);
        bld_image_sides_release(&sd);
        cb_err_release(&err);
        return rc;
}

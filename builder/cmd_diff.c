/* cubuild diff A B: what differs between two images, wherever they are. */
#include "builder/audit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builder/bld.h"
#include "builder/cli.h"
#include "builder/exit.h"
#include "builder/regopts.h"
#include "builder/steps.h"
#include "layers/layer.h"
#include "registry/reg.h"

struct layer_store *bld_audit_scratch_store(struct bld_image_sides *sd, struct cb_err *err)
{
        if (sd->scratch)
                return sd->scratch;
        _cleanup_free_ char *root = cb_xasprintf("%s/audit-store", layer_store_work_path(sd->store));
        if (layer_store_open(root, &sd->scratch, err) < 0)
                return NULL;
        return sd->scratch;
}

static int pull_into(struct bld_image_sides *sd, struct layer_store *s, const char *ref,
                     char ret[CB_DIGEST_STR_LEN], struct cb_err *err)
{
        struct reg_ref rr;
        struct reg_client *c = NULL;
        struct reg_blob_sink sink;
        int r = reg_ref_parse(ref, &rr, err);
        if (r < 0)
                return r;
        r = reg_client_new(&sd->reg, &c, err);
        if (r >= 0) {
                bld_blob_sink_init(&sink, s);
                r = reg_pull(c, &rr, &sink, NULL, ret, err);
        }
        reg_client_free(c);
        reg_ref_release(&rr);
        return r;
}

static bool has_prefix(const char *s, const char *p, const char **rest)
{
        size_t n = strlen(p);
        if (strncmp(s, p, n))
                return false;
        *rest = s + n;
        return true;
}

bool bld_audit_is_transport(const char *spec)
{
        static const char *const prefixes[] = { "oci:", "oci-archive:", "docker-archive:", "docker://", "registry:" };
        const char *rest;
        for (size_t i = 0; i < CB_ARRAY_SIZE(prefixes); i++)
                if (has_prefix(spec, prefixes[i], &rest))
                        return true;
        return false;
}

int bld_audit_open_image(struct bld_image_sides *sd, const char *spec, struct layer_store **ret_store,
                         char ret_digest[CB_DIGEST_STR_LEN], struct cb_err *err)
{
        const char *rest;
        int r;
        if (has_prefix(spec, "oci:", &rest)) {
                struct layer_store *s = bld_audit_scratch_store(sd, err);
                if (!s)
                        return -EIO;
                _cleanup_free_ char *dir = cb_xstrdup(rest);
                char *colon = strrchr(dir, ':');
                const char *tag = NULL;
                if (colon && access(dir, F_OK) < 0) {
                        *colon = '\0';
                        tag = colon + 1;
                }
                r = layer_import_oci_dir(s, dir, tag, ret_digest, err);
                *ret_store = s;
        } else if (has_prefix(spec, "oci-archive:", &rest) || has_prefix(spec, "docker-archive:", &rest)) {
                struct layer_store *s = bld_audit_scratch_store(sd, err);
                if (!s)
                        return -EIO;
                _cleanup_close_ int fd = open(rest, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        return cb_fail(err, errno, "open '%s'", rest);
                struct layer_loaded *v = NULL;
                size_t n = 0;
                r = layer_import_archive(s, fd, &v, &n, err);
                if (r >= 0 && n != 1)
                        r = cb_failc(err, -EINVAL, "the archive holds %zu images, not one", n);
                if (r >= 0)
                        memcpy(ret_digest, v[0].manifest_digest, CB_DIGEST_STR_LEN);
                layer_loaded_free(v, n);
                *ret_store = s;
        } else if (has_prefix(spec, "docker://", &rest) || has_prefix(spec, "registry:", &rest)) {
                struct layer_store *s = bld_audit_scratch_store(sd, err);
                if (!s)
                        return -EIO;
                r = pull_into(sd, s, rest, ret_digest, err);
                *ret_store = s;
        } else {
                /* a store image; a name the store does not have is pulled, as FROM does */
                bool dg = cb_digest_valid(spec) || strspn(spec, "0123456789abcdef") == strlen(spec);
                _cleanup_free_ char *norm = dg ? cb_xstrdup(spec) : bld_ref_normalize(spec, err);
                if (!norm)
                        return -EINVAL;
                r = layer_store_resolve(sd->store, norm, ret_digest, err);
                *ret_store = sd->store;
                if (r == -ENOENT && !dg) {
                        cb_err_reset(err);
                        struct layer_store *s = bld_audit_scratch_store(sd, err);
                        if (!s)
                                return -EIO;
                        r = pull_into(sd, s, norm, ret_digest, err);
                        *ret_store = s;
                }
        }
        if (r < 0)
                cb_wrap(err, "'%s'", spec);
        return r < 0 ? r : 0;
}

void bld_image_sides_release(struct bld_image_sides *sd)
{
        layer_store_free(sd->scratch);
        layer_store_free(sd->store);
        sd->scratch = sd->store = NULL;
}

static int diff_usage(FILE *f, int rc)
{
        (void) fputs("Usage: cubuild diff [--format text|json] [--no-files] [-q] IMAGE_A IMAGE_B\n\n"
                     "Compare two images: manifests and configs field by field, layers matched by diff_id,\n"
                     "and the file trees per layer and flattened (type, mode, owner, size, content sha256,\n"
                     "link target, xattrs, mtime). One line per difference.\n\n"
                     "Each image is a store name or digest, oci:DIR[:TAG], oci-archive:FILE,\n"
                     "docker-archive:FILE, or docker://REF (a store name the store lacks is pulled too).\n\n"
                     "Exit status: 0 equal, 1 different, 2 trouble.\n",
                     f);
        return rc;
}

int bld_cmd_diff(const struct bld_global *g, int argc, char **argv)
{
        struct bld_diff_opts o = { .format = BLD_DIFF_TEXT, .out = stdout };
        const char *sides[2] = { NULL, NULL };
        size_t ns = 0;
        bool quiet = false;
        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];
                if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
                        return diff_usage(stdout, BLD_EXIT_OK);
                } else if (!strcmp(a, "--format") && i + 1 < argc) {
                        const char *f = argv[++i];
                        if (!strcmp(f, "json"))
                                o.format = BLD_DIFF_JSON;
                        else if (strcmp(f, "text"))
                                return diff_usage(stderr, 2);
                } else if (!strcmp(a, "--format=json")) {
                        o.format = BLD_DIFF_JSON;
                } else if (!strcmp(a, "--no-files")) {
                        o.no_files = true;
                } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
                        quiet = true;
                } else if (a[0] == '-' && a[1]) {
                        (void) fprintf(stderr, "cubuild diff: unknown flag '%s'\n", a);
                        return diff_usage(stderr, 2);
                } else if (ns < 2) {
                        sides[ns++] = a;
                } else {
                        return diff_usage(stderr, 2);
                }
        }
        if (ns != 2)
                return diff_usage(stderr, 2);
        _cleanup_fclose_ FILE *devnull = NULL;
        if (quiet) {
                devnull = fopen("/dev/null", "we");
                if (devnull)
                        o.out = devnull;
        }
        struct cb_err err;
        struct bld_image_sides sd = { 0 };
        cb_err_init(&err);
        bld_reg_opts(g, &sd.reg);
        struct layer_store *s[2] = { NULL, NULL };
        char dg[2][CB_DIGEST_STR_LEN];
        long n = layer_store_open(g->root, &sd.store, &err);
        for (size_t i = 0; i < 2 && n >= 0; i++)
                n = bld_audit_open_image(&sd, sides[i], &s[i], dg[i], &err);
        if (n >= 0)
                n = bld_diff_images(s[0], dg[0], s[1], dg[1], &o, &err);
        int rc;
        if (n < 0) {
                cb_wrap(&err, "diff");
                (void) bld_report(g, &err);
                rc = 2;
        } else {
                rc = n > 0 ? 1 : 0;
        }
        (void) fflush(stdout);
        bld_image_sides_release(&sd);
        cb_err_release(&err);
        return rc;
}

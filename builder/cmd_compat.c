/* cubuild compat: the static CUDA compatibility report of any image, without building and without a
 * GPU. The image comes from the store, an OCI layout directory, an oci- or docker-archive, or a
 * registry (pulled into the store first, as `cubuild pull` does). */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builder/bld.h"
#include "builder/cli.h"
#include "builder/clispec.h"
#include "builder/exit.h"
#include "builder/internal.h"
#include "builder/regopts.h"
#include "builder/steps.h"
#include "builder/verify.h"
#include "kernels/compat.h"
#include "layers/layer.h"
#include "registry/reg.h"

static int usage_error(const char *msg)
{
        (void) fprintf(stderr, "cubuild compat: %s\nsee 'cubuild compat --help'\n", msg);
        return BLD_EXIT_USAGE;
}

/* Puts the image named by arg into the store (loading or pulling it when it is not there) and gives
 * its manifest digest. */
static int resolve(const struct bld_global *g, struct layer_store *s, const char *arg, char digest[CB_DIGEST_STR_LEN],
                   struct cb_err *err)
{
        struct stat st;
        if (stat(arg, &st) == 0 && S_ISREG(st.st_mode)) {
                _cleanup_close_ int fd = open(arg, O_RDONLY | O_CLOEXEC);
                struct layer_loaded *v = NULL;
                size_t n = 0;
                int r = fd < 0 ? cb_fail(err, errno, "open '%s'", arg) : layer_import_archive(s, fd, &v, &n, err);
                if (r >= 0 && n == 0)
                        r = cb_failc(err, -EINVAL, "the archive holds no image");
                if (r >= 0)
                        memcpy(digest, v[0].manifest_digest, CB_DIGEST_STR_LEN);
                layer_loaded_free(v, n);
                return r;
        }
        _cleanup_free_ char *dir = cb_xstrdup(arg);
        char *colon = strrchr(dir, ':');
        const char *ref = NULL;
        if (colon && access(dir, F_OK) < 0 && strchr(colon, '/') == NULL) {
                *colon = '\0';
                ref = colon + 1;
        }
        if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
                return layer_import_oci_dir(s, dir, ref, digest, err);

        _cleanup_free_ char *norm = cb_digest_valid(arg) ? cb_xstrdup(arg) : bld_ref_normalize(arg, err);
        if (!norm)
                return -EINVAL;
        int r = layer_store_resolve(s, norm, digest, err);
        if (r != -ENOENT || cb_digest_valid(arg))
                return r;
        cb_err_reset(err);

        /* not in the store: a registry reference */
        struct reg_ref rr = { 0 };
        struct reg_client *c = NULL;
        struct reg_opts ro;
        struct reg_blob_sink sink;
        bld_reg_opts(g, &ro);
        r = reg_ref_parse(arg, &rr, err);
        if (r >= 0)
                r = reg_client_new(&ro, &c, err);
        if (r >= 0) {
                (void) fprintf(stderr, "pulling %s\n", norm);
                bld_blob_sink_init(&sink, s);
                r = reg_pull(c, &rr, &sink, NULL, digest, err);
        }
        if (r >= 0 && (!rr.digest || rr.tag)) {
                _cleanup_free_ char *name = reg_ref_string(&rr);
                r = layer_store_tag(s, name, digest, err);
        }
        reg_client_free(c);
        reg_ref_release(&rr);
        return r;
}

int bld_cmd_compat(const struct bld_global *g, int argc, char **argv)
{
        const char *name = NULL, *require_arch = NULL, *require_driver = NULL;
        bool as_json = false;
        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];
                if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
                        bld_cmdspec_usage(stdout, bld_cmdspec_find("compat"));
                        return BLD_EXIT_OK;
                } else if (strcmp(a, "--json") == 0) {
                        as_json = true;
                } else if (strcmp(a, "--require-arch") == 0 && i + 1 < argc) {
                        require_arch = argv[++i];
                } else if (strcmp(a, "--require-driver") == 0 && i + 1 < argc) {
                        require_driver = argv[++i];
                        if (!kv_driver_parse(require_driver))
                                return usage_error("--require-driver: give a driver version like 535 or 535.104.05");
                } else if (a[0] == '-') {
                        return usage_error("unknown flag or missing value");
                } else if (!name) {
                        name = a;
                } else {
                        return usage_error("give one image");
                }
        }
        if (!name)
                return usage_error("give an image");
        if (require_arch) {
                for (const char *p = require_arch; *p;) {
                        size_t len = strcspn(p, ", ");
                        if (len && !kv_arch_parse(p, len))
                                return usage_error("--require-arch: give architectures like sm_80,sm_90");
                        p += len;
                        p += strspn(p, ", ");
                }
        }
        struct cb_err err;
        struct layer_store *s = NULL;
        struct layer_image *img = NULL;
        char digest[CB_DIGEST_STR_LEN];
        json_t *stat = NULL;
        _cleanup_free_ char *summary = NULL, *gap = NULL;
        cb_err_init(&err);
        int r = layer_store_open(g->root, &s, &err);
        if (r >= 0)
                r = bld_sandbox_init(&err);
        if (r >= 0)
                r = resolve(g, s, name, digest, &err);
        if (r >= 0)
                r = layer_image_read(s, digest, &img, &err);
        if (r >= 0)
                r = bld_compat_image(s, layer_store_work_path(s), img->config, img->layers, img->nlayers, NULL, require_arch,
                                     require_driver, &stat, &summary, &gap, &err);
        int rc = BLD_EXIT_OK;
        if (r < 0) {
                cb_wrap(&err, "compat '%s'", name);
                rc = bld_report(g, &err);
        } else {
                if (as_json) {
                        char *text = json_dumps(stat, JSON_INDENT(2) | JSON_SORT_KEYS);
                        (void) printf("%s\n", text);
                        free(text);
                } else {
                        (void) printf("%s: %s\n", name, digest);
                        (void) fputs(summary ? summary : "", stdout);
                }
                if (gap) {
                        (void) fprintf(stderr, "cubuild: compat: %s\n", gap);
                        rc = BLD_EXIT_VERIFY;
                }
        }
        if (stat)
                json_decref(stat);
        layer_image_free(img);
        layer_store_free(s);
        cb_err_release(&err);
        return rc;
}

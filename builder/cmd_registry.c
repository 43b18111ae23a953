/* Registry commands: pull, push, login, logout. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "builder/audit.h"
#include "builder/bld.h"
#include "builder/cli.h"
#include "builder/exit.h"
#include "builder/regopts.h"
#include "builder/steps.h"
#include "layers/layer.h"
#include "registry/reg.h"

static int usage_error(const char *cmd, const char *msg)
{
        (void) fprintf(stderr, "cubuild %s: %s\nsee 'cubuild %s --help'\n", cmd, msg, cmd);
        return BLD_EXIT_USAGE;
}

static bool help_flag(const char *a)
{
        return strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0;
}

int bld_cmd_pull(const struct bld_global *g, int argc, char **argv)
{
        bool quiet = false;
        const char *ref = NULL;
        for (int i = 1; i < argc; i++) {
                if (help_flag(argv[i])) {
                        (void) puts("Usage: cubuild pull [-q] REFERENCE\n\nPull an image (the host's platform) into "
                                    "the store; every blob is verified by digest.\nThe image's referrers "
                                    "(provenance, SBOM, GPU report) come with it.");
                        return BLD_EXIT_OK;
                } else if (strcmp(argv[i], "-q") == 0 || strcmp(argv[i], "--quiet") == 0) {
                        quiet = true;
                } else if (argv[i][0] == '-') {
                        return usage_error("pull", "unknown flag");
                } else if (!ref) {
                        ref = argv[i];
                } else {
                        return usage_error("pull", "give one reference");
                }
        }
        if (!ref)
                return usage_error("pull", "give a reference");
        struct cb_err err;
        struct layer_store *s = NULL;
        struct reg_client *c = NULL;
        struct reg_ref rr = { 0 };
        struct reg_opts ro;
        struct reg_blob_sink sink;
        char digest[CB_DIGEST_STR_LEN];
        cb_err_init(&err);
        bld_reg_opts(g, &ro);
        int r = reg_ref_parse(ref, &rr, &err);
        if (r >= 0)
                r = layer_store_open(g->root, &s, &err);
        if (r >= 0)
                r = reg_client_new(&ro, &c, &err);
        if (r >= 0) {
                bld_blob_sink_init(&sink, s);
                r = reg_pull(c, &rr, &sink, NULL, digest, &err);
        }
        if (r >= 0) {
                _cleanup_free_ char *name = reg_ref_string(&rr);
                if (!rr.digest || rr.tag)
                        r = layer_store_tag(s, name, digest, &err);
                /* provenance, SBOM and GPU report travel with the image (docs/audit.md) */
                if (r >= 0)
                        bld_pull_referrers_or_warn(s, c, &rr, digest, rr.tag ? name : NULL, quiet);
                if (r >= 0) {
                        if (!quiet)
                                (void) fprintf(stderr, "pulled %s\n", name);
                        (void) printf("%s\n", digest);
                }
        }
        int rc = r < 0 ? bld_report(g, &err) : BLD_EXIT_OK;
        reg_client_free(c);
        reg_ref_release(&rr);
        layer_store_free(s);
        cb_err_release(&err);
        return rc;
}

int bld_cmd_push(const struct bld_global *g, int argc, char **argv)
{
        bool quiet = false;
        const char *name = NULL, *dest = NULL;
        for (int i = 1; i < argc; i++) {
                if (help_flag(argv[i])) {
                        (void) puts("Usage: cubuild push [-q] NAME [DESTINATION]\n\nPush a store image to a "
                                    "registry (DESTINATION defaults to NAME); blobs the registry has are skipped,\n"
                                    "and the image's GPU verification report goes with it.");
                        return BLD_EXIT_OK;
                } else if (strcmp(argv[i], "-q") == 0 || strcmp(argv[i], "--quiet") == 0) {
                        quiet = true;
                } else if (argv[i][0] == '-') {
                        return usage_error("push", "unknown flag");
                } else if (!name) {
                        name = argv[i];
                } else if (!dest) {
                        dest = argv[i];
                } else {
                        return usage_error("push", "give an image and at most one destination");
                }
        }
        if (!name)
                return usage_error("push", "give an image");
        struct cb_err err;
        struct layer_store *s = NULL;
        struct reg_opts ro;
        cb_err_init(&err);
        bld_reg_opts(g, &ro);
        int r = layer_store_open(g->root, &s, &err);
        if (r >= 0)
                r = bld_push_image(s, &ro, name, dest, quiet, &err);
        int rc = r < 0 ? bld_report(g, &err) : BLD_EXIT_OK;
        layer_store_free(s);
        cb_err_release(&err);
        return rc;
}

/* The password from --password-stdin, without its final newline. */
static char *read_password_stdin(void)
{
        struct cb_buf b;
        cb_buf_init(&b, 64 * 1024);
        if (cb_read_all(STDIN_FILENO, &b) < 0) {
                cb_buf_release(&b);
                return NULL;
        }
        while (b.len > 0 && (b.p[b.len - 1] == '\n' || b.p[b.len - 1] == '\r'))
                cb_buf_truncate(&b, b.len - 1);
        return cb_buf_take(&b, NULL);
}

int bld_cmd_login(const struct bld_global *g, int argc, char **argv)
{
        const char *user = NULL, *password = NULL, *registry = NULL, *authfile = NULL;
        bool from_stdin = false;
        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];
                if (help_flag(a)) {
                        (void) puts("Usage: cubuild login -u USER (--password-stdin | -p PASSWORD) [--authfile FILE] "
                                    "REGISTRY\n\nCheck credentials with the registry and store them as docker login "
                                    "does\n(~/.docker/config.json, $DOCKER_CONFIG, $REGISTRY_AUTH_FILE or --authfile).");
                        return BLD_EXIT_OK;
                } else if ((strcmp(a, "-u") == 0 || strcmp(a, "--username") == 0) && i + 1 < argc) {
                        user = argv[++i];
                } else if ((strcmp(a, "-p") == 0 || strcmp(a, "--password") == 0) && i + 1 < argc) {
                        password = argv[++i];
                } else if (strcmp(a, "--password-stdin") == 0) {
                        from_stdin = true;
                } else if (strcmp(a, "--authfile") == 0 && i + 1 < argc) {
                        authfile = argv[++i];
                } else if (a[0] == '-') {
                        return usage_error("login", "unknown flag or missing value");
                } else if (!registry) {
                        registry = a;
                } else {
                        return usage_error("login", "give one registry");
                }
        }
        if (!registry || !user || (!password && !from_stdin))
                return usage_error("login", "give -u USER, --password-stdin (or -p) and a registry");
        _cleanup_free_ char *pw = from_stdin ? read_password_stdin() : cb_xstrdup(password);
        if (!pw)
                return usage_error("login", "cannot read the password from stdin");
        struct cb_err err;
        struct reg_client *c = NULL;
        struct reg_opts ro;
        cb_err_init(&err);
        bld_reg_opts(g, &ro);
        ro.auth_file = authfile;
        int r = reg_client_new(&ro, &c, &err);
        if (r >= 0)
                r = reg_client_check_login(c, registry, user, pw, &err);
        if (r >= 0)
                r = reg_login(authfile, registry, user, pw, &err);
        explicit_bzero(pw, strlen(pw));
        if (r >= 0)
                (void) fprintf(stderr, "login succeeded: %s\n", registry);
        int rc = r < 0 ? bld_report(g, &err) : BLD_EXIT_OK;
        reg_client_free(c);
        cb_err_release(&err);
        return rc;
}

int bld_cmd_logout(const struct bld_global *g, int argc, char **argv)
{
        const char *registry = NULL, *authfile = NULL;
        for (int i = 1; i < argc; i++) {
                if (help_flag(argv[i])) {
                        (void) puts("Usage: cubuild logout [--authfile FILE] REGISTRY");
                        return BLD_EXIT_OK;
                } else if (strcmp(argv[i], "--authfile") == 0 && i + 1 < argc) {
                        authfile = argv[++i];
                } else if (argv[i][0] == '-') {
                        return usage_error("logout", "unknown flag");
                } else if (!registry) {
                        registry = argv[i];
                } else {
                        return usage_error("logout", "give one registry");
                }
        }
        if (!registry)
                return usage_error("logout", "give a registry");
        struct cb_err err;
        cb_err_init(&err);
        int r = reg_logout(authfile, registry, &err);
        int rc = r < 0 ? bld_report(g, &err) : BLD_EXIT_OK;
        cb_err_release(&err);
        return rc;
}

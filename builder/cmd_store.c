/* Store commands: images, import, load, tag, rm, inspect; and version, check. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builder/audit.h"
#include "builder/bld.h"
#include "builder/cli.h"
#include "builder/exit.h"
#include "builder/regopts.h"
#include "builder/steps.h"
#include "layers/layer.h"
#include "parser/df.h"
#include "builder/cache.h"
#include "builder/internal.h"
#include "builder/prune.h"
#include "builder/settings.h"
#include "builder/run.h"
#include "builder/verify.h"

static int usage_error(const char *cmd, const char *msg)
{
        (void) fprintf(stderr, "cubuild %s: %s\nsee 'cubuild %s --help'\n", cmd, msg, cmd);
        return BLD_EXIT_USAGE;
}

static bool wants_help(int argc, char **argv)
{
        for (int i = 1; i < argc; i++)
                if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
                        return true;
        return false;
}

static int open_store(const struct bld_global *g, struct layer_store **s, struct cb_err *err)
{
        return layer_store_open(g->root, s, err);
}

static int finish(const struct bld_global *g, int r, struct cb_err *err, struct layer_store *s)
{
        int rc = r < 0 ? bld_report(g, err) : BLD_EXIT_OK;
        layer_store_free(s);
        cb_err_release(err);
        return rc;
}

int bld_cmd_version(const struct bld_global *g, int argc, char **argv)
{
        (void) g;
        (void) argc;
        (void) argv;
        bld_print_version(stdout);
        return BLD_EXIT_OK;
}

int bld_cmd_images(const struct bld_global *g, int argc, char **argv)
{
        if (wants_help(argc, argv)) {
                (void) puts("Usage: cubuild images [-q]\n\nList the named images in the store.");
                return BLD_EXIT_OK;
        }
        bool quiet = argc > 1 && (strcmp(argv[1], "-q") == 0 || strcmp(argv[1], "--quiet") == 0);
        if (argc > (quiet ? 2 : 1))
                return usage_error("images", "takes no arguments besides -q");
        struct cb_err err;
        struct layer_store *s = NULL;
        struct layer_image_entry *v = NULL;
        size_t n = 0;
        cb_err_init(&err);
        int r = open_store(g, &s, &err);
        if (r >= 0)
                r = layer_store_list(s, &v, &n, &err);
        if (r >= 0) {
                if (!quiet)
                        (void) printf("%-60s %-19s %s\n", "NAME", "DIGEST", "SIZE");
                for (size_t i = 0; i < n; i++) {
                        /* the referrers index of an image (OCI 1.1 fallback tag, or the store's key
                         * "sha256-<hex>") is no image to list */
                        const char *colon = strrchr(v[i].name, ':');
                        if (strncmp(colon ? colon + 1 : v[i].name, "sha256-", 7) == 0)
                                continue;
                        if (quiet)
                                (void) printf("%s\n", v[i].manifest_digest);
                        else
                                (void) printf("%-60s %.19s %.1f MB\n", v[i].name, v[i].manifest_digest + 7,
                                              (double) v[i].size / 1e6);
                }
                layer_image_entries_free(v, n);
        }
        return finish(g, r, &err, s);
}

int bld_cmd_import(const struct bld_global *g, int argc, char **argv)
{
        if (wants_help(argc, argv) || argc != 3) {
                (void) fputs("Usage: cubuild import ROOTFS.tar NAME[:TAG]\n\nImport a root filesystem tarball as a "
                             "one-layer image.\n",
                             argc == 3 ? stdout : stderr);
                return argc == 3 ? BLD_EXIT_OK : BLD_EXIT_USAGE;
        }
        struct cb_err err;
        struct layer_store *s = NULL;
        char digest[CB_DIGEST_STR_LEN];
        cb_err_init(&err);
        _cleanup_free_ char *name = bld_ref_normalize(argv[2], &err);
        int r = name ? open_store(g, &s, &err) : -EINVAL;
        const char *sde = getenv("SOURCE_DATE_EPOCH");
        uint64_t t;
        struct layer_commit_opts co = { .compression = LAYER_GZIP, .level = -1, .source_date_epoch = -1 };
        if (sde && cb_parse_u64(cb_str_c(sde), INT64_MAX, &t) == 0)
                co.source_date_epoch = (int64_t) t;
        if (r >= 0)
                r = layer_import_rootfs_tar(s, argv[1], &co, digest, &err);
        if (r >= 0)
                r = layer_store_tag(s, name, digest, &err);
        if (r >= 0)
                (void) printf("%s\n", digest);
        else
                cb_wrap(&err, "import '%s'", argv[1]);
        return finish(g, r, &err, s);
}

int bld_cmd_load(const struct bld_global *g, int argc, char **argv)
{
        const char *name = NULL, *src = NULL, *ref = NULL;
        for (int i = 1; i < argc; i++) {
                if ((strcmp(argv[i], "-t") == 0 || strcmp(argv[i], "--tag") == 0) && i + 1 < argc)
                        name = argv[++i];
                else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
                        (void) puts("Usage: cubuild load [-t NAME[:TAG]] OCI_LAYOUT_DIR[:REF] | ARCHIVE.tar\n\n"
                                    "Load an image from an OCI image layout directory, a docker-archive (docker save)\n"
                                    "or an oci-archive; an archive's own tags are kept unless -t is given.");
                        return BLD_EXIT_OK;
                } else if (argv[i][0] == '-')
                        return usage_error("load", "unknown flag");
                else if (!src)
                        src = argv[i];
                else
                        return usage_error("load", "give one OCI layout directory");
        }
        if (!src)
                return usage_error("load", "give an OCI layout directory");
        _cleanup_free_ char *dir = cb_xstrdup(src);
        char *colon = strrchr(dir, ':');
        if (colon && access(dir, F_OK) < 0) {
                *colon = '\0';
                ref = colon + 1;
        }
        struct cb_err err;
        struct layer_store *s = NULL;
        char digest[CB_DIGEST_STR_LEN];
        cb_err_init(&err);
        int r = open_store(g, &s, &err);
        struct stat st;
        if (r >= 0 && stat(src, &st) == 0 && S_ISREG(st.st_mode)) {
                /* a docker-archive or oci-archive, as docker load and podman load take */
                _cleanup_close_ int fd = open(src, O_RDONLY | O_CLOEXEC);
                struct layer_loaded *v = NULL;
                size_t n = 0;
                r = fd < 0 ? cb_fail(&err, errno, "open '%s'", src) : layer_import_archive(s, fd, &v, &n, &err);
                for (size_t i = 0; r >= 0 && i < n; i++) {
                        for (size_t k = 0; r >= 0 && k < v[i].ntags && !name; k++) {
                                _cleanup_free_ char *norm = bld_ref_normalize(v[i].repo_tags[k], &err);
                                r = norm ? layer_store_tag(s, norm, v[i].manifest_digest, &err) : -EINVAL;
                        }
                        memcpy(digest, v[i].manifest_digest, sizeof(digest));
                }
                if (r >= 0 && n == 0)
                        r = cb_failc(&err, -EINVAL, "the archive holds no image");
                layer_loaded_free(v, n);
        } else if (r >= 0) {
                r = layer_import_oci_dir(s, dir, ref, digest, &err);
        }
        if (r >= 0 && name) {
                _cleanup_free_ char *norm = bld_ref_normalize(name, &err);
                r = norm ? layer_store_tag(s, norm, digest, &err) : -EINVAL;
        }
        if (r >= 0)
                (void) printf("%s\n", digest);
        else
                cb_wrap(&err, "load '%s'", src);
        return finish(g, r, &err, s);
}

int bld_cmd_tag(const struct bld_global *g, int argc, char **argv)
{
        if (wants_help(argc, argv)) {
                (void) puts("Usage: cubuild tag IMAGE NEW_NAME[:TAG]");
                return BLD_EXIT_OK;
        }
        if (argc != 3)
                return usage_error("tag", "give an image and a new name");
        struct cb_err err;
        struct layer_store *s = NULL;
        char digest[CB_DIGEST_STR_LEN];
        cb_err_init(&err);
        int r = open_store(g, &s, &err);
        _cleanup_free_ char *src = NULL, *dst = NULL;
        if (r >= 0) {
                src = cb_digest_valid(argv[1]) ? cb_xstrdup(argv[1]) : bld_ref_normalize(argv[1], &err);
                dst = src ? bld_ref_normalize(argv[2], &err) : NULL;
                if (!src || !dst)
                        r = -EINVAL;
        }
        if (r >= 0)
                r = layer_store_resolve(s, src, digest, &err);
        if (r >= 0)
                r = layer_store_tag(s, dst, digest, &err);
        return finish(g, r, &err, s);
}

int bld_cmd_rm(const struct bld_global *g, int argc, char **argv)
{
        if (wants_help(argc, argv)) {
                (void) puts("Usage: cubuild rm NAME...\n\nRemove names from the store; blobs stay until prune.");
                return BLD_EXIT_OK;
        }
        if (argc < 2)
                return usage_error("rm", "give at least one image name");
        struct cb_err err;
        struct layer_store *s = NULL;
        cb_err_init(&err);
        int r = open_store(g, &s, &err);
        for (int i = 1; i < argc && r >= 0; i++) {
                bool dg = cb_digest_valid(argv[i]) || strspn(argv[i], "0123456789abcdef") == strlen(argv[i]);
                _cleanup_free_ char *n = dg ? cb_xstrdup(argv[i]) : bld_ref_normalize(argv[i], &err);
                r = n ? layer_store_rm(s, n, &err) : -EINVAL;
                if (r < 0)
                        cb_wrap(&err, "rm '%s'", argv[i]);
        }
        return finish(g, r, &err, s);
}

int bld_cmd_inspect(const struct bld_global *g, int argc, char **argv)
{
        if (wants_help(argc, argv)) {
                (void) puts("Usage: cubuild inspect [--inputs] IMAGE\n\nPrint the image's manifest and config as JSON;\n"
                            "--inputs prints only the inputs the image records (bases, Dockerfile and context\n"
                            "digests, build args, target, SOURCE_DATE_EPOCH, cubuild version), one per line.");
                return BLD_EXIT_OK;
        }
        bool inputs = argc == 3 && strcmp(argv[1], "--inputs") == 0;
        if (inputs) {
                argv++;
                argc--;
        }
        if (argc != 2)
                return usage_error("inspect", "give one image");
        struct cb_err err;
        struct layer_store *s = NULL;
        struct layer_image *img = NULL;
        char digest[CB_DIGEST_STR_LEN];
        cb_err_init(&err);
        int r = open_store(g, &s, &err);
        _cleanup_free_ char *name = NULL;
        if (r >= 0) {
                name = cb_digest_valid(argv[1]) || bld_audit_is_transport(argv[1]) ? cb_xstrdup(argv[1])
                                                                                  : bld_ref_normalize(argv[1], &err);
                if (!name)
                        r = -EINVAL;
        }
        /* an image in a layout, an archive or a registry, as cubuild diff takes it */
        struct bld_image_sides sd = { .store = s };
        struct layer_store *from = s;
        bld_reg_opts(g, &sd.reg);
        if (r >= 0 && bld_audit_is_transport(argv[1]))
                r = bld_audit_open_image(&sd, argv[1], &from, digest, &err);
        else if (r >= 0)
                r = layer_store_resolve(s, name, digest, &err);
        if (r >= 0)
                r = layer_image_read(from, digest, &img, &err);
        layer_store_free(sd.scratch);
        if (r >= 0 && inputs) {
                bld_audit_print_inputs(stdout, img->manifest);
        } else if (r >= 0) {
                json_t *out = json_pack("{s:s, s:s, s:O, s:O}", "name", name, "digest", digest, "manifest",
                                        img->manifest, "config", img->config);
                json_t *in = bld_audit_inputs_json(img->manifest);
                if (in)
                        json_object_set_new(out, "inputs", in);
                char *text = json_dumps(out, JSON_INDENT(2) | JSON_SORT_KEYS);
                (void) printf("%s\n", text);
                free(text);
                json_decref(out);
        } else {
                cb_wrap(&err, "inspect '%s'", argv[1]);
        }
        layer_image_free(img);
        return finish(g, r, &err, s);
}

/* Writes the image to PATH (or stdout) in one of the export formats. */
static int save_to(struct layer_store *s, const char *digest, const char *name, const char *format, const char *path,
                   struct cb_err *err)
{
        /* OCI layouts carry compressed layers, as registries do: a build's uncompressed ones are gzipped
         * (once each, remembered); a docker-archive holds them uncompressed either way */
        char out[CB_DIGEST_STR_LEN];
        if (strcmp(format, "oci-dir") == 0 || strcmp(format, "oci") == 0 || strcmp(format, "oci-archive") == 0) {
                int r = layer_image_compress(s, digest, LAYER_GZIP, out, err);
                if (r < 0)
                        return r;
                digest = out;
        }
        if (strcmp(format, "oci-dir") == 0 || strcmp(format, "oci") == 0) {
                if (!path)
                        return cb_failc(err, -EINVAL, "--format oci-dir needs -o DIR");
                return layer_export_oci_dir(s, digest, path, name, err);
        }
        int fd = STDOUT_FILENO;
        _cleanup_free_ char *tmp = NULL;
        if (path) {
                tmp = cb_xasprintf("%s.tmp-%d", path, (int) getpid());
                fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                if (fd < 0)
                        return cb_fail(err, errno, "create '%s'", tmp);
        } else if (isatty(STDOUT_FILENO)) {
                return cb_failc(err, -EINVAL, "refusing to write an archive to a terminal: give -o FILE");
        }
        int r;
        if (strcmp(format, "oci-archive") == 0) {
                r = layer_export_oci_archive(s, digest, name, fd, err);
        } else {
                const char *tags[] = { name };
                r = layer_export_docker_archive(s, digest, name ? tags : NULL, name ? 1 : 0, fd, err);
        }
        if (path) {
                if (r >= 0 && fsync(fd) < 0)
                        r = cb_fail(err, errno, "fsync '%s'", path);
                if (close(fd) < 0 && r >= 0)
                        r = cb_fail(err, errno, "close '%s'", path);
                if (r >= 0 && rename(tmp, path) < 0)
                        r = cb_fail(err, errno, "rename to '%s'", path);
                if (r < 0)
                        (void) unlink(tmp);
        }
        return r;
}

int bld_cmd_save(const struct bld_global *g, int argc, char **argv)
{
        const char *out = NULL, *format = "docker-archive", *name = NULL;
        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];
                if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
                        (void) puts("Usage: cubuild save [-o PATH] [--format docker-archive|oci-archive|oci-dir] IMAGE\n\n"
                                    "Write an image as docker save does (docker-archive, loadable by docker load and\n"
                                    "podman load), as an oci-archive, or into an OCI layout directory.");
                        return BLD_EXIT_OK;
                } else if ((strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) && i + 1 < argc) {
                        out = argv[++i];
                } else if (strcmp(a, "--format") == 0 && i + 1 < argc) {
                        format = argv[++i];
                        if (strcmp(format, "docker-archive") && strcmp(format, "oci-archive") &&
                            strcmp(format, "oci-dir") && strcmp(format, "oci"))
                                return usage_error("save", "--format: use docker-archive, oci-archive or oci-dir");
                } else if (a[0] == '-') {
                        return usage_error("save", "unknown flag or missing value");
                } else if (!name) {
                        name = a;
                } else {
                        return usage_error("save", "give one image");
                }
        }
        if (!name)
                return usage_error("save", "give an image");
        struct cb_err err;
        struct layer_store *s = NULL;
        char digest[CB_DIGEST_STR_LEN];
        cb_err_init(&err);
        _cleanup_free_ char *norm = cb_digest_valid(name) ? cb_xstrdup(name) : bld_ref_normalize(name, &err);
        int r = norm ? open_store(g, &s, &err) : -EINVAL;
        if (r >= 0)
                r = layer_store_resolve(s, norm, digest, &err);
        if (r >= 0)
                r = save_to(s, digest, cb_digest_valid(name) ? NULL : norm, format, out, &err);
        if (r < 0)
                cb_wrap(&err, "save '%s'", name);
        return finish(g, r, &err, s);
}

int bld_cmd_prune(const struct bld_global *g, int argc, char **argv)
{
        struct bld_prune_opts o = { 0 };
        bool filtered = false;
        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];
                if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
                        (void) puts("Usage: cubuild prune [--all] [--cache] [--keep-storage SIZE] [--filter until=DURATION]\n\n"
                                    "Remove blobs and unpacked layers that no named image uses. Layers the build cache\n"
                                    "points to stay unless --all or --cache, which also remove the build cache records\n"
                                    "and RUN cache mounts (least recently used first). --keep-storage removes them,\n"
                                    "least recently used first, only until the store takes at most SIZE bytes\n"
                                    "(k, m, g suffixes). --filter until=DURATION (e.g. 24h) spares what was used\n"
                                    "within DURATION.");
                        return BLD_EXIT_OK;
                } else if (strcmp(a, "--all") == 0 || strcmp(a, "-a") == 0 || strcmp(a, "--cache") == 0) {
                        o.cache = true;
                } else if (strcmp(a, "--keep-storage") == 0 && i + 1 < argc) {
                        if (bld_settings_parse_size(argv[++i], &o.keep_storage) < 0)
                                return usage_error("prune", "--keep-storage: give a size such as 10g or 500m");
                        o.has_keep_storage = true;
                } else if (strcmp(a, "--filter") == 0 && i + 1 < argc) {
                        const char *f = argv[++i];
                        if (strncmp(f, "until=", 6) != 0 || bld_duration_ns(f + 6, &o.until_ns) < 0 || o.until_ns <= 0)
                                return usage_error("prune", "--filter: use until=DURATION (e.g. until=24h)");
                        filtered = true;
                } else {
                        return usage_error("prune", "unknown argument or missing value");
                }
        }
        if (filtered && !o.cache && !o.has_keep_storage)
                return usage_error("prune", "--filter applies to --all, --cache or --keep-storage");
        struct cb_err err;
        struct layer_store *s = NULL;
        struct bld_prune_stats st = { 0 };
        cb_err_init(&err);
        int r = open_store(g, &s, &err);
        if (r >= 0)
                r = bld_prune(s, &o, &st, &err);
        if (r >= 0 && (o.cache || o.has_keep_storage))
                (void) printf("removed %llu build cache records and %llu cache mounts\n",
                              (unsigned long long) st.records_removed, (unsigned long long) st.mounts_removed);
        if (r >= 0)
                (void) printf("removed %llu blobs (%.1f MB) and %llu unpacked layers\n",
                              (unsigned long long) st.layers.blobs_removed, (double) st.layers.bytes_removed / 1e6,
                              (unsigned long long) st.layers.layers_removed);
        if (r >= 0 && (o.cache || o.has_keep_storage))
                (void) printf("store total: %llu bytes (%.1f MB)\n", (unsigned long long) st.total_after,
                              (double) st.total_after / 1e6);
        return finish(g, r, &err, s);
}

int bld_cmd_verify(const struct bld_global *g, int argc, char **argv)
{
        const char *name = NULL, *report = NULL, *policy = "require";
        bool policy_given = false;
        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];
                if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
                        (void) puts("Usage: cubuild verify [--verify require|auto] [--verify-report FILE] IMAGE\n\n"
                                    "Run the GPU verification on a store image (default: a GPU is required;\n"
                                    "exit status 3 when verification fails or cannot run).");
                        return BLD_EXIT_OK;
                } else if (strcmp(a, "--verify-report") == 0 && i + 1 < argc) {
                        report = argv[++i];
                } else if (strcmp(a, "--verify") == 0 && i + 1 < argc) {
                        policy = argv[++i];
                        policy_given = true;
                        if (strcmp(policy, "require") && strcmp(policy, "auto"))
                                return usage_error("verify", "--verify: use require or auto");
                } else if (a[0] == '-') {
                        return usage_error("verify", "unknown flag or missing value");
                } else if (!name) {
                        name = a;
                } else {
                        return usage_error("verify", "give one image");
                }
        }
        if (!name)
                return usage_error("verify", "give an image");
        struct cb_err err;
        struct layer_store *s = NULL;
        struct layer_image *img = NULL;
        char digest[CB_DIGEST_STR_LEN];
        cb_err_init(&err);
        _cleanup_free_ char *norm = cb_digest_valid(name) ? cb_xstrdup(name) : bld_ref_normalize(name, &err);
        int r = norm ? open_store(g, &s, &err) : -EINVAL;
        if (r >= 0)
                r = bld_sandbox_init(&err);
        if (r >= 0)
                r = layer_store_resolve(s, norm, digest, &err);
        if (r >= 0)
                r = layer_image_read(s, digest, &img, &err);
        if (r >= 0) {
                const char *tags[] = { norm };
                struct bld_verify_opts vo = {
                        .policy = policy,
                        .required_by = policy_given ? NULL : "cubuild verify requires one unless --verify auto",
                        .report_path = report,
                        .tags = cb_digest_valid(name) ? NULL : tags,
                        .ntags = cb_digest_valid(name) ? 0 : 1,
                };
                r = bld_verify_image(s, layer_store_work_path(s), digest, img->config, img->layers, img->nlayers, &vo,
                                     &err);
        }
        layer_image_free(img);
        int rc = r < 0 ? bld_report(g, &err) : BLD_EXIT_OK;
        if (r == BLD_E_VERIFY)
                rc = BLD_EXIT_VERIFY;
        layer_store_free(s);
        cb_err_release(&err);
        return rc;
}

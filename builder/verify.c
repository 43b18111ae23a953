/* GPU verification of a built image: the verifier (kernels/) runs inside the image's rootfs with
 * the host GPU injected; its report is printed, written where asked, and stored beside the image
 * as an OCI artifact whose subject is the image manifest. */
#include "builder/verify.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builder/audit.h"
#include "builder/gpu.h"
#include "builder/imgconfig.h"
#include "builder/internal.h"
#include "builder/run.h"
#include "kernels/compat.h"

#define REPORT_MAX (4u << 20)
#define EMPTY_JSON_DIGEST "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"

char *bld_verifier_path(void)
{
        const char *env = getenv("CUBUILD_VERIFIER");
        if (env && *env)
                return cb_xstrdup(env);
        char self[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (n > 0) {
                self[n] = '\0';
                char *slash = strrchr(self, '/');
                if (slash) {
                        *slash = '\0';
                        /* installed: PREFIX/bin/cubuild beside PREFIX/libexec/cubuild/cubuild-verify */
                        char *p = cb_xasprintf("%s/../libexec/cubuild/cubuild-verify", self);
                        if (access(p, X_OK) == 0)
                                return p;
                        free(p);
                }
        }
#ifdef CUBUILD_VERIFY_BUILD_PATH
        if (access(CUBUILD_VERIFY_BUILD_PATH, X_OK) == 0)
                return cb_xstrdup(CUBUILD_VERIFY_BUILD_PATH);
#endif
        return NULL;
}

static json_t *skipped_report(const char *why)
{
        char *s = cb_xasprintf("skipped: %s", why);
        json_t *j = json_pack("{s:s, s:s, s:s}", "schema", "cubuild.verify/v1", "result", "skipped", "summary", s);
        free(s);
        return j;
}

/* Runs the verifier over the image's layers. *ret_report gets the parsed report. Returns 0 when the
 * verifier ran (whatever its verdict), < 0 when it could not. */
static int run_verifier(struct layer_store *s, const char *tmp_dir, json_t *config, const struct layer_desc *layers,
                        size_t n, struct bld_gpu *gpu, const char *verifier, json_t **ret_report, int *ret_status,
                        struct cb_err *err)
{
        struct bld_rootfs fs = { 0 };
        int r = bld_rootfs_mount_layers(&fs, s, tmp_dir, layers, n, err);
        if (r < 0) {
                bld_rootfs_release(&fs);
                return r;
        }
        _cleanup_free_ char *outdir = cb_xasprintf("%s/verify-out", fs.dir);
        if (mkdir(outdir, 0755) < 0) {
                r = cb_fail(err, errno, "mkdir '%s'", outdir);
                bld_rootfs_release(&fs);
                return r;
        }
        size_t nb = gpu->nbinds + 2;
        struct bld_bind *binds = cb_xcalloc(nb, sizeof(*binds));
        memcpy(binds, gpu->binds, gpu->nbinds * sizeof(*binds));
        binds[gpu->nbinds] = (struct bld_bind){ .src = verifier, .dest = "/.cubuild/verify", .readonly = true };
        binds[gpu->nbinds + 1] = (struct bld_bind){ .src = outdir, .dest = "/.cubuild/out", .is_dir = true };

        /* the image's environment, with the injected driver directory on the loader's path */
        json_t *env = json_object_get(bld_config_section(config), "Env");
        size_t ne = json_array_size(env);
        char **envp = cb_xcalloc(ne + 3, sizeof(char *));
        size_t e = 0;
        bool have_path = false, have_ld = false;
        for (size_t i = 0; i < ne; i++) {
                const char *v = json_string_value(json_array_get(env, i));
                if (!v)
                        continue;
                if (strncmp(v, "LD_LIBRARY_PATH=", 16) == 0) {
                        _cleanup_free_ char *ld = bld_gpu_ld_path(gpu, v + 16);
                        envp[e++] = cb_xasprintf("LD_LIBRARY_PATH=%s", ld);
                        have_ld = true;
                        continue;
                }
                if (strncmp(v, "PATH=", 5) == 0)
                        have_path = true;
                envp[e++] = cb_xstrdup(v);
        }
        if (!have_ld) {
                _cleanup_free_ char *ld = bld_gpu_ld_path(gpu, NULL);
                envp[e++] = cb_xasprintf("LD_LIBRARY_PATH=%s", ld);
        }
        if (!have_path)
                envp[e++] = cb_xstrdup("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        char *argv[] = { (char *) "/.cubuild/verify", (char *) "--report", (char *) "/.cubuild/out/report.json",
                         (char *) "--quiet", NULL };
        struct bld_run_ctx rc;
        bld_run_ctx_init(&rc, true);
        struct bld_run_spec spec = {
                .rootfs = fs.merged,
                .argv = argv,
                .envp = envp,
                .cwd = "/",
                .hostname = "cubuild-verify",
                .binds = binds,
                .nbinds = nb,
                .on_output = bld_run_on_output,
                .ud = &rc,
        };
        int status = 0;
        r = bld_sandbox_run(&spec, &status, err);
        for (size_t i = 0; i < e; i++)
                free(envp[i]);
        free(envp);
        free(binds);
        if (r >= 0) {
                _cleanup_free_ char *path = cb_xasprintf("%s/report.json", outdir);
                json_error_t je;
                json_t *rep = json_load_file(path, 0, &je);
                if (!rep) {
                        _cleanup_free_ char *tail = bld_run_tail(&rc, 12);
                        r = cb_failc(err, -EBADMSG, "verify: the verifier wrote no report (exit status %d)%s%s",
                                     status, *tail ? "\n" : "", tail);
                } else {
                        *ret_report = rep;
                        *ret_status = status;
                }
        }
        bld_run_ctx_release(&rc);
        (void) bld_rootfs_unmount(&fs, NULL);
        bld_rootfs_release(&fs);
        return r;
}

static void print_summary(json_t *rep)
{
        const char *result = json_string_value(json_object_get(rep, "result"));
        const char *summary = json_string_value(json_object_get(rep, "summary"));
        /* the verifier's summary starts with its verdict */
        if (summary)
                (void) fprintf(stderr, "verify: %s\n", summary);
        else
                (void) fprintf(stderr, "verify: %s\n", result ? result : "?");
        json_t *checks = json_object_get(rep, "checks");
        size_t i;
        json_t *c;
        json_array_foreach(checks, i, c)
        {
                const char *name = json_string_value(json_object_get(c, "name"));
                const char *res = json_string_value(json_object_get(c, "result"));
                const char *detail = json_string_value(json_object_get(c, "detail"));
                json_t *ms = json_object_get(c, "ms");
                (void) fprintf(stderr, "  %-12s %-5s %8.1f ms  %s\n", name ? name : "?", res ? res : "?",
                               json_is_number(ms) ? json_number_value(ms) : 0.0, detail ? detail : "");
        }
}

/* The report as an OCI artifact whose subject is the image manifest, and an index of the image's
 * referrers tagged "<repo>:sha256-<hex>" as OCI 1.1's fallback scheme names it. */
static int store_report(struct layer_store *s, const char *manifest_digest, const char *const *tags, size_t ntags,
                        json_t *rep, struct cb_err *err)
{
        char *text = json_dumps(rep, JSON_COMPACT | JSON_SORT_KEYS);
        char rep_digest[CB_DIGEST_STR_LEN], empty[CB_DIGEST_STR_LEN], art[CB_DIGEST_STR_LEN];
        size_t rep_len = strlen(text);
        int r = layer_store_put_blob(s, text, rep_len, rep_digest, err);
        free(text);
        if (r >= 0)
                r = layer_store_put_blob(s, "{}", 2, empty, err);
        struct cb_buf m;
        cb_buf_init(&m, LAYER_JSON_MAX);
        if (r >= 0)
                r = layer_store_read_blob(s, manifest_digest, LAYER_JSON_MAX, &m, err);
        if (r < 0) {
                cb_buf_release(&m);
                return r;
        }
        json_t *man = json_loads(m.p, 0, NULL);
        const char *subj_mt = json_string_value(json_object_get(man, "mediaType"));
        json_t *a = json_pack("{s:i, s:s, s:s, s:{s:s, s:s, s:i}, s:[{s:s, s:s, s:I}], s:{s:s, s:s, s:I}}",
                              "schemaVersion", 2, "mediaType", LAYER_MT_OCI_MANIFEST, "artifactType",
                              BLD_VERIFY_ARTIFACT_TYPE, "config", "mediaType", "application/vnd.oci.empty.v1+json",
                              "digest", EMPTY_JSON_DIGEST, "size", 2, "layers", "mediaType",
                              BLD_VERIFY_ARTIFACT_TYPE, "digest", rep_digest, "size", (json_int_t) rep_len, "subject",
                              "mediaType", subj_mt ? subj_mt : LAYER_MT_OCI_MANIFEST, "digest", manifest_digest,
                              "size", (json_int_t) m.len);
        json_decref(man);
        cb_buf_release(&m);
        char *atext = json_dumps(a, JSON_COMPACT);
        size_t alen = strlen(atext);
        json_decref(a);
        r = layer_store_put_blob(s, atext, alen, art, err);
        free(atext);
        if (r < 0)
                return r;
        /* the referrers index as it is (provenance and SBOM may be in it): the report replaces an
         * earlier report only */
        json_t *index = bld_referrers_load(s, manifest_digest, tags, ntags);
        json_t *ms = json_object_get(index, "manifests");
        for (size_t i = json_array_size(ms); i-- > 0;) {
                const char *t = json_string_value(json_object_get(json_array_get(ms, i), "artifactType"));
                if (t && strcmp(t, BLD_VERIFY_ARTIFACT_TYPE) == 0)
                        (void) json_array_remove(ms, i);
        }
        (void) json_array_append_new(ms, json_pack("{s:s, s:s, s:I, s:s}", "mediaType", LAYER_MT_OCI_MANIFEST, "digest",
                                                   art, "size", (json_int_t) alen, "artifactType",
                                                   BLD_VERIFY_ARTIFACT_TYPE));
        r = bld_referrers_save(s, manifest_digest, tags, ntags, index, err);
        json_decref(index);
        return r;
}

/* ---- the static compatibility report (kernels/compat.h) ---- */

/* The report of layers[0..n) from a scan of their overlay. */
static int compat_scan(struct layer_store *s, const char *tmp_dir, const struct layer_desc *layers, size_t n,
                       const struct kv_compat_opts *o, json_t **ret_static, char **ret_summary, char **ret_gap,
                       struct cb_err *err)
{
        struct bld_rootfs fs = { 0 };
        int r = bld_rootfs_mount_layers(&fs, s, tmp_dir, layers, n, err);
        if (r < 0) {
                bld_rootfs_release(&fs);
                return r;
        }
        struct kv_compat *c = NULL;
        struct kv_err kerr = { 0 };
        _cleanup_close_ int root = open(fs.merged, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (root < 0)
                r = cb_fail(err, errno, "open '%s'", fs.merged);
        else if (kv_compat_scan(root, o, &c, &kerr) < 0)
                r = cb_failc(err, -(kerr.errnum ? kerr.errnum : EIO), "%s", kerr.msg ? kerr.msg : "scan failed");
        kv_err_release(&kerr);
        if (r >= 0) {
                _cleanup_free_ char *text = kv_compat_json(c);
                json_error_t je;
                json_t *j = text ? json_loads(text, 0, &je) : NULL;
                char *gap = NULL;
                char *summary = j ? kv_compat_summary(c, BLD_COMPAT_PREFIX) : NULL;
                if (!summary || kv_compat_require(c, &gap) < 0) {
                        r = cb_failc(err, -ENOMEM, "compat: the report could not be made");
                        json_decref(j);
                        free(summary);
                } else {
                        *ret_static = j;
                        *ret_summary = summary;
                        *ret_gap = gap;
                }
        }
        kv_compat_free(c);
        (void) bld_rootfs_unmount(&fs, NULL);
        bld_rootfs_release(&fs);
        return r;
}

/* Whether extra stands for layers[n - 1] and that layer would have to be unpacked to be mounted. */
static bool use_extra(struct layer_store *s, const struct layer_desc *layers, size_t n,
                      const struct bld_compat_extra *extra)
{
        if (!extra || n == 0 || extra->fd < 0 || !extra->path || strcmp(extra->diff_id, layers[n - 1].diff_id) != 0)
                return false;
        struct cb_err e;
        cb_err_init(&e);
        int fd = layer_store_open_unpacked(s, &layers[n - 1], &e);
        cb_err_release(&e);
        if (fd >= 0)
                (void) close(fd);
        return fd == -ENOENT;
}

int bld_compat_image(struct layer_store *s, const char *tmp_dir, json_t *config, const struct layer_desc *layers,
                     size_t n, const struct bld_compat_extra *extra, const char *require_arch,
                     const char *require_driver, json_t **ret_static, char **ret_summary, char **ret_gap,
                     struct cb_err *err)
{
        /* the same layers and options give the same report: a fully cached rebuild reads no ELF header,
         * and one whose last steps only add files the report counts mounts nothing either */
        const struct bld_compat_memo_opts mo = {
                .cuda_version = bld_config_getenv(config, "CUDA_VERSION"),
                .nvidia_require_cuda = bld_config_getenv(config, "NVIDIA_REQUIRE_CUDA"),
                .require_arch = require_arch,
                .require_driver = require_driver,
        };
        if (bld_compat_memo_lookup(s, layers, n, &mo, ret_static, ret_summary, ret_gap))
                return 0;
        /* a top layer of files the report only counts is left out of the mount (a COPY of 100,000
         * files is not extracted for it) and counted from its entries */
        uint64_t files = 0, bytes = 0;
        size_t k = bld_compat_memo_scan_layers(s, layers, n, &files, &bytes);
        struct kv_compat_opts o = {
                .cuda_version = mo.cuda_version,
                .nvidia_require_cuda = mo.nvidia_require_cuda,
                .require_arch = require_arch,
                .require_driver = require_driver,
        };
        /* a last layer that a COPY wrote from a directory it carries unchanged (a venv copied from a
         * builder stage): read there, not extracted for the scan */
        if (k == n && use_extra(s, layers, n, extra)) {
                o.extra_path = extra->path;
                o.extra_fd = extra->fd;
                k = n - 1;
        }
        json_t *j = NULL;
        char *summary = NULL, *gap = NULL;
        int r = compat_scan(s, tmp_dir, layers, k, &o, &j, &summary, &gap, err);
        if (r < 0)
                return r;
        if (o.extra_path)
                k = n; /* the scan saw all of them */
        bld_compat_memo_save(s, layers, k, &mo, j, summary, gap);
        if (k < n && bld_compat_memo_extend(s, layers, n, &mo, files, bytes, &j, &summary, gap) < 0) {
                json_decref(j);
                free(summary);
                free(gap);
                return cb_failc(err, -EBADMSG, "compat: the report could not be made");
        }
        *ret_static = j;
        *ret_gap = gap;
        if (ret_summary)
                *ret_summary = summary;
        else
                free(summary);
        return 0;
}

int bld_verify_image(struct layer_store *s, const char *tmp_dir, const char *manifest_digest, json_t *config,
                     const struct layer_desc *layers, size_t n, const struct bld_verify_opts *vo, struct cb_err *err)
{
        const char *policy = vo->policy ? vo->policy : "auto";
        json_t *rep = NULL;
        json_t *stat = NULL;
        _cleanup_free_ char *stat_summary = NULL, *gap = NULL;
        int r = bld_compat_image(s, tmp_dir, config, layers, n, vo->extra, vo->require_arch, vo->require_driver, &stat,
                                 &stat_summary, &gap, err);
        if (r == -EINVAL)
                return r;
        if (r < 0) {
                /* the static report is advice: a rootfs it cannot read fails only a --require-* build */
                if (vo->require_arch || vo->require_driver) {
                        cb_wrap(err, "compat");
                        return BLD_E_VERIFY;
                }
                stat = json_pack("{s:s, s:s}", "schema", KV_COMPAT_SCHEMA, "error", cb_err_msg(err));
                cb_err_reset(err);
                r = 0;
        }
        if (!vo->quiet && stat_summary)
                (void) fputs(stat_summary, stderr);
        if (strcmp(policy, "skip") == 0) {
                rep = skipped_report("--verify skip");
        } else {
                struct bld_gpu gpu;
                r = bld_gpu_plan(config, NULL, &gpu, err);
                if (r == -ENODEV || (r < 0 && strcmp(policy, "auto") == 0)) {
                        char why[512];
                        const char *m = cb_err_msg(err);
                        if (strncmp(m, "GPU: ", 5) == 0)
                                m += 5;
                        (void) snprintf(why, sizeof(why), "no GPU (%s)", m);
                        cb_err_reset(err);
                        if (strcmp(policy, "require") == 0) {
                                json_decref(stat);
                                return cb_failc(err, BLD_E_VERIFY, "verify: a GPU is required (%s), but %s",
                                                vo->required_by ? vo->required_by : "--verify require", why);
                        }
                        rep = skipped_report(why);
                        r = 0;
                } else if (r < 0) {
                        json_decref(stat);
                        cb_wrap(err, "verify");
                        return BLD_E_VERIFY;
                } else {
                        _cleanup_free_ char *verifier = bld_verifier_path();
                        int status = -1;
                        if (!verifier) {
                                r = cb_failc(err, -ENOENT,
                                             "verify: no cubuild-verify found (set CUBUILD_VERIFIER or install it "
                                             "in libexec/cubuild/)");
                        } else {
                                r = run_verifier(s, tmp_dir, config, layers, n, &gpu, verifier, &rep, &status, err);
                        }
                        bld_gpu_release(&gpu);
                        if (r < 0) {
                                json_decref(stat);
                                return r;
                        }
                        if (status == 4 && strcmp(policy, "auto") == 0) {
                                json_object_set_new(rep, "result", json_string("skipped"));
                        }
                }
        }
        json_object_set_new(rep, "static", stat);
        stat = NULL;
        if (!vo->quiet)
                print_summary(rep);
        if (vo->report_path) {
                char *text = json_dumps(rep, JSON_INDENT(2) | JSON_SORT_KEYS);
                r = cb_write_file_atomic(AT_FDCWD, vo->report_path, text, strlen(text), 0644, err);
                free(text);
                if (r < 0) {
                        json_decref(rep);
                        cb_wrap(err, "--verify-report");
                        return r;
                }
        }
        if (manifest_digest) {
                r = store_report(s, manifest_digest, vo->tags, vo->ntags, rep, err);
                if (r < 0) {
                        json_decref(rep);
                        cb_wrap(err, "verify: store the report");
                        return r;
                }
        }
        if (vo->ret_report)
                *vo->ret_report = json_incref(rep);
        const char *result = json_string_value(json_object_get(rep, "result"));
        bool ok = result && (strcmp(result, "pass") == 0 || strcmp(result, "skipped") == 0);
        if (gap) {
                r = cb_failc(err, BLD_E_VERIFY, "compat: %s", gap);
        } else if (!ok) {
                const char *summary = json_string_value(json_object_get(rep, "summary"));
                if (summary && strncmp(summary, "fail: ", 6) == 0)
                        summary += 6;
                r = cb_failc(err, BLD_E_VERIFY, "GPU verification failed: %s", summary ? summary : result ? result : "?");
        } else if (strcmp(policy, "require") == 0 && strcmp(result, "pass") != 0) {
                r = cb_failc(err, BLD_E_VERIFY, "GPU verification required but not run");
        }
        json_decref(rep);
        return r;
}

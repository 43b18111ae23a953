/* cubuild build: docker build's flags with docker build's meaning. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "builder/bld.h"
#include "builder/cli.h"
#include "builder/exit.h"
#include "builder/internal.h"
#include "builder/progress.h"
#include "builder/run.h"
#include "builder/verify.h"
#include "builder/clispec.h"
#include "builder/context.h"
#include "builder/optids.h"
#include "builder/regopts.h"
#include "kernels/compat.h"

static void push(const char ***v, size_t *n, const char *s)
{
        *v = cb_xrealloc(*v, (*n + 1) * sizeof(char *));
        (*v)[(*n)++] = s;
}

static int __attribute__((format(printf, 1, 2))) usage_error(const char *fmt, ...)
{
        va_list ap;
        (void) fputs("cubuild build: ", stderr);
        va_start(ap, fmt);
        (void) vfprintf(stderr, fmt, ap); /* NOLINT(clang-analyzer-valist.Uninitialized): va_start above */
        va_end(ap);
        (void) fputs("\nsee 'cubuild build --help'\n", stderr);
        return BLD_EXIT_USAGE;
}

/* First signal: kill the RUN step in flight and let the build unwind (unmount, clean tmp/); a
 * second one ends us at once. */
static void on_build_signal(int sig)
{
        if (bld_interrupted()) {
                (void) signal(sig, SIG_DFL);
                (void) raise(sig);
                return;
        }
        bld_sandbox_interrupt(sig); /* NOLINT(bugprone-signal-handler): async-signal-safe (kill, a flag) */
}

int bld_report(const struct bld_global *g, const struct cb_err *err)
{
        (void) fprintf(stderr, "cubuild: %s\n", cb_err_set(err) ? cb_err_msg(err) : "failed");
        if (g->debug && err->src_file)
                (void) fprintf(stderr, "  (raised at %s:%d)\n", err->src_file, err->src_line);
        return BLD_EXIT_FAILED;
}

/* The option arrays (their strings are argv's). */
static void opts_release(struct bld_opts *o)
{
        free(o->tags);
        free(o->build_args);
        free(o->labels);
        free(o->outputs);
        free(o->secrets);
        free(o->no_cache_filter);
        free(o->add_hosts);
        free(o->ulimits);
        free(o->annotations);
        free(o->cache_from);
        free(o->cache_to);
        free(o->build_contexts);
}

int bld_cmd_build(const struct bld_global *g, int argc, char **argv)
{
        _cleanup_(opts_release) struct bld_opts o;
        bld_opts_init(&o);
        o.root = g->root;
        o.debug = g->debug;
        bld_reg_opts(g, &o.reg);
        const char *sde = getenv("SOURCE_DATE_EPOCH");
        bool check = false;
        int c, rc;

        const struct bld_cmdspec *spec = bld_cmdspec_find("build");
        _cleanup_free_ char *shortopts = NULL;
        _cleanup_free_ struct option *build_opts = bld_cmdspec_options(spec, &shortopts);
        opterr = 0;
        /* options may follow the context, as docker build takes them ("build . -t x"): glibc permutes
         * when the option string has no '+' and optind is 0 (a full re-initialisation: the global
         * options were read in order) */
        optind = 0;
        const char *order = shortopts[0] == '+' ? shortopts + 1 : shortopts;
        while ((c = getopt_long(argc, argv, order, build_opts, NULL)) != -1) {
                switch (c) {
                case 'f':
                        o.file = optarg;
                        break;
                case 't':
                        push(&o.tags, &o.ntags, optarg);
                        break;
                case BLD_OPT_BUILD_ARG:
                        push(&o.build_args, &o.nbuild_args, optarg);
                        break;
                case BLD_OPT_LABEL:
                        push(&o.labels, &o.nlabels, optarg);
                        break;
                case BLD_OPT_TARGET:
                        o.target = optarg;
                        break;
                case BLD_OPT_NO_CACHE:
                        o.no_cache = true;
                        break;
                case BLD_OPT_IIDFILE:
                        o.iidfile = optarg;
                        break;
                case 'o':
                        push(&o.outputs, &o.noutputs, optarg);
                        break;
                case BLD_OPT_NETWORK:
                        if (strcmp(optarg, "host") && strcmp(optarg, "none") && strcmp(optarg, "default"))
                                return usage_error("--network '%s': use host or none", optarg);
                        o.network = optarg;
                        break;
                case BLD_OPT_SECRET:
                        if (!strstr(optarg, "id="))
                                return usage_error("--secret '%s': give id=ID,src=PATH or id=ID,env=VAR", optarg);
                        push(&o.secrets, &o.nsecrets, optarg);
                        break;
                case BLD_OPT_COMPRESSION:
                        if (strcmp(optarg, "gzip") && strcmp(optarg, "zstd") && strcmp(optarg, "none"))
                                return usage_error("--compression '%s': use gzip, zstd or none", optarg);
                        o.compression = optarg;
                        break;
                case BLD_OPT_SDE:
                        sde = optarg;
                        break;
                case BLD_OPT_SHM:
                        if (cb_parse_size(cb_str_c(optarg), &o.shm_size) < 0 || o.shm_size == 0)
                                return usage_error("--shm-size '%s': not a size like 64m or 8g", optarg);
                        break;
                case BLD_OPT_PROGRESS: {
                        enum bld_progress_mode m;
                        if (bld_progress_mode_parse(optarg, &m) < 0)
                                return usage_error("--progress '%s': use auto, tty, plain, rawjson or quiet", optarg);
                        if (m == BLD_PROGRESS_QUIET)
                                o.quiet = true;
                        o.progress = optarg;
                        break;
                }
                case BLD_OPT_RUN_TIMEOUT: {
                        int64_t ns;
                        if (bld_duration_ns(optarg, &ns) < 0 || ns <= 0)
                                return usage_error("--run-timeout '%s': not a duration like 90s, 10m or 1h", optarg);
                        o.run_timeout_ms = ((uint64_t) ns + 999999) / 1000000;
                        break;
                }
                case BLD_OPT_ON_ERROR:
                        if (strcmp(optarg, "shell") && strcmp(optarg, "fail"))
                                return usage_error("--on-error '%s': use shell or fail", optarg);
                        o.on_error_shell = strcmp(optarg, "shell") == 0;
                        break;
                case BLD_OPT_PLATFORM:
                        if (strcmp(optarg, "linux/amd64") && strcmp(optarg, "linux/x86_64"))
                                return usage_error("--platform '%s': only the host platform linux/amd64 is "
                                                   "supported",
                                                   optarg);
                        break;
                case BLD_OPT_PULL:
                        o.pull = true;
                        break;
                case BLD_OPT_VERIFY:
                        if (strcmp(optarg, "auto") && strcmp(optarg, "require") && strcmp(optarg, "skip"))
                                return usage_error("--verify '%s': use auto, require or skip", optarg);
                        o.verify = optarg;
                        break;
                case BLD_OPT_METADATA:
                        o.metadata_file = optarg;
                        break;
                case BLD_OPT_BUILD_CONTEXT: {
                        struct cb_err e;
                        cb_err_init(&e);
                        if (bld_nctx_check(optarg, &e) < 0) {
                                int u = usage_error("%s", cb_err_msg(&e));
                                cb_err_release(&e);
                                return u;
                        }
                        cb_err_release(&e);
                        push(&o.build_contexts, &o.nbuild_contexts, optarg);
                        break;
                }
                case BLD_OPT_CACHE_FROM:
                        push(&o.cache_from, &o.ncache_from, optarg);
                        break;
                case BLD_OPT_CACHE_TO:
                        push(&o.cache_to, &o.ncache_to, optarg);
                        break;
                case BLD_OPT_PROVENANCE:
                case BLD_OPT_SBOM:
                        if (strcmp(optarg, "true") && strcmp(optarg, "false"))
                                return usage_error("--%s '%s': use true or false",
                                                   c == BLD_OPT_SBOM ? "sbom" : "provenance", optarg);
                        if (c == BLD_OPT_SBOM)
                                o.no_sbom = !strcmp(optarg, "false");
                        else
                                o.no_provenance = !strcmp(optarg, "false");
                        break;
                case BLD_OPT_PUSH:
                        o.push = true;
                        break;
                case BLD_OPT_REQUIRE_ARCH: {
                        for (const char *p = optarg; *p;) {
                                size_t len = strcspn(p, ", ");
                                if (len && !kv_arch_parse(p, len))
                                        return usage_error("--require-arch '%.*s': give architectures like sm_80,sm_90",
                                                           (int) len, p);
                                p += len;
                                p += strspn(p, ", ");
                        }
                        o.require_arch = optarg;
                        break;
                }
                case BLD_OPT_REQUIRE_DRIVER:
                        if (!kv_driver_parse(optarg))
                                return usage_error("--require-driver '%s': give a driver version like 535 or "
                                                   "535.104.05",
                                                   optarg);
                        o.require_driver = optarg;
                        break;
                case BLD_OPT_JOBS: {
                        uint64_t n;
                        if (cb_parse_u64(cb_str_c(optarg), 64, &n) < 0 || n == 0)
                                return usage_error("--jobs '%s': use a count from 1 to 64", optarg);
                        o.jobs = (unsigned) n;
                        break;
                }
                case BLD_OPT_FORMAT:
                        if (strcmp(optarg, "oci") && strcmp(optarg, "docker"))
                                return usage_error("--format '%s': use oci or docker", optarg);
                        o.format_docker = strcmp(optarg, "docker") == 0;
                        break;
                case BLD_OPT_ADD_HOST: {
                        const char *colon = strchr(optarg, ':');
                        if (!colon || colon == optarg || !colon[1] || strpbrk(optarg, " \t\n"))
                                return usage_error("--add-host '%s': use HOST:IP", optarg);
                        push(&o.add_hosts, &o.nadd_hosts, optarg);
                        break;
                }
                case BLD_OPT_ULIMIT: {
                        struct bld_ulimit u;
                        int ur = bld_ulimit_parse(optarg, &u);
                        if (ur == -ENOENT)
                                return usage_error("--ulimit '%s': unknown limit (core, cpu, data, fsize, locks, "
                                                   "memlock, msgqueue, nice, nofile, nproc, rss, rtprio, rttime, "
                                                   "sigpending, stack)",
                                                   optarg);
                        if (ur < 0)
                                return usage_error("--ulimit '%s': use TYPE=SOFT[:HARD] with SOFT <= HARD", optarg);
                        o.ulimits = cb_xrealloc(o.ulimits, (o.nulimits + 1) * sizeof(*o.ulimits));
                        o.ulimits[o.nulimits++] = u;
                        break;
                }
                case BLD_OPT_ANNOTATION:
                        if (!strchr(optarg, '=') || optarg[0] == '=')
                                return usage_error("--annotation '%s': use KEY=VALUE", optarg);
                        push(&o.annotations, &o.nannotations, optarg);
                        break;
                case BLD_OPT_LOAD:
                        break;
                case BLD_OPT_CHECK:
                        check = true;
                        break;
                case BLD_OPT_SSH:
                        return usage_error("--ssh: SSH agent forwarding is not supported; use --secret for keys "
                                           "a RUN step needs");
                case BLD_OPT_NO_CACHE_FILTER:
                        push(&o.no_cache_filter, &o.nno_cache_filter, optarg);
                        break;
                case BLD_OPT_VERIFY_REPORT:
                        o.verify_report = optarg;
                        break;
                case BLD_OPT_GPUS: {
                        uint64_t n;
                        if (strcmp(optarg, "all") && strcmp(optarg, "none") &&
                            cb_parse_u64(cb_str_c(optarg), 64, &n) < 0)
                                return usage_error("--gpus '%s': use all, none or a count", optarg);
                        o.gpus = optarg;
                        break;
                }
                case 'q':
                        o.quiet = true;
                        break;
                case 'h':
                        bld_cmdspec_usage(stdout, spec);
                        return BLD_EXIT_OK;
                default:
                        return bld_cmdspec_flag_error(spec, argv[optind - 1], optopt);
                }
        }
        if (o.format_docker && o.compression && strcmp(o.compression, "zstd") == 0)
                return usage_error("--format docker: Docker v2 schema 2 has no zstd layers; use --compression gzip");
        if (o.push && o.ntags == 0)
                return usage_error("--push needs at least one -t NAME");
        if (optind + 1 != argc)
                return usage_error("give exactly one build context directory (got %d)", argc - optind);
        o.context = argv[optind];
        if (check) {
                /* buildx's --check: the checks, no build */
                _cleanup_free_ char *ctx = cb_xstrdup(o.context);
                _cleanup_free_ char *file = o.file ? cb_xstrdup(o.file) : NULL;
                char check_cmd[] = "check", f_flag[] = "-f";
                char *cargv[] = { check_cmd, file ? f_flag : ctx, file, file ? ctx : NULL, NULL };
                return bld_cmd_check(g, file ? 4 : 2, cargv);
        }
        if (sde) {
                uint64_t v;
                if (cb_parse_u64(cb_str_c(sde), INT64_MAX, &v) < 0)
                        return usage_error("SOURCE_DATE_EPOCH '%s' is not a number of seconds", sde);
                o.source_date_epoch = (int64_t) v;
        }

        struct cb_err err;
        cb_err_init(&err);
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_build_signal;
        /* no SA_RESTART: a wait for --jobs stages returns EINTR, sees the interrupt and stops them */
        sa.sa_flags = 0;
        (void) sigemptyset(&sa.sa_mask);
        (void) sigaction(SIGINT, &sa, NULL);
        (void) sigaction(SIGTERM, &sa, NULL);
        (void) sigaction(SIGHUP, &sa, NULL);
        int r = bld_sandbox_init(&err);
        char digest[CB_DIGEST_STR_LEN];
        if (r >= 0)
                r = bld_build(&o, digest, &err);
        if (r < 0) {
                rc = bld_report(g, &err);
                if (r == BLD_E_VERIFY)
                        rc = BLD_EXIT_VERIFY;
        } else {
                (void) printf("%s\n", digest);
                rc = BLD_EXIT_OK;
        }
        if (bld_interrupted())
                rc = 128 + bld_interrupted();
        cb_err_release(&err);
        return rc;
}

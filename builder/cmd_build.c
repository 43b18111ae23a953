/* cubuild build: docker build's flags with docker build's meaning. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "builder/bld.h"
#include "builder/cli.h"
#include "builder/exit.h"
#include "builder/internal.h"
#include "builder/verify.h"
#include "builder/regopts.h"

enum {
        OPT_BUILD_ARG = 256,
        OPT_LABEL,
        OPT_TARGET,
        OPT_NO_CACHE,
        OPT_IIDFILE,
        OPT_NETWORK,
        OPT_SECRET,
        OPT_COMPRESSION,
        OPT_SDE,
        OPT_SHM,
        OPT_PROGRESS,
        OPT_PLATFORM,
        OPT_PULL,
        OPT_VERIFY,
        OPT_VERIFY_REPORT,
        OPT_GPUS,
        OPT_PUSH,
        OPT_METADATA,
};

static const struct option build_opts[] = {
        { "file", required_argument, NULL, 'f' },
        { "tag", required_argument, NULL, 't' },
        { "build-arg", required_argument, NULL, OPT_BUILD_ARG },
        { "label", required_argument, NULL, OPT_LABEL },
        { "target", required_argument, NULL, OPT_TARGET },
        { "no-cache", no_argument, NULL, OPT_NO_CACHE },
        { "iidfile", required_argument, NULL, OPT_IIDFILE },
        { "output", required_argument, NULL, 'o' },
        { "network", required_argument, NULL, OPT_NETWORK },
        { "secret", required_argument, NULL, OPT_SECRET },
        { "compression", required_argument, NULL, OPT_COMPRESSION },
        { "source-date-epoch", required_argument, NULL, OPT_SDE },
        { "shm-size", required_argument, NULL, OPT_SHM },
        { "progress", required_argument, NULL, OPT_PROGRESS },
        { "platform", required_argument, NULL, OPT_PLATFORM },
        { "pull", no_argument, NULL, OPT_PULL },
        { "verify", required_argument, NULL, OPT_VERIFY },
        { "verify-report", required_argument, NULL, OPT_VERIFY_REPORT },
        { "gpus", required_argument, NULL, OPT_GPUS },
        { "push", no_argument, NULL, OPT_PUSH },
        { "metadata-file", required_argument, NULL, OPT_METADATA },
        { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
};

static void build_usage(FILE *f)
{
        (void) fputs("Usage: cubuild [GLOBAL OPTIONS] build [OPTIONS] CONTEXT\n\n"
                     "Options:\n"
                     "  -f, --file FILE            Dockerfile (default CONTEXT/Dockerfile; '-' reads stdin)\n"
                     "  -t, --tag NAME[:TAG]       name the image (repeatable)\n"
                     "      --build-arg K=V        set a build-time variable (repeatable)\n"
                     "      --label K=V            add a label to the image (repeatable)\n"
                     "      --target STAGE         build up to this stage\n"
                     "      --secret id=ID,src=PATH|env=VAR  expose a secret to RUN --mount=type=secret\n"
                     "      --network host|none    network for RUN (default host)\n"
                     "      --shm-size SIZE        size of /dev/shm in RUN (default 64m)\n"
                     "  -o, --output type=oci|oci-archive|docker-archive,dest=PATH   also write the image there\n"
                     "      --push                 push every -t name to its registry after the build\n"
                     "      --iidfile FILE         write the image digest to FILE\n"
                     "      --metadata-file FILE   write the build result as JSON (digests, names, verification)\n"
                     "      --compression gzip|zstd|none  layer compression (default gzip)\n"
                     "      --source-date-epoch N  timestamps for reproducible images (env SOURCE_DATE_EPOCH)\n"
                     "      --verify auto|require|skip   GPU verification of the result (default auto:\n"
                     "                             run when a GPU is present)\n"
                     "      --verify-report FILE   write the verification report (JSON)\n"
                     "      --gpus all|N|none      the host GPU in RUN steps (default none)\n"
                     "      --verify auto|require|skip   GPU verification of the result (default auto:\n"
                     "                             run when a GPU is present)\n"
                     "      --verify-report FILE   write the verification report (JSON)\n"
                     "      --gpus all|N|none      the host GPU in RUN steps (default none)\n"
                     "      --progress auto|plain|quiet\n"
                     "  -q, --quiet                print only the image digest\n"
                     "      --no-cache             (accepted: every step runs)\n"
                     "      --platform linux/amd64 (the host platform only)\n",
                     f);
}

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

int bld_report(const struct bld_global *g, const struct cb_err *err)
{
        (void) fprintf(stderr, "cubuild: %s\n", cb_err_set(err) ? cb_err_msg(err) : "failed");
        if (g->debug && err->src_file)
                (void) fprintf(stderr, "  (raised at %s:%d)\n", err->src_file, err->src_line);
        return BLD_EXIT_FAILED;
}

int bld_cmd_build(const struct bld_global *g, int argc, char **argv)
{
        struct bld_opts o;
        bld_opts_init(&o);
        o.root = g->root;
        o.debug = g->debug;
        bld_reg_opts(g, &o.reg);
        const char *sde = getenv("SOURCE_DATE_EPOCH");
        int c, rc;

        opterr = 0;
        optind = 1;
        while ((c = getopt_long(argc, argv, "+f:t:o:qh", build_opts, NULL)) != -1) {
                switch (c) {
                case 'f':
                        o.file = optarg;
                        break;
                case 't':
                        push(&o.tags, &o.ntags, optarg);
                        break;
                case OPT_BUILD_ARG:
                        push(&o.build_args, &o.nbuild_args, optarg);
                        break;
                case OPT_LABEL:
                        push(&o.labels, &o.nlabels, optarg);
                        break;
                case OPT_TARGET:
                        o.target = optarg;
                        break;
                case OPT_NO_CACHE:
                        o.no_cache = true;
                        break;
                case OPT_IIDFILE:
                        o.iidfile = optarg;
                        break;
                case 'o':
                        push(&o.outputs, &o.noutputs, optarg);
                        break;
                case OPT_NETWORK:
                        if (strcmp(optarg, "host") && strcmp(optarg, "none") && strcmp(optarg, "default"))
                                return usage_error("--network '%s': use host or none", optarg);
                        o.network = optarg;
                        break;
                case OPT_SECRET:
                        if (!strstr(optarg, "id="))
                                return usage_error("--secret '%s': give id=ID,src=PATH or id=ID,env=VAR", optarg);
                        push(&o.secrets, &o.nsecrets, optarg);
                        break;
                case OPT_COMPRESSION:
                        if (strcmp(optarg, "gzip") && strcmp(optarg, "zstd") && strcmp(optarg, "none"))
                                return usage_error("--compression '%s': use gzip, zstd or none", optarg);
                        o.compression = optarg;
                        break;
                case OPT_SDE:
                        sde = optarg;
                        break;
                case OPT_SHM:
                        if (cb_parse_size(cb_str_c(optarg), &o.shm_size) < 0 || o.shm_size == 0)
                                return usage_error("--shm-size '%s': not a size like 64m or 8g", optarg);
                        break;
                case OPT_PROGRESS:
                        if (strcmp(optarg, "quiet") == 0)
                                o.quiet = true;
                        else if (strcmp(optarg, "auto") && strcmp(optarg, "plain") && strcmp(optarg, "tty"))
                                return usage_error("--progress '%s': use auto, plain or quiet", optarg);
                        break;
                case OPT_PLATFORM:
                        if (strcmp(optarg, "linux/amd64") && strcmp(optarg, "linux/x86_64"))
                                return usage_error("--platform '%s': only the host platform linux/amd64 is "
                                                   "supported",
                                                   optarg);
                        break;
                case OPT_PULL:
                        break;
                case OPT_VERIFY:
                        if (strcmp(optarg, "auto") && strcmp(optarg, "require") && strcmp(optarg, "skip"))
                                return usage_error("--verify '%s': use auto, require or skip", optarg);
                        o.verify = optarg;
                        break;
                case OPT_METADATA:
                        o.metadata_file = optarg;
                        break;
                case OPT_PUSH:
                        o.push = true;
                        break;
                case OPT_VERIFY_REPORT:
                        o.verify_report = optarg;
                        break;
                case OPT_GPUS: {
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
                        build_usage(stdout);
                        return BLD_EXIT_OK;
                default:
                        if (optopt && optopt < 256)
                                return usage_error("unknown flag or missing value '-%c'", (char) optopt);
                        return usage_error("unknown flag or missing value '%s'", argv[optind - 1]);
                }
        }
        if (o.push && o.ntags == 0)
                return usage_error("--push needs at least one -t NAME");
        if (optind + 1 != argc)
                return usage_error("give exactly one build context directory (got %d)", argc - optind);
        o.context = argv[optind];
        if (sde) {
                uint64_t v;
                if (cb_parse_u64(cb_str_c(sde), INT64_MAX, &v) < 0)
                        return usage_error("SOURCE_DATE_EPOCH '%s' is not a number of seconds", sde);
                o.source_date_epoch = (int64_t) v;
        }

        struct cb_err err;
        cb_err_init(&err);
        int r = bld_sandbox_init(&err);
        char digest[CB_DIGEST_STR_LEN];
        if (r >= 0)
                r = bld_build(&o, digest, &err);
        if (r < 0) {
                rc = bld_report(g, &err);
                if (r == BLD_E_VERIFY)
                        rc = BLD_EXIT_VERIFY;
        } else {
                if (!o.quiet)
                        (void) fprintf(stderr, "built %s\n", digest);
                (void) printf("%s\n", digest);
                rc = BLD_EXIT_OK;
        }
        cb_err_release(&err);
        free(o.tags);
        free(o.build_args);
        free(o.labels);
        free(o.outputs);
        free(o.secrets);
        return rc;
}

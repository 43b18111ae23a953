/* cubuild bake: build the targets of a bake file, each in a child process of its own; a target starts
 * when the targets it waits for are built, so independent targets build at the same time. Each
 * child's stderr comes through the parent, one line at a time, prefixed with "[TARGET] ". */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "builder/bake.h"
#include "builder/bld.h"
#include "builder/cli.h"
#include "builder/context.h"
#include "builder/exit.h"
#include "builder/internal.h"
#include "builder/regopts.h"
#include "builder/verify.h"

#define BAKE_FILE_MAX (4u << 20)

enum { OPT_SET = 256, OPT_PRINT, OPT_NO_CACHE, OPT_PUSH, OPT_PROGRESS, OPT_METADATA, OPT_LOAD };

static const struct option bake_opts[] = {
        { "file", required_argument, NULL, 'f' },
        { "set", required_argument, NULL, OPT_SET },
        { "print", no_argument, NULL, OPT_PRINT },
        { "no-cache", no_argument, NULL, OPT_NO_CACHE },
        { "push", no_argument, NULL, OPT_PUSH },
        { "load", no_argument, NULL, OPT_LOAD },
        { "progress", required_argument, NULL, OPT_PROGRESS },
        { "metadata-file", required_argument, NULL, OPT_METADATA },
        { "jobs", required_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
};

static const char *const default_files[] = {
        "cubuild.yaml", "cubuild.yml", "docker-bake.json", "compose.yaml", "compose.yml", "docker-compose.yml",
        "docker-compose.yaml",
};

static void bake_usage(FILE *f)
{
        (void) fputs("Usage: cubuild [GLOBAL OPTIONS] bake [OPTIONS] [TARGET|GROUP...]\n\n"
                     "Build the targets of a bake file (docs/bake.md); with no names, the group or target\n"
                     "'default' (a compose file: every service with a build section).\n\n"
                     "Options:\n"
                     "  -f, --file FILE         the bake file (default: the first of cubuild.yaml, cubuild.yml,\n"
                     "                          docker-bake.json, compose.yaml, compose.yml, docker-compose.yml)\n"
                     "      --set T.KEY=VALUE   override a target's key (T may be a glob: '*.args.V=1')\n"
                     "      --print             print the resolved plan as JSON and build nothing\n"
                     "      --no-cache          every step of every target runs\n"
                     "      --push              push every target's tags\n"
                     "      --metadata-file F   write each target's build result as JSON\n"
                     "  -j, --jobs N            build at most N targets at a time (default: all that are ready)\n"
                     "      --progress auto|plain|quiet\n",
                     f);
}

static int __attribute__((format(printf, 1, 2))) usage_error(const char *fmt, ...)
{
        va_list ap;
        (void) fputs("cubuild bake: ", stderr);
        va_start(ap, fmt);
        (void) vfprintf(stderr, fmt, ap); /* NOLINT(clang-analyzer-valist.Uninitialized): va_start above */
        va_end(ap);
        (void) fputs("\nsee 'cubuild bake --help'\n", stderr);
        return BLD_EXIT_USAGE;
}

struct job {
        pid_t pid;
        int fd; /* the child's stderr */
        struct cb_buf line;
        bool started, done, ok;
        int code;
        char digest[CB_DIGEST_STR_LEN];
        char *meta_path;
};

struct bake_run {
        const struct bld_global *g;
        struct bld_bake *bk;
        struct job *jobs;
        size_t n;
        bool no_cache, push, quiet;
        const char *tmp;
};

static void strv_add(const char ***v, size_t *n, const char *s)
{
        *v = cb_xrealloc(*v, (*n + 1) * sizeof(char *));
        (*v)[(*n)++] = s;
}

static void list_add(const char ***v, size_t *n, json_t *arr)
{
        size_t i;
        json_t *e;
        json_array_foreach(arr, i, e)
        {
                if (json_string_value(e))
                        strv_add(v, n, json_string_value(e));
        }
}

static void map_add(const char ***v, size_t *n, json_t *obj)
{
        const char *k;
        json_t *e;
        json_object_foreach(obj, k, e)
        {
                if (json_string_value(e))
                        strv_add(v, n, cb_xasprintf("%s=%s", k, json_string_value(e)));
        }
}

/* In the child: the target as bld_opts, then the build. Strings leak into the child, which exits. */
static int child_build(struct bake_run *br, size_t idx, struct cb_err *err)
{
        json_t *t = bld_bake_target(br->bk, idx);
        const char *name = bld_bake_name(br->bk, idx);
        struct bld_opts o;
        bld_opts_init(&o);
        o.root = br->g->root;
        o.debug = br->g->debug;
        o.quiet = br->quiet;
        bld_reg_opts(br->g, &o.reg);
        const char *sde = getenv("SOURCE_DATE_EPOCH");
        uint64_t v;
        if (sde && cb_parse_u64(cb_str_c(sde), INT64_MAX, &v) == 0)
                o.source_date_epoch = (int64_t) v;
        o.context = json_string_value(json_object_get(t, "context"));
        const char *df = json_string_value(json_object_get(t, "dockerfile"));
        o.file = df[0] == '/' ? df : cb_xasprintf("%s/%s", o.context, df);
        o.target = json_string_value(json_object_get(t, "target"));
        o.network = json_string_value(json_object_get(t, "network"));
        o.verify = json_string_value(json_object_get(t, "verify"));
        if (o.verify && strcmp(o.verify, "auto") && strcmp(o.verify, "require") && strcmp(o.verify, "skip"))
                return cb_failc(err, -EINVAL, "target '%s': verify '%s': use auto, require or skip", name, o.verify);
        o.no_cache = br->no_cache || json_is_true(json_object_get(t, "no-cache"));
        o.push = br->push || json_is_true(json_object_get(t, "push"));
        list_add(&o.tags, &o.ntags, json_object_get(t, "tags"));
        map_add(&o.build_args, &o.nbuild_args, json_object_get(t, "args"));
        map_add(&o.labels, &o.nlabels, json_object_get(t, "labels"));
        list_add(&o.cache_from, &o.ncache_from, json_object_get(t, "cache-from"));
        list_add(&o.cache_to, &o.ncache_to, json_object_get(t, "cache-to"));
        list_add(&o.secrets, &o.nsecrets, json_object_get(t, "secret"));
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(t, "platforms"), i, e)
        {
                const char *p = json_string_value(e);
                if (strcmp(p, "linux/amd64") && strcmp(p, "linux/x86_64"))
                        return cb_failc(err, -ENOTSUP, "target '%s': platform '%s': only the host platform linux/amd64 "
                                                       "is supported",
                                        name, p);
        }
        json_array_foreach(json_object_get(t, "output"), i, e)
        {
                const char *s = json_string_value(e);
                _cleanup_free_ char *type = bld_opt_get(s, "type");
                _cleanup_free_ char *pushv = bld_opt_get(s, "push");
                /* the store already holds every image (docker/image load into it); registry pushes */
                if (type && !strcmp(type, "registry")) {
                        o.push = true;
                } else if (type && (!strcmp(type, "docker") || !strcmp(type, "image") || !strcmp(type, "cacheonly"))) {
                        if (pushv && !strcmp(pushv, "true"))
                                o.push = true;
                } else {
                        strv_add(&o.outputs, &o.noutputs, s);
                }
        }
        if (o.push && o.ntags == 0)
                return cb_failc(err, -EINVAL, "target '%s': push needs at least one tag", name);
        const char *cn;
        json_t *cv;
        json_object_foreach(json_object_get(t, "contexts"), cn, cv)
        {
                const char *s = json_string_value(cv);
                if (!strncmp(s, "target:", 7)) {
                        size_t nd;
                        const size_t *deps = bld_bake_deps(br->bk, idx, &nd);
                        const char *digest = NULL;
                        for (size_t k = 0; k < nd; k++)
                                if (!strcmp(bld_bake_name(br->bk, deps[k]), s + 7))
                                        digest = br->jobs[deps[k]].digest;
                        if (!digest || !*digest)
                                return cb_failc(err, -EINVAL, "target '%s': contexts.%s: '%s' is not built", name, cn,
                                                s + 7);
                        strv_add(&o.build_contexts, &o.nbuild_contexts, cb_xasprintf("%s=docker-image://%s", cn, digest));
                } else {
                        /* docker-image://, oci-layout:// and directories (relative to where bake runs, as
                         * a target's context is) as --build-context takes them; Git and URLs refused */
                        char *spec = cb_xasprintf("%s=%s", cn, s);
                        int r = bld_nctx_check(spec, err);
                        if (r < 0) {
                                free(spec);
                                cb_wrap(err, "target '%s': contexts.%s", name, cn);
                                return r;
                        }
                        strv_add(&o.build_contexts, &o.nbuild_contexts, spec);
                }
        }
        o.metadata_file = br->jobs[idx].meta_path;
        char digest[CB_DIGEST_STR_LEN];
        return bld_build(&o, digest, err);
}

static void flush_lines(struct bake_run *br, size_t i, bool all)
{
        struct job *j = &br->jobs[i];
        const char *name = bld_bake_name(br->bk, i);
        size_t start = 0;
        for (size_t k = 0; k < j->line.len; k++) {
                if (j->line.p[k] != '\n')
                        continue;
                (void) fprintf(stderr, "[%s] %.*s\n", name, (int) (k - start), j->line.p + start);
                start = k + 1;
        }
        if (all && start < j->line.len) {
                (void) fprintf(stderr, "[%s] %.*s\n", name, (int) (j->line.len - start), j->line.p + start);
                start = j->line.len;
        }
        if (start > 0) {
                memmove(j->line.p, j->line.p + start, j->line.len - start);
                cb_buf_truncate(&j->line, j->line.len - start);
        }
}

static int start_job(struct bake_run *br, size_t i)
{
        struct job *j = &br->jobs[i];
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        (void) fflush(stdout);
        (void) fflush(stderr);
        pid_t parent = getpid();
        pid_t pid = fork();
        if (pid < 0) {
                int e = errno;
                (void) close(p[0]);
                (void) close(p[1]);
                return -e;
        }
        if (pid == 0) {
                /* a bake that is killed takes its builds with it (their sandboxes die with them) */
                (void) prctl(PR_SET_PDEATHSIG, SIGTERM);
                if (getppid() != parent)
                        _exit(BLD_EXIT_FAILED);
                (void) dup2(p[1], STDERR_FILENO);
                int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
                if (devnull >= 0)
                        (void) dup2(devnull, STDOUT_FILENO);
                struct cb_err err;
                cb_err_init(&err);
                int r = child_build(br, i, &err);
                int code = BLD_EXIT_OK;
                if (r < 0) {
                        code = bld_report(br->g, &err);
                        if (r == BLD_E_VERIFY)
                                code = BLD_EXIT_VERIFY;
                }
                (void) fflush(stderr);
                _exit(code);
        }
        (void) close(p[1]);
        j->pid = pid;
        j->fd = p[0];
        j->started = true;
        if (!br->quiet)
                (void) fprintf(stderr, "bake: building %s\n", bld_bake_name(br->bk, i));
        return 0;
}

static void finish_job(struct bake_run *br, size_t i)
{
        struct job *j = &br->jobs[i];
        flush_lines(br, i, true);
        (void) close(j->fd);
        j->fd = -1;
        int status = 0;
        while (waitpid(j->pid, &status, 0) < 0 && errno == EINTR)
                ;
        j->done = true;
        if (WIFEXITED(status))
                j->code = WEXITSTATUS(status);
        else if (WIFSIGNALED(status))
                j->code = 128 + WTERMSIG(status);
        else
                j->code = BLD_EXIT_FAILED;
        json_t *m = j->code == 0 ? json_load_file(j->meta_path, 0, NULL) : NULL;
        const char *d = json_string_value(json_object_get(m, "containerimage.digest"));
        if (d && cb_digest_valid(d)) {
                memcpy(j->digest, d, CB_DIGEST_STR_LEN);
                j->ok = true;
        } else if (j->code == 0) {
                j->code = BLD_EXIT_FAILED;
        }
        json_decref(m);
        if (!br->quiet)
                (void) fprintf(stderr, "bake: %s %s\n", bld_bake_name(br->bk, i),
                               j->ok ? j->digest : "failed");
}

static bool ready(struct bake_run *br, size_t i)
{
        size_t nd;
        const size_t *deps = bld_bake_deps(br->bk, i, &nd);
        for (size_t k = 0; k < nd; k++)
                if (!br->jobs[deps[k]].ok)
                        return false;
        return true;
}

static int run_all(struct bake_run *br, unsigned max_jobs)
{
        int rc = BLD_EXIT_OK;
        bool failed = false;
        for (;;) {
                size_t running = 0;
                for (size_t i = 0; i < br->n; i++)
                        if (br->jobs[i].started && !br->jobs[i].done)
                                running++;
                /* after a failure nothing new starts; what runs finishes */
                for (size_t i = 0; i < br->n && !failed; i++) {
                        if (br->jobs[i].started || !ready(br, i) || (max_jobs && running >= max_jobs))
                                continue;
                        int r = start_job(br, i);
                        if (r < 0) {
                                (void) fprintf(stderr, "cubuild: bake: start '%s': %s\n", bld_bake_name(br->bk, i),
                                               strerror(-r));
                                failed = true;
                                rc = BLD_EXIT_FAILED;
                                break;
                        }
                        running++;
                }
                if (running == 0)
                        break;
                struct pollfd *pf = cb_xcalloc(br->n, sizeof(*pf));
                size_t *idx = cb_xcalloc(br->n, sizeof(size_t));
                size_t np = 0;
                for (size_t i = 0; i < br->n; i++) {
                        if (br->jobs[i].started && !br->jobs[i].done) {
                                pf[np] = (struct pollfd){ .fd = br->jobs[i].fd, .events = POLLIN };
                                idx[np++] = i;
                        }
                }
                int pr = poll(pf, np, -1);
                for (size_t k = 0; pr > 0 && k < np; k++) {
                        if (!pf[k].revents)
                                continue;
                        struct job *j = &br->jobs[idx[k]];
                        char buf[4096];
                        ssize_t got = read(j->fd, buf, sizeof(buf));
                        if (got < 0 && errno == EINTR)
                                continue;
                        if (got > 0) {
                                (void) cb_buf_add(&j->line, buf, (size_t) got);
                                flush_lines(br, idx[k], false);
                                continue;
                        }
                        finish_job(br, idx[k]);
                        if (!j->ok) {
                                failed = true;
                                if (rc == BLD_EXIT_OK)
                                        rc = j->code ? j->code : BLD_EXIT_FAILED;
                        }
                }
                free(pf);
                free(idx);
        }
        for (size_t i = 0; i < br->n; i++)
                if (!br->jobs[i].started && !br->quiet)
                        (void) fprintf(stderr, "bake: %s not built (%s)\n", bld_bake_name(br->bk, i),
                                       failed ? "an earlier target failed" : "?");
        return rc;
}

static int write_metadata(struct bake_run *br, const char *path, struct cb_err *err)
{
        json_t *all = json_object();
        for (size_t i = 0; i < br->n; i++) {
                json_t *m = br->jobs[i].ok ? json_load_file(br->jobs[i].meta_path, 0, NULL) : NULL;
                if (m)
                        json_object_set_new(all, bld_bake_name(br->bk, i), m);
        }
        char *text = json_dumps(all, JSON_INDENT(2) | JSON_SORT_KEYS);
        json_decref(all);
        int r = cb_write_file_atomic(AT_FDCWD, path, text, strlen(text), 0644, err);
        free(text);
        return r;
}

static const char *find_file(void)
{
        for (size_t i = 0; i < CB_ARRAY_SIZE(default_files); i++)
                if (access(default_files[i], R_OK) == 0)
                        return default_files[i];
        return NULL;
}

int bld_cmd_bake(const struct bld_global *g, int argc, char **argv)
{
        const char *file = NULL, *metadata = NULL;
        const char **sets = NULL;
        size_t nsets = 0;
        bool print = false, no_cache = false, push = false, quiet = false;
        uint64_t jobs = 0;
        int c;

        opterr = 0;
        optind = 1;
        while ((c = getopt_long(argc, argv, "f:j:h", bake_opts, NULL)) != -1) {
                switch (c) {
                case 'f':
                        file = optarg;
                        break;
                case OPT_SET:
                        strv_add(&sets, &nsets, optarg);
                        break;
                case OPT_PRINT:
                        print = true;
                        break;
                case OPT_NO_CACHE:
                        no_cache = true;
                        break;
                case OPT_PUSH:
                        push = true;
                        break;
                case OPT_LOAD:
                        break; /* every image lands in the store anyway */
                case OPT_PROGRESS:
                        if (!strcmp(optarg, "quiet"))
                                quiet = true;
                        else if (strcmp(optarg, "auto") && strcmp(optarg, "plain") && strcmp(optarg, "tty")) {
                                free(sets);
                                return usage_error("--progress '%s': use auto, plain or quiet", optarg);
                        }
                        break;
                case OPT_METADATA:
                        metadata = optarg;
                        break;
                case 'j':
                        if (cb_parse_u64(cb_str_c(optarg), 1024, &jobs) < 0 || jobs == 0) {
                                free(sets);
                                return usage_error("--jobs '%s': give a number from 1 to 1024", optarg);
                        }
                        break;
                case 'h':
                        free(sets);
                        bake_usage(stdout);
                        return BLD_EXIT_OK;
                default:
                        free(sets);
                        if (optopt && optopt < 256)
                                return usage_error("unknown flag or missing value '-%c'", (char) optopt);
                        return usage_error("unknown flag or missing value '%s'", argv[optind - 1]);
                }
        }
        if (!file)
                file = find_file();
        if (!file) {
                free(sets);
                return usage_error("no bake file here (cubuild.yaml, docker-bake.json, compose.yaml, ...): give -f FILE");
        }

        struct cb_err err;
        cb_err_init(&err);
        struct cb_buf text;
        cb_buf_init(&text, BAKE_FILE_MAX);
        struct bld_bake *bk = NULL;
        int rc = BLD_EXIT_OK;
        int r = cb_read_file(AT_FDCWD, file, BAKE_FILE_MAX, &text, &err);
        if (r < 0)
                cb_wrap(&err, "bake file");
        if (r >= 0)
                r = bld_bake_parse(file, text.p, text.len, &bk, &err);
        for (size_t i = 0; r >= 0 && i < nsets; i++)
                r = bld_bake_set(bk, sets[i], &err);
        if (r >= 0)
                r = bld_bake_resolve(bk, (const char *const *) argv + optind, (size_t) (argc - optind), &err);
        if (r < 0) {
                rc = bld_report(g, &err);
                goto out;
        }
        if (print) {
                json_t *plan = bld_bake_plan(bk);
                char *s = json_dumps(plan, JSON_INDENT(2) | JSON_SORT_KEYS);
                (void) printf("%s\n", s);
                free(s);
                json_decref(plan);
                goto out;
        }
        r = bld_sandbox_init(&err);
        if (r < 0) {
                rc = bld_report(g, &err);
                goto out;
        }
        {
                char tmpl[] = "/tmp/cubuild-bake.XXXXXX";
                if (!mkdtemp(tmpl)) {
                        (void) cb_fail(&err, errno, "mkdtemp '%s'", tmpl);
                        rc = bld_report(g, &err);
                        goto out;
                }
                struct bake_run br = {
                        .g = g, .bk = bk, .n = bld_bake_count(bk), .no_cache = no_cache, .push = push, .quiet = quiet,
                        .tmp = tmpl,
                };
                br.jobs = cb_xcalloc(br.n, sizeof(*br.jobs));
                for (size_t i = 0; i < br.n; i++) {
                        br.jobs[i].fd = -1;
                        cb_buf_init(&br.jobs[i].line, CB_BUF_UNLIMITED);
                        br.jobs[i].meta_path = cb_xasprintf("%s/%zu.json", tmpl, i);
                }
                rc = run_all(&br, (unsigned) jobs);
                if (metadata && write_metadata(&br, metadata, &err) < 0 && rc == BLD_EXIT_OK)
                        rc = bld_report(g, &err);
                for (size_t i = 0; i < br.n; i++) {
                        if (br.jobs[i].ok)
                                (void) printf("%s %s\n", bld_bake_name(bk, i), br.jobs[i].digest);
                        (void) unlink(br.jobs[i].meta_path);
                        free(br.jobs[i].meta_path);
                        cb_buf_release(&br.jobs[i].line);
                }
                free(br.jobs);
                (void) rmdir(tmpl);
        }
out:
        bld_bake_free(bk);
        cb_buf_release(&text);
        cb_err_release(&err);
        free(sets);
        return rc;
}

/* The stage graph and its schedule: which stages the target needs, and building independent stages at
 * the same time (--jobs N).
 *
 * A stage built concurrently runs in a forked child of the build, which inherits every finished stage
 * in memory, builds its own stage into the shared store (the store is safe for concurrent writers:
 * atomic blob writes, locked tag index) and hands its result back as a JSON file: the config, the
 * layer descriptors and the cache key chain. The parent reads it into b->stages[i], so later stages see
 * the same state as in a sequential build, and digests do not depend on --jobs. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "builder/context.h"
#include "builder/internal.h"
#include "builder/steps.h"

#define STAGE_RESULT_MAX (64u << 20)

/* Marks in deps (entries 0..i-1, the only ones written) the earlier stages that stage i of the Dockerfile
 * reads, whether or not this build needs stage i: its FROM, COPY/ADD --from and RUN --mount from=. A value with a variable in it marks every earlier stage (safe). */
void bld_stage_deps(struct bld_ctx *b, size_t i, bool *deps)
{
        const struct df_stage *ds = df_file_stage(b->df, i);
        memset(deps, 0, i * sizeof(*deps));
        if (ds->name && bld_nctx_find(b, ds->name))
                return; /* a named context replaces the stage (build.c): it reads nothing */

        _cleanup_free_ char *base = NULL;
        struct cb_err e2;
        cb_err_init(&e2);
        int r = df_expand_word(b->meta, ds->base, df_file_escape(b->df), &base, &e2);
        cb_err_release(&e2);
        for (size_t j = 0; r >= 0 && j < i; j++) {
                const char *n = df_file_stage(b->df, j)->name;
                if (n && strcasecmp(n, base) == 0)
                        deps[j] = true;
        }
        for (size_t k = 0; k < ds->n; k++) {
                const struct df_instr *in = df_file_instr(b->df, ds->first + k);
                for (size_t f = 0; f < in->nflags; f++) {
                        _cleanup_free_ char *v = NULL;
                        if (strcmp(in->flags[f].name, "from") == 0 && in->flags[f].value &&
                            (in->kind == DF_INSTR_COPY || in->kind == DF_INSTR_ADD))
                                v = cb_xstrdup(in->flags[f].value);
                        else if (strcmp(in->flags[f].name, "mount") == 0 && in->flags[f].value &&
                                 in->kind == DF_INSTR_RUN)
                                v = bld_opt_get(in->flags[f].value, "from");
                        if (!v || !*v)
                                continue;
                        if (strchr(v, '$')) {
                                for (size_t j = 0; j < i; j++)
                                        deps[j] = true;
                                continue;
                        }
                        uint64_t idx;
                        if (cb_parse_u64(cb_str_c(v), UINT32_MAX, &idx) == 0) {
                                if (idx < i)
                                        deps[idx] = true;
                                continue;
                        }
                        for (size_t j = 0; j < i; j++) {
                                const char *n = df_file_stage(b->df, j)->name;
                                if (n && strcasecmp(n, v) == 0) {
                                        deps[j] = true;
                                        break;
                                }
                        }
                }
        }
}

void bld_mark_needed(struct bld_ctx *b, size_t target, bool *needed)
{
        bool *deps = cb_xcalloc(b->nstages, sizeof(bool));
        needed[target] = true;
        for (size_t i = target + 1; i-- > 0;) {
                if (!needed[i])
                        continue;
                bld_stage_deps(b, i, deps);
                for (size_t j = 0; j < i; j++)
                        needed[j] = needed[j] || deps[j];
        }
        free(deps);
}

/* --- a stage's result, across the fork --- */

static json_t *stage_to_json(const struct bld_ctx *b, const struct bld_stage *st)
{
        json_t *layers = json_array();
        for (size_t i = 0; i < st->nlayers; i++)
                json_array_append_new(layers, json_pack("{s:s, s:s, s:I, s:s}", "digest", st->layers[i].digest,
                                                        "diff_id", st->layers[i].diff_id, "size",
                                                        (json_int_t) st->layers[i].size, "media_type",
                                                        st->layers[i].media_type));
        return json_pack("{s:O, s:o, s:s, s:s, s:s?, s:I, s:I, s:I}", "config", st->config, "layers", layers, "key",
                         st->key, "base_digest", st->base_digest, "base_ref", st->base_ref, "last_time",
                         (json_int_t) st->last_time, "steps_run", (json_int_t) b->steps_run, "steps_cached",
                         (json_int_t) b->steps_cached);
}

static int copy_digest(char dst[CB_DIGEST_STR_LEN], const char *src, bool empty_ok)
{
        if (!src || (!(empty_ok && !*src) && !cb_digest_valid(src)))
                return -EBADMSG;
        memcpy(dst, src, strlen(src) + 1);
        return 0;
}

static int stage_from_json(struct bld_ctx *b, size_t si, json_t *j)
{
        struct bld_stage *st = &b->stages[si];
        const struct df_stage *ds = df_file_stage(b->df, si);
        json_t *config = json_object_get(j, "config");
        json_t *layers = json_object_get(j, "layers");
        if (!json_is_object(config) || !json_is_array(layers))
                return -EBADMSG;
        if (copy_digest(st->key, json_string_value(json_object_get(j, "key")), false) < 0 ||
            copy_digest(st->base_digest, json_string_value(json_object_get(j, "base_digest")), true) < 0)
                return -EBADMSG;
        size_t i;
        json_t *l;
        json_array_foreach(layers, i, l)
        {
                struct layer_desc d;
                memset(&d, 0, sizeof(d));
                const char *mt = json_string_value(json_object_get(l, "media_type"));
                if (copy_digest(d.digest, json_string_value(json_object_get(l, "digest")), false) < 0 ||
                    copy_digest(d.diff_id, json_string_value(json_object_get(l, "diff_id")), false) < 0 || !mt ||
                    strlen(mt) >= sizeof(d.media_type))
                        return -EBADMSG;
                memcpy(d.media_type, mt, strlen(mt) + 1);
                d.size = (uint64_t) json_integer_value(json_object_get(l, "size"));
                bld_stage_add_layer(st, &d);
        }
        if (st->config)
                json_decref(st->config);
        st->config = json_incref(config);
        st->last_time = json_integer_value(json_object_get(j, "last_time"));
        free(st->name);
        st->name = ds->name ? cb_xstrdup(ds->name) : NULL;
        /* what the stage was built from: the recorded inputs (builder/audit.c) name it */
        const char *base_ref = json_string_value(json_object_get(j, "base_ref"));
        free(st->base_ref);
        st->base_ref = base_ref ? cb_xstrdup(base_ref) : NULL;
        b->steps_run += (size_t) json_integer_value(json_object_get(j, "steps_run"));
        b->steps_cached += (size_t) json_integer_value(json_object_get(j, "steps_cached"));
        st->built = true;
        return 0;
}

/* In the child: build stage si, write the result (or the error) to path, and leave without running
 * the parent's cleanup (the store's work directory is the parent's). */
static _Noreturn void child_build(struct bld_ctx *b, size_t si, const char *path, bld_stage_fn fn)
{
        struct cb_err err;
        cb_err_init(&err);
        /* die with the build: a killed parent must not leave stages running */
        (void) prctl(PR_SET_PDEATHSIG, SIGTERM);
        b->steps_run = b->steps_cached = 0;
        int r = fn(b, si, &err);
        json_t *j = r < 0 ? json_pack("{s:s, s:i}", "error", cb_err_msg(&err), "errnum", -r)
                          : stage_to_json(b, &b->stages[si]);
        char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
        struct cb_err e2;
        cb_err_init(&e2);
        int w = text ? cb_write_file_atomic(AT_FDCWD, path, text, strlen(text), 0600, &e2) : -ENOMEM;
        if (w < 0)
                (void) fprintf(stderr, "error: stage %zu: %s\n", si, cb_err_msg(&e2));
        (void) fflush(stderr);
        _exit(r < 0 || w < 0 ? 1 : 0);
}

struct job {
        pid_t pid;
        size_t stage;
        char *path;
};

static int collect(struct bld_ctx *b, struct job *j, int status, struct cb_err *err)
{
        const struct df_stage *ds = df_file_stage(b->df, j->stage);
        struct cb_buf text;
        cb_buf_init(&text, STAGE_RESULT_MAX);
        struct cb_err e2;
        cb_err_init(&e2);
        int r = cb_read_file(AT_FDCWD, j->path, STAGE_RESULT_MAX, &text, &e2);
        (void) unlink(j->path);
        json_t *res = r >= 0 ? json_loadb(text.p, text.len, 0, NULL) : NULL;
        cb_buf_release(&text);
        cb_err_release(&e2);
        if (res && json_string_value(json_object_get(res, "error"))) {
                int en = (int) json_integer_value(json_object_get(res, "errnum"));
                r = cb_failc(err, en > 0 ? -en : -EIO, "%s", json_string_value(json_object_get(res, "error")));
        } else if (!res || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                if (WIFSIGNALED(status))
                        r = cb_failc(err, -EINTR, "%s:%u: stage '%s' was killed by signal %d", b->df_name, ds->line,
                                     ds->name ? ds->name : "", WTERMSIG(status));
                else
                        r = cb_failc(err, -EIO, "%s:%u: stage '%s' ended without a result", b->df_name, ds->line,
                                     ds->name ? ds->name : "");
        } else if (stage_from_json(b, j->stage, res) < 0) {
                r = cb_failc(err, -EBADMSG, "%s:%u: stage '%s': unreadable result", b->df_name, ds->line,
                             ds->name ? ds->name : "");
        } else {
                r = 0;
        }
        json_decref(res);
        free(j->path);
        j->path = NULL;
        j->pid = 0;
        return r;
}

int bld_build_stages(struct bld_ctx *b, const bool *needed, unsigned jobs, bld_stage_fn fn, struct cb_err *err)
{
        size_t n = b->nstages;
        size_t *first_step = cb_xcalloc(n, sizeof(size_t));
        bool *started = cb_xcalloc(n, sizeof(bool));
        bool *deps = cb_xcalloc(n * n, sizeof(bool));
        struct job *run = cb_xcalloc(jobs ? jobs : 1, sizeof(*run));
        size_t nrun = 0, step = b->step;
        int r = 0;

        /* step numbers as a sequential build prints them, whatever the order stages finish in */
        for (size_t i = 0; i < n; i++) {
                if (!needed[i])
                        continue;
                first_step[i] = step;
                step += 1 + df_file_stage(b->df, i)->n;
                bld_stage_deps(b, i, deps + i * n);
        }
        for (;;) {
                if (bld_interrupted()) {
                        r = cb_failc(err, -EINTR, "interrupted by signal %d", bld_interrupted());
                        break;
                }
                bool all_done = true;
                size_t nready = 0;
                size_t *ready = cb_xcalloc(n, sizeof(size_t));
                for (size_t i = 0; i < n; i++) {
                        if (!needed[i] || b->stages[i].built)
                                continue;
                        all_done = false;
                        bool ok = !started[i];
                        for (size_t j = 0; j < i && ok; j++)
                                ok = !deps[i * n + j] || b->stages[j].built;
                        if (ok)
                                ready[nready++] = i;
                }
                /* one stage to build and nothing running: build it here, no fork needed */
                if (nready > 0 && (jobs <= 1 || (nready == 1 && nrun == 0))) {
                        size_t i = ready[0];
                        free(ready);
                        started[i] = true;
                        b->step = first_step[i] + 1;
                        r = fn(b, i, err);
                        if (r < 0)
                                break;
                        continue;
                }
                for (size_t k = 0; k < nready && nrun < jobs && r >= 0; k++) {
                        size_t i = ready[k];
                        started[i] = true;
                        b->step = first_step[i] + 1;
                        char rnd[17];
                        cb_random_hex(rnd, 8);
                        char *path = cb_xasprintf("%s/stage-%zu-%s.json", b->tmp_dir, i, rnd);
                        (void) fflush(stdout);
                        (void) fflush(stderr);
                        pid_t pid = fork();
                        if (pid < 0) {
                                free(path);
                                r = cb_fail(err, errno, "fork for stage %zu", i);
                                break;
                        }
                        if (pid == 0)
                                child_build(b, i, path, fn);
                        run[nrun++] = (struct job){ .pid = pid, .stage = i, .path = path };
                }
                free(ready);
                if (r < 0 || all_done || nrun == 0)
                        break;
                int status;
                pid_t pid = waitpid(-1, &status, 0);
                if (pid < 0) {
                        if (errno == EINTR)
                                continue;
                        r = cb_fail(err, errno, "wait for the stages");
                        break;
                }
                for (size_t k = 0; k < nrun; k++) {
                        if (run[k].pid != pid)
                                continue;
                        r = collect(b, &run[k], status, err);
                        run[k] = run[--nrun];
                        break;
                }
        }
        /* on failure: stop the stages still running, and wait for them so no mount or file is left */
        for (size_t k = 0; k < nrun; k++) {
                (void) kill(run[k].pid, SIGTERM);
                (void) waitpid(run[k].pid, NULL, 0);
                (void) unlink(run[k].path);
                free(run[k].path);
        }
        b->step = step;
        free(run);
        free(deps);
        free(started);
        free(first_step);
        return r;
}

/* CUDA/PyTorch image rules: the practices of docs (SEEDS.md) that no other linter knows. They read
 * RUN text as words; they are heuristics over shell, so each one errs towards silence. */
#include "parser/df.h"
#include "parser/internal.h"
#include "parser/lint.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct cuda_ver {
        unsigned major, minor;
};

/* "11.8", "11.8.0", "12" -> major.minor. */
static bool parse_ver(const char *s, struct cuda_ver *ret)
{
        unsigned maj = 0, min = 0;
        size_t nd = 0;
        while (isdigit((unsigned char) *s) && nd < 3) {
                maj = maj * 10 + (unsigned) (*s++ - '0');
                nd++;
        }
        if (!nd)
                return false;
        if (*s == '.' && isdigit((unsigned char) s[1])) {
                s++;
                nd = 0;
                while (isdigit((unsigned char) *s) && nd < 3) {
                        min = min * 10 + (unsigned) (*s++ - '0');
                        nd++;
                }
        }
        ret->major = maj;
        ret->minor = min;
        return true;
}

static bool is_cuda_repo(const char *repo)
{
        size_t n = strlen(repo);
        return strcmp(repo, "nvidia/cuda") == 0 || (n > 5 && strcmp(repo + n - 5, "/cuda") == 0);
}

/* The CUDA version a base image reference's tag states: nvidia/cuda:11.8.0-..., or "cuda11.8" /
 * "cuda-11.8" anywhere in the tag (pytorch/pytorch:2.1.0-cuda11.8-cudnn8-runtime). */
static bool ref_cuda_version(const char *ref, struct cuda_ver *ret)
{
        _cleanup_free_ char *repo = NULL, *tag = NULL;
        bool digest;
        if (!ref)
                return false;
        df_lint_split_ref(ref, &repo, &tag, &digest);
        if (!tag)
                return false;
        if (is_cuda_repo(repo) && parse_ver(tag, ret))
                return true;
        for (const char *p = tag; (p = strstr(p, "cuda")); p += 4) {
                const char *v = p + 4;
                if (*v == '-' || *v == '_')
                        v++;
                if (isdigit((unsigned char) *v) && parse_ver(v, ret))
                        return true;
        }
        return false;
}

static bool stage_cuda(struct df_lint *l, size_t stage, struct cuda_ver *ret)
{
        if (l->o->base_cuda_version && parse_ver(l->o->base_cuda_version, ret))
                return true;
        return ref_cuda_version(df_lint_stage_image(l, stage), ret);
}

/* cuNNN as torch names its builds: the last digit is the minor (cu118 = 11.8, cu92 = 9.2). */
static bool cu_tag(const char *p, struct cuda_ver *ret, size_t *ret_len)
{
        size_t n = 0;
        while (isdigit((unsigned char) p[n]))
                n++;
        /* three or four digits: cu100 .. cu129 and on; two-digit tags (cu92) predate wheels anyone
         * pins today and match too much else */
        if (n < 3 || n > 4 || isalnum((unsigned char) p[n]))
                return false;
        unsigned v = 0;
        for (size_t i = 0; i < n; i++)
                v = v * 10 + (unsigned) (p[i] - '0');
        ret->major = v / 10;
        ret->minor = v % 10;
        *ret_len = n;
        return true;
}

/* Reports the first cuNNN tag in text (after '+' or '/') that does not match base; true if one did. */
static bool check_cu_text(struct df_lint *l, unsigned line, const char *t, const struct cuda_ver *base)
{
        struct cuda_ver wheel;
        for (const char *p = t; (p = strstr(p, "cu")); p += 2) {
                size_t n;
                if (p == t || (p[-1] != '+' && p[-1] != '/') || !cu_tag(p + 2, &wheel, &n))
                        continue;
                if (wheel.major == base->major && wheel.minor == base->minor)
                        continue;
                bool major = wheel.major != base->major;
                df_lint_report(l, line, major ? DF_SEV_ERROR : DF_SEV_WARNING,
                               "'cu%.*s' is built for CUDA %u.%u but the base image has CUDA %u.%u: "
                               "use cu%u%u wheels (%s)",
                               (int) n, p + 2, wheel.major, wheel.minor, base->major, base->minor,
                               base->major, base->minor,
                               major ? "libraries will fail to load or torch falls back to the CPU"
                                     : "pick the build that matches the base");
                return true;
        }
        return false;
}

void df_rule_cuda_torch_mismatch(struct df_lint *l)
{
        for (size_t i = 0; i < df_file_ninstr(l->f); i++) {
                const struct df_instr *in = df_file_instr(l->f, i);
                struct cuda_ver base;
                if (in->kind == DF_INSTR_RUN) {
                        if (!stage_cuda(l, l->stage_of[i], &base))
                                continue;
                        _cleanup_free_ char *t = df_lint_run_text(in);
                        (void) check_cu_text(l, in->start_line, t, &base);
                } else if (in->kind == DF_INSTR_ENV || in->kind == DF_INSTR_ARG) {
                        /* ENV PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cu121, ARG
                         * TORCH=2.3.0+cu121 */
                        for (size_t k = 0; k < in->nkvs; k++) {
                                const char *v = in->kvs[k].value;
                                if (!v || (!strstr(v, "pytorch.org") && !strstr(v, "+cu")))
                                        continue;
                                if (i >= df_file_stage(l->f, 0)->from &&
                                    stage_cuda(l, l->stage_of[i], &base) &&
                                    check_cu_text(l, in->start_line, v, &base))
                                        break;
                        }
                }
        }
}

void df_rule_cuda_tag_invalid(struct df_lint *l)
{
        for (size_t s = 0; s < df_file_nstages(l->f); s++) {
                const struct df_stage *st = df_file_stage(l->f, s);
                if (st->base_stage >= 0 || strchr(st->base, '$'))
                        continue;
                _cleanup_free_ char *repo = NULL, *tag = NULL;
                bool digest;
                df_lint_split_ref(st->base, &repo, &tag, &digest);
                if (!is_cuda_repo(repo))
                        continue;
                if (!tag) {
                        if (!digest)
                                df_lint_report(l, st->line, -1,
                                               "'%s' has no tag and nvidia/cuda publishes no 'latest': name "
                                               "a version such as 12.4.1-runtime-ubuntu22.04",
                                               st->base);
                        continue;
                }
                if (strcmp(tag, "latest") == 0) {
                        df_lint_report(l, st->line, -1,
                                       "nvidia/cuda publishes no 'latest' tag: name a version such as "
                                       "12.4.1-runtime-ubuntu22.04");
                        continue;
                }
                /* X.Y-... (two components) does not exist; X.Y.Z-... does */
                const char *p = tag;
                size_t a = strspn(p, "0123456789");
                if (!a || p[a] != '.')
                        continue;
                size_t b = strspn(p + a + 1, "0123456789");
                if (!b || p[a + 1 + b] == '.')
                        continue;
                df_lint_report(
                    l, st->line, -1,
                    "tag '%s' does not exist: nvidia/cuda tags carry the full version, e.g. '%.*s.0%s'", tag,
                    (int) (a + 1 + b), p, p + a + 1 + b);
        }
}

void df_rule_base_unpinned(struct df_lint *l)
{
        for (size_t s = 0; s < df_file_nstages(l->f); s++) {
                const struct df_stage *st = df_file_stage(l->f, s);
                if (st->base_stage >= 0 || strchr(st->base, '$') || strcasecmp(st->base, "scratch") == 0)
                        continue;
                _cleanup_free_ char *repo = NULL, *tag = NULL;
                bool digest;
                df_lint_split_ref(st->base, &repo, &tag, &digest);
                if (digest)
                        continue;
                if (!tag)
                        df_lint_report(l, st->line, -1,
                                       "base image '%s' has no tag: it means 'latest'; pin a version",
                                       st->base);
                else if (strcmp(tag, "latest") == 0)
                        df_lint_report(l, st->line, -1, "base image '%s' uses 'latest': pin a version",
                                       st->base);
        }
}

/* Shell words of one command: the RUN text cut at && || ; | and newlines. */
struct cmd {
        char **w;
        size_t n, cap;
};

static void cmd_free(struct cmd *c)
{
        for (size_t i = 0; i < c->n; i++)
                free(c->w[i]);
        free(c->w);
        c->w = NULL;
        c->n = c->cap = 0;
}

/* Calls fn for each simple command in text. Quotes are honoured; a word is unquoted. */
static void each_cmd(const char *text, void (*fn)(void *ctx, const struct cmd *c), void *ctx)
{
        struct cmd c = {0};
        struct cb_buf w;
        bool inword = false;
        cb_buf_init(&w, CB_BUF_UNLIMITED);
        for (const char *p = text;; p++) {
                char ch = *p;
                bool sep = ch == '\0' || ch == '\n' || ch == ';' || ch == '|' || (ch == '&' && p[1] == '&');
                if (sep || df_isspace(ch)) {
                        if (inword) {
                                if (c.n == c.cap) {
                                        c.cap = c.cap ? c.cap * 2 : 16;
                                        c.w = cb_xrealloc(c.w, c.cap * sizeof(char *));
                                }
                                c.w[c.n++] = cb_buf_take(&w, NULL);
                                inword = false;
                        }
                        if (sep) {
                                if (c.n)
                                        fn(ctx, &c);
                                cmd_free(&c);
                                if (ch == '\0')
                                        break;
                                if (ch == '&')
                                        p++;
                        }
                        continue;
                }
                if (ch == '\\' && p[1]) {
                        if (p[1] != '\n')
                                (void) cb_buf_addc(&w, p[1]);
                        inword = inword || p[1] != '\n';
                        p++;
                        continue;
                }
                if (ch == '\'' || ch == '"') {
                        const char *e = strchr(p + 1, ch);
                        if (!e)
                                e = p + strlen(p);
                        (void) cb_buf_add(&w, p + 1, (size_t) (e - p - 1));
                        inword = true;
                        p = *e ? e : e - 1;
                        continue;
                }
                (void) cb_buf_addc(&w, ch);
                inword = true;
        }
        cb_buf_release(&w);
        cmd_free(&c);
}

/* Index just past "apt-get"/"apt" followed by verb (options may come between), or 0. */
static size_t apt_verb(const struct cmd *c, const char *verb)
{
        for (size_t i = 0; i < c->n; i++) {
                const char *b = strrchr(c->w[i], '/');
                b = b ? b + 1 : c->w[i];
                if (strcmp(b, "apt-get") != 0 && strcmp(b, "apt") != 0 && strcmp(b, "aptitude") != 0)
                        continue;
                for (size_t j = i + 1; j < c->n; j++) {
                        if (c->w[j][0] == '-')
                                continue;
                        return strcmp(c->w[j], verb) == 0 ? j + 1 : 0;
                }
        }
        return 0;
}

static bool cmd_has(const struct cmd *c, const char *word)
{
        for (size_t i = 0; i < c->n; i++)
                if (strcmp(c->w[i], word) == 0)
                        return true;
        return false;
}

struct run_scan {
        bool apt_install, apt_update, apt_upgrade, install_without_norec, lists_cleaned;
        bool pip_without_cache;
        struct cb_buf unpinned;
};

static bool is_pip(const struct cmd *c, size_t *ret_install)
{
        for (size_t i = 0; i + 1 < c->n; i++) {
                const char *b = strrchr(c->w[i], '/');
                b = b ? b + 1 : c->w[i];
                bool pip = strcmp(b, "pip") == 0 || strncmp(b, "pip3", 4) == 0;
                if (!pip && strcmp(c->w[i], "-m") == 0 && strcmp(c->w[i + 1], "pip") == 0) {
                        i++;
                        pip = true;
                }
                if (!pip)
                        continue;
                if (i > 0 && strcmp(c->w[i - 1], "uv") == 0)
                        return false; /* uv keeps no cache in the image by default */
                for (size_t j = i + 1; j < c->n; j++) {
                        if (c->w[j][0] == '-')
                                continue;
                        if (strcmp(c->w[j], "install") != 0)
                                return false;
                        *ret_install = j + 1;
                        return true;
                }
        }
        return false;
}

static bool pip_opt_takes_value(const char *o)
{
        static const char *const v[] = {"-r",
                                        "--requirement",
                                        "-c",
                                        "--constraint",
                                        "-e",
                                        "--editable",
                                        "-i",
                                        "--index-url",
                                        "--extra-index-url",
                                        "-f",
                                        "--find-links",
                                        "--trusted-host",
                                        "-t",
                                        "--target",
                                        "--prefix",
                                        "--root",
                                        "--src",
                                        "--upgrade-strategy",
                                        "--platform",
                                        "--python-version",
                                        "--implementation",
                                        "--abi",
                                        "--cache-dir",
                                        "--log",
                                        "--timeout",
                                        "--retries",
                                        "--proxy",
                                        "--no-binary",
                                        "--only-binary",
                                        "--progress-bar",
                                        "--config-settings",
                                        "-C",
                                        "--global-option"};
        for (size_t i = 0; i < CB_ARRAY_SIZE(v); i++)
                if (strcmp(v[i], o) == 0)
                        return true;
        return false;
}

static bool pinned(const char *p)
{
        if (strstr(p, "==") || strchr(p, '@') || strstr(p, "://") || strchr(p, '$') || p[0] == '.' ||
            p[0] == '/' || p[0] == '~')
                return true;
        size_t n = strlen(p);
        return (n > 4 && strcmp(p + n - 4, ".whl") == 0) || (n > 7 && strcmp(p + n - 7, ".tar.gz") == 0) ||
               (n > 4 && strcmp(p + n - 4, ".zip") == 0);
}

static void scan_cmd(void *ctx, const struct cmd *c)
{
        struct run_scan *s = ctx;
        size_t k;
        if (apt_verb(c, "install")) {
                s->apt_install = true;
                if (!cmd_has(c, "--no-install-recommends") && !cmd_has(c, "APT::Install-Recommends=false") &&
                    !cmd_has(c, "APT::Install-Recommends=0"))
                        s->install_without_norec = true;
        }
        if (apt_verb(c, "update"))
                s->apt_update = true;
        if (apt_verb(c, "upgrade") || apt_verb(c, "dist-upgrade") || apt_verb(c, "full-upgrade"))
                s->apt_upgrade = true;
        if (c->n >= 2 && strcmp(c->w[0], "rm") == 0)
                for (size_t i = 1; i < c->n; i++)
                        if (strncmp(c->w[i], "/var/lib/apt/lists", 18) == 0)
                                s->lists_cleaned = true;
        if (is_pip(c, &k)) {
                if (!cmd_has(c, "--no-cache-dir"))
                        s->pip_without_cache = true;
                for (size_t i = k; i < c->n; i++) {
                        const char *w = c->w[i];
                        if (w[0] == '-') {
                                if (!strchr(w, '=') && pip_opt_takes_value(w))
                                        i++;
                                continue;
                        }
                        if (strcmp(w, ">") == 0 || strcmp(w, "2>&1") == 0 || w[0] == '>')
                                break;
                        if (!pinned(w)) {
                                if (s->unpinned.len)
                                        (void) cb_buf_adds(&s->unpinned, ", ");
                                (void) cb_buf_addf(&s->unpinned, "'%s'", w);
                        }
                }
        }
}

/* Whether the RUN mounts a cache over path (then nothing it leaves there reaches the layer). */
static bool run_caches(const struct df_instr *in, const char *path)
{
        for (size_t i = 0; i < in->nflags; i++) {
                const char *v = in->flags[i].value;
                if (strcmp(in->flags[i].name, "mount") != 0 || !v || !strstr(v, "cache"))
                        continue;
                if (!path || strstr(v, path))
                        return true;
        }
        return false;
}

static void scan_run(const struct df_instr *in, struct run_scan *s)
{
        _cleanup_free_ char *t = df_lint_run_text(in);
        memset(s, 0, sizeof(*s));
        cb_buf_init(&s->unpinned, 4096);
        each_cmd(t, scan_cmd, s);
}

/* Runs fn over each RUN (ONBUILD RUN included) with its scan. */
static void each_run(struct df_lint *l,
                     void (*fn)(struct df_lint *l, const struct df_instr *in, size_t idx, struct run_scan *s))
{
        for (size_t i = 0; i < df_file_ninstr(l->f); i++) {
                const struct df_instr *in = df_file_instr(l->f, i);
                const struct df_instr *x = in->kind == DF_INSTR_ONBUILD && in->onbuild ? in->onbuild : in;
                if (x->kind != DF_INSTR_RUN)
                        continue;
                struct run_scan s;
                scan_run(x, &s);
                fn(l, x, i, &s);
                cb_buf_release(&s.unpinned);
        }
}

static void apt_recommends(struct df_lint *l, const struct df_instr *in, size_t idx, struct run_scan *s)
{
        if (s->install_without_norec)
                df_lint_report(
                    l, in->start_line, -1,
                    "apt-get install without --no-install-recommends pulls in packages nobody asked for");
}

void df_rule_apt_recommends(struct df_lint *l)
{
        each_run(l, apt_recommends);
}

static void apt_lists(struct df_lint *l, const struct df_instr *in, size_t idx, struct run_scan *s)
{
        if ((s->apt_install || s->apt_update) && !s->lists_cleaned && !run_caches(in, "/var/lib/apt"))
                df_lint_report(l, in->start_line, -1,
                               "apt-get %s without 'rm -rf /var/lib/apt/lists/*' in the same RUN leaves the "
                               "package lists in the layer",
                               s->apt_install ? "install" : "update");
}

void df_rule_apt_lists(struct df_lint *l)
{
        each_run(l, apt_lists);
}

static void apt_upgrade(struct df_lint *l, const struct df_instr *in, size_t idx, struct run_scan *s)
{
        if (s->apt_upgrade)
                df_lint_report(l, in->start_line, -1,
                               "apt-get upgrade makes the image depend on the day it was built: use a newer "
                               "base image instead");
}

void df_rule_apt_upgrade(struct df_lint *l)
{
        each_run(l, apt_upgrade);
}

void df_rule_pip_cache(struct df_lint *l)
{
        /* one pass: PIP_NO_CACHE_DIR set by an ENV or ARG earlier in the same stage silences it */
        bool env = false;
        size_t stage = (size_t) -1;
        for (size_t i = 0; i < df_file_ninstr(l->f); i++) {
                const struct df_instr *in = df_file_instr(l->f, i);
                if (l->stage_of[i] != stage) {
                        stage = l->stage_of[i];
                        env = false;
                }
                if (in->kind == DF_INSTR_ENV || in->kind == DF_INSTR_ARG)
                        for (size_t k = 0; k < in->nkvs; k++)
                                env = env || strcmp(in->kvs[k].key, "PIP_NO_CACHE_DIR") == 0;
                const struct df_instr *x = in->kind == DF_INSTR_ONBUILD && in->onbuild ? in->onbuild : in;
                if (x->kind != DF_INSTR_RUN || env || run_caches(x, NULL))
                        continue;
                struct run_scan s;
                scan_run(x, &s);
                if (s.pip_without_cache)
                        df_lint_report(
                            l, x->start_line, -1,
                            "pip install without --no-cache-dir keeps pip's download cache in the layer");
                cb_buf_release(&s.unpinned);
        }
}

static void pip_unpinned(struct df_lint *l, const struct df_instr *in, size_t idx, struct run_scan *s)
{
        if (s->unpinned.len)
                df_lint_report(l, in->start_line, -1,
                               "pip install of unpinned packages %s: pin them (pkg==1.2.3)", s->unpinned.p);
}

void df_rule_pip_unpinned(struct df_lint *l)
{
        each_run(l, pip_unpinned);
}

void df_rule_devel_final(struct df_lint *l)
{
        size_t n = df_file_nstages(l->f);
        if (!n)
                return;
        const char *img = df_lint_stage_image(l, n - 1);
        if (!img)
                return;
        _cleanup_free_ char *repo = NULL, *tag = NULL;
        bool digest;
        df_lint_split_ref(img, &repo, &tag, &digest);
        if (!tag)
                return;
        const char *d = strstr(tag, "devel");
        if (!d || (d != tag && d[-1] != '-') || (d[5] && d[5] != '-'))
                return;
        df_lint_report(l, df_file_stage(l->f, n - 1)->line, -1,
                       "the final stage builds on '%s': ship the '-runtime' variant (%.*sruntime%s) and "
                       "compile in an earlier stage",
                       img, (int) (d - tag), tag, d + 5);
}

static bool root_spec(const char *u)
{
        if (*u == '"' || *u == '\'')
                u++;
        size_t n = strcspn(u, ":\"'");
        return (n == 4 && strncmp(u, "root", 4) == 0) || (n == 1 && u[0] == '0');
}

void df_rule_root_user(struct df_lint *l)
{
        size_t n = df_file_nstages(l->f), hops = 0;
        if (!n)
                return;
        long s = (long) n - 1;
        const struct df_stage *final = df_file_stage(l->f, (size_t) s);
        while (s >= 0 && hops++ <= n) {
                const struct df_stage *st = df_file_stage(l->f, (size_t) s);
                for (size_t i = st->first + st->n; i-- > st->first;) {
                        const struct df_instr *in = df_file_instr(l->f, i);
                        if (in->kind != DF_INSTR_USER || !in->nargs)
                                continue;
                        if (root_spec(in->args[0]))
                                df_lint_report(
                                    l, in->start_line, -1,
                                    "the last USER of the final stage is '%s': the container runs as root",
                                    in->args[0]);
                        return;
                }
                s = st->base_stage;
        }
        if (final && strcasecmp(final->base, "scratch") != 0)
                df_lint_report(l, final->line, -1,
                               "the final stage sets no USER: the container runs as root unless the base "
                               "image sets one");
}

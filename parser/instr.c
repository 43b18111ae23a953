/* One logical line to one struct df_instr: keyword, flags, then the words each instruction takes
 * (BuildKit's dispatch table: parseString, parseMaybeJSON, parseMaybeJSONToList, parseNameVal, ...). */
#include "parser/df.h"
#include "parser/internal.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const kind_names[DF_INSTR_KIND_COUNT] = {
    [DF_INSTR_FROM] = "FROM",
    [DF_INSTR_RUN] = "RUN",
    [DF_INSTR_CMD] = "CMD",
    [DF_INSTR_LABEL] = "LABEL",
    [DF_INSTR_MAINTAINER] = "MAINTAINER",
    [DF_INSTR_EXPOSE] = "EXPOSE",
    [DF_INSTR_ENV] = "ENV",
    [DF_INSTR_ADD] = "ADD",
    [DF_INSTR_COPY] = "COPY",
    [DF_INSTR_ENTRYPOINT] = "ENTRYPOINT",
    [DF_INSTR_VOLUME] = "VOLUME",
    [DF_INSTR_USER] = "USER",
    [DF_INSTR_WORKDIR] = "WORKDIR",
    [DF_INSTR_ARG] = "ARG",
    [DF_INSTR_ONBUILD] = "ONBUILD",
    [DF_INSTR_STOPSIGNAL] = "STOPSIGNAL",
    [DF_INSTR_HEALTHCHECK] = "HEALTHCHECK",
    [DF_INSTR_SHELL] = "SHELL",
};

const char *df_instr_kind_name(enum df_instr_kind k)
{
        return (unsigned) k < DF_INSTR_KIND_COUNT ? kind_names[k] : "?";
}

bool df_instr_kind_expands(enum df_instr_kind k)
{
        switch (k) {
        case DF_INSTR_ADD:
        case DF_INSTR_COPY:
        case DF_INSTR_ENV:
        case DF_INSTR_EXPOSE:
        case DF_INSTR_FROM:
        case DF_INSTR_LABEL:
        case DF_INSTR_STOPSIGNAL:
        case DF_INSTR_USER:
        case DF_INSTR_VOLUME:
        case DF_INSTR_WORKDIR:
        case DF_INSTR_ARG:
                return true;
        default:
                return false;
        }
}

int df_kind_from_keyword(const char *p, size_t len)
{
        for (size_t k = 0; k < DF_INSTR_KIND_COUNT; k++)
                if (strlen(kind_names[k]) == len && strncasecmp(kind_names[k], p, len) == 0)
                        return (int) k;
        return -1;
}

static size_t edit_distance(const char *a, size_t la, const char *b, size_t lb)
{
        size_t row[16];
        if (lb >= CB_ARRAY_SIZE(row) || la > 64)
                return (size_t) -1;
        for (size_t j = 0; j <= lb; j++)
                row[j] = j;
        for (size_t i = 1; i <= la; i++) {
                size_t prev = row[0];
                row[0] = i;
                for (size_t j = 1; j <= lb; j++) {
                        size_t cur = row[j];
                        size_t ca = (size_t) tolower((unsigned char) a[i - 1]);
                        size_t cbb = (size_t) tolower((unsigned char) b[j - 1]);
                        size_t best = prev + (ca != cbb);
                        if (row[j] + 1 < best)
                                best = row[j] + 1;
                        if (row[j - 1] + 1 < best)
                                best = row[j - 1] + 1;
                        row[j] = best;
                        prev = cur;
                }
        }
        return row[lb];
}

const char *df_kind_suggest(const char *p, size_t len)
{
        const char *best = NULL;
        size_t bd = 3;
        for (size_t k = 0; k < DF_INSTR_KIND_COUNT; k++) {
                size_t d = edit_distance(p, len, kind_names[k], strlen(kind_names[k]));
                if (d < bd && d < strlen(kind_names[k])) {
                        bd = d;
                        best = kind_names[k];
                }
        }
        return best;
}

static const char *const *flag_list(enum df_instr_kind kind)
{
        static const char *const from[] = {"platform", NULL};
        static const char *const run[] = {"mount", "network", "security", "device", NULL};
        static const char *const copy[] = {"from", "chown", "chmod", "link", "exclude", "parents", NULL};
        static const char *const add[] = {"chown",    "chmod",        "link",   "exclude",
                                          "checksum", "keep-git-dir", "unpack", NULL};
        static const char *const hc[] = {"interval",       "timeout", "start-period",
                                         "start-interval", "retries", NULL};
        switch (kind) {
        case DF_INSTR_FROM:
                return from;
        case DF_INSTR_RUN:
                return run;
        case DF_INSTR_COPY:
                return copy;
        case DF_INSTR_ADD:
                return add;
        case DF_INSTR_HEALTHCHECK:
                return hc;
        default:
                return NULL;
        }
}

bool df_flag_allowed(enum df_instr_kind kind, const char *name)
{
        for (const char *const *l = flag_list(kind); l && *l; l++)
                if (strcmp(*l, name) == 0)
                        return true;
        return false;
}

/* The closest flag of kind to an unknown one (edit distance <= 2), or NULL. */
static const char *flag_suggest(enum df_instr_kind kind, const char *name)
{
        const char *best = NULL;
        size_t bd = 3;
        for (const char *const *l = flag_list(kind); l && *l; l++) {
                size_t d = edit_distance(name, strlen(name), *l, strlen(*l));
                if (d < bd && d < strlen(*l)) {
                        bd = d;
                        best = *l;
                }
        }
        return best;
}

/* The end of the word starting at s[i]: unquoted whitespace ends it; quotes and escapes group. */
static size_t word_end(const char *s, size_t len, size_t i, char escape)
{
        char q = 0;
        for (; i < len; i++) {
                char c = s[i];
                if (q) {
                        if (c == q)
                                q = 0;
                        else if (q == '"' && c == escape && i + 1 < len)
                                i++;
                        continue;
                }
                if (c == escape && i + 1 < len) {
                        i++;
                        continue;
                }
                if (c == '\'' || c == '"')
                        q = c;
                else if (df_isspace(c))
                        break;
        }
        return i;
}

void df_split_words(struct df_arena *a, const char *s, size_t len, char escape, struct df_vec *ret_words)
{
        size_t i = 0;
        for (;;) {
                while (i < len && df_isspace(s[i]))
                        i++;
                if (i >= len)
                        return;
                size_t e = word_end(s, len, i, escape);
                *(char **) df_vec_push(ret_words) = df_arena_strndup(a, s + i, e - i);
                i = e;
        }
}

const char *df_instr_flag(const struct df_instr *in, const char *name, bool *ret_present)
{
        const char *v = NULL;
        bool present = false;
        for (size_t i = 0; i < in->nflags; i++)
                if (strcmp(in->flags[i].name, name) == 0) {
                        v = in->flags[i].value;
                        present = true;
                }
        if (ret_present)
                *ret_present = present;
        return v;
}

struct ctx {
        struct df_file *f;
        struct df_instr *in;
        struct cb_err *err;
};

static int fail(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct ctx *c, const char *fmt, ...)
{
        _cleanup_(cb_buf_release) struct cb_buf b;
        va_list ap;
        cb_buf_init(&b, 4096);
        va_start(ap, fmt);
        (void) cb_buf_vaddf(&b, fmt, ap);
        va_end(ap);
        return cb_failc(c->err, -EINVAL, "%s:%u: %s", c->f->name, c->in->start_line, b.p);
}

static bool is_bool(const char *v)
{
        return !v || strcmp(v, "true") == 0 || strcmp(v, "false") == 0 || strcmp(v, "1") == 0 ||
               strcmp(v, "0") == 0;
}

/* Values BuildKit checks before building; $VARS are left to the builder's expansion. */
static int check_flag_value(struct ctx *c, const struct df_flag *fl)
{
        const char *v = fl->value, *n = fl->name;
        const char *kw = df_instr_kind_name(c->in->kind);
        if (v && strchr(v, '$'))
                return 0;
        bool valued = strcmp(n, "link") != 0 && strcmp(n, "parents") != 0 && strcmp(n, "keep-git-dir") != 0 &&
                      strcmp(n, "unpack") != 0;
        if (!valued) {
                if (!is_bool(v))
                        return fail(c, "%s --%s='%s': expected true or false", kw, n, v);
                return 0;
        }
        if (!v || !*v)
                return fail(c, "%s --%s needs a value (--%s=...)", kw, n, n);
        if (strcmp(n, "network") == 0 && strcmp(v, "default") != 0 && strcmp(v, "none") != 0 &&
            strcmp(v, "host") != 0)
                return fail(c, "RUN --network='%s': use default, none or host", v);
        if (strcmp(n, "security") == 0 && strcmp(v, "insecure") != 0 && strcmp(v, "sandbox") != 0)
                return fail(c, "RUN --security='%s': use sandbox or insecure", v);
        if (strcmp(n, "checksum") == 0) {
                const char *hex = strncmp(v, "sha256:", 7) == 0   ? v + 7
                                  : strncmp(v, "sha512:", 7) == 0 ? v + 7
                                                                  : NULL;
                size_t want = strncmp(v, "sha256:", 7) == 0 ? 64 : 128;
                if (!hex || strlen(hex) != want || strspn(hex, "0123456789abcdef") != want)
                        return fail(c, "ADD --checksum='%s': expected sha256:<64 hex digits>", v);
        }
        if (strcmp(n, "chmod") == 0 && v[0] >= '0' && v[0] <= '9') {
                unsigned mode;
                if (cb_parse_mode(cb_str_c(v), &mode) < 0)
                        return fail(c, "%s --chmod='%s': not an octal mode", kw, v);
        }
        return 0;
}

static int parse_flags(struct ctx *c, struct cb_str *rest)
{
        struct df_vec flags;
        const char *s = rest->p;
        size_t len = rest->len, i = 0;

        df_vec_init(&flags, sizeof(struct df_flag));
        for (;;) {
                while (i < len && df_isspace(s[i]))
                        i++;
                if (i + 1 >= len || s[i] != '-' || s[i + 1] != '-')
                        break;
                size_t e = word_end(s, len, i, c->f->escape);
                if (e - i == 2) { /* "--" ends the flags */
                        i = e;
                        break;
                }
                const char *w = s + i + 2;
                size_t wl = e - i - 2;
                const char *eq = memchr(w, '=', wl);
                size_t nl = eq ? (size_t) (eq - w) : wl;
                char *name = df_arena_strndup(&c->f->arena, w, nl);
                if (!nl || !df_flag_allowed(c->in->kind, name)) {
                        const char *sug = flag_suggest(c->in->kind, name);
                        df_vec_release(&flags);
                        if (sug)
                                return fail(c, "unknown flag '--%s' for %s (did you mean --%s?)", name,
                                            df_instr_kind_name(c->in->kind), sug);
                        return fail(c, "unknown flag '--%s' for %s", name, df_instr_kind_name(c->in->kind));
                }
                struct df_flag *fl = df_vec_push(&flags);
                fl->name = name;
                fl->value = eq ? df_arena_strndup(&c->f->arena, eq + 1, wl - nl - 1) : NULL;
                i = e;
                if (c->in->kind != DF_INSTR_HEALTHCHECK) {
                        int r = check_flag_value(c, fl);
                        if (r < 0) {
                                df_vec_release(&flags);
                                return r;
                        }
                }
        }
        c->in->nflags = flags.n;
        c->in->flags = df_vec_to_arena(&flags, &c->f->arena);
        while (i < len && df_isspace(s[i]))
                i++;
        *rest = cb_str_from(s + i, len - i);
        return 0;
}

/* A JSON array of strings, else false (BuildKit then falls back to the shell form). */
static bool parse_json(struct ctx *c, struct cb_str rest)
{
        json_error_t jerr;
        if (!rest.len || rest.p[0] != '[')
                return false;
        json_t *j = json_loadb(rest.p, rest.len, 0, &jerr);
        if (!j)
                return false;
        bool ok = json_is_array(j);
        for (size_t i = 0; ok && i < json_array_size(j); i++)
                ok = json_is_string(json_array_get(j, i));
        if (ok) {
                size_t n = json_array_size(j);
                char **args = df_arena_alloc(&c->f->arena, (n + 1) * sizeof(char *));
                for (size_t i = 0; i < n; i++) {
                        json_t *e = json_array_get(j, i);
                        args[i] = df_arena_strndup(&c->f->arena, json_string_value(e), json_string_length(e));
                }
                c->in->args = args;
                c->in->nargs = n;
                c->in->json = true;
        }
        json_decref(j);
        return ok;
}

/* Text that starts like a JSON array ("[\"") and ends with ']' but does not parse is a mistake, not a
 * shell command: "[ \"$x\" = y ]" (with a space) stays a valid shell test. */
static bool looks_like_json(struct cb_str rest)
{
        return rest.len >= 2 && rest.p[0] == '[' && rest.p[1] == '"' && rest.p[rest.len - 1] == ']';
}

static void one_arg(struct ctx *c, struct cb_str rest)
{
        char **args = df_arena_alloc(&c->f->arena, 2 * sizeof(char *));
        args[0] = df_arena_strndup(&c->f->arena, rest.p, rest.len);
        c->in->args = args;
        c->in->nargs = 1;
}

/* BuildKit's parseStringsWhitespaceDelimited: plain whitespace split, quotes not honoured (so
 * COPY "a b" /x is three words; paths with spaces need the JSON form, as the reference says). */
static void words_args(struct ctx *c, struct cb_str rest)
{
        struct df_vec w;
        size_t i = 0;
        df_vec_init(&w, sizeof(char *));
        for (;;) {
                while (i < rest.len && df_isspace(rest.p[i]))
                        i++;
                if (i >= rest.len)
                        break;
                size_t e = i;
                while (e < rest.len && !df_isspace(rest.p[e]))
                        e++;
                *(char **) df_vec_push(&w) = df_arena_strndup(&c->f->arena, rest.p + i, e - i);
                i = e;
        }
        c->in->nargs = w.n;
        *(char **) df_vec_push(&w) = NULL;
        c->in->args = df_vec_to_arena(&w, &c->f->arena);
}

static int maybe_json_cmd(struct ctx *c, struct cb_str rest)
{
        if (parse_json(c, rest))
                return 0;
        if (looks_like_json(rest))
                return fail(c, "%s: bad JSON array: %.*s", df_instr_kind_name(c->in->kind), (int) rest.len,
                            rest.p);
        one_arg(c, rest);
        return 0;
}

static int maybe_json_list(struct ctx *c, struct cb_str rest)
{
        if (parse_json(c, rest))
                return 0;
        if (looks_like_json(rest))
                return fail(c, "%s: bad JSON array: %.*s", df_instr_kind_name(c->in->kind), (int) rest.len,
                            rest.p);
        words_args(c, rest);
        return 0;
}

static int name_val(struct ctx *c, struct cb_str rest)
{
        const char *kw = df_instr_kind_name(c->in->kind);
        struct df_vec w, kvs;
        int r = 0;

        df_vec_init(&w, sizeof(char *));
        df_vec_init(&kvs, sizeof(struct df_kv));
        df_split_words(&c->f->arena, rest.p, rest.len, c->f->escape, &w);
        char **words = w.v;
        if (!strchr(words[0], '=')) {
                /* legacy "ENV key value with spaces" */
                size_t kl = strlen(words[0]);
                struct cb_str v = cb_str_from(rest.p + kl, rest.len - kl);
                while (v.len && df_isspace(*v.p)) {
                        v.p++;
                        v.len--;
                }
                if (!v.len) {
                        r = fail(c, "%s %s: missing value (write %s %s=value)", kw, words[0], kw, words[0]);
                        goto out;
                }
                struct df_kv *kv = df_vec_push(&kvs);
                kv->key = words[0];
                kv->value = df_arena_strndup(&c->f->arena, v.p, v.len);
        } else
                for (size_t i = 0; i < w.n; i++) {
                        char *eq = strchr(words[i], '=');
                        if (!eq) {
                                r = fail(c, "%s: can't find '=' in '%s' (the form is name=value)", kw,
                                         words[i]);
                                goto out;
                        }
                        if (eq == words[i]) {
                                r = fail(c, "%s: names can not be blank ('%s')", kw, words[i]);
                                goto out;
                        }
                        *eq = '\0';
                        struct df_kv *kv = df_vec_push(&kvs);
                        kv->key = words[i];
                        kv->value = eq + 1;
                }
        c->in->nkvs = kvs.n;
        c->in->kvs = df_vec_to_arena(&kvs, &c->f->arena);
out:
        df_vec_release(&w);
        df_vec_release(&kvs);
        return r;
}

static int parse_arg(struct ctx *c, struct cb_str rest)
{
        struct df_vec w, kvs;
        df_vec_init(&w, sizeof(char *));
        df_vec_init(&kvs, sizeof(struct df_kv));
        df_split_words(&c->f->arena, rest.p, rest.len, c->f->escape, &w);
        for (size_t i = 0; i < w.n; i++) {
                char *word = ((char **) w.v)[i];
                char *eq = strchr(word, '=');
                if (eq == word) {
                        df_vec_release(&w);
                        df_vec_release(&kvs);
                        return fail(c, "ARG: names can not be blank ('%s')", word);
                }
                struct df_kv *kv = df_vec_push(&kvs);
                kv->key = word;
                if (eq) {
                        *eq = '\0';
                        kv->value = eq + 1;
                }
        }
        df_vec_release(&w);
        c->in->nkvs = kvs.n;
        c->in->kvs = df_vec_to_arena(&kvs, &c->f->arena);
        return 0;
}

static int parse_healthcheck(struct ctx *c, struct cb_str rest)
{
        size_t k = 0;
        while (k < rest.len && !df_isspace(rest.p[k]))
                k++;
        struct cb_str typ = cb_str_from(rest.p, k);
        struct cb_str after = cb_str_from(rest.p + k, rest.len - k);
        while (after.len && df_isspace(*after.p)) {
                after.p++;
                after.len--;
        }
        if (cb_str_eq_nocase_c(typ, "NONE")) {
                if (after.len)
                        return fail(c, "HEALTHCHECK NONE takes no arguments");
                if (c->in->nflags)
                        return fail(c, "HEALTHCHECK NONE takes no options");
                c->in->none = true;
                return 0;
        }
        if (!cb_str_eq_nocase_c(typ, "CMD"))
                return fail(c, "HEALTHCHECK: unknown type '%.*s' (use CMD or NONE)", (int) typ.len, typ.p);
        if (!after.len)
                return fail(c, "HEALTHCHECK CMD requires a command");
        for (size_t i = 0; i < c->in->nflags; i++) {
                const struct df_flag *fl = &c->in->flags[i];
                if (!fl->value || !*fl->value)
                        return fail(c, "HEALTHCHECK: --%s needs a value", fl->name);
                if (strcmp(fl->name, "retries") != 0 && !strchr(fl->value, '$')) {
                        uint64_t ns;
                        if (df_duration_parse(fl->value, &ns) < 0)
                                return fail(c, "HEALTHCHECK: --%s='%s' is not a duration (e.g. 30s, 1m30s)",
                                            fl->name, fl->value);
                        /* BuildKit: a non-zero value below 1ms is refused */
                        if (ns && ns < 1000000)
                                return fail(c, "HEALTHCHECK: --%s='%s' is shorter than 1ms", fl->name,
                                            fl->value);
                }
                if (strcmp(fl->name, "retries") == 0) {
                        uint64_t n;
                        if (!strchr(fl->value, '$') && cb_parse_u64(cb_str_c(fl->value), 1000000000, &n) < 0)
                                return fail(c, "HEALTHCHECK: --retries='%s' is not a number", fl->value);
                }
        }
        return maybe_json_cmd(c, after);
}

static int build(struct ctx *c, struct cb_str rest, int depth);

static int parse_onbuild(struct ctx *c, struct cb_str rest, int depth)
{
        size_t k = 0;
        while (k < rest.len && !df_isspace(rest.p[k]))
                k++;
        int kind = df_kind_from_keyword(rest.p, k);
        if (kind < 0)
                return fail(c, "ONBUILD: unknown instruction '%.*s'", (int) k, rest.p);
        if (kind == DF_INSTR_ONBUILD || kind == DF_INSTR_FROM || kind == DF_INSTR_MAINTAINER)
                return fail(c, "ONBUILD %s is not allowed", kind_names[kind]);
        struct df_instr *inner = df_arena_alloc(&c->f->arena, sizeof(*inner));
        inner->kind = (enum df_instr_kind) kind;
        inner->start_line = c->in->start_line;
        inner->end_line = c->in->end_line;
        inner->text = df_arena_strndup(&c->f->arena, rest.p, rest.len);
        inner->keyword = df_arena_strndup(&c->f->arena, rest.p, k);
        inner->heredocs = c->in->heredocs;
        inner->nheredocs = c->in->nheredocs;
        struct ctx ic = {.f = c->f, .in = inner, .err = c->err};
        struct cb_str irest = cb_str_from(rest.p + k, rest.len - k);
        int r = build(&ic, irest, depth + 1);
        if (r < 0)
                return r;
        c->in->onbuild = inner;
        return 0;
}

static int build(struct ctx *c, struct cb_str rest, int depth)
{
        struct df_instr *in = c->in;
        const char *kw = kind_names[in->kind];
        int r;

        while (rest.len && df_isspace(*rest.p)) {
                rest.p++;
                rest.len--;
        }
        if (in->kind != DF_INSTR_ONBUILD) {
                r = parse_flags(c, &rest);
                if (r < 0)
                        return r;
        }
        if (!rest.len)
                return fail(c, "%s requires at least one argument", kw);

        switch (in->kind) {
        case DF_INSTR_FROM:
                words_args(c, rest);
                if (in->nargs == 3 && strcasecmp(in->args[1], "AS") == 0)
                        return 0;
                if (in->nargs != 1)
                        return fail(c,
                                    "FROM requires either one argument (the image) or three (image AS name)");
                return 0;
        case DF_INSTR_RUN:
        case DF_INSTR_CMD:
        case DF_INSTR_ENTRYPOINT:
                return maybe_json_cmd(c, rest);
        case DF_INSTR_SHELL:
                if (!parse_json(c, rest))
                        return fail(
                            c, "SHELL requires the arguments in JSON form, e.g. [\"/bin/bash\", \"-c\"]");
                if (!in->nargs)
                        return fail(c, "SHELL requires at least one argument");
                return 0;
        case DF_INSTR_ENV:
        case DF_INSTR_LABEL:
                return name_val(c, rest);
        case DF_INSTR_ARG:
                return parse_arg(c, rest);
        case DF_INSTR_MAINTAINER:
        case DF_INSTR_USER:
        case DF_INSTR_WORKDIR:
        case DF_INSTR_STOPSIGNAL:
                one_arg(c, rest);
                return 0;
        case DF_INSTR_EXPOSE:
                words_args(c, rest);
                return 0;
        case DF_INSTR_VOLUME:
                r = maybe_json_list(c, rest);
                if (r >= 0 && in->nargs == 0)
                        return fail(c, "VOLUME requires at least one path");
                return r;
        case DF_INSTR_COPY:
        case DF_INSTR_ADD:
                r = maybe_json_list(c, rest);
                if (r < 0)
                        return r;
                if (in->nargs < 2)
                        return fail(c, "%s requires at least two arguments (sources and a destination)", kw);
                return 0;
        case DF_INSTR_HEALTHCHECK:
                return parse_healthcheck(c, rest);
        case DF_INSTR_ONBUILD:
                if (depth > 0)
                        return fail(c, "ONBUILD ONBUILD is not allowed");
                return parse_onbuild(c, rest, depth);
        }
        return fail(c, "unknown instruction kind");
}

int df_instr_build(struct df_file *f, struct cb_str text, unsigned start, unsigned end,
                   struct df_vec *heredocs, struct df_instr **ret, struct cb_err *err)
{
        size_t k = 0;
        while (k < text.len && !df_isspace(text.p[k]))
                k++;
        int kind = df_kind_from_keyword(text.p, k);
        if (kind < 0) {
                const char *s = df_kind_suggest(text.p, k);
                size_t show = k > 64 ? 64 : k;
                if (s)
                        return cb_failc(err, -EINVAL, "%s:%u: unknown instruction '%.*s' (did you mean %s?)",
                                        f->name, start, (int) show, text.p, s);
                return cb_failc(err, -EINVAL, "%s:%u: unknown instruction '%.*s'", f->name, start, (int) show,
                                text.p);
        }
        struct df_instr *in = df_arena_alloc(&f->arena, sizeof(*in));
        in->kind = (enum df_instr_kind) kind;
        in->start_line = start;
        in->end_line = end;
        in->text = df_arena_strndup(&f->arena, text.p, text.len);
        in->keyword = df_arena_strndup(&f->arena, text.p, k);
        in->nheredocs = heredocs->n;
        in->heredocs = df_vec_to_arena(heredocs, &f->arena);
        struct ctx c = {.f = f, .in = in, .err = err};
        int r = build(&c, cb_str_from(in->text + k, text.len - k), 0);
        if (r < 0)
                return r;
        *ret = in;
        return 0;
}

const struct df_heredoc *df_instr_heredoc_arg(const struct df_instr *in, size_t i)
{
        if (!in || i >= in->nargs || in->json || !in->nheredocs)
                return NULL;
        const char *w = in->args[i];
        while (*w >= '0' && *w <= '9')
                w++;
        if (w[0] != '<' || w[1] != '<')
                return NULL;
        w += 2;
        if (*w == '-')
                w++;
        if (!*w || strchr(w, '<'))
                return NULL;
        /* the delimiter with its quotes removed, as the lexer recorded it */
        size_t n = 0, wl = strlen(w);
        _cleanup_free_ char *d = cb_xmalloc(wl + 1);
        for (size_t k = 0; k < wl; k++)
                if (w[k] != '\'' && w[k] != '"')
                        d[n++] = w[k];
        d[n] = '\0';
        for (size_t h = 0; h < in->nheredocs; h++)
                if (strcmp(in->heredocs[h].delim, d) == 0)
                        return &in->heredocs[h];
        return NULL;
}

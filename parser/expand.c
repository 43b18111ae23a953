/* Word expansion with BuildKit's shell-lexer semantics (frontend/dockerfile/shell): quote removal,
 * escapes, $V and ${V...} forms. No command substitution, no globbing: the shell does those at RUN
 * time. Recursion is bounded by DF_EXPAND_MAX_DEPTH and output by DF_EXPAND_MAX_OUTPUT, so a
 * 1000-deep ${a:-${b:-...}} is an error, not a stack overflow. */
#include "parser/df.h"
#include "parser/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Pattern operators (${V#p}, ${V/p/r}) try every substring: keep them to values this long. */
#define PATTERN_VALUE_MAX 4096u

struct words {
        struct df_vec v; /* char * */
        struct cb_buf cur;
        bool inword;
};

struct xp {
        const struct df_vars *vars;
        const char *s;
        size_t i, n;
        char esc;
        unsigned depth;
        uint64_t steps; /* pattern matcher work so far */
        struct cb_err *err;
};

static int peek(const struct xp *x)
{
        return x->i < x->n ? (unsigned char) x->s[x->i] : -1;
}

static int next(struct xp *x)
{
        return x->i < x->n ? (unsigned char) x->s[x->i++] : -1;
}

static int too_big(struct xp *x)
{
        return cb_failc(x->err, -E2BIG, "expansion result exceeds %u bytes", DF_EXPAND_MAX_OUTPUT);
}

static void words_end(struct words *w)
{
        if (!w->inword)
                return;
        char **slot = df_vec_push(&w->v);
        *slot = cb_buf_take(&w->cur, NULL);
        w->inword = false;
}

/* A character that came from quotes or an escape: never splits. */
static int add_raw(struct xp *x, struct cb_buf *out, struct words *w, char c)
{
        if (cb_buf_addc(out, c) < 0)
                return too_big(x);
        if (w) {
                if (cb_buf_addc(&w->cur, c) < 0)
                        return too_big(x);
                w->inword = true;
        }
        return 0;
}

/* An unquoted character (literal or from an unquoted expansion): whitespace ends a word. */
static int add_plain(struct xp *x, struct cb_buf *out, struct words *w, char c)
{
        if (cb_buf_addc(out, c) < 0)
                return too_big(x);
        if (w) {
                if (df_isspace(c)) {
                        words_end(w);
                        return 0;
                }
                if (cb_buf_addc(&w->cur, c) < 0)
                        return too_big(x);
                w->inword = true;
        }
        return 0;
}

static int process(struct xp *x, const char *stops, struct cb_buf *out, struct words *w, int *ret_stop,
                   bool raw_esc);

static bool is_name_char(int c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
               c >= 0x80; /* BuildKit takes Unicode letters; we take any non-ASCII byte */
}

static bool is_special_param(int c)
{
        return c == '@' || c == '*' || c == '#' || c == '?' || c == '-' || c == '$' || c == '!' || c == '0';
}

static void read_name(struct xp *x, struct cb_buf *name)
{
        int c = peek(x);
        if (c >= '0' && c <= '9') {
                while ((c = peek(x)) >= '0' && c <= '9')
                        (void) cb_buf_addc(name, (char) next(x));
                return;
        }
        if (c != -1 && is_special_param(c)) {
                (void) cb_buf_addc(name, (char) next(x));
                return;
        }
        while ((c = peek(x)) != -1 && is_name_char(c))
                (void) cb_buf_addc(name, (char) next(x));
}

/* BuildKit's pattern language for ${V#p} and friends: '*' any run, '?' one byte, '\\x' a literal x;
 * everything else (brackets included) is literal. Greedy with one backtrack point: linear-ish. */
static bool glob_match(const char *p, size_t pl, const char *s, size_t sl, uint64_t *steps)
{
        size_t pi = 0, si = 0, star_p = (size_t) -1, star_s = 0;
        while (si < sl) {
                ++*steps;
                if (pi < pl && p[pi] == '*') {
                        star_p = ++pi;
                        star_s = si;
                        continue;
                }
                if (pi < pl) {
                        char pc = p[pi];
                        size_t adv = 1;
                        if (pc == '\\' && pi + 1 < pl) {
                                pc = p[pi + 1];
                                adv = 2;
                        } else if (pc == '?') {
                                pi++;
                                si++;
                                continue;
                        }
                        if (pc == s[si]) {
                                pi += adv;
                                si++;
                                continue;
                        }
                }
                if (star_p == (size_t) -1)
                        return false;
                pi = star_p;
                si = ++star_s;
        }
        while (pi < pl && p[pi] == '*')
                pi++;
        return pi == pl;
}

/* Pattern operators try many substrings; past this many matcher steps in one word they fail
 * instead of spinning (a few tens of milliseconds of work). */
#define PATTERN_STEP_BUDGET 20000000ull

static bool match_sub(struct xp *x, const char *pat, const char *s, size_t len)
{
        return glob_match(pat, strlen(pat), s, len, &x->steps);
}

static int over_budget(struct xp *x)
{
        return cb_failc(x->err, -E2BIG, "pattern substitution too expensive (more than %llu matching steps)",
                        (unsigned long long) PATTERN_STEP_BUDGET);
}

/* ${V#p} ${V##p} ${V%p} ${V%%p}: remove the shortest/longest matching prefix/suffix. */
static int trim_pattern(struct xp *x, const char *val, const char *pat, bool suffix, bool longest,
                        struct cb_buf *res)
{
        size_t len = strlen(val);
        if (len > PATTERN_VALUE_MAX)
                return cb_failc(x->err, -E2BIG, "value too long for a pattern operator (over %u bytes)",
                                PATTERN_VALUE_MAX);
        for (size_t k = 0; k <= len; k++) {
                size_t cut = longest ? len - k : k; /* length removed */
                bool m = suffix ? match_sub(x, pat, val + len - cut, cut) : match_sub(x, pat, val, cut);
                if (x->steps > PATTERN_STEP_BUDGET)
                        return over_budget(x);
                if (m)
                        return cb_buf_add(res, suffix ? val : val + cut, len - cut) < 0 ? too_big(x) : 0;
        }
        return cb_buf_adds(res, val) < 0 ? too_big(x) : 0;
}

/* ${V/p/r} ${V//p/r}: replace the first (all) longest match(es) of p. */
static int replace_pattern(struct xp *x, const char *val, const char *pat, const char *rep, bool all,
                           struct cb_buf *res)
{
        size_t len = strlen(val);
        bool done = false;
        if (len > PATTERN_VALUE_MAX)
                return cb_failc(x->err, -E2BIG, "value too long for a pattern operator (over %u bytes)",
                                PATTERN_VALUE_MAX);
        if (!*pat)
                return cb_buf_adds(res, rep) < 0 || cb_buf_adds(res, val) < 0 ? too_big(x) : 0;
        for (size_t i = 0; i < len;) {
                size_t mlen = 0;
                bool m = false;
                if (!done)
                        for (size_t j = len; j > i; j--) {
                                if (match_sub(x, pat, val + i, j - i)) {
                                        m = true;
                                        mlen = j - i;
                                        break;
                                }
                                if (x->steps > PATTERN_STEP_BUDGET)
                                        return over_budget(x);
                        }
                if (m) {
                        if (cb_buf_adds(res, rep) < 0)
                                return too_big(x);
                        i += mlen;
                        if (!all)
                                done = true;
                } else {
                        if (cb_buf_addc(res, val[i]) < 0)
                                return too_big(x);
                        i++;
                }
        }
        return 0;
}

/* After '$'. Appends the expansion to res (not split: the caller decides). */
static int dollar(struct xp *x, struct cb_buf *res)
{
        _cleanup_(cb_buf_release) struct cb_buf name;
        int c = peek(x), r;

        cb_buf_init(&name, 4096);
        if (c != '{') {
                read_name(x, &name);
                if (name.len == 0)
                        return cb_buf_addc(res, '$') < 0 ? too_big(x) : 0;
                const char *val = df_vars_get(x->vars, name.p);
                return val && cb_buf_adds(res, val) < 0 ? too_big(x) : 0;
        }
        next(x);
        if (++x->depth > DF_EXPAND_MAX_DEPTH)
                return cb_failc(x->err, -E2BIG, "variable references nested more than %u deep",
                                DF_EXPAND_MAX_DEPTH);
        read_name(x, &name);
        if (name.len == 0) {
                if (peek(x) == -1)
                        return cb_failc(x->err, -EINVAL, "missing '}' in variable reference");
                return cb_failc(x->err, -EINVAL, "bad substitution: '${%c'", peek(x));
        }
        const char *val = df_vars_get(x->vars, name.p);
        c = next(x);
        if (c == '}') {
                x->depth--;
                return val && cb_buf_adds(res, val) < 0 ? too_big(x) : 0;
        }
        if (c == -1)
                return cb_failc(x->err, -EINVAL, "missing '}' in '${%s'", name.p);

        bool colon = false;
        if (c == ':') {
                colon = true;
                c = next(x);
                if (c != '-' && c != '+' && c != '?')
                        return c == -1 ? cb_failc(x->err, -EINVAL, "missing '}' in '${%s'", name.p)
                                       : cb_failc(x->err, -EINVAL,
                                                  "unsupported modifier (:%c) in substitution of '%s'", c,
                                                  name.p);
        }
        _cleanup_(cb_buf_release) struct cb_buf word;
        cb_buf_init(&word, DF_EXPAND_MAX_OUTPUT);
        int stop = 0;
        switch (c) {
        case '-':
        case '+':
        case '?': {
                r = process(x, "}", &word, NULL, &stop, false);
                if (r < 0)
                        return r;
                bool set = val && (!colon || *val);
                if (c == '-')
                        r = cb_buf_adds(res, set ? val : word.p);
                else if (c == '+')
                        r = set ? cb_buf_adds(res, word.p) : 0;
                else {
                        if (!set) {
                                const char *why = word.len ? word.p
                                                  : !val   ? "is not allowed to be unset"
                                                           : "is not allowed to be empty";
                                return cb_failc(x->err, -EINVAL, "%s: %s", name.p, why);
                        }
                        r = cb_buf_adds(res, val);
                }
                if (r < 0)
                        return too_big(x);
                break;
        }
        case '#':
        case '%': {
                bool longest = peek(x) == c;
                if (longest)
                        next(x);
                r = process(x, "}", &word, NULL, &stop, true);
                if (r < 0)
                        return r;
                r = trim_pattern(x, val ? val : "", word.p, c == '%', longest, res);
                break;
        }
        case '/': {
                bool all = peek(x) == '/';
                if (all)
                        next(x);
                r = process(x, "/}", &word, NULL, &stop, true);
                if (r < 0)
                        return r;
                if (stop != '/')
                        return cb_failc(x->err, -EINVAL, "missing '/' in ${%s/pattern/replacement}", name.p);
                _cleanup_(cb_buf_release) struct cb_buf rep;
                cb_buf_init(&rep, DF_EXPAND_MAX_OUTPUT);
                r = process(x, "}", &rep, NULL, &stop, true);
                if (r < 0)
                        return r;
                r = replace_pattern(x, val ? val : "", word.p, rep.p, all, res);
                break;
        }
        default:
                return cb_failc(x->err, -EINVAL, "unsupported modifier (%c) in substitution of '%s'", c,
                                name.p);
        }
        if (r < 0)
                return r;
        x->depth--;
        return 0;
}

static int add_expansion(struct xp *x, struct cb_buf *out, struct words *w, const struct cb_buf *val,
                         bool quoted)
{
        for (size_t k = 0; k < val->len; k++) {
                int r = quoted ? add_raw(x, out, w, val->p[k]) : add_plain(x, out, w, val->p[k]);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int expand_dollar_into(struct xp *x, struct cb_buf *out, struct words *w, bool quoted)
{
        _cleanup_(cb_buf_release) struct cb_buf val;
        cb_buf_init(&val, DF_EXPAND_MAX_OUTPUT);
        int r = dollar(x, &val);
        if (r < 0)
                return r;
        return add_expansion(x, out, w, &val, quoted);
}

/* Processes until one of stops (consumed, reported in *ret_stop) or the end (stops must be NULL or
 * "" then, else it is a missing-'}' error). */
static int process(struct xp *x, const char *stops, struct cb_buf *out, struct words *w, int *ret_stop,
                   bool raw_esc)
{
        int c, r;

        while ((c = peek(x)) != -1) {
                if (stops && *stops && strchr(stops, c)) {
                        next(x);
                        *ret_stop = c;
                        return 0;
                }
                next(x);
                if (c == (unsigned char) x->esc) {
                        c = next(x);
                        if (c == -1)
                                break;
                        /* pattern words keep the escape so the matcher sees a literal */
                        r = raw_esc ? add_raw(x, out, w, '\\') : 0;
                        if (r >= 0)
                                r = add_raw(x, out, w, (char) c);
                } else if (c == '\'') {
                        if (w)
                                w->inword = true;
                        while ((c = next(x)) != '\'') {
                                if (c == -1)
                                        return cb_failc(
                                            x->err, -EINVAL,
                                            "unexpected end of text looking for the closing single quote");
                                if ((r = add_raw(x, out, w, (char) c)) < 0)
                                        return r;
                        }
                        r = 0;
                } else if (c == '"') {
                        if (w)
                                w->inword = true;
                        r = 0;
                        while ((c = next(x)) != '"') {
                                if (c == -1)
                                        return cb_failc(
                                            x->err, -EINVAL,
                                            "unexpected end of text looking for the closing double quote");
                                if (c == (unsigned char) x->esc) {
                                        int d = next(x);
                                        if (d == -1)
                                                return cb_failc(x->err, -EINVAL,
                                                                "unexpected end of text looking for the "
                                                                "closing double quote");
                                        if (d != '"' && d != '$' && d != (unsigned char) x->esc)
                                                r = add_raw(x, out, w, (char) c);
                                        if (r >= 0)
                                                r = add_raw(x, out, w, (char) d);
                                } else if (c == '$') {
                                        r = expand_dollar_into(x, out, w, true);
                                } else
                                        r = add_raw(x, out, w, (char) c);
                                if (r < 0)
                                        return r;
                        }
                } else if (c == '$') {
                        r = expand_dollar_into(x, out, w, false);
                } else
                        r = add_plain(x, out, w, (char) c);
                if (r < 0)
                        return r;
        }
        if (stops && *stops)
                return cb_failc(x->err, -EINVAL, "missing '}' in variable reference");
        return 0;
}

static int run(const struct df_vars *v, const char *raw, char escape, struct cb_buf *out, struct words *w,
               struct cb_err *err)
{
        struct xp x = {
            .vars = v,
            .s = raw ? raw : "",
            .n = raw ? strlen(raw) : 0,
            .esc = escape ? escape : '\\',
            .err = err,
        };
        int stop = 0;
        return process(&x, NULL, out, w, &stop, false);
}

int df_expand_word(const struct df_vars *v, const char *raw, char escape, char **ret, struct cb_err *err)
{
        _cleanup_(cb_buf_release) struct cb_buf out;
        cb_buf_init(&out, DF_EXPAND_MAX_OUTPUT);
        int r = run(v, raw, escape, &out, NULL, err);
        if (r < 0)
                return r;
        *ret = cb_buf_take(&out, NULL);
        return 0;
}

int df_expand_heredoc(const struct df_vars *v, const char *body, char escape, char **ret, struct cb_err *err)
{
        _cleanup_(cb_buf_release) struct cb_buf out;
        struct xp x = {
            .vars = v,
            .s = body ? body : "",
            .n = body ? strlen(body) : 0,
            .esc = escape ? escape : '\\',
            .err = err,
        };
        int c, r = 0;

        cb_buf_init(&out, DF_EXPAND_MAX_OUTPUT);
        /* a shell here-document with an unquoted delimiter: quotes are plain text, $ expands, and the
         * escape char only escapes '$', itself and a newline (a line continuation) */
        while (r >= 0 && (c = next(&x)) != -1) {
                if (c == (unsigned char) x.esc) {
                        int d = peek(&x);
                        if (d == '$' || d == (unsigned char) x.esc) {
                                next(&x);
                                r = add_raw(&x, &out, NULL, (char) d);
                        } else if (d == '\n') {
                                next(&x);
                        } else
                                r = add_raw(&x, &out, NULL, (char) c);
                } else if (c == '$')
                        r = expand_dollar_into(&x, &out, NULL, true);
                else
                        r = add_raw(&x, &out, NULL, (char) c);
        }
        if (r < 0)
                return r;
        *ret = cb_buf_take(&out, NULL);
        return 0;
}

char **df_strv_free(char **v)
{
        if (!v)
                return NULL;
        for (char **p = v; *p; p++)
                free(*p);
        free(v);
        return NULL;
}

int df_expand_words(const struct df_vars *v, const char *raw, char escape, char ***ret, size_t *ret_n,
                    struct cb_err *err)
{
        _cleanup_(cb_buf_release) struct cb_buf out;
        struct words w = {.inword = false};
        int r;

        cb_buf_init(&out, DF_EXPAND_MAX_OUTPUT);
        cb_buf_init(&w.cur, DF_EXPAND_MAX_OUTPUT);
        df_vec_init(&w.v, sizeof(char *));
        r = run(v, raw, escape, &out, &w, err);
        if (r >= 0)
                words_end(&w);
        *(char **) df_vec_push(&w.v) = NULL; /* terminator */
        cb_buf_release(&w.cur);
        if (r < 0) {
                df_strv_free(w.v.v);
                return r;
        }
        *ret_n = w.v.n - 1;
        *ret = w.v.v;
        return 0;
}

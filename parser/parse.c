/* The lexer and the file-level driver: BOM, CRLF, parser directives, comments, line continuations
 * (with comment and blank lines inside a continued instruction skipped, as BuildKit does), heredoc
 * bodies, then the stage list and the cross-stage checks. Instruction words are parsed in instr.c. */
#include "parser/df.h"
#include "parser/internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct lexer {
        const char *p, *end;
        unsigned line; /* number of the next line read_line() returns */
};

static bool read_line(struct lexer *lx, struct cb_str *ret, unsigned *ret_no)
{
        if (lx->p >= lx->end)
                return false;
        const char *nl = memchr(lx->p, '\n', (size_t) (lx->end - lx->p));
        const char *e = nl ? nl : lx->end;
        size_t len = (size_t) (e - lx->p);
        if (len && lx->p[len - 1] == '\r')
                len--;
        *ret = cb_str_from(lx->p, len);
        *ret_no = lx->line++;
        lx->p = nl ? nl + 1 : lx->end;
        return true;
}

static struct cb_str ltrim(struct cb_str s)
{
        while (s.len && df_isspace(*s.p)) {
                s.p++;
                s.len--;
        }
        return s;
}

static struct cb_str rtrim(struct cb_str s)
{
        while (s.len && df_isspace(s.p[s.len - 1]))
                s.len--;
        return s;
}

/* A line ending in the escape char (then only blanks) continues on the next line, unless that escape
 * char is itself escaped ("C:\\" ends the instruction): BuildKit's ([^\\])\\[ \t]*$|^\\[ \t]*$. */
static bool strip_continuation(struct cb_str *s, char escape)
{
        size_t n = s->len;
        while (n && (s->p[n - 1] == ' ' || s->p[n - 1] == '\t'))
                n--;
        if (n && s->p[n - 1] == escape && (n == 1 || s->p[n - 2] != escape)) {
                s->len = n - 1;
                return true;
        }
        return false;
}

/* "# key=value" at the very top (BuildKit's directive syntax). Returns false when the line is not one. */
static bool directive_line(struct cb_str l, struct cb_str *ret_key, struct cb_str *ret_val)
{
        size_t i = 0;
        if (!l.len || l.p[0] != '#')
                return false;
        i = 1;
        while (i < l.len && (l.p[i] == ' ' || l.p[i] == '\t'))
                i++;
        size_t ks = i;
        if (i >= l.len || !isalpha((unsigned char) l.p[i]))
                return false;
        while (i < l.len && isalnum((unsigned char) l.p[i]))
                i++;
        size_t ke = i;
        while (i < l.len && (l.p[i] == ' ' || l.p[i] == '\t'))
                i++;
        if (i >= l.len || l.p[i] != '=')
                return false;
        i++;
        struct cb_str v = rtrim(ltrim(cb_str_from(l.p + i, l.len - i)));
        if (!v.len)
                return false;
        *ret_key = cb_str_from(l.p + ks, ke - ks);
        *ret_val = v;
        return true;
}

static int parse_directives(struct df_file *f, struct lexer *lx, struct cb_err *err)
{
        for (;;) {
                struct lexer save = *lx;
                struct cb_str l, k, v;
                unsigned no;
                char **slot;

                if (!read_line(lx, &l, &no))
                        return 0;
                if (!directive_line(l, &k, &v)) {
                        *lx = save;
                        return 0;
                }
                if (cb_str_eq_nocase_c(k, "syntax"))
                        slot = &f->directive_syntax;
                else if (cb_str_eq_nocase_c(k, "escape"))
                        slot = &f->directive_escape;
                else if (cb_str_eq_nocase_c(k, "check"))
                        slot = &f->directive_check;
                else {
                        /* an unknown directive is a comment and ends the directive block */
                        return 0;
                }
                if (*slot)
                        return cb_failc(err, -EINVAL, "%s:%u: only one '%.*s' parser directive can be used",
                                        f->name, no, (int) k.len, k.p);
                *slot = df_arena_strndup(&f->arena, v.p, v.len);
                if (slot == &f->directive_check)
                        f->directive_check_line = no;
                if (slot == &f->directive_escape) {
                        if (v.len != 1 || (v.p[0] != '\\' && v.p[0] != '`'))
                                return cb_failc(err, -EINVAL,
                                                "%s:%u: invalid escape '%.*s': must be '\\' or '`'", f->name,
                                                no, (int) v.len, v.p);
                        f->escape = v.p[0];
                }
        }
}

struct marker {
        struct cb_str delim;
        bool quoted, strip_tabs;
};

/* Heredoc markers in an instruction's text: a word "<<EOF", "<<-EOF", "<<'EOF'", "3<<EOF" (BuildKit
 * matches ^\d*<<-?[^<]*$ per shell word), outside quotes. The delimiter is the rest of the word with
 * quotes removed; any quote makes the body literal. */
static int find_markers(const char *s, size_t len, char escape, struct df_vec *ret, struct cb_err *err)
{
        size_t i = 0;
        while (i < len) {
                while (i < len && df_isspace(s[i]))
                        i++;
                size_t ws = i;
                /* find the word's end, honouring quotes */
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
                size_t we = i, k = ws;
                while (k < we && s[k] >= '0' && s[k] <= '9')
                        k++;
                if (we - k < 3 || s[k] != '<' || s[k + 1] != '<')
                        continue;
                k += 2;
                bool strip = false;
                if (s[k] == '-') {
                        strip = true;
                        k++;
                }
                if (k >= we || memchr(s + k, '<', we - k))
                        continue;
                struct marker *m = df_vec_push(ret);
                if (ret->n > DF_MAX_HEREDOCS)
                        return cb_failc(err, -E2BIG, "more than %u heredocs in one instruction",
                                        DF_MAX_HEREDOCS);
                m->strip_tabs = strip;
                m->delim = cb_str_from(s + k, we - k);
                m->quoted = memchr(m->delim.p, '\'', m->delim.len) || memchr(m->delim.p, '"', m->delim.len);
        }
        return 0;
}

static char *unquote_delim(struct df_arena *a, struct cb_str d)
{
        char *out = df_arena_alloc(a, d.len + 1);
        size_t n = 0;
        for (size_t i = 0; i < d.len; i++)
                if (d.p[i] != '\'' && d.p[i] != '"')
                        out[n++] = d.p[i];
        out[n] = '\0';
        return out;
}

static int read_heredocs(struct df_file *f, struct lexer *lx, const struct df_vec *markers, unsigned start,
                         unsigned *end, struct df_vec *ret, struct cb_err *err)
{
        for (size_t m = 0; m < markers->n; m++) {
                const struct marker *mk = (const struct marker *) markers->v + m;
                struct df_heredoc *h = df_vec_push(ret);
                _cleanup_(cb_buf_release) struct cb_buf body;
                bool done = false;
                struct cb_str l;
                unsigned no;

                cb_buf_init(&body, DF_MAX_INPUT);
                h->delim = unquote_delim(&f->arena, mk->delim);
                h->expand = !mk->quoted;
                h->strip_tabs = mk->strip_tabs;
                if (!*h->delim)
                        return cb_failc(err, -EINVAL, "%s:%u: empty heredoc delimiter", f->name, start);
                while (read_line(lx, &l, &no)) {
                        *end = no;
                        if (mk->strip_tabs)
                                while (l.len && l.p[0] == '\t') {
                                        l.p++;
                                        l.len--;
                                }
                        if (cb_str_eq_c(l, h->delim)) {
                                done = true;
                                break;
                        }
                        if (cb_buf_add(&body, l.p, l.len) < 0 || cb_buf_addc(&body, '\n') < 0)
                                return cb_failc(err, -E2BIG, "%s:%u: heredoc '%s' too large", f->name, start,
                                                h->delim);
                }
                if (!done)
                        return cb_failc(
                            err, -EINVAL,
                            "%s:%u: unterminated heredoc '%s' (no line '%s' before the end of the file)",
                            f->name, start, h->delim, h->delim);
                h->body = df_arena_strndup(&f->arena, body.p, body.len);
        }
        return 0;
}

static bool kind_has_heredocs(int kind)
{
        return kind == DF_INSTR_RUN || kind == DF_INSTR_COPY || kind == DF_INSTR_ADD;
}

/* implemented in instr.c */
int df_instr_build(struct df_file *f, struct cb_str text, unsigned start, unsigned end,
                   struct df_vec *heredocs, struct df_instr **ret, struct cb_err *err);

static void push_instr(struct df_file *f, struct df_instr *in)
{
        if (f->ninstr == f->instr_cap) {
                f->instr_cap = f->instr_cap ? f->instr_cap * 2 : 64;
                f->instrs = cb_xrealloc(f->instrs, f->instr_cap * sizeof(*f->instrs));
        }
        f->instrs[f->ninstr++] = in;
}

static bool valid_stage_name(const char *s)
{
        if (!(*s >= 'a' && *s <= 'z'))
                return false;
        for (s++; *s; s++)
                if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' ||
                      *s == '.'))
                        return false;
        return true;
}

static int add_stage(struct df_file *f, const struct df_instr *in, struct cb_err *err)
{
        if (f->nstages == f->stage_cap) {
                f->stage_cap = f->stage_cap ? f->stage_cap * 2 : 8;
                f->stages = cb_xrealloc(f->stages, f->stage_cap * sizeof(*f->stages));
        }
        struct df_stage *st = &f->stages[f->nstages];
        memset(st, 0, sizeof(*st));
        st->base = in->args[0];
        st->line = in->start_line;
        st->from = f->ninstr - 1;
        st->first = f->ninstr;
        st->platform = df_instr_flag(in, "platform", NULL);
        if (in->nargs == 3) {
                char *n = df_arena_strdup(&f->arena, in->args[2]);
                for (char *p = n; *p; p++)
                        *p = (char) tolower((unsigned char) *p);
                if (!valid_stage_name(n))
                        return cb_failc(err, -EINVAL,
                                        "%s:%u: invalid stage name '%s': it must start with a letter and "
                                        "hold only letters, digits, '-', '_' and '.'",
                                        f->name, in->start_line, in->args[2]);
                st->name = n;
        }
        st->base_stage = df_stage_lookup(f, st->base);
        if (st->base_stage < 0 && st->name && strcasecmp(st->name, st->base) == 0)
                return cb_failc(err, -EINVAL, "%s:%u: stage '%s' refers to itself in FROM", f->name,
                                in->start_line, st->name);
        if (st->name)
                df_stage_index_add(f, st->name, (long) f->nstages);
        f->nstages++;
        return 0;
}

static bool all_digits(const char *s)
{
        if (!*s)
                return false;
        for (; *s; s++)
                if (*s < '0' || *s > '9')
                        return false;
        return true;
}

/* RUN --mount=...,from=NAME may name an earlier stage or an image, not its own or a later stage. */
static int check_mount_refs(struct df_file *f, size_t s, const struct df_instr *in, struct cb_err *err)
{
        for (size_t k = 0; k < in->nflags; k++) {
                const char *v = in->flags[k].value;
                if (strcmp(in->flags[k].name, "mount") != 0 || !v || strchr(v, '$'))
                        continue;
                for (const char *p = v; p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL) {
                        if (strncasecmp(p, "from=", 5) != 0)
                                continue;
                        size_t n = strcspn(p + 5, ",");
                        _cleanup_free_ char *from = cb_xstrndup(p + 5, n);
                        long t = all_digits(from) ? df_file_stage_by_name(f, from) : df_stage_lookup(f, from);
                        if (all_digits(from) && (t < 0 || (size_t) t >= s))
                                return cb_failc(err, -EINVAL,
                                                "%s:%u: RUN --mount from=%s: no stage %s before this one "
                                                "(stages count from 0, this is stage %zu)",
                                                f->name, in->start_line, from, from, s);
                        if (t == (long) s)
                                return cb_failc(err, -EINVAL,
                                                "%s:%u: RUN --mount from='%s' refers to its own stage",
                                                f->name, in->start_line, from);
                        if (t > (long) s)
                                return cb_failc(
                                    err, -EINVAL,
                                    "%s:%u: RUN --mount from='%s' refers to a later stage (line %u)", f->name,
                                    in->start_line, from, f->stages[t].line);
                }
        }
        return 0;
}

/* COPY --from and FROM may only name earlier stages (BuildKit rejects cycles; a forward reference
 * is one waiting to happen, and an index past the end is surely a typo). */
static int check_stage_refs(struct df_file *f, struct cb_err *err)
{
        for (size_t s = 0; s < f->nstages; s++) {
                const struct df_stage *st = &f->stages[s];
                if (st->base_stage < 0 && !strchr(st->base, '$')) {
                        for (size_t t = s + 1; t < f->nstages; t++)
                                if (f->stages[t].name && strcasecmp(f->stages[t].name, st->base) == 0)
                                        return cb_failc(err, -EINVAL,
                                                        "%s:%u: FROM '%s' refers to a later stage (line %u); "
                                                        "stages can only build on earlier ones",
                                                        f->name, st->line, st->base, f->stages[t].line);
                }
                for (size_t i = st->first; i < st->first + st->n; i++) {
                        const struct df_instr *in = f->instrs[i];
                        if (in->kind == DF_INSTR_RUN) {
                                int r = check_mount_refs(f, s, in, err);
                                if (r < 0)
                                        return r;
                                continue;
                        }
                        if (in->kind != DF_INSTR_COPY && in->kind != DF_INSTR_ADD)
                                continue;
                        const char *from = df_instr_flag(in, "from", NULL);
                        if (!from || strchr(from, '$'))
                                continue;
                        const char *kw = df_instr_kind_name(in->kind);
                        if (all_digits(from)) {
                                uint64_t idx;
                                if (cb_parse_u64(cb_str_c(from), UINT64_MAX, &idx) < 0 || idx >= s)
                                        return cb_failc(err, -EINVAL,
                                                        "%s:%u: %s --from=%s: no stage %s before this one "
                                                        "(stages count from 0, this is stage %zu)",
                                                        f->name, in->start_line, kw, from, from, s);
                                continue;
                        }
                        long t = df_stage_lookup(f, from);
                        if (t == (long) s || (st->name && strcasecmp(st->name, from) == 0))
                                return cb_failc(err, -EINVAL, "%s:%u: %s --from='%s' refers to its own stage",
                                                f->name, in->start_line, kw, from);
                        if (t > (long) s)
                                return cb_failc(err, -EINVAL,
                                                "%s:%u: %s --from='%s' refers to a later stage (line %u)",
                                                f->name, in->start_line, kw, from, f->stages[t].line);
                }
        }
        return 0;
}

static int parse_body(struct df_file *f, struct lexer *lx, struct cb_err *err)
{
        _cleanup_(cb_buf_release) struct cb_buf logical;
        struct df_vec markers, heredocs;
        struct cb_str l;
        unsigned no;
        int r = 0;

        cb_buf_init(&logical, DF_MAX_INPUT);
        df_vec_init(&markers, sizeof(struct marker));
        df_vec_init(&heredocs, sizeof(struct df_heredoc));
        while (read_line(lx, &l, &no)) {
                struct cb_str t = ltrim(l);
                if (!t.len || t.p[0] == '#')
                        continue;
                unsigned start = no, end = no;
                cb_buf_reset(&logical);
                bool cont = strip_continuation(&t, f->escape);
                (void) cb_buf_add(&logical, t.p, t.len);
                while (cont && read_line(lx, &l, &no)) {
                        end = no;
                        struct cb_str lt = ltrim(l);
                        if (!lt.len) {
                                if (f->nempty_cont == f->empty_cont_cap) {
                                        f->empty_cont_cap = f->empty_cont_cap ? f->empty_cont_cap * 2 : 8;
                                        f->empty_cont = cb_xrealloc(
                                            f->empty_cont, f->empty_cont_cap * sizeof(*f->empty_cont));
                                }
                                f->empty_cont[f->nempty_cont++] = no;
                                continue;
                        }
                        if (lt.p[0] == '#')
                                continue;
                        cont = strip_continuation(&l, f->escape);
                        (void) cb_buf_add(&logical, l.p, l.len);
                }
                struct cb_str text = ltrim(rtrim(cb_buf_str(&logical)));
                if (!text.len)
                        continue; /* only continuation characters and blank lines */

                markers.n = 0;
                heredocs.n = 0;
                struct df_instr *in;
                r = df_instr_build(f, text, start, end, &heredocs, &in, err);
                if (r < 0)
                        goto out;
                /* heredocs belong to RUN/COPY/ADD (also under ONBUILD) in shell form only, as in
                 * BuildKit's canContainHeredoc(); their bodies follow the instruction's last line */
                struct df_instr *h = in->kind == DF_INSTR_ONBUILD ? (struct df_instr *) in->onbuild : in;
                if (h && kind_has_heredocs(h->kind) && !h->json) {
                        size_t kwlen = strlen(in->keyword);
                        r = find_markers(text.p + kwlen, text.len - kwlen, f->escape, &markers, err);
                        if (r < 0) {
                                cb_wrap(err, "%s:%u", f->name, start);
                                goto out;
                        }
                        if (markers.n) {
                                r = read_heredocs(f, lx, &markers, start, &end, &heredocs, err);
                                if (r < 0)
                                        goto out;
                                h->nheredocs = heredocs.n;
                                h->heredocs = df_vec_to_arena(&heredocs, &f->arena);
                                in->nheredocs = h->nheredocs;
                                in->heredocs = h->heredocs;
                                in->end_line = h->end_line = end;
                        }
                }
                if (f->ninstr >= DF_MAX_INSTRUCTIONS) {
                        r = cb_failc(err, -E2BIG, "%s:%u: more than %u instructions", f->name, start,
                                     DF_MAX_INSTRUCTIONS);
                        goto out;
                }
                push_instr(f, in);
                if (in->kind == DF_INSTR_FROM) {
                        r = add_stage(f, in, err);
                        if (r < 0)
                                goto out;
                } else if (f->nstages == 0) {
                        if (in->kind != DF_INSTR_ARG) {
                                r = cb_failc(
                                    err, -EINVAL,
                                    "%s:%u: %s before the first FROM (only ARG may come before FROM)",
                                    f->name, start, df_instr_kind_name(in->kind));
                                goto out;
                        }
                        for (size_t k = 0; k < in->nkvs; k++) {
                                if (f->nmeta == f->meta_cap) {
                                        f->meta_cap = f->meta_cap ? f->meta_cap * 2 : 8;
                                        f->meta = cb_xrealloc(f->meta, f->meta_cap * sizeof(*f->meta));
                                }
                                f->meta[f->nmeta++] = in->kvs[k];
                        }
                } else
                        f->stages[f->nstages - 1].n++;
        }
        if (f->nstages == 0) {
                if (f->ninstr == 0)
                        r = cb_failc(err, -EINVAL,
                                     "%s:1: the file has no instructions (a Dockerfile needs a FROM)",
                                     f->name);
                else
                        r = cb_failc(err, -EINVAL,
                                     "%s:%u: no FROM instruction (a Dockerfile needs at least one)", f->name,
                                     f->instrs[f->ninstr - 1]->end_line);
                goto out;
        }
        r = check_stage_refs(f, err);
out:
        df_vec_release(&markers);
        df_vec_release(&heredocs);
        return r;
}

int df_parse(struct cb_str text, const char *name, struct df_file **ret, struct cb_err *err)
{
        struct df_file *f;
        const char *nul;
        int r;

        if (!name)
                name = "Dockerfile";
        if (text.len > DF_MAX_INPUT)
                return cb_failc(err, -E2BIG, "%s: file too large (%zu bytes, the limit is %u)", name,
                                text.len, DF_MAX_INPUT);
        if (text.len && (nul = memchr(text.p, '\0', text.len))) {
                unsigned line = 1;
                for (const char *p = text.p; p < nul; p++)
                        line += *p == '\n';
                return cb_failc(err, -EINVAL, "%s:%u: NUL byte in the file (is it a text file?)", name, line);
        }
        f = cb_xcalloc(1, sizeof(*f));
        f->name = cb_xstrdup(name);
        f->escape = '\\';

        struct lexer lx = {.p = text.p, .end = text.p + text.len, .line = 1};
        if (text.len >= 3 && memcmp(text.p, "\xef\xbb\xbf", 3) == 0)
                lx.p += 3;
        r = parse_directives(f, &lx, err);
        if (r >= 0)
                r = parse_body(f, &lx, err);
        if (r < 0) {
                df_file_free(f);
                return r;
        }
        *ret = f;
        return 0;
}

struct df_file *df_file_free(struct df_file *f)
{
        if (!f)
                return NULL;
        df_arena_release(&f->arena);
        free(f->instrs);
        free(f->stages);
        free(f->name_index);
        free(f->meta);
        free(f->empty_cont);
        free(f->name);
        free(f);
        return NULL;
}

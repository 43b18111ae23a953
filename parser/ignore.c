/* .dockerignore: moby/patternmatcher's rules. Each pattern compiles to an anchored POSIX extended
 * regex the way patternmatcher builds its Go regexp ('*' -> [^/]*, '?' -> [^/], '**' across '/'),
 * and a path is excluded when the last pattern matching it or one of its parent directories is not
 * a '!' pattern. */
#include "parser/df.h"
#include "parser/internal.h"

#include <errno.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#define IGNORE_MAX_PATTERNS 100000u

struct pattern {
        char *text; /* cleaned, without '!' */
        bool exclusion;
        unsigned line;
        regex_t re;
};

struct df_ignore {
        struct pattern *v;
        size_t n;
};

struct df_ignore *df_ignore_free(struct df_ignore *ig)
{
        if (!ig)
                return NULL;
        for (size_t i = 0; i < ig->n; i++) {
                regfree(&ig->v[i].re);
                free(ig->v[i].text);
        }
        free(ig->v);
        free(ig);
        return NULL;
}

/* Go's path.Clean on a relative or absolute slash path: collapse "//", drop ".", resolve "..". */
static char *clean_path(const char *p, size_t len)
{
        bool abs = len && p[0] == '/';
        struct cb_buf out;
        size_t *starts = cb_xcalloc(len + 1, sizeof(size_t));
        size_t depth = 0, ups = 0;

        cb_buf_init(&out, CB_BUF_UNLIMITED);
        if (abs)
                (void) cb_buf_addc(&out, '/');
        size_t base = out.len;
        for (size_t i = 0; i < len;) {
                while (i < len && p[i] == '/')
                        i++;
                size_t s = i;
                while (i < len && p[i] != '/')
                        i++;
                size_t n = i - s;
                if (n == 0 || (n == 1 && p[s] == '.'))
                        continue;
                if (n == 2 && p[s] == '.' && p[s + 1] == '.') {
                        if (depth > 0) {
                                depth--;
                                cb_buf_truncate(&out, starts[depth]);
                                if (out.len > base && out.p[out.len - 1] == '/')
                                        cb_buf_truncate(&out, out.len - 1);
                                continue;
                        }
                        if (abs)
                                continue;
                        if (out.len > base)
                                (void) cb_buf_addc(&out, '/');
                        (void) cb_buf_adds(&out, "..");
                        ups++;
                        base = out.len;
                        continue;
                }
                size_t st = out.len;
                if (out.len > (abs ? 1u : 0u))
                        (void) cb_buf_addc(&out, '/');
                starts[depth++] = st;
                (void) cb_buf_add(&out, p + s, n);
        }
        free(starts);
        (void) ups;
        if (out.len == 0)
                (void) cb_buf_addc(&out, '.');
        return cb_buf_take(&out, NULL);
}

static int compile(struct pattern *pt, struct cb_err *err, const char *name)
{
        struct cb_buf re;
        const char *s = pt->text;
        size_t n = strlen(s);

        cb_buf_init(&re, CB_BUF_UNLIMITED);
        (void) cb_buf_addc(&re, '^');
        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                if (c == '*') {
                        if (i + 1 < n && s[i + 1] == '*') {
                                i++;
                                if (i + 1 < n && s[i + 1] == '/')
                                        i++;
                                if (i + 1 >= n)
                                        (void) cb_buf_adds(&re, ".*");
                                else
                                        (void) cb_buf_adds(&re, "(.*/)?");
                        } else
                                (void) cb_buf_adds(&re, "[^/]*");
                } else if (c == '?') {
                        (void) cb_buf_adds(&re, "[^/]");
                } else if (c == '[') {
                        /* a bracket expression passes through; '!' negation becomes '^' */
                        size_t j = i + 1;
                        if (j < n && (s[j] == '^' || s[j] == '!'))
                                j++;
                        if (j < n && s[j] == ']')
                                j++;
                        while (j < n && s[j] != ']')
                                j++;
                        if (j >= n) {
                                cb_buf_release(&re);
                                return cb_failc(err, -EINVAL, "%s:%u: bad pattern '%s': unterminated '['",
                                                name, pt->line, s);
                        }
                        (void) cb_buf_addc(&re, '[');
                        size_t k = i + 1;
                        if (s[k] == '!' || s[k] == '^') {
                                (void) cb_buf_addc(&re, '^');
                                k++;
                        }
                        for (; k < j; k++) {
                                if (s[k] == '\\' && k + 1 < j)
                                        k++;
                                (void) cb_buf_addc(&re, s[k]);
                        }
                        (void) cb_buf_addc(&re, ']');
                        i = j;
                } else if (c == '\\') {
                        if (i + 1 >= n) {
                                cb_buf_release(&re);
                                return cb_failc(err, -EINVAL, "%s:%u: bad pattern '%s': trailing '\\'", name,
                                                pt->line, s);
                        }
                        c = s[++i];
                        if (strchr(".+()|{}^$*?[]\\", c))
                                (void) cb_buf_addc(&re, '\\');
                        (void) cb_buf_addc(&re, c);
                } else {
                        if (strchr(".+()|{}^$]", c))
                                (void) cb_buf_addc(&re, '\\');
                        (void) cb_buf_addc(&re, c);
                }
        }
        (void) cb_buf_addc(&re, '$');
        int r = regcomp(&pt->re, re.p, REG_EXTENDED | REG_NOSUB);
        cb_buf_release(&re);
        if (r != 0)
                return cb_failc(err, -EINVAL, "%s:%u: bad pattern '%s'", name, pt->line, s);
        return 0;
}

int df_ignore_parse(struct cb_str text, const char *name, struct df_ignore **ret, struct cb_err *err)
{
        struct df_ignore *ig = cb_xcalloc(1, sizeof(*ig));
        size_t cap = 0;
        unsigned line = 0;
        const char *p = text.p, *end = text.p + text.len;

        if (!name)
                name = ".dockerignore";
        if (text.len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
                p += 3;
        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t) (end - p));
                const char *le = nl ? nl : end;
                struct cb_str l = cb_str_from(p, (size_t) (le - p));
                p = nl ? nl + 1 : end;
                line++;
                if (l.len && l.p[0] == '#')
                        continue;
                while (l.len && df_isspace(*l.p)) {
                        l.p++;
                        l.len--;
                }
                while (l.len && df_isspace(l.p[l.len - 1]))
                        l.len--;
                if (!l.len)
                        continue;
                if (memchr(l.p, '\0', l.len)) {
                        df_ignore_free(ig);
                        return cb_failc(err, -EINVAL, "%s:%u: NUL byte in pattern", name, line);
                }
                bool excl = false;
                if (l.p[0] == '!') {
                        excl = true;
                        l.p++;
                        l.len--;
                        while (l.len && df_isspace(*l.p)) {
                                l.p++;
                                l.len--;
                        }
                        if (!l.len)
                                continue;
                }
                if (ig->n >= IGNORE_MAX_PATTERNS) {
                        df_ignore_free(ig);
                        return cb_failc(err, -E2BIG, "%s:%u: more than %u patterns", name, line,
                                        IGNORE_MAX_PATTERNS);
                }
                char *clean = clean_path(l.p, l.len);
                if (clean[0] == '/' && clean[1]) {
                        char *t = cb_xstrdup(clean + 1);
                        free(clean);
                        clean = t;
                }
                if (ig->n == cap) {
                        cap = cap ? cap * 2 : 16;
                        ig->v = cb_xrealloc(ig->v, cap * sizeof(*ig->v));
                }
                struct pattern *pt = &ig->v[ig->n];
                pt->text = clean;
                pt->exclusion = excl;
                pt->line = line;
                int r = compile(pt, err, name);
                if (r < 0) {
                        free(clean);
                        df_ignore_free(ig);
                        return r;
                }
                ig->n++;
        }
        *ret = ig;
        return 0;
}

static bool match_one(const struct pattern *pt, const char *path)
{
        if (regexec(&pt->re, path, 0, NULL, 0) == 0)
                return true;
        /* patternmatcher: a pattern that matches a parent directory matches everything below it */
        _cleanup_free_ char *t = cb_xstrdup(path);
        for (char *s = strchr(t, '/'); s; s = strchr(s + 1, '/')) {
                *s = '\0';
                bool m = regexec(&pt->re, t, 0, NULL, 0) == 0;
                *s = '/';
                if (m)
                        return true;
        }
        return false;
}

bool df_ignore_match(const struct df_ignore *ig, const char *relpath)
{
        if (!ig || !relpath)
                return false;
        _cleanup_free_ char *path = clean_path(relpath, strlen(relpath));
        bool matched = false;
        for (size_t i = 0; i < ig->n; i++) {
                /* only a pattern that could flip the verdict needs evaluating */
                if (ig->v[i].exclusion != matched)
                        continue;
                if (match_one(&ig->v[i], path))
                        matched = !ig->v[i].exclusion;
        }
        return matched;
}

/* Could the '!' pattern text match something at or below dir? Compares literal leading elements. */
static bool could_reach(const char *pat, const char *dir)
{
        const char *p = pat, *d = dir;
        for (;;) {
                if (!*d)
                        return true;
                const char *pe = strchr(p, '/'), *de = strchr(d, '/');
                size_t pl = pe ? (size_t) (pe - p) : strlen(p), dl = de ? (size_t) (de - d) : strlen(d);
                if (memchr(p, '*', pl) || memchr(p, '?', pl) || memchr(p, '[', pl) || memchr(p, '\\', pl))
                        return true; /* a wildcard element: be conservative */
                if (pl != dl || memcmp(p, d, pl) != 0)
                        return false;
                if (!pe)
                        return true; /* the pattern names dir itself or a parent */
                if (!de)
                        return true;
                p = pe + 1;
                d = de + 1;
        }
}

bool df_ignore_may_reinclude(const struct df_ignore *ig, const char *reldir)
{
        if (!ig || !reldir)
                return false;
        _cleanup_free_ char *dir = clean_path(reldir, strlen(reldir));
        for (size_t i = 0; i < ig->n; i++)
                if (ig->v[i].exclusion && could_reach(ig->v[i].text, strcmp(dir, ".") == 0 ? "" : dir))
                        return true;
        return false;
}

char *df_ignore_path_for(const char *dockerfile)
{
        return cb_xasprintf("%s.dockerignore", dockerfile);
}

/* Lint: the rule table, the "# check=" directive, and the findings list. The rules themselves live
 * in rules.c (BuildKit's checks) and rules_cuda.c (CUDA/PyTorch image practice). */
#include "parser/df.h"
#include "parser/lint.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

size_t df_rules_count(void)
{
        return df_lint_nrules;
}

const char *df_rule_name(size_t i)
{
        return i < df_lint_nrules ? df_lint_rules[i].name : NULL;
}

const char *df_rule_description(size_t i)
{
        return i < df_lint_nrules ? df_lint_rules[i].description : NULL;
}

int df_rule_severity(size_t i)
{
        return i < df_lint_nrules ? df_lint_rules[i].severity : -1;
}

void df_findings_free(struct df_finding *v, size_t n)
{
        if (!v)
                return;
        for (size_t i = 0; i < n; i++)
                free(v[i].message);
        free(v);
}

void df_lint_report(struct df_lint *l, unsigned line, int severity, const char *fmt, ...)
{
        struct cb_buf b;
        va_list ap;

        if (l->skip[l->rule])
                return;
        cb_buf_init(&b, 4096);
        va_start(ap, fmt);
        (void) cb_buf_vaddf(&b, fmt, ap);
        va_end(ap);
        if (l->n == l->cap) {
                l->cap = l->cap ? l->cap * 2 : 16;
                l->v = cb_xrealloc(l->v, l->cap * sizeof(*l->v));
        }
        if (severity < 0)
                severity = df_lint_rules[l->rule].severity;
        if (l->error_all && severity == DF_SEV_WARNING)
                severity = DF_SEV_ERROR;
        l->v[l->n++] = (struct df_finding){
            .rule = df_lint_rules[l->rule].name,
            .severity = severity,
            .line = line,
            .message = cb_buf_take(&b, NULL),
            .file = df_file_name(l->f),
        };
}

/* "# check=skip=A,B;error=true" (BuildKit's syntax; rule names compare case-insensitively). */
static int parse_check_directive(struct df_lint *l, struct cb_err *err)
{
        const char *d = df_file_directive(l->f, "check");
        if (!d)
                return 0;
        _cleanup_free_ char *copy = cb_xstrdup(d);
        char *save = NULL;
        for (char *part = copy; part; part = save) {
                save = strchr(part, ';');
                if (save)
                        *save++ = '\0';
                while (*part == ' ')
                        part++;
                char *eq = strchr(part, '=');
                if (!*part)
                        continue;
                if (!eq)
                        return cb_failc(err, -EINVAL, "%s:%u: check directive: '%s' is not key=value",
                                        df_file_name(l->f), df_lint_check_line(l->f), part);
                *eq = '\0';
                const char *v = eq + 1;
                if (strcasecmp(part, "skip") == 0) {
                        _cleanup_free_ char *names = cb_xstrdup(v);
                        char *s2 = NULL;
                        for (char *nm = names; nm; nm = s2) {
                                s2 = strchr(nm, ',');
                                if (s2)
                                        *s2++ = '\0';
                                while (*nm == ' ')
                                        nm++;
                                size_t nl = strlen(nm);
                                while (nl && nm[nl - 1] == ' ')
                                        nm[--nl] = '\0';
                                if (strcasecmp(nm, "all") == 0) {
                                        for (size_t i = 0; i < df_lint_nrules; i++)
                                                l->skip[i] = true;
                                        continue;
                                }
                                for (size_t i = 0; i < df_lint_nrules; i++)
                                        if (strcasecmp(df_lint_rules[i].name, nm) == 0)
                                                l->skip[i] = true;
                        }
                } else if (strcasecmp(part, "error") == 0) {
                        l->error_all = strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0;
                } else if (strcasecmp(part, "experimental") == 0) {
                        /* BuildKit's opt-in for experimental rules: ours are all on */
                } else
                        return cb_failc(err, -EINVAL,
                                        "%s:%u: check directive: unknown key '%s' (skip, error)",
                                        df_file_name(l->f), df_lint_check_line(l->f), part);
        }
        return 0;
}

static int cmp_finding(const void *a, const void *b)
{
        const struct df_finding *x = a, *y = b;
        if (x->line != y->line)
                return x->line < y->line ? -1 : 1;
        return strcmp(x->rule, y->rule);
}

int df_check(const struct df_file *f, const struct df_check_opts *o, struct df_finding **ret, size_t *ret_n,
             struct cb_err *err)
{
        static const struct df_check_opts none = {0};
        struct df_lint l = {.f = f, .o = o ? o : &none};
        int r;

        l.skip = cb_xcalloc(df_lint_nrules, sizeof(bool));
        r = parse_check_directive(&l, err);
        if (r < 0) {
                free(l.skip);
                return r;
        }
        l.stage_of = cb_xcalloc(df_file_ninstr(f) + 1, sizeof(size_t));
        l.stage_img = cb_xcalloc(df_file_nstages(f) + 1, sizeof(char *));
        l.stage_img_done = cb_xcalloc(df_file_nstages(f) + 1, sizeof(bool));
        for (size_t s = 0; s < df_file_nstages(f); s++) {
                const struct df_stage *st = df_file_stage(f, s);
                for (size_t i = st->from; i < st->first + st->n; i++)
                        l.stage_of[i] = s;
        }
        for (size_t i = 0; i < df_lint_nrules; i++) {
                if (l.skip[i] || !df_lint_rules[i].fn)
                        continue; /* an image rule: the static CUDA report applies it */
                l.rule = i;
                df_lint_rules[i].fn(&l);
        }
        free(l.skip);
        free(l.stage_of);
        for (size_t s = 0; s < df_file_nstages(f); s++)
                free(l.stage_img[s]);
        free(l.stage_img);
        free(l.stage_img_done);
        df_vars_free(l.meta);
        /* stable order: by line, then rule name, insertion order among equals */
        if (l.n > 1)
                qsort(l.v, l.n, sizeof(*l.v), cmp_finding);
        *ret = l.v;
        *ret_n = l.n;
        return 0;
}

static const char *const severity_names[] = {"info", "warning", "error"};

static const char *sev_name(int s)
{
        return s >= 0 && s <= DF_SEV_ERROR ? severity_names[s] : "error";
}

static int add_json(json_t *j, struct cb_buf *out)
{
        char *t = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);
        json_decref(j);
        if (!t)
                return -ENOMEM;
        int r = cb_buf_adds(out, t);
        free(t);
        return r < 0 ? r : cb_buf_addc(out, '\n');
}

int df_findings_format(const struct df_finding *v, size_t n, bool json, struct cb_buf *out)
{
        if (json) {
                json_t *a = json_array();
                for (size_t i = 0; i < n; i++)
                        json_array_append_new(a, json_pack("{s:s, s:I, s:s, s:s, s:s}", "file",
                                                           v[i].file ? v[i].file : "", "line",
                                                           (json_int_t) v[i].line, "rule", v[i].rule,
                                                           "severity", sev_name(v[i].severity), "message",
                                                           v[i].message ? v[i].message : ""));
                return add_json(a, out);
        }
        for (size_t i = 0; i < n; i++) {
                int r = v[i].line ? cb_buf_addf(out, "%s:%u: %s: %s\n", v[i].file, v[i].line, v[i].rule,
                                                v[i].message)
                                  : cb_buf_addf(out, "%s: %s: %s\n", v[i].file, v[i].rule, v[i].message);
                if (r < 0)
                        return r;
        }
        return 0;
}

int df_findings_status(const struct df_finding *v, size_t n, bool strict)
{
        for (size_t i = 0; i < n; i++)
                if (v[i].severity >= DF_SEV_ERROR || (strict && v[i].severity >= DF_SEV_WARNING))
                        return 1;
        return 0;
}

int df_rules_format(bool json, struct cb_buf *out)
{
        if (json) {
                json_t *a = json_array();
                for (size_t i = 0; i < df_lint_nrules; i++)
                        json_array_append_new(a, json_pack("{s:s, s:s, s:s}", "rule", df_lint_rules[i].name,
                                                           "severity", sev_name(df_lint_rules[i].severity),
                                                           "description", df_lint_rules[i].description));
                return add_json(a, out);
        }
        for (size_t i = 0; i < df_lint_nrules; i++) {
                int r = cb_buf_addf(out, "%-32s %-8s %s\n", df_lint_rules[i].name,
                                    sev_name(df_lint_rules[i].severity), df_lint_rules[i].description);
                if (r < 0)
                        return r;
        }
        return 0;
}

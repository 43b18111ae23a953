/* cubuild check: parse and lint without building. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builder/cli.h"
#include "builder/exit.h"
#include "parser/df.h"

static int usage_error(const char *msg)
{
        (void) fprintf(stderr, "cubuild check: %s\nsee 'cubuild check --help'\n", msg);
        return BLD_EXIT_USAGE;
}

int bld_cmd_check(const struct bld_global *g, int argc, char **argv)
{
        const char *file = NULL, *context = NULL, *format = "text";
        bool strict = false;
        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];
                if ((strcmp(a, "-f") == 0 || strcmp(a, "--file") == 0) && i + 1 < argc) {
                        file = argv[++i];
                } else if (strcmp(a, "--strict") == 0) {
                        strict = true;
                } else if (strcmp(a, "--format") == 0 && i + 1 < argc) {
                        format = argv[++i];
                        if (strcmp(format, "json") && strcmp(format, "text"))
                                return usage_error("--format: use text or json");
                } else if (strcmp(a, "--list-rules") == 0) {
                        for (size_t k = 0; k < df_rules_count(); k++)
                                (void) printf("%-32s %s\n", df_rule_name(k), df_rule_description(k));
                        return BLD_EXIT_OK;
                } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
                        (void) puts("Usage: cubuild check [-f Dockerfile] [--strict] [--format text|json] "
                                    "[--list-rules] [CONTEXT]\n\n"
                                    "Parse and lint a Dockerfile without building. Exit 0 when clean, 1 on errors\n"
                                    "(and on warnings with --strict), 2 on usage errors.");
                        return BLD_EXIT_OK;
                } else if (a[0] == '-' && a[1]) {
                        return usage_error("unknown flag");
                } else if (!context) {
                        context = a;
                } else {
                        return usage_error("give at most one context directory");
                }
        }
        _cleanup_free_ char *path = file ? cb_xstrdup(file) : cb_xasprintf("%s/Dockerfile", context ? context : ".");
        struct cb_err err;
        struct cb_buf text;
        struct df_file *df = NULL;
        struct df_finding *f = NULL;
        size_t n = 0;
        cb_err_init(&err);
        cb_buf_init(&text, 16u << 20);
        int r = cb_read_file(AT_FDCWD, path, 16u << 20, &text, &err);
        if (r >= 0)
                r = df_parse(cb_buf_str(&text), path, &df, &err);
        struct df_check_opts co = { .base_cuda_version = NULL, .strict = strict };
        if (r >= 0)
                r = df_check(df, &co, &f, &n, &err);
        int rc = BLD_EXIT_OK;
        if (r < 0) {
                rc = bld_report(g, &err);
        } else {
                json_t *arr = json_array();
                for (size_t i = 0; i < n; i++) {
                        static const char *const sev[] = { "info", "warning", "error" };
                        int s = f[i].severity < 0 ? 0 : f[i].severity > 2 ? 2 : f[i].severity;
                        if (strcmp(format, "json") == 0)
                                json_array_append_new(arr, json_pack("{s:s, s:i, s:s, s:s, s:s}", "file",
                                                                     f[i].file ? f[i].file : path, "line",
                                                                     (int) f[i].line, "rule", f[i].rule, "severity",
                                                                     sev[s], "message", f[i].message));
                        else
                                (void) printf("%s:%u: %s: %s\n", f[i].file ? f[i].file : path, f[i].line, f[i].rule,
                                              f[i].message);
                        if (f[i].severity >= 2 || (strict && f[i].severity >= 1))
                                rc = BLD_EXIT_FAILED;
                }
                if (strcmp(format, "json") == 0) {
                        char *s = json_dumps(arr, JSON_INDENT(2));
                        (void) printf("%s\n", s);
                        free(s);
                }
                json_decref(arr);
        }
        df_findings_free(f, n);
        df_file_free(df);
        cb_buf_release(&text);
        cb_err_release(&err);
        return rc;
}

/* The Dockerfile corpus: tests/fixtures/dockerfile/<case>/{Dockerfile,expected}. Each Dockerfile is
 * parsed, its stages' FROM lines expanded with the ARG defaults, and linted; the readable summary
 * must equal `expected` (instruction kinds and count, stage graph, COPY --from edges, heredocs,
 * findings, or the error). CUBUILD_FIXTURES_UPDATE=1 rewrites the expected files (review the diff). */
#include "helpers.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#define MIN_PARSING_CASES 20

static const char *const sev_names[] = {"info", "warning", "error"};

static void dump(const struct df_file *f, struct cb_buf *out)
{
        size_t n = df_file_ninstr(f);
        struct cb_err err;
        cb_err_init(&err);

        cb_buf_addf(out, "instructions %zu\nkinds", n);
        for (size_t i = 0; i < n; i++)
                cb_buf_addf(out, " %s", df_instr_kind_name(df_file_instr(f, i)->kind));
        cb_buf_adds(out, "\n");
        for (size_t i = 0; i < df_file_nmeta_args(f); i++) {
                const struct df_kv *kv = df_file_meta_arg(f, i);
                cb_buf_addf(out, "meta-arg %s%s%s\n", kv->key, kv->value ? "=" : "",
                            kv->value ? kv->value : "");
        }

        /* what a build for linux/amd64 on linux/amd64 gets automatically */
        struct df_vars *scope = NULL, *autos = df_vars_new();
        df_vars_set(autos, "TARGETPLATFORM", "linux/amd64");
        df_vars_set(autos, "TARGETOS", "linux");
        df_vars_set(autos, "TARGETARCH", "amd64");
        df_vars_set(autos, "BUILDPLATFORM", "linux/amd64");
        df_vars_set(autos, "BUILDOS", "linux");
        df_vars_set(autos, "BUILDARCH", "amd64");
        int mr = df_file_meta_scope(f, NULL, autos, &scope, &err);
        df_vars_free(autos);
        if (mr < 0) {
                cb_buf_addf(out, "meta-scope error %s\n", cb_err_msg(&err));
                cb_err_reset(&err);
        }
        cb_buf_addf(out, "stages %zu\n", df_file_nstages(f));
        for (size_t s = 0; s < df_file_nstages(f); s++) {
                const struct df_stage *st = df_file_stage(f, s);
                cb_buf_addf(out, "stage %zu line %u name %s instructions %zu base %s", s, st->line,
                            st->name ? st->name : "-", st->n, st->base);
                if (st->platform)
                        cb_buf_addf(out, " platform %s", st->platform);
                if (st->base_stage >= 0)
                        cb_buf_addf(out, " (stage %ld)", st->base_stage);
                else if (scope && strchr(st->base, '$')) {
                        char *img = NULL;
                        if (df_expand_word(scope, st->base, df_file_escape(f), &img, &err) == 0) {
                                long ref = df_file_stage_by_name(f, img);
                                cb_buf_addf(out, " -> %s", img);
                                if (ref >= 0 && (size_t) ref < s)
                                        cb_buf_addf(out, " (stage %ld)", ref);
                        } else
                                cb_buf_addf(out, " -> error %s", cb_err_msg(&err));
                        free(img);
                        cb_err_reset(&err);
                }
                cb_buf_adds(out, "\n");
                for (size_t i = st->first; i < st->first + st->n; i++) {
                        const struct df_instr *in = df_file_instr(f, i);
                        const char *from = NULL;
                        if (in->kind == DF_INSTR_COPY)
                                from = df_instr_flag(in, "from", NULL);
                        if (from) {
                                long ref = df_file_stage_by_name(f, from);
                                if (ref >= 0)
                                        cb_buf_addf(out, "  copy-from line %u %s (stage %ld)\n",
                                                    in->start_line, from, ref);
                                else
                                        cb_buf_addf(out, "  copy-from line %u %s (image)\n", in->start_line,
                                                    from);
                        }
                        for (size_t h = 0; h < in->nheredocs; h++) {
                                size_t lines = 0;
                                for (const char *p = in->heredocs[h].body; *p; p++)
                                        lines += *p == '\n';
                                cb_buf_addf(out, "  heredoc line %u %s %s%s lines %zu\n", in->start_line,
                                            in->heredocs[h].delim,
                                            in->heredocs[h].expand ? "expand" : "literal",
                                            in->heredocs[h].strip_tabs ? " strip-tabs" : "", lines);
                        }
                }
        }
        df_vars_free(scope);

        struct df_finding *v = NULL;
        size_t nv = 0;
        if (df_check(f, NULL, &v, &nv, &err) < 0)
                cb_buf_addf(out, "check error %s\n", cb_err_msg(&err));
        for (size_t i = 0; i < nv; i++)
                cb_buf_addf(out, "lint %u %s %s\n", v[i].line, v[i].rule, sev_names[v[i].severity]);
        df_findings_free(v, nv);
        cb_err_release(&err);
}

static int cmp_names(const void *a, const void *b)
{
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static void test_corpus(void **state)
{
        const char *src = getenv("CUBUILD_SOURCE_DIR");
        bool update =
            getenv("CUBUILD_FIXTURES_UPDATE") && strcmp(getenv("CUBUILD_FIXTURES_UPDATE"), "1") == 0;
        struct cb_err err;
        size_t parsing = 0, failing = 0, cases = 0;
        char **names = NULL;

        assert_non_null(src);
        cb_err_init(&err);
        char *dirpath = cb_xasprintf("%s/tests/fixtures/dockerfile", src);
        DIR *d = opendir(dirpath);
        assert_non_null(d);
        for (struct dirent *de; (de = readdir(d));) {
                if (de->d_name[0] == '.')
                        continue;
                names = cb_xrealloc(names, (cases + 1) * sizeof(*names));
                names[cases++] = cb_xstrdup(de->d_name);
        }
        closedir(d);
        qsort(names, cases, sizeof(*names), cmp_names);
        int dfd = open(dirpath, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(dfd >= 0);

        size_t mismatches = 0;
        for (size_t c = 0; c < cases; c++) {
                struct cb_buf text, want, got;
                cb_buf_init(&text, CB_BUF_UNLIMITED);
                cb_buf_init(&want, CB_BUF_UNLIMITED);
                cb_buf_init(&got, CB_BUF_UNLIMITED);
                char *df = cb_xasprintf("%s/Dockerfile", names[c]);
                char *ex = cb_xasprintf("%s/expected", names[c]);
                assert_int_equal(cb_read_file(dfd, df, DF_MAX_INPUT, &text, &err), 0);

                struct df_file *f = NULL;
                if (df_parse(cb_buf_str(&text), "Dockerfile", &f, &err) == 0) {
                        dump(f, &got);
                        parsing++;
                } else {
                        cb_buf_addf(&got, "error %s\n", cb_err_msg(&err));
                        failing++;
                }
                cb_err_reset(&err);
                df_file_free(f);

                if (update) {
                        assert_int_equal(cb_write_file_atomic(dfd, ex, got.p, got.len, 0644, &err), 0);
                } else {
                        int r = cb_read_file(dfd, ex, 1u << 20, &want, &err);
                        if (r < 0 || !cb_str_eq(cb_buf_str(&want), cb_buf_str(&got))) {
                                print_error("fixture %s: expected differs; got:\n%s\n", names[c], got.p);
                                mismatches++;
                        }
                        cb_err_reset(&err);
                }
                free(df);
                free(ex);
                cb_buf_release(&text);
                cb_buf_release(&want);
                cb_buf_release(&got);
                free(names[c]);
        }
        close(dfd);
        free(names);
        free(dirpath);
        cb_err_release(&err);
        assert_int_equal(mismatches, 0);
        assert_true(parsing >= MIN_PARSING_CASES);
        assert_true(failing >= 1);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_corpus),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

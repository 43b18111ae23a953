/* parser/check.c: the rule table, "# check=" directive handling and the findings list. */
#include "helpers.h"

#include <errno.h>
#include <time.h>

static void test_rule_table_names_are_unique_and_described(void **state)
{
        size_t n = df_rules_count();
        assert_true(n >= 25);
        for (size_t i = 0; i < n; i++) {
                assert_non_null(df_rule_name(i));
                assert_true(strlen(df_rule_description(i)) > 10);
                assert_null(strchr(df_rule_description(i), '\n'));
                assert_true(df_rule_severity(i) >= DF_SEV_INFO && df_rule_severity(i) <= DF_SEV_ERROR);
                for (size_t j = 0; j < i; j++)
                        assert_string_not_equal(df_rule_name(i), df_rule_name(j));
        }
        assert_null(df_rule_name(n));
        assert_null(df_rule_description(n));
}

static const char *const noisy = "FROM python\nMAINTAINER me\nCMD python app.py\n";

static void test_findings_sorted_with_file_and_line(void **state)
{
        struct df_file *f = parse_ok(noisy);
        struct df_finding *v = NULL;
        size_t n = 0;
        struct cb_err err;
        cb_err_init(&err);
        assert_int_equal(df_check(f, NULL, &v, &n, &err), 0);
        assert_true(n >= 4);
        for (size_t i = 1; i < n; i++)
                assert_true(v[i - 1].line <= v[i].line);
        for (size_t i = 0; i < n; i++) {
                assert_string_equal(v[i].file, "Dockerfile");
                assert_non_null(v[i].message);
        }
        df_findings_free(v, n);
        df_file_free(f);
        cb_err_release(&err);
}

static void test_skip_directive_disables_rules(void **state)
{
        assert_int_equal(findings_of(noisy, NULL, "MaintainerDeprecated", NULL, NULL), 1);
        assert_int_equal(findings_of("# check=skip=MaintainerDeprecated,jsonargsrecommended\n"
                                     "FROM python\nMAINTAINER me\nCMD python app.py\n",
                                     NULL, "MaintainerDeprecated", NULL, NULL),
                         0);
        assert_int_equal(findings_of("# check=skip=MaintainerDeprecated,jsonargsrecommended\n"
                                     "FROM python\nMAINTAINER me\nCMD python app.py\n",
                                     NULL, "JSONArgsRecommended", NULL, NULL),
                         0);
        assert_int_equal(findings_of("# check=skip=MaintainerDeprecated\nFROM python\nMAINTAINER me\nCMD x\n",
                                     NULL, "JSONArgsRecommended", NULL, NULL),
                         1);
        assert_int_equal(findings_of("# check=skip=all\nFROM python\nMAINTAINER me\nCMD x\n", NULL,
                                     "BaseImageUnpinned", NULL, NULL),
                         0);
}

static void test_error_directive_raises_warnings(void **state)
{
        int sev = -1;
        assert_int_equal(findings_of("# check=error=true\nFROM python\nMAINTAINER me\n", NULL,
                                     "MaintainerDeprecated", NULL, &sev),
                         1);
        assert_int_equal(sev, DF_SEV_ERROR);
        assert_int_equal(findings_of(noisy, NULL, "MaintainerDeprecated", NULL, &sev), 1);
        assert_int_equal(sev, DF_SEV_WARNING);
}

static void test_bad_check_directive(void **state)
{
        struct df_file *f = parse_ok("# check=skip\nFROM a\n");
        struct df_finding *v = NULL;
        size_t n = 0;
        struct cb_err err;
        cb_err_init(&err);
        assert_int_equal(df_check(f, NULL, &v, &n, &err), -EINVAL);
        assert_non_null(strstr(cb_err_msg(&err), "Dockerfile:1: check directive"));
        df_file_free(f);
        f = parse_ok("# check=colour=blue\nFROM a\n");
        assert_int_equal(df_check(f, NULL, &v, &n, &err), -EINVAL);
        assert_non_null(strstr(cb_err_msg(&err), "unknown key 'colour'"));
        df_file_free(f);
        cb_err_release(&err);
        df_findings_free(NULL, 0);
}

static void test_clean_file_has_no_findings(void **state)
{
        struct df_file *f =
            parse_ok("FROM nvidia/cuda:12.4.1-runtime-ubuntu22.04\n"
                     "RUN apt-get update && apt-get install -y --no-install-recommends python3 && "
                     "rm -rf /var/lib/apt/lists/*\nUSER 1000\nCMD [\"python3\"]\n");
        struct df_finding *v = NULL;
        size_t n = 0;
        struct cb_err err;
        cb_err_init(&err);
        assert_int_equal(df_check(f, NULL, &v, &n, &err), 0);
        for (size_t i = 0; i < n; i++)
                print_error("unexpected %s:%u %s %s\n", v[i].file, v[i].line, v[i].rule, v[i].message);
        assert_int_equal(n, 0);
        df_findings_free(v, n);
        df_file_free(f);
        cb_err_release(&err);
}

static void test_format_text_json_and_status(void **state)
{
        struct df_finding v[] = {
            {.rule = "MaintainerDeprecated",
             .severity = DF_SEV_WARNING,
             .line = 2,
             .message = "old",
             .file = "Df"},
            {.rule = "RootUser", .severity = DF_SEV_INFO, .line = 0, .message = "q\"uote", .file = "Df"},
        };
        struct cb_buf b;
        cb_buf_init(&b, CB_BUF_UNLIMITED);
        assert_int_equal(df_findings_format(v, 2, false, &b), 0);
        assert_string_equal(b.p, "Df:2: MaintainerDeprecated: old\nDf: RootUser: q\"uote\n");
        cb_buf_reset(&b);
        assert_int_equal(df_findings_format(v, 2, true, &b), 0);
        assert_non_null(strstr(b.p, "\"rule\":\"MaintainerDeprecated\""));
        assert_non_null(strstr(b.p, "\"severity\":\"warning\""));
        assert_non_null(strstr(b.p, "\"line\":2"));
        assert_non_null(strstr(b.p, "q\\\"uote"));
        cb_buf_reset(&b);
        assert_int_equal(df_findings_format(NULL, 0, true, &b), 0);
        assert_string_equal(b.p, "[]\n");
        assert_int_equal(df_findings_status(v, 2, false), 0);
        assert_int_equal(df_findings_status(v, 2, true), 1);
        v[1].severity = DF_SEV_ERROR;
        assert_int_equal(df_findings_status(v, 2, false), 1);
        cb_buf_reset(&b);
        assert_int_equal(df_rules_format(false, &b), 0);
        assert_non_null(strstr(b.p, "CudaTorchMismatch"));
        size_t lines = 0;
        for (const char *p = b.p; *p; p++)
                lines += *p == '\n';
        assert_int_equal(lines, df_rules_count());
        cb_buf_reset(&b);
        assert_int_equal(df_rules_format(true, &b), 0);
        assert_non_null(strstr(b.p, "\"description\""));
        cb_buf_release(&b);
}

static void test_check_scales_to_100k_instructions(void **state)
{
        struct cb_buf b;
        cb_buf_init(&b, CB_BUF_UNLIMITED);
        for (int i = 0; i < 50000; i++)
                cb_buf_addf(&b, "ARG A%d=%d\n", i, i);
        for (int i = 0; i < 50000; i++) {
                if (i % 100 == 0)
                        cb_buf_addf(&b, "FROM nvidia/cuda:${A1}2.4.1-runtime-ubuntu22.04 AS s%d\n", i);
                cb_buf_adds(&b, "RUN pip install torch==2.3.0+cu121 && apt-get install -y x\n");
        }
        struct timespec t0, t1;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
        struct df_file *f = parse_ok(b.p);
        struct df_finding *v = NULL;
        size_t n = 0;
        struct cb_err err;
        cb_err_init(&err);
        assert_int_equal(df_check(f, NULL, &v, &n, &err), 0);
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
        assert_true(n > 50000);
        double sec = (double) (t1.tv_sec - t0.tv_sec) + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9;
        /* CPU time, generous (sanitizers); quadratic behaviour would take minutes */
        assert_true(sec < 10.0);
        df_findings_free(v, n);
        df_file_free(f);
        cb_err_release(&err);
        cb_buf_release(&b);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_rule_table_names_are_unique_and_described),
            cmocka_unit_test(test_findings_sorted_with_file_and_line),
            cmocka_unit_test(test_skip_directive_disables_rules),
            cmocka_unit_test(test_error_directive_raises_warnings),
            cmocka_unit_test(test_bad_check_directive),
            cmocka_unit_test(test_clean_file_has_no_findings),
            cmocka_unit_test(test_format_text_json_and_status),
            cmocka_unit_test(test_check_scales_to_100k_instructions),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* parser/file.c: accessors and BuildKit's ARG scoping. */
#include "helpers.h"

#include <errno.h>

static void test_meta_scope_defaults_build_args_and_auto_args(void **state)
{
        struct df_file *f =
            parse_ok("ARG CUDA=11.8.0\nARG OS=ubuntu22.04\nARG TAG=${CUDA}-runtime-${OS}\nARG NODEF\n"
                     "FROM nvidia/cuda:$TAG\nARG LATE=1\n");
        struct df_vars *ba = df_vars_new(), *aa = df_vars_new(), *scope = NULL;
        struct cb_err err;
        cb_err_init(&err);
        df_vars_set(ba, "CUDA", "12.4.1");
        df_vars_set(aa, "TARGETARCH", "amd64");
        assert_int_equal(df_file_meta_scope(f, ba, aa, &scope, &err), 0);
        assert_string_equal(df_vars_get(scope, "CUDA"), "12.4.1");
        assert_string_equal(df_vars_get(scope, "TAG"), "12.4.1-runtime-ubuntu22.04");
        assert_string_equal(df_vars_get(scope, "TARGETARCH"), "amd64");
        assert_null(df_vars_get(scope, "NODEF"));
        assert_null(df_vars_get(scope, "LATE"));
        char *img = NULL;
        assert_int_equal(df_expand_word(scope, df_file_stage(f, 0)->base, df_file_escape(f), &img, &err), 0);
        assert_string_equal(img, "nvidia/cuda:12.4.1-runtime-ubuntu22.04");
        free(img);
        df_vars_free(scope);
        df_vars_free(ba);
        df_vars_free(aa);
        df_file_free(f);
        cb_err_release(&err);
}

static void test_stage_args_inherit_global_only_when_redeclared(void **state)
{
        struct df_file *f =
            parse_ok("ARG CUDA=11.8.0\nARG PY=3.10\nFROM a\nARG CUDA\nARG X=${CUDA}-x Y\nARG PY=3.11\n");
        struct df_vars *meta = NULL, *ba = df_vars_new(), *scope = df_vars_new();
        struct cb_err err;
        cb_err_init(&err);
        df_vars_set(ba, "Y", "given");
        assert_int_equal(df_file_meta_scope(f, NULL, NULL, &meta, &err), 0);
        /* before the stage's ARG CUDA, CUDA is not visible */
        assert_null(df_vars_get(scope, "CUDA"));
        assert_int_equal(df_arg_apply(f, instr(f, 3), ba, meta, scope, &err), 0);
        assert_string_equal(df_vars_get(scope, "CUDA"), "11.8.0");
        assert_int_equal(df_arg_apply(f, instr(f, 4), ba, meta, scope, &err), 0);
        assert_string_equal(df_vars_get(scope, "X"), "11.8.0-x");
        assert_string_equal(df_vars_get(scope, "Y"), "given");
        /* a stage default wins over the global default */
        assert_int_equal(df_arg_apply(f, instr(f, 5), ba, meta, scope, &err), 0);
        assert_string_equal(df_vars_get(scope, "PY"), "3.11");
        assert_int_equal(df_arg_apply(f, instr(f, 2), ba, meta, scope, &err), -EINVAL);
        df_vars_free(meta);
        df_vars_free(ba);
        df_vars_free(scope);
        df_file_free(f);
        cb_err_release(&err);
}

static void test_meta_scope_error_names_file_and_line(void **state)
{
        struct df_file *f = parse_ok("ARG A=1\nARG B=${UNSET:?needed}\nFROM x\n");
        struct df_vars *scope = NULL;
        struct cb_err err;
        cb_err_init(&err);
        assert_int_equal(df_file_meta_scope(f, NULL, NULL, &scope, &err), -EINVAL);
        assert_string_equal(cb_err_msg(&err), "Dockerfile:2: ARG B: UNSET: needed");
        assert_null(scope);
        df_file_free(f);
        cb_err_release(&err);
}

static void test_predefined_and_platform_names(void **state)
{
        assert_true(df_arg_is_predefined("HTTP_PROXY"));
        assert_true(df_arg_is_predefined("no_proxy"));
        assert_false(df_arg_is_predefined("TARGETARCH"));
        assert_false(df_arg_is_predefined(NULL));
        assert_true(df_arg_is_platform("TARGETARCH"));
        assert_true(df_arg_is_platform("BUILDPLATFORM"));
        assert_false(df_arg_is_platform("HTTP_PROXY"));
}

static void test_arg_declared(void **state)
{
        struct df_file *f = parse_ok("ARG CUDA=12.4.1\nFROM a\nARG PY TORCH=2.3\n");
        assert_true(df_file_arg_declared(f, "CUDA"));
        assert_true(df_file_arg_declared(f, "TORCH"));
        assert_true(df_file_arg_declared(f, "PY"));
        assert_false(df_file_arg_declared(f, "HTTP_PROXY"));
        assert_false(df_file_arg_declared(f, "cuda"));
        df_file_free(f);
}

static void test_accessors_out_of_range(void **state)
{
        struct df_file *f = parse_ok("FROM a\n");
        assert_null(df_file_instr(f, 1));
        assert_null(df_file_stage(f, 1));
        assert_null(df_file_meta_arg(f, 0));
        assert_null(df_file_directive(f, "nope"));
        assert_string_equal(df_file_name(f), "Dockerfile");
        assert_int_equal(df_file_ninstr(NULL), 0);
        df_file_free(f);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_meta_scope_defaults_build_args_and_auto_args),
            cmocka_unit_test(test_stage_args_inherit_global_only_when_redeclared),
            cmocka_unit_test(test_meta_scope_error_names_file_and_line),
            cmocka_unit_test(test_predefined_and_platform_names),
            cmocka_unit_test(test_arg_declared),
            cmocka_unit_test(test_accessors_out_of_range),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

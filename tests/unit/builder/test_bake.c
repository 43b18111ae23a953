/* The bake file reader: YAML and JSON in, the resolved plan out; errors carry file, line and key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "builder/bake.h"

static struct bld_bake *load(const char *text, const char *const *names, size_t n)
{
        struct cb_err err;
        cb_err_init(&err);
        struct bld_bake *bk = NULL;
        int r = bld_bake_parse("f.yaml", text, strlen(text), &bk, &err);
        if (r >= 0)
                r = bld_bake_resolve(bk, names, n, &err);
        if (r < 0)
                fail_msg("%s", cb_err_msg(&err));
        cb_err_release(&err);
        return bk;
}

/* The error text of a file that must fail. Owned. */
static char *load_error(const char *text, const char *name)
{
        struct cb_err err;
        cb_err_init(&err);
        struct bld_bake *bk = NULL;
        int r = bld_bake_parse("f.yaml", text, strlen(text), &bk, &err);
        if (r >= 0)
                r = bld_bake_resolve(bk, name ? &name : NULL, name ? 1 : 0, &err);
        assert_true(r < 0);
        char *s = cb_xstrdup(cb_err_msg(&err));
        bld_bake_free(bk);
        cb_err_release(&err);
        return s;
}

static const char *tstr(struct bld_bake *bk, size_t i, const char *key)
{
        return json_string_value(json_object_get(bld_bake_target(bk, i), key));
}

static void test_json_definition_reads_unchanged(void **state)
{
        (void) state;
        static const char text[] = "{\"variable\": {\"TAG\": {\"default\": \"1.0\"}},\n"
                                   " \"group\": {\"default\": {\"targets\": [\"web\"]}},\n"
                                   " \"target\": {\"web\": {\"context\": \"w\", \"tags\": [\"a/web:${TAG}\"],\n"
                                   "   \"args\": {\"N\": \"20\"}, \"push\": true}}}\n";
        unsetenv("TAG");
        struct bld_bake *bk = load(text, NULL, 0);
        assert_int_equal(bld_bake_count(bk), 1);
        assert_string_equal(bld_bake_name(bk, 0), "web");
        assert_string_equal(tstr(bk, 0, "context"), "w");
        assert_string_equal(tstr(bk, 0, "dockerfile"), "Dockerfile");
        json_t *t = bld_bake_target(bk, 0);
        assert_string_equal(json_string_value(json_array_get(json_object_get(t, "tags"), 0)), "a/web:1.0");
        assert_true(json_is_true(json_object_get(t, "push")));
        json_t *plan = bld_bake_plan(bk);
        char *s = json_dumps(json_object_get(plan, "group"), JSON_COMPACT);
        assert_string_equal(s, "{\"default\":{\"targets\":[\"web\"]}}");
        free(s);
        json_decref(plan);
        bld_bake_free(bk);
}

static void test_environment_overrides_variable_default(void **state)
{
        (void) state;
        static const char text[] = "variable:\n  V:\n    default: a\n  W:\n    default: ${V}-w\n"
                                   "target:\n  t:\n    target: ${W}\n";
        setenv("V", "env", 1);
        struct bld_bake *bk = load(text, NULL, 0); /* one target: built without a default group */
        assert_string_equal(tstr(bk, 0, "target"), "env-w");
        bld_bake_free(bk);
        unsetenv("V");
        bk = load(text, NULL, 0);
        assert_string_equal(tstr(bk, 0, "target"), "a-w");
        bld_bake_free(bk);
}

static void test_inherits_merges_maps_and_replaces_lists(void **state)
{
        (void) state;
        static const char text[] = "target:\n"
                                   "  base:\n    args: {A: '1', B: '2'}\n    tags: [x]\n    dockerfile: D\n"
                                   "  mid:\n    inherits: [base]\n    args: {B: '3'}\n"
                                   "  app:\n    inherits: [mid]\n    args: {C: '4'}\n    tags: [y, z]\n";
        const char *names[] = { "app" };
        struct bld_bake *bk = load(text, names, 1);
        assert_int_equal(bld_bake_count(bk), 1);
        char *s = json_dumps(bld_bake_target(bk, 0), JSON_COMPACT | JSON_SORT_KEYS);
        assert_string_equal(s, "{\"args\":{\"A\":\"1\",\"B\":\"3\",\"C\":\"4\"},\"context\":\".\",\"dockerfile\":\"D\","
                               "\"tags\":[\"y\",\"z\"]}");
        free(s);
        bld_bake_free(bk);
}

static void test_contexts_target_orders_and_pulls_in_the_dependency(void **state)
{
        (void) state;
        static const char text[] = "target:\n  app:\n    contexts:\n      base: target:base\n  base:\n    tags: [b]\n";
        const char *names[] = { "app" };
        struct bld_bake *bk = load(text, names, 1);
        assert_int_equal(bld_bake_count(bk), 2);
        assert_string_equal(bld_bake_name(bk, 0), "base");
        assert_string_equal(bld_bake_name(bk, 1), "app");
        size_t nd;
        const size_t *d = bld_bake_deps(bk, 1, &nd);
        assert_int_equal(nd, 1);
        assert_int_equal(d[0], 0);
        bld_bake_deps(bk, 0, &nd);
        assert_int_equal(nd, 0);
        bld_bake_free(bk);
}

static void test_set_overrides_and_appends_lists(void **state)
{
        (void) state;
        static const char text[] = "group:\n  default:\n    targets: [a, b]\n"
                                   "target:\n  a:\n    tags: [old]\n  b:\n    args: {K: v}\n";
        struct cb_err err;
        cb_err_init(&err);
        struct bld_bake *bk = NULL;
        assert_int_equal(bld_bake_parse("f.yaml", text, strlen(text), &bk, &err), 0);
        assert_int_equal(bld_bake_set(bk, "a.tags=n1", &err), 0);
        assert_int_equal(bld_bake_set(bk, "a.tags=n2", &err), 0);
        assert_int_equal(bld_bake_set(bk, "*.args.K=w", &err), 0);
        assert_int_equal(bld_bake_set(bk, "b.no-cache=true", &err), 0);
        assert_true(bld_bake_set(bk, "b.nope=1", &err) < 0);
        assert_non_null(strstr(cb_err_msg(&err), "unknown key 'nope'"));
        assert_true(bld_bake_set(bk, "b.args=1", &err) < 0);
        assert_int_equal(bld_bake_resolve(bk, NULL, 0, &err), 0);
        char *s = json_dumps(bld_bake_target(bk, 0), JSON_COMPACT | JSON_SORT_KEYS);
        assert_string_equal(s, "{\"args\":{\"K\":\"w\"},\"context\":\".\",\"dockerfile\":\"Dockerfile\","
                               "\"tags\":[\"n1\",\"n2\"]}");
        free(s);
        assert_true(json_is_true(json_object_get(bld_bake_target(bk, 1), "no-cache")));
        bld_bake_free(bk);
        cb_err_release(&err);
}

static void test_compose_services_become_targets(void **state)
{
        (void) state;
        static const char text[] = "services:\n  api:\n    image: acme/api:1\n    build:\n      context: ./api\n"
                                   "      args: [M=prod]\n  db:\n    image: postgres\n  w:\n    build: ./w\n";
        struct bld_bake *bk = load(text, NULL, 0);
        assert_int_equal(bld_bake_count(bk), 2);
        assert_string_equal(bld_bake_name(bk, 0), "api");
        assert_string_equal(tstr(bk, 0, "context"), "./api");
        json_t *t = bld_bake_target(bk, 0);
        assert_string_equal(json_string_value(json_array_get(json_object_get(t, "tags"), 0)), "acme/api:1");
        assert_string_equal(json_string_value(json_object_get(json_object_get(t, "args"), "M")), "prod");
        assert_string_equal(tstr(bk, 1, "context"), "./w");
        bld_bake_free(bk);
}

static void test_errors_name_file_line_and_key(void **state)
{
        (void) state;
        char *e = load_error("target:\n  a:\n    context: .\n    tagz: [x]\n", "a");
        assert_string_equal(e, "f.yaml:4: target.a: unknown key 'tagz'");
        free(e);
        e = load_error("target:\n  a:\n    labels:\n      k: {x: 1}\n", "a");
        assert_string_equal(e, "f.yaml:4: target.a.labels.k: expected a string");
        free(e);
        unsetenv("UNSET_FOR_TEST");
        e = load_error("target:\n  a:\n    tags:\n      - ${UNSET_FOR_TEST}\n", "a");
        assert_non_null(strstr(e, "f.yaml:4: target.a.tags: variable 'UNSET_FOR_TEST' is not defined"));
        free(e);
        e = load_error("variable:\n  A:\n    default: ${B}\n  B:\n    default: ${A}\ntarget:\n  t:\n    tags: [\"${A}\"]\n",
                       "t");
        assert_non_null(strstr(e, "refers to itself"));
        free(e);
        e = load_error("target:\n  a:\n    inherits: [a]\n", "a");
        assert_non_null(strstr(e, "f.yaml:3: target.a.inherits: a cycle"));
        free(e);
        e = load_error("target:\n  a:\n    contexts: {x: 'target:b'}\n  b:\n    contexts: {y: 'target:a'}\n", "a");
        assert_non_null(strstr(e, "targets wait for each other"));
        free(e);
        e = load_error("target: [1\n", NULL);
        assert_non_null(strstr(e, "f.yaml:2:"));
        free(e);
        e = load_error("target:\n  a: {}\n  b: {}\n", NULL);
        assert_non_null(strstr(e, "no group or target 'default'"));
        free(e);
        e = load_error("grup:\n  x: {}\n", NULL);
        assert_string_equal(e, "f.yaml:1: unknown key 'grup' (use variable, group or target)");
        free(e);
}

static void test_dollar_escapes_and_defaults(void **state)
{
        (void) state;
        unsetenv("NOT_SET_X");
        static const char text[] = "target:\n  t:\n    args:\n      A: $$HOME\n      B: ${NOT_SET_X:-dflt}\n";
        struct bld_bake *bk = load(text, NULL, 0);
        json_t *args = json_object_get(bld_bake_target(bk, 0), "args");
        assert_string_equal(json_string_value(json_object_get(args, "A")), "$HOME");
        assert_string_equal(json_string_value(json_object_get(args, "B")), "dflt");
        bld_bake_free(bk);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_json_definition_reads_unchanged),
                cmocka_unit_test(test_environment_overrides_variable_default),
                cmocka_unit_test(test_inherits_merges_maps_and_replaces_lists),
                cmocka_unit_test(test_contexts_target_orders_and_pulls_in_the_dependency),
                cmocka_unit_test(test_set_overrides_and_appends_lists),
                cmocka_unit_test(test_compose_services_become_targets),
                cmocka_unit_test(test_errors_name_file_line_and_key),
                cmocka_unit_test(test_dollar_escapes_and_defaults),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* parser/rules.c: BuildKit's checks, one test per rule, each with a case that fires and one that
 * must stay silent. */
#include "helpers.h"

static void hit(const char *text, const char *rule, size_t n, unsigned line)
{
        unsigned got_line = 0;
        size_t got = findings_of(text, NULL, rule, &got_line, NULL);
        if (got != n || (n && got_line != line))
                print_error("%s: want %zu finding(s) at line %u, got %zu at %u\n", rule, n, line, got,
                            got_line);
        assert_int_equal(got, n);
        if (n)
                assert_int_equal(got_line, line);
}

static void test_stage_name_casing(void **state)
{
        hit("FROM a AS Builder\n", "StageNameCasing", 1, 1);
        hit("FROM a AS builder\n", "StageNameCasing", 0, 0);
}

static void test_from_as_casing(void **state)
{
        hit("FROM a as b\n", "FromAsCasing", 1, 1);
        hit("from a AS b\n", "FromAsCasing", 1, 1);
        hit("FROM a AS b\nfrom c as d\n", "FromAsCasing", 0, 0);
}

static void test_consistent_instruction_casing(void **state)
{
        hit("FROM a\nRUN x\nrun y\n", "ConsistentInstructionCasing", 1, 3);
        hit("from a\nrun x\nRUN y\n", "ConsistentInstructionCasing", 1, 3);
        hit("FROM a\nRUN x\n", "ConsistentInstructionCasing", 0, 0);
}

static void test_json_args_recommended(void **state)
{
        hit("FROM a\nCMD python app.py\n", "JSONArgsRecommended", 1, 2);
        hit("FROM a\nENTRYPOINT /start.sh\n", "JSONArgsRecommended", 1, 2);
        hit("FROM a\nCMD [\"python\", \"app.py\"]\nRUN echo\n", "JSONArgsRecommended", 0, 0);
}

static void test_undefined_arg_in_from(void **state)
{
        hit("FROM nvidia/cuda:${CUDA}-runtime\n", "UndefinedArgInFrom", 1, 1);
        hit("ARG CUDA=12.4.1\nFROM nvidia/cuda:${CUDA}-runtime\n", "UndefinedArgInFrom", 0, 0);
        hit("FROM --platform=$BUILDPLATFORM golang\n", "UndefinedArgInFrom", 0, 0);
        hit("ARG A\nFROM a\nFROM --platform=$NOPE b\n", "UndefinedArgInFrom", 1, 3);
}

static void test_invalid_default_arg_in_from(void **state)
{
        hit("ARG TAG\nFROM busybox:${TAG}\n", "InvalidDefaultArgInFrom", 1, 2);
        hit("ARG TAG=1.36\nFROM busybox:${TAG}\n", "InvalidDefaultArgInFrom", 0, 0);
        hit("ARG TAG\nFROM busybox:${TAG:-latest}\n", "InvalidDefaultArgInFrom", 0, 0);
}

static void test_duplicate_stage_name(void **state)
{
        hit("FROM a AS x\nFROM b AS X\n", "DuplicateStageName", 1, 2);
        hit("FROM a AS x\nFROM b AS y\n", "DuplicateStageName", 0, 0);
}

static void test_reserved_stage_name(void **state)
{
        hit("FROM a AS scratch\n", "ReservedStageName", 1, 1);
        hit("FROM a AS context\n", "ReservedStageName", 1, 1);
        hit("FROM a AS base\n", "ReservedStageName", 0, 0);
}

static void test_multiple_instructions_disallowed(void **state)
{
        hit("FROM a\nCMD [\"a\"]\nCMD [\"b\"]\n", "MultipleInstructionsDisallowed", 1, 2);
        hit("FROM a\nHEALTHCHECK NONE\nENTRYPOINT [\"x\"]\nHEALTHCHECK CMD [\"y\"]\n",
            "MultipleInstructionsDisallowed", 1, 2);
        /* one per stage is fine */
        hit("FROM a\nCMD [\"a\"]\nFROM b\nCMD [\"b\"]\n", "MultipleInstructionsDisallowed", 0, 0);
}

static void test_maintainer_deprecated(void **state)
{
        hit("FROM a\nMAINTAINER me\n", "MaintainerDeprecated", 1, 2);
        hit("FROM a\nLABEL maintainer=me\n", "MaintainerDeprecated", 0, 0);
}

static void test_workdir_relative_path(void **state)
{
        hit("FROM a\nWORKDIR app\n", "WorkdirRelativePath", 1, 2);
        hit("FROM a\nWORKDIR /srv\nWORKDIR app\n", "WorkdirRelativePath", 0, 0);
        hit("FROM a\nWORKDIR $HOME/app\n", "WorkdirRelativePath", 0, 0);
        hit("FROM a\nWORKDIR C:\\app\nWORKDIR c:/x\n", "WorkdirRelativePath", 0, 0);
}

static void test_legacy_key_value_format(void **state)
{
        hit("FROM a\nENV PATH /opt/bin:$PATH\n", "LegacyKeyValueFormat", 1, 2);
        hit("FROM a\nLABEL version 1.0\n", "LegacyKeyValueFormat", 1, 2);
        hit("FROM a\nENV PATH=/opt/bin:$PATH\nLABEL a=\"b c\"\n", "LegacyKeyValueFormat", 0, 0);
}

static void test_secrets_used_in_arg_or_env(void **state)
{
        hit("FROM a\nARG HF_TOKEN\n", "SecretsUsedInArgOrEnv", 1, 2);
        hit("FROM a\nENV AWS_SECRET_ACCESS_KEY=x\n", "SecretsUsedInArgOrEnv", 1, 2);
        hit("FROM a\nENV DB_PASSWORD=x\n", "SecretsUsedInArgOrEnv", 1, 2);
        hit("FROM a\nENV KEYBOARD=us PUBLIC_KEY=x TOKENIZERS_PARALLELISM=false\n", "SecretsUsedInArgOrEnv", 0,
            0);
}

static void test_from_platform_flag_const_disallowed(void **state)
{
        hit("FROM --platform=linux/amd64 a\n", "FromPlatformFlagConstDisallowed", 1, 1);
        hit("FROM --platform=$BUILDPLATFORM a\n", "FromPlatformFlagConstDisallowed", 0, 0);
        hit("FROM --platform=linux/amd64 a AS build-amd64\n", "FromPlatformFlagConstDisallowed", 0, 0);
}

static void test_redundant_target_platform(void **state)
{
        hit("FROM --platform=$TARGETPLATFORM a\n", "RedundantTargetPlatform", 1, 1);
        hit("FROM --platform=${TARGETPLATFORM} a\n", "RedundantTargetPlatform", 1, 1);
        hit("FROM --platform=$BUILDPLATFORM a\n", "RedundantTargetPlatform", 0, 0);
}

static void test_undefined_var(void **state)
{
        /* on scratch nothing is inherited */
        hit("FROM scratch\nCOPY $SRC /dst\n", "UndefinedVar", 1, 2);
        hit("FROM scratch\nARG SRC=a\nENV DST=/d\nCOPY $SRC ${DST}/x\nWORKDIR ${NOPE:-/w}\n", "UndefinedVar",
            0, 0);
        hit("FROM scratch\nCOPY '$LITERAL' \\$ESCAPED /d\n", "UndefinedVar", 0, 0);
        hit("FROM scratch AS base\nENV A=1\nFROM base AS child\nWORKDIR $A\nUSER $B\n", "UndefinedVar", 1, 5);
        /* on an image only with the caller's base env */
        hit("FROM ubuntu:22.04\nWORKDIR $HOME\n", "UndefinedVar", 0, 0);
        static const char *const env[] = {"PATH=/usr/bin", "HOME=/root", NULL};
        struct df_check_opts o = {.base_env = env};
        unsigned line = 0;
        assert_int_equal(findings_of("FROM ubuntu:22.04\nWORKDIR $HOME\nENV P=$PATH:/x\nCOPY a $HOMEDIR\n",
                                     &o, "UndefinedVar", &line, NULL),
                         1);
        assert_int_equal(line, 4);
        /* RUN is the shell's business */
        hit("FROM scratch\nRUN echo $ANYTHING\n", "UndefinedVar", 0, 0);
}

static void test_no_empty_continuation(void **state)
{
        hit("FROM a\nRUN a \\\n\n  b\n", "NoEmptyContinuation", 1, 3);
        hit("FROM a\nRUN a \\\n  # comment\n  b\n", "NoEmptyContinuation", 0, 0);
}

static void test_expose_proto_casing(void **state)
{
        hit("FROM a\nEXPOSE 80/TCP\n", "ExposeProtoCasing", 1, 2);
        hit("FROM a\nEXPOSE 80/tcp 443\n", "ExposeProtoCasing", 0, 0);
}

static void test_expose_invalid_format(void **state)
{
        hit("FROM a\nEXPOSE 127.0.0.1:8888:8888\n", "ExposeInvalidFormat", 1, 2);
        hit("FROM a\nEXPOSE 8888 8000-8010/udp\n", "ExposeInvalidFormat", 0, 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_stage_name_casing),
            cmocka_unit_test(test_from_as_casing),
            cmocka_unit_test(test_consistent_instruction_casing),
            cmocka_unit_test(test_json_args_recommended),
            cmocka_unit_test(test_undefined_arg_in_from),
            cmocka_unit_test(test_invalid_default_arg_in_from),
            cmocka_unit_test(test_duplicate_stage_name),
            cmocka_unit_test(test_reserved_stage_name),
            cmocka_unit_test(test_multiple_instructions_disallowed),
            cmocka_unit_test(test_maintainer_deprecated),
            cmocka_unit_test(test_workdir_relative_path),
            cmocka_unit_test(test_legacy_key_value_format),
            cmocka_unit_test(test_secrets_used_in_arg_or_env),
            cmocka_unit_test(test_from_platform_flag_const_disallowed),
            cmocka_unit_test(test_redundant_target_platform),
            cmocka_unit_test(test_undefined_var),
            cmocka_unit_test(test_no_empty_continuation),
            cmocka_unit_test(test_expose_proto_casing),
            cmocka_unit_test(test_expose_invalid_format),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

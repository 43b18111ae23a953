/* parser/instr.c: each instruction's words, flags, forms and errors. */
#include "helpers.h"

#include <errno.h>

static void test_kind_names_and_expansion_table(void **state)
{
        assert_string_equal(df_instr_kind_name(DF_INSTR_RUN), "RUN");
        assert_string_equal(df_instr_kind_name(DF_INSTR_HEALTHCHECK), "HEALTHCHECK");
        assert_string_equal(df_instr_kind_name((enum df_instr_kind) 99), "?");
        assert_true(df_instr_kind_expands(DF_INSTR_COPY));
        assert_true(df_instr_kind_expands(DF_INSTR_WORKDIR));
        assert_false(df_instr_kind_expands(DF_INSTR_RUN));
        assert_false(df_instr_kind_expands(DF_INSTR_CMD));
}

static void test_keywords_are_case_insensitive(void **state)
{
        struct df_file *f = parse_ok("from a\nrun x\nWorkDir /w\n");
        assert_int_equal(instr(f, 0)->kind, DF_INSTR_FROM);
        assert_string_equal(instr(f, 0)->keyword, "from");
        assert_int_equal(instr(f, 2)->kind, DF_INSTR_WORKDIR);
        df_file_free(f);
}

static void test_from_forms(void **state)
{
        struct df_file *f =
            parse_ok("FROM --platform=linux/arm64 nvidia/cuda:12.4.1-runtime-ubuntu22.04 as Run\n");
        const struct df_instr *in = instr(f, 0);
        assert_int_equal(in->nflags, 1);
        assert_string_equal(in->flags[0].name, "platform");
        assert_string_equal(in->flags[0].value, "linux/arm64");
        assert_int_equal(in->nargs, 3);
        assert_string_equal(df_file_stage(f, 0)->name, "run");
        assert_string_equal(df_file_stage(f, 0)->platform, "linux/arm64");
        df_file_free(f);
        parse_fails("FROM a b\n", -EINVAL, "Dockerfile:1: FROM requires either one argument");
        parse_fails("FROM a AS\n", -EINVAL, "FROM requires either one argument");
        parse_fails("FROM\n", -EINVAL, "Dockerfile:1: FROM requires at least one argument");
        parse_fails("FROM --plat=x a\n", -EINVAL, "Dockerfile:1: unknown flag '--plat' for FROM");
}

static void test_run_shell_and_exec_forms(void **state)
{
        struct df_file *f =
            parse_ok("FROM a\nRUN echo \"hi $X\"\nRUN [\"/bin/sh\", \"-c\", \"echo \\\"q\\\"\"]\n"
                     "RUN [ -f /x ] && echo yes\nRUN [not json\n");
        assert_false(instr(f, 1)->json);
        assert_int_equal(instr(f, 1)->nargs, 1);
        assert_string_equal(instr(f, 1)->args[0], "echo \"hi $X\"");
        assert_true(instr(f, 2)->json);
        assert_int_equal(instr(f, 2)->nargs, 3);
        assert_string_equal(instr(f, 2)->args[2], "echo \"q\"");
        assert_false(instr(f, 3)->json);
        assert_string_equal(instr(f, 3)->args[0], "[ -f /x ] && echo yes");
        assert_false(instr(f, 4)->json);
        df_file_free(f);
}

static void test_run_flags_mount_network(void **state)
{
        struct df_file *f =
            parse_ok("FROM a\nRUN --mount=type=cache,target=/root/.cache/pip,sharing=locked "
                     "--mount=type=secret,id=tok --network=none --security=insecure pip install x\n");
        const struct df_instr *in = instr(f, 1);
        assert_int_equal(in->nflags, 4);
        assert_string_equal(in->flags[0].name, "mount");
        assert_string_equal(in->flags[0].value, "type=cache,target=/root/.cache/pip,sharing=locked");
        assert_string_equal(in->flags[2].value, "none");
        assert_string_equal(df_instr_flag(in, "network", NULL), "none");
        assert_string_equal(df_instr_flag(in, "mount", NULL), "type=secret,id=tok");
        assert_string_equal(in->args[0], "pip install x");
        bool present = true;
        assert_null(df_instr_flag(in, "device", &present));
        assert_false(present);
        df_file_free(f);
        parse_fails("FROM a\nRUN --mnt=x true\n", -EINVAL,
                    "Dockerfile:2: unknown flag '--mnt' for RUN (did you mean --mount?)");
        parse_fails("FROM a\nRUN --frobnicate true\n", -EINVAL, "unknown flag '--frobnicate' for RUN");
        parse_fails("FROM a\nRUN\n", -EINVAL, "Dockerfile:2: RUN requires at least one argument");
        parse_fails("FROM a\nRUN --network=host\n", -EINVAL, "RUN requires at least one argument");
}

static void test_bad_json_array_is_an_error(void **state)
{
        parse_fails("FROM a\nCMD [\"a\", \"b\",]\n", -EINVAL, "Dockerfile:2: CMD: bad JSON array");
        parse_fails("FROM a\nENTRYPOINT [\"a\", 'b']\n", -EINVAL, "ENTRYPOINT: bad JSON array");
        parse_fails("FROM a\nCOPY [\"a\" \"b\"]\n", -EINVAL, "COPY: bad JSON array");
        /* BuildKit falls back to the shell form for these */
        struct df_file *f =
            parse_ok("FROM a\nCMD ['echo','x']\nCMD [\"echo\", \"unterminated\"\nCMD [1, 2]\n");
        assert_false(instr(f, 1)->json);
        assert_false(instr(f, 2)->json);
        assert_false(instr(f, 3)->json);
        df_file_free(f);
}

static void test_cmd_entrypoint_shell(void **state)
{
        struct df_file *f =
            parse_ok("FROM a\nCMD [\"jupyter\", \"notebook\", \"--ip=0.0.0.0\"]\nENTRYPOINT [ ]\n"
                     "SHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"]\n");
        assert_true(instr(f, 1)->json);
        assert_int_equal(instr(f, 1)->nargs, 3);
        assert_true(instr(f, 2)->json);
        assert_int_equal(instr(f, 2)->nargs, 0);
        assert_int_equal(instr(f, 3)->kind, DF_INSTR_SHELL);
        assert_int_equal(instr(f, 3)->nargs, 4);
        df_file_free(f);
        parse_fails("FROM a\nSHELL /bin/bash -c\n", -EINVAL,
                    "Dockerfile:2: SHELL requires the arguments in JSON form");
        parse_fails("FROM a\nSHELL []\n", -EINVAL, "SHELL requires at least one argument");
}

static void test_env_both_forms_and_quoting(void **state)
{
        struct df_file *f =
            parse_ok("FROM a\nENV A=1 B=\"two words\" C=x\\ y D='s q'\nENV LEGACY some value\n"
                     "ENV E=\nENV PATH=/opt/conda/bin:$PATH\n");
        const struct df_instr *in = instr(f, 1);
        assert_int_equal(in->nkvs, 4);
        assert_string_equal(in->kvs[0].key, "A");
        assert_string_equal(in->kvs[0].value, "1");
        assert_string_equal(in->kvs[1].value, "\"two words\"");
        assert_string_equal(in->kvs[2].value, "x\\ y");
        assert_string_equal(in->kvs[3].value, "'s q'");
        assert_int_equal(instr(f, 2)->nkvs, 1);
        assert_string_equal(instr(f, 2)->kvs[0].key, "LEGACY");
        assert_string_equal(instr(f, 2)->kvs[0].value, "some value");
        assert_string_equal(instr(f, 3)->kvs[0].value, "");
        assert_string_equal(instr(f, 4)->kvs[0].value, "/opt/conda/bin:$PATH");
        df_file_free(f);
        parse_fails("FROM a\nENV A=1 B\n", -EINVAL, "Dockerfile:2: ENV: can't find '=' in 'B'");
        parse_fails("FROM a\nENV =1\n", -EINVAL, "ENV: names can not be blank");
        parse_fails("FROM a\nENV ONLY\n", -EINVAL, "ENV ONLY: missing value");
}

static void test_label_and_maintainer(void **state)
{
        struct df_file *f =
            parse_ok("FROM a\nLABEL org.opencontainers.image.version=\"2.1\" \"quoted key\"=v\n"
                     "MAINTAINER Jane Doe <jane@example.com>\n");
        assert_int_equal(instr(f, 1)->nkvs, 2);
        assert_string_equal(instr(f, 1)->kvs[0].key, "org.opencontainers.image.version");
        assert_string_equal(instr(f, 1)->kvs[1].key, "\"quoted key\"");
        assert_int_equal(instr(f, 2)->nargs, 1);
        assert_string_equal(instr(f, 2)->args[0], "Jane Doe <jane@example.com>");
        df_file_free(f);
}

static void test_arg_with_and_without_default(void **state)
{
        struct df_file *f = parse_ok("FROM a\nARG A\nARG B=2 C D=\"x y\"\n");
        assert_int_equal(instr(f, 1)->nkvs, 1);
        assert_null(instr(f, 1)->kvs[0].value);
        assert_int_equal(instr(f, 2)->nkvs, 3);
        assert_string_equal(instr(f, 2)->kvs[0].value, "2");
        assert_null(instr(f, 2)->kvs[1].value);
        assert_string_equal(instr(f, 2)->kvs[2].value, "\"x y\"");
        df_file_free(f);
        parse_fails("FROM a\nARG =x\n", -EINVAL, "Dockerfile:2: ARG: names can not be blank");
        parse_fails("FROM a\nARG\n", -EINVAL, "ARG requires at least one argument");
}

static void test_expose_user_workdir_stopsignal(void **state)
{
        struct df_file *f = parse_ok("FROM a\nEXPOSE 80/tcp 8000-8010/udp 8888\nUSER 1000:1000\nUSER jovyan\n"
                                     "WORKDIR /a b\nSTOPSIGNAL SIGTERM\n");
        assert_int_equal(instr(f, 1)->nargs, 3);
        assert_string_equal(instr(f, 1)->args[1], "8000-8010/udp");
        assert_string_equal(instr(f, 2)->args[0], "1000:1000");
        assert_string_equal(instr(f, 3)->args[0], "jovyan");
        assert_int_equal(instr(f, 4)->nargs, 1);
        assert_string_equal(instr(f, 4)->args[0], "/a b");
        assert_string_equal(instr(f, 5)->args[0], "SIGTERM");
        df_file_free(f);
        parse_fails("FROM a\nWORKDIR\n", -EINVAL, "WORKDIR requires at least one argument");
        parse_fails("FROM a\nUSER --x=1 u\n", -EINVAL, "unknown flag '--x' for USER");
}

static void test_volume_json_and_plain(void **state)
{
        struct df_file *f = parse_ok("FROM a\nVOLUME [\"/data\", \"/logs\"]\nVOLUME /a /b\n");
        assert_true(instr(f, 1)->json);
        assert_int_equal(instr(f, 1)->nargs, 2);
        assert_false(instr(f, 2)->json);
        assert_int_equal(instr(f, 2)->nargs, 2);
        df_file_free(f);
        parse_fails("FROM a\nVOLUME []\n", -EINVAL, "VOLUME requires at least one path");
}

static void test_copy_add_flags(void **state)
{
        struct df_file *f =
            parse_ok("FROM a AS b\nFROM c\nCOPY --from=b --chown=1000:1000 --chmod=0755 "
                     "--link --exclude=*.pyc --parents "
                     "src/ app/ /opt/\nADD "
                     "--checksum=sha256:24454f8a3cfc1d4ef8ce2e1a4f0b3c0e6c3d3a0b9c1f0e2d3c4b5a6978685746 "
                     "--keep-git-dir=true "
                     "--chown=u --link https://x/y.tgz /z\n"
                     "COPY [\"a b\", \"/c d/\"]\nCOPY \"a b\" /c\n");
        const struct df_instr *in = instr(f, 2);
        assert_int_equal(in->nflags, 6);
        assert_string_equal(df_instr_flag(in, "from", NULL), "b");
        assert_string_equal(df_instr_flag(in, "chown", NULL), "1000:1000");
        assert_string_equal(df_instr_flag(in, "chmod", NULL), "0755");
        bool link = false;
        assert_null(df_instr_flag(in, "link", &link));
        assert_true(link);
        assert_string_equal(df_instr_flag(in, "exclude", NULL), "*.pyc");
        assert_int_equal(in->nargs, 3);
        assert_string_equal(in->args[2], "/opt/");
        in = instr(f, 3);
        assert_non_null(strstr(df_instr_flag(in, "checksum", NULL), "sha256:24454f8a"));
        assert_string_equal(df_instr_flag(in, "keep-git-dir", NULL), "true");
        assert_true(instr(f, 4)->json);
        assert_string_equal(instr(f, 4)->args[0], "a b");
        /* the plain form splits on whitespace only, as BuildKit does */
        assert_int_equal(instr(f, 5)->nargs, 3);
        assert_string_equal(instr(f, 5)->args[0], "\"a");
        df_file_free(f);
        parse_fails("FROM a\nCOPY onlyone\n", -EINVAL, "Dockerfile:2: COPY requires at least two arguments");
        parse_fails("FROM a\nCOPY --checksum=x a b\n", -EINVAL, "unknown flag '--checksum' for COPY");
        parse_fails("FROM a\nCOPY -- a\n", -EINVAL, "COPY requires at least two arguments");
}

static void test_flag_values_are_checked(void **state)
{
        parse_fails("FROM a\nRUN --network=bridge true\n", -EINVAL, "Dockerfile:2: RUN --network='bridge'");
        parse_fails("FROM a\nRUN --security=root true\n", -EINVAL, "RUN --security='root'");
        parse_fails("FROM a\nADD --checksum=sha256:abc http://x/y /z\n", -EINVAL,
                    "ADD --checksum='sha256:abc'");
        parse_fails("FROM a\nCOPY --chmod=999 a b\n", -EINVAL, "COPY --chmod='999': not an octal mode");
        parse_fails("FROM a\nCOPY --link=maybe a b\n", -EINVAL,
                    "COPY --link='maybe': expected true or false");
        parse_fails("FROM a\nCOPY --from= a b\n", -EINVAL, "COPY --from needs a value");
        parse_fails("FROM a\nCOPY --chown a b\n", -EINVAL, "COPY --chown needs a value");
        struct df_file *f =
            parse_ok("FROM a\nRUN --network=$NET --security=insecure true\nCOPY --chmod=u+x --link=false "
                     "--parents a b\nCOPY --chmod=$M a b\n");
        df_file_free(f);
}

static void test_flags_end_at_double_dash_and_keep_quotes(void **state)
{
        struct df_file *f = parse_ok("FROM a\nCOPY --chown=\"u g\" -- --weird /dst\n");
        const struct df_instr *in = instr(f, 1);
        assert_int_equal(in->nflags, 1);
        assert_string_equal(in->flags[0].value, "\"u g\"");
        assert_int_equal(in->nargs, 2);
        assert_string_equal(in->args[0], "--weird");
        df_file_free(f);
}

static void test_healthcheck_forms(void **state)
{
        struct df_file *f =
            parse_ok("FROM a\nHEALTHCHECK --interval=30s --timeout=3s --start-period=5s --start-interval=1s "
                     "--retries=3 "
                     "CMD python3 -c \"import torch; exit(0 if torch.cuda.is_available() else 1)\"\n"
                     "HEALTHCHECK NONE\nHEALTHCHECK CMD [\"curl\", \"-f\", \"http://localhost/\"]\n");
        const struct df_instr *in = instr(f, 1);
        assert_int_equal(in->nflags, 5);
        assert_false(in->json);
        assert_false(in->none);
        assert_int_equal(in->nargs, 1);
        assert_string_equal(in->args[0],
                            "python3 -c \"import torch; exit(0 if torch.cuda.is_available() else 1)\"");
        assert_true(instr(f, 2)->none);
        assert_int_equal(instr(f, 2)->nargs, 0);
        assert_true(instr(f, 3)->json);
        assert_int_equal(instr(f, 3)->nargs, 3);
        df_file_free(f);
        parse_fails("FROM a\nHEALTHCHECK CONNECT TCP 7000\n", -EINVAL, "HEALTHCHECK: unknown type 'CONNECT'");
        parse_fails("FROM a\nHEALTHCHECK CMD\n", -EINVAL, "HEALTHCHECK CMD requires a command");
        parse_fails("FROM a\nHEALTHCHECK NONE x\n", -EINVAL, "HEALTHCHECK NONE takes no arguments");
        parse_fails("FROM a\nHEALTHCHECK --retries=many CMD x\n", -EINVAL,
                    "--retries='many' is not a number");
        parse_fails("FROM a\nHEALTHCHECK --every=1s CMD x\n", -EINVAL,
                    "unknown flag '--every' for HEALTHCHECK");
        parse_fails("FROM a\nHEALTHCHECK --interval CMD x\n", -EINVAL, "--interval needs a value");
}

static void test_onbuild(void **state)
{
        struct df_file *f = parse_ok("FROM a\nONBUILD COPY --chown=1 . /app\nonbuild run make\n");
        const struct df_instr *in = instr(f, 1);
        assert_int_equal(in->kind, DF_INSTR_ONBUILD);
        assert_non_null(in->onbuild);
        assert_int_equal(in->onbuild->kind, DF_INSTR_COPY);
        assert_string_equal(in->onbuild->text, "COPY --chown=1 . /app");
        assert_int_equal(in->onbuild->nflags, 1);
        assert_int_equal(in->onbuild->nargs, 2);
        assert_int_equal(instr(f, 2)->onbuild->kind, DF_INSTR_RUN);
        df_file_free(f);
        parse_fails("FROM a\nONBUILD ONBUILD RUN x\n", -EINVAL,
                    "Dockerfile:2: ONBUILD ONBUILD is not allowed");
        parse_fails("FROM a\nONBUILD FROM b\n", -EINVAL, "ONBUILD FROM is not allowed");
        parse_fails("FROM a\nONBUILD MAINTAINER me\n", -EINVAL, "ONBUILD MAINTAINER is not allowed");
        parse_fails("FROM a\nONBUILD BLAH x\n", -EINVAL, "ONBUILD: unknown instruction 'BLAH'");
        parse_fails("FROM a\nONBUILD RUN\n", -EINVAL, "RUN requires at least one argument");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_kind_names_and_expansion_table),
            cmocka_unit_test(test_keywords_are_case_insensitive),
            cmocka_unit_test(test_from_forms),
            cmocka_unit_test(test_run_shell_and_exec_forms),
            cmocka_unit_test(test_run_flags_mount_network),
            cmocka_unit_test(test_bad_json_array_is_an_error),
            cmocka_unit_test(test_cmd_entrypoint_shell),
            cmocka_unit_test(test_env_both_forms_and_quoting),
            cmocka_unit_test(test_label_and_maintainer),
            cmocka_unit_test(test_arg_with_and_without_default),
            cmocka_unit_test(test_expose_user_workdir_stopsignal),
            cmocka_unit_test(test_volume_json_and_plain),
            cmocka_unit_test(test_copy_add_flags),
            cmocka_unit_test(test_flag_values_are_checked),
            cmocka_unit_test(test_flags_end_at_double_dash_and_keep_quotes),
            cmocka_unit_test(test_healthcheck_forms),
            cmocka_unit_test(test_onbuild),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

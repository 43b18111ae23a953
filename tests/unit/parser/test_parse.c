/* parser/parse.c: the lexer (continuations, comments, directives, BOM, CRLF, heredocs), the stage
 * list and the file-level errors. */
#include "helpers.h"

#include <errno.h>
#include <time.h>

static void test_continuation_joins_lines_and_keeps_line_range(void **state)
{
        struct df_file *f = parse_ok("FROM a\nRUN echo hello\\\n  world \\\n  again\nRUN x\n");
        assert_int_equal(df_file_ninstr(f), 3);
        const struct df_instr *in = instr(f, 1);
        assert_string_equal(in->args[0], "echo hello  world   again");
        assert_string_equal(in->text, "RUN echo hello  world   again");
        assert_int_equal(in->start_line, 2);
        assert_int_equal(in->end_line, 4);
        assert_int_equal(instr(f, 2)->start_line, 5);
        df_file_free(f);
}

static void test_comment_and_blank_lines_inside_continuation_are_skipped(void **state)
{
        struct df_file *f =
            parse_ok("FROM a\nRUN apt-get install \\\n    # a comment\n\n    curl \\\n\\\n  git\n");
        assert_string_equal(instr(f, 1)->args[0], "apt-get install     curl   git");
        assert_int_equal(instr(f, 1)->end_line, 7);
        df_file_free(f);
}

static void test_escaped_escape_at_line_end_does_not_continue(void **state)
{
        struct df_file *f = parse_ok("FROM a\nENV C trailing\\\\\nENV D next\n");
        assert_int_equal(df_file_ninstr(f), 3);
        assert_string_equal(instr(f, 1)->kvs[0].value, "trailing\\\\");
        df_file_free(f);
}

static void test_continuation_at_eof_ends_the_instruction(void **state)
{
        struct df_file *g = parse_ok("FROM a\n\\\n  \\\n\nRUN x\n\\");
        assert_int_equal(df_file_ninstr(g), 2);
        assert_string_equal(instr(g, 1)->args[0], "x");
        df_file_free(g);
        struct df_file *f = parse_ok("FROM a\nRUN something \\");
        assert_int_equal(df_file_ninstr(f), 2);
        assert_string_equal(instr(f, 1)->args[0], "something");
        df_file_free(f);
}

static void test_comments_and_indentation_are_ignored(void **state)
{
        struct df_file *f =
            parse_ok("# top comment\n\n   # indented comment\nFROM a\n   RUN x # not a comment\n");
        assert_int_equal(df_file_ninstr(f), 2);
        assert_string_equal(instr(f, 1)->args[0], "x # not a comment");
        assert_int_equal(instr(f, 1)->start_line, 5);
        df_file_free(f);
}

static void test_escape_directive_backtick(void **state)
{
        struct df_file *f = parse_ok("# escape=`\nFROM windows\nRUN dir C:\\ `\n  && echo done\n");
        assert_int_equal(df_file_escape(f), '`');
        assert_string_equal(df_file_directive(f, "escape"), "`");
        assert_string_equal(instr(f, 1)->args[0], "dir C:\\   && echo done");
        df_file_free(f);
}

static void test_directives_only_at_top(void **state)
{
        struct df_file *f =
            parse_ok("# syntax=docker/dockerfile:1.7\n# check=skip=JSONArgsRecommended\nFROM a\n");
        assert_string_equal(df_file_directive(f, "syntax"), "docker/dockerfile:1.7");
        assert_string_equal(df_file_directive(f, "check"), "skip=JSONArgsRecommended");
        assert_null(df_file_directive(f, "escape"));
        assert_int_equal(df_file_escape(f), '\\');
        df_file_free(f);

        /* after a plain comment, an empty line or an instruction, "# escape=" is a comment */
        f = parse_ok("# a comment\n# escape=`\nFROM a\n");
        assert_null(df_file_directive(f, "escape"));
        assert_int_equal(df_file_escape(f), '\\');
        df_file_free(f);
        f = parse_ok("\n# escape=`\nFROM a\n");
        assert_null(df_file_directive(f, "escape"));
        df_file_free(f);
        f = parse_ok("FROM a\n# escape=`\nRUN x\n");
        assert_null(df_file_directive(f, "escape"));
        df_file_free(f);
        /* an unknown directive ends the directive block */
        f = parse_ok("# foo=bar\n# escape=`\nFROM a\n");
        assert_null(df_file_directive(f, "escape"));
        df_file_free(f);
        /* names are case-insensitive, spaces allowed around '=' */
        f = parse_ok("#  ESCAPE = `\nFROM a\n");
        assert_int_equal(df_file_escape(f), '`');
        df_file_free(f);
}

static void test_directive_errors(void **state)
{
        parse_fails("# escape=`\n# escape=\\\nFROM a\n", -EINVAL, "Dockerfile:2: only one 'escape'");
        parse_fails("# escape=x\nFROM a\n", -EINVAL, "Dockerfile:1: invalid escape 'x'");
}

static void test_bom_and_crlf(void **state)
{
        struct df_file *f =
            parse_ok("\xef\xbb\xbf# escape=`\r\nFROM a\r\nRUN echo a `\r\n  b\r\nCMD [\"x\"]\r\n");
        assert_int_equal(df_file_escape(f), '`');
        assert_int_equal(df_file_ninstr(f), 3);
        assert_string_equal(instr(f, 1)->args[0], "echo a   b");
        assert_true(instr(f, 2)->json);
        assert_string_equal(instr(f, 2)->args[0], "x");
        df_file_free(f);
}

static void test_heredoc_basic_and_line_range(void **state)
{
        struct df_file *f = parse_ok("FROM a\nRUN <<EOF\necho $HOME\n  indented\nEOF\nRUN after\n");
        const struct df_instr *in = instr(f, 1);
        assert_int_equal(in->nheredocs, 1);
        assert_string_equal(in->heredocs[0].delim, "EOF");
        assert_string_equal(in->heredocs[0].body, "echo $HOME\n  indented\n");
        assert_true(in->heredocs[0].expand);
        assert_false(in->heredocs[0].strip_tabs);
        assert_string_equal(in->args[0], "<<EOF");
        assert_int_equal(in->start_line, 2);
        assert_int_equal(in->end_line, 5);
        assert_int_equal(instr(f, 2)->start_line, 6);
        df_file_free(f);
}

static void test_heredoc_strip_tabs_quoted_and_several(void **state)
{
        struct df_file *f = parse_ok("FROM a\nRUN <<-EOT cat >/a && <<'RAW' cat >/b && 3<<\"Q\"x "
                                     "cat\n\t\tone\n\tEOT\n$NOT\nRAW\nq\nQx\n");
        const struct df_instr *in = instr(f, 1);
        assert_int_equal(in->nheredocs, 3);
        assert_string_equal(in->heredocs[0].delim, "EOT");
        assert_true(in->heredocs[0].strip_tabs);
        assert_true(in->heredocs[0].expand);
        assert_string_equal(in->heredocs[0].body, "one\n");
        assert_string_equal(in->heredocs[1].delim, "RAW");
        assert_false(in->heredocs[1].expand);
        assert_string_equal(in->heredocs[1].body, "$NOT\n");
        assert_string_equal(in->heredocs[2].delim, "Qx");
        assert_false(in->heredocs[2].expand);
        assert_string_equal(in->heredocs[2].body, "q\n");
        assert_int_equal(in->end_line, 8);
        df_file_free(f);
}

static void test_heredoc_copy_and_not_heredoc_forms(void **state)
{
        struct df_file *f =
            parse_ok("FROM a\nCOPY <<EOF /etc/motd\nhello\nEOF\nRUN cat<<EOF\nRUN a <<< here\n");
        const struct df_instr *in = instr(f, 1);
        assert_int_equal(in->kind, DF_INSTR_COPY);
        assert_int_equal(in->nheredocs, 1);
        assert_int_equal(in->nargs, 2);
        assert_string_equal(in->args[0], "<<EOF");
        assert_string_equal(in->args[1], "/etc/motd");
        assert_ptr_equal(df_instr_heredoc_arg(in, 0), &in->heredocs[0]);
        assert_null(df_instr_heredoc_arg(in, 1));
        assert_null(df_instr_heredoc_arg(in, 2));
        /* "cat<<EOF" is one shell word not starting with <<, and <<< is a here-string */
        assert_int_equal(instr(f, 2)->nheredocs, 0);
        assert_int_equal(instr(f, 3)->nheredocs, 0);
        df_file_free(f);
        /* the exec form takes none: the next line is an instruction again */
        f = parse_ok("FROM a\nRUN [\"cat\", \"<<EOF\"]\nRUN x\n");
        assert_int_equal(instr(f, 1)->nheredocs, 0);
        assert_int_equal(instr(f, 1)->end_line, 2);
        assert_int_equal(df_file_ninstr(f), 3);
        df_file_free(f);
        parse_fails("FROM a\nRUN [\"cat\", \"<<EOF\"]\nEOF\n", -EINVAL,
                    "Dockerfile:3: unknown instruction 'EOF'");
        /* only RUN, COPY and ADD take heredocs */
        f = parse_ok("FROM a\nLABEL x=<<EOF\n");
        assert_int_equal(instr(f, 1)->nheredocs, 0);
        df_file_free(f);
}

static void test_heredoc_arg_mapping_with_quotes(void **state)
{
        struct df_file *f = parse_ok("FROM a\nCOPY <<-'A' <<\"B\" plain /dst/\n\tone\n\tA\ntwo\nB\n");
        const struct df_instr *in = instr(f, 1);
        assert_int_equal(in->nargs, 4);
        assert_string_equal(df_instr_heredoc_arg(in, 0)->body, "one\n");
        assert_string_equal(df_instr_heredoc_arg(in, 1)->body, "two\n");
        assert_null(df_instr_heredoc_arg(in, 2));
        assert_null(df_instr_heredoc_arg(in, 3));
        df_file_free(f);
}

static void test_heredoc_empty_body_and_crlf(void **state)
{
        struct df_file *f = parse_ok("FROM a\r\nRUN <<EOF\r\nEOF\r\nRUN <<E2 sh\r\nx\r\nE2\r\n");
        assert_string_equal(instr(f, 1)->heredocs[0].body, "");
        assert_string_equal(instr(f, 2)->heredocs[0].body, "x\n");
        df_file_free(f);
}

static void test_heredoc_unterminated_reports_start_line(void **state)
{
        parse_fails("FROM a\nRUN true\nRUN <<EOF\necho hi\n", -EINVAL,
                    "Dockerfile:3: unterminated heredoc 'EOF'");
        parse_fails("FROM a\nRUN <<A <<B\nx\nA\ny\n", -EINVAL, "Dockerfile:2: unterminated heredoc 'B'");
}

static void test_onbuild_heredoc(void **state)
{
        struct df_file *f = parse_ok("FROM a\nONBUILD RUN <<EOF\necho x\nEOF\n");
        const struct df_instr *in = instr(f, 1);
        assert_int_equal(in->kind, DF_INSTR_ONBUILD);
        assert_non_null(in->onbuild);
        assert_int_equal(in->onbuild->nheredocs, 1);
        assert_string_equal(in->onbuild->heredocs[0].body, "echo x\n");
        df_file_free(f);
}

static void test_unknown_instruction_suggests(void **state)
{
        parse_fails("FROM a\nRUNN echo\n", -EINVAL,
                    "Dockerfile:2: unknown instruction 'RUNN' (did you mean RUN?)");
        parse_fails("FROM a\ncopy-x a b\n", -EINVAL, "Dockerfile:2: unknown instruction 'copy-x'");
        parse_fails("FROM a\nWORKDRI /x\n", -EINVAL, "did you mean WORKDIR?");
        parse_fails("FROM a\nfrobnicate x\n", -EINVAL, "unknown instruction 'frobnicate'");
}

static void test_missing_from(void **state)
{
        parse_fails("", -EINVAL, "Dockerfile:1: the file has no instructions");
        parse_fails("# just a comment\n\n", -EINVAL, "Dockerfile:1: the file has no instructions");
        parse_fails("RUN x\nFROM a\n", -EINVAL, "Dockerfile:1: RUN before the first FROM");
        parse_fails("ARG A=1\nARG B\n", -EINVAL, "Dockerfile:2: no FROM instruction");
}

static void test_meta_args_and_stages(void **state)
{
        struct df_file *f =
            parse_ok("ARG BASE=ubuntu:22.04\nARG V\nFROM $BASE AS Build\nRUN make\nCOPY a b\n"
                     "FROM --platform=$BUILDPLATFORM build\nRUN x\nFROM scratch\nCOPY --from=0 /a /a\n");
        assert_int_equal(df_file_nmeta_args(f), 2);
        assert_string_equal(df_file_meta_arg(f, 0)->key, "BASE");
        assert_string_equal(df_file_meta_arg(f, 0)->value, "ubuntu:22.04");
        assert_null(df_file_meta_arg(f, 1)->value);
        assert_int_equal(df_file_nstages(f), 3);
        const struct df_stage *s0 = df_file_stage(f, 0), *s1 = df_file_stage(f, 1), *s2 = df_file_stage(f, 2);
        assert_string_equal(s0->base, "$BASE");
        assert_string_equal(s0->name, "build");
        assert_null(s0->platform);
        assert_int_equal(s0->line, 3);
        assert_int_equal(s0->from, 2);
        assert_int_equal(s0->first, 3);
        assert_int_equal(s0->n, 2);
        assert_int_equal(s0->base_stage, -1);
        assert_string_equal(s1->platform, "$BUILDPLATFORM");
        assert_null(s1->name);
        assert_int_equal(s1->base_stage, 0);
        assert_int_equal(s1->n, 1);
        assert_int_equal(s2->base_stage, -1);
        assert_int_equal(s2->first, 8);
        assert_int_equal(s2->n, 1);
        assert_int_equal(df_file_stage_by_name(f, "BUILD"), 0);
        assert_int_equal(df_file_stage_by_name(f, "2"), 2);
        assert_int_equal(df_file_stage_by_name(f, "3"), -1);
        assert_int_equal(df_file_stage_by_name(f, "nope"), -1);
        df_file_free(f);
}

static void test_stage_reference_errors(void **state)
{
        parse_fails("FROM a AS one\nCOPY --from=two /x /y\nFROM b AS two\n", -EINVAL,
                    "Dockerfile:2: COPY --from='two' refers to a later stage (line 3)");
        parse_fails("FROM a AS one\nADD --from=one /x /y\n", -EINVAL, "unknown flag '--from' for ADD");
        parse_fails("FROM a AS one\nCOPY --from=ONE /x /y\n", -EINVAL,
                    "Dockerfile:2: COPY --from='ONE' refers to its own stage");
        parse_fails("FROM a\nCOPY --from=0 /x /y\n", -EINVAL,
                    "Dockerfile:2: COPY --from=0: no stage 0 before this one");
        parse_fails("FROM a\nFROM b\nCOPY --from=5 /x /y\n", -EINVAL, "no stage 5 before this one");
        parse_fails("FROM base AS base\n", -EINVAL, "Dockerfile:1: stage 'base' refers to itself in FROM");
        parse_fails("FROM later\nFROM x AS later\n", -EINVAL,
                    "Dockerfile:1: FROM 'later' refers to a later stage");
        parse_fails("FROM a AS 1bad\n", -EINVAL, "Dockerfile:1: invalid stage name '1bad'");
        parse_fails("FROM a AS one\nRUN --mount=type=bind,from=two,target=/t true\nFROM b AS two\n", -EINVAL,
                    "Dockerfile:2: RUN --mount from='two' refers to a later stage (line 3)");
        parse_fails("FROM a AS one\nRUN --mount=from=one,target=/t true\n", -EINVAL,
                    "Dockerfile:2: RUN --mount from='one' refers to its own stage");
        parse_fails("FROM a\nRUN --mount=type=cache,target=/c,from=3 true\n", -EINVAL,
                    "Dockerfile:2: RUN --mount from=3: no stage 3 before this one");
        /* an image name, a variable and an earlier stage are fine */
        struct df_file *f =
            parse_ok("FROM a AS one\nFROM b\nCOPY --from=one /x /y\nCOPY --from=nginx:1.25 /a /b\n"
                     "COPY --from=$S /c /d\nCOPY --from=0 /e /f\n");
        df_file_free(f);
}

static void test_nul_bytes_rejected_with_line(void **state)
{
        static const char text[] = "FROM a\nRUN x\0y\n";
        struct cb_err err;
        struct df_file *f = NULL;
        cb_err_init(&err);
        assert_int_equal(df_parse(cb_str_from(text, sizeof(text) - 1), "Dockerfile", &f, &err), -EINVAL);
        assert_non_null(strstr(cb_err_msg(&err), "Dockerfile:2: NUL byte"));
        cb_err_release(&err);
}

static void test_invalid_utf8_is_accepted_as_bytes(void **state)
{
        struct df_file *f = parse_ok("FROM a\nLABEL x=\xff\xfe\xc3\n");
        assert_string_equal(instr(f, 1)->kvs[0].value, "\xff\xfe\xc3");
        df_file_free(f);
}

static void test_ten_megabyte_line(void **state)
{
        size_t n = 10u * 1024u * 1024u;
        char *t = malloc(n + 32);
        memcpy(t, "FROM a\nRUN ", 11);
        memset(t + 11, 'x', n);
        memcpy(t + 11 + n, "\n", 2);
        struct df_file *f = parse_ok(t);
        assert_int_equal(strlen(instr(f, 1)->args[0]), n);
        df_file_free(f);
        free(t);
}

static void test_hundred_thousand_instructions(void **state)
{
        struct cb_buf b;
        cb_buf_init(&b, CB_BUF_UNLIMITED);
        cb_buf_adds(&b, "FROM a\n");
        for (int i = 0; i < 100000; i++)
                cb_buf_addf(&b, "ENV V%d=%d\n", i, i);
        struct timespec t0, t1;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
        struct df_file *f = parse_ok(b.p);
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
        assert_int_equal(df_file_ninstr(f), 100001);
        assert_int_equal(df_file_stage(f, 0)->n, 100000);
        assert_int_equal(instr(f, 100000)->start_line, 100001);
        /* generous bound (sanitizer build on a shared machine); bench/parser measures properly */
        double s = (double) (t1.tv_sec - t0.tv_sec) + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9;
        assert_true(s < 5.0);
        df_file_free(f);
        cb_buf_release(&b);
}

static void test_input_size_limit(void **state)
{
        struct cb_err err;
        struct df_file *f = NULL;
        cb_err_init(&err);
        /* the length alone decides: no need to allocate 64 MiB */
        assert_int_equal(df_parse(cb_str_from("FROM a\n", (size_t) DF_MAX_INPUT + 1), "Dockerfile", &f, &err),
                         -E2BIG);
        assert_non_null(strstr(cb_err_msg(&err), "file too large"));
        cb_err_release(&err);
}

static void test_deep_nesting_text_is_just_text(void **state)
{
        /* the parser does not expand RUN: a 1000-deep reference parses, expansion bounds it later */
        struct cb_buf b;
        cb_buf_init(&b, CB_BUF_UNLIMITED);
        cb_buf_adds(&b, "FROM a\nRUN echo ");
        for (int i = 0; i < 1000; i++)
                cb_buf_adds(&b, "${a:-");
        for (int i = 0; i < 1000; i++)
                cb_buf_adds(&b, "}");
        cb_buf_adds(&b, "\n");
        struct df_file *f = parse_ok(b.p);
        df_file_free(f);
        cb_buf_release(&b);
}

static void test_free_null(void **state)
{
        assert_null(df_file_free(NULL));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_continuation_joins_lines_and_keeps_line_range),
            cmocka_unit_test(test_comment_and_blank_lines_inside_continuation_are_skipped),
            cmocka_unit_test(test_escaped_escape_at_line_end_does_not_continue),
            cmocka_unit_test(test_continuation_at_eof_ends_the_instruction),
            cmocka_unit_test(test_comments_and_indentation_are_ignored),
            cmocka_unit_test(test_escape_directive_backtick),
            cmocka_unit_test(test_directives_only_at_top),
            cmocka_unit_test(test_directive_errors),
            cmocka_unit_test(test_bom_and_crlf),
            cmocka_unit_test(test_heredoc_basic_and_line_range),
            cmocka_unit_test(test_heredoc_strip_tabs_quoted_and_several),
            cmocka_unit_test(test_heredoc_copy_and_not_heredoc_forms),
            cmocka_unit_test(test_heredoc_arg_mapping_with_quotes),
            cmocka_unit_test(test_heredoc_empty_body_and_crlf),
            cmocka_unit_test(test_heredoc_unterminated_reports_start_line),
            cmocka_unit_test(test_onbuild_heredoc),
            cmocka_unit_test(test_unknown_instruction_suggests),
            cmocka_unit_test(test_missing_from),
            cmocka_unit_test(test_meta_args_and_stages),
            cmocka_unit_test(test_stage_reference_errors),
            cmocka_unit_test(test_nul_bytes_rejected_with_line),
            cmocka_unit_test(test_invalid_utf8_is_accepted_as_bytes),
            cmocka_unit_test(test_ten_megabyte_line),
            cmocka_unit_test(test_hundred_thousand_instructions),
            cmocka_unit_test(test_input_size_limit),
            cmocka_unit_test(test_deep_nesting_text_is_just_text),
            cmocka_unit_test(test_free_null),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

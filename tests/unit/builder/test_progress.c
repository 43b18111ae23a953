/* The progress renderers, fed one event stream and read back from a memfd. */
#include <errno.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "builder/progress.h"
#include "common/cb.h"

/* Runs a small build's events through mode; returns what was written (owned). */
static char *render(enum bld_progress_mode mode)
{
        int fd = memfd_create("progress", MFD_CLOEXEC);
        assert_true(fd >= 0);
        struct bld_progress *p = bld_progress_new(mode, fd);
        bld_progress_start(p, 1, 3, "FROM debian:bookworm");
        bld_progress_bytes(p, 1, "pull", "sha256:0123456789abcdef0123456789abcdef", 512, 1024);
        bld_progress_bytes(p, 1, "pull", "sha256:0123456789abcdef0123456789abcdef", 1024, 1024);
        bld_progress_done(p, 1, false, 0);
        bld_progress_start(p, 2, 3, "RUN echo hi");
        bld_progress_log(p, 2, "hi\n\xff\xfe bad\n", 10);
        bld_progress_done(p, 2, true, 4096);
        bld_progress_start(p, 3, 3, "COPY a /a");
        bld_progress_cached(p, 3, "sha256:abcdefabcdefabcdefabcdefabcdef");
        bld_progress_info(p, "built %s", "sha256:feed");
        p = bld_progress_free(p);
        assert_null(p);
        struct cb_buf b;
        cb_buf_init(&b, CB_BUF_UNLIMITED);
        assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
        assert_true(cb_read_all(fd, &b) >= 0);
        (void) close(fd);
        return cb_buf_take(&b, NULL);
}

static void test_mode_names_are_docker_s(void **state)
{
        (void) state;
        enum bld_progress_mode m;
        assert_int_equal(bld_progress_mode_parse("rawjson", &m), 0);
        assert_int_equal(m, BLD_PROGRESS_RAWJSON);
        assert_int_equal(bld_progress_mode_parse("tty", &m), 0);
        assert_int_equal(m, BLD_PROGRESS_TTY);
        assert_int_equal(bld_progress_mode_parse("json", &m), -EINVAL);
}

static void test_auto_is_plain_when_not_a_terminal(void **state)
{
        (void) state;
        int fd = memfd_create("progress", MFD_CLOEXEC);
        struct bld_progress *p = bld_progress_new(BLD_PROGRESS_AUTO, fd);
        assert_int_equal(bld_progress_mode(p), BLD_PROGRESS_PLAIN);
        bld_progress_free(p);
        (void) close(fd);
}

static void test_plain_prints_step_lines_cache_hits_and_output(void **state)
{
        (void) state;
        char *s = render(BLD_PROGRESS_PLAIN);
        assert_non_null(strstr(s, "STEP 1/3: FROM debian:bookworm\n"));
        assert_non_null(strstr(s, "STEP 2/3: RUN echo hi\nhi\n"));
        assert_non_null(strstr(s, "--> done "));
        assert_non_null(strstr(s, "layer 4.0 KiB\n"));
        assert_non_null(strstr(s, "STEP 3/3: COPY a /a\n--> using cache abcdefabcdefabcdefa\n"));
        assert_non_null(strstr(s, "--> pull 0123456789abcdef012 1.0 KiB / 1.0 KiB\n"));
        assert_non_null(strstr(s, "built sha256:feed\n"));
        free(s);
}

static void test_rawjson_is_one_object_per_line_with_the_stable_keys(void **state)
{
        (void) state;
        char *s = render(BLD_PROGRESS_RAWJSON);
        size_t lines = 0, starts = 0, dones = 0, cached = 0;
        for (char *line = s; *line;) {
                char *nl = strchr(line, '\n');
                assert_non_null(nl);
                json_error_t je;
                json_t *o = json_loadb(line, (size_t) (nl - line), 0, &je);
                if (!o)
                        fail_msg("line %zu does not parse: %s", lines + 1, je.text);
                static const char *const keys[] = { "step", "total", "instr", "status", "bytes", "ts" };
                for (size_t k = 0; k < CB_ARRAY_SIZE(keys); k++)
                        assert_non_null(json_object_get(o, keys[k]));
                const char *st = json_string_value(json_object_get(o, "status"));
                if (strcmp(st, "start") == 0)
                        starts++;
                if (strcmp(st, "done") == 0) {
                        dones++;
                        if (json_integer_value(json_object_get(o, "step")) == 2) {
                                assert_int_equal(json_integer_value(json_object_get(o, "bytes")), 4096);
                                assert_string_equal(json_string_value(json_object_get(o, "instr")), "RUN echo hi");
                        }
                }
                if (strcmp(st, "cached") == 0) {
                        cached++;
                        assert_int_equal(json_integer_value(json_object_get(o, "total")), 3);
                }
                if (strcmp(st, "log") == 0)
                        /* invalid UTF-8 from a RUN step still gives a valid line */
                        assert_non_null(strstr(json_string_value(json_object_get(o, "log")), "\xef\xbf\xbd"));
                json_decref(o);
                lines++;
                line = nl + 1;
        }
        assert_int_equal(starts, 3);
        assert_int_equal(dones, 2);
        assert_int_equal(cached, 1);
        free(s);
}

static void test_tty_leaves_one_line_per_finished_step(void **state)
{
        (void) state;
        char *s = render(BLD_PROGRESS_TTY);
        assert_non_null(strstr(s, "[1/3] FROM debian:bookworm  0.0s  pull 1.0 KiB / 1.0 KiB\n"));
        assert_non_null(strstr(s, "[2/3] RUN echo hi  0.0s  layer 4.0 KiB\n"));
        assert_non_null(strstr(s, "[3/3] COPY a /a  CACHED\n"));
        /* the live line is redrawn in place: cursor up, clear to the end of the screen */
        assert_non_null(strstr(s, "\x1b[1A\r\x1b[J"));
        free(s);
}

static void test_plain_ends_an_unterminated_output_line_before_the_next_message(void **state)
{
        (void) state;
        int fd = memfd_create("progress", MFD_CLOEXEC);
        struct bld_progress *p = bld_progress_new(BLD_PROGRESS_PLAIN, fd);
        bld_progress_start(p, 1, 1, "RUN printf x");
        bld_progress_log(p, 1, "x", 1);
        bld_progress_done(p, 1, true, 10);
        bld_progress_free(p);
        struct cb_buf b;
        cb_buf_init(&b, CB_BUF_UNLIMITED);
        assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
        assert_true(cb_read_all(fd, &b) >= 0);
        assert_non_null(strstr(b.p, "STEP 1/1: RUN printf x\nx\n--> done "));
        cb_buf_release(&b);
        (void) close(fd);
}

static void test_quiet_writes_nothing(void **state)
{
        (void) state;
        char *s = render(BLD_PROGRESS_QUIET);
        assert_string_equal(s, "");
        free(s);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_mode_names_are_docker_s),
                cmocka_unit_test(test_auto_is_plain_when_not_a_terminal),
                cmocka_unit_test(test_plain_prints_step_lines_cache_hits_and_output),
                cmocka_unit_test(test_rawjson_is_one_object_per_line_with_the_stable_keys),
                cmocka_unit_test(test_tty_leaves_one_line_per_finished_step),
                cmocka_unit_test(test_plain_ends_an_unterminated_output_line_before_the_next_message),
                cmocka_unit_test(test_quiet_writes_nothing),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

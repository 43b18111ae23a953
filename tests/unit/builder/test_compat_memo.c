/* compat_memo.c: the static report's memo, and the memo of a prefix of layers standing for the image
 * when the layers above it only add files the report counts. */
#include <archive.h>
#include <archive_entry.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builder/verify.h"
#include "kernels/compat.h"
#include "layers/layer.h"

struct fx {
        char root[64], src[64];
        struct layer_store *s;
        struct cb_err err;
};

static int setup(void **state)
{
        struct fx *f = cb_xcalloc(1, sizeof(*f));
        memcpy(f->root, "/tmp/cb-memo-XXXXXX", 20);
        memcpy(f->src, "/tmp/cb-memo-src-XXXXXX", 24);
        if (!mkdtemp(f->root) || !mkdtemp(f->src))
                return -1;
        cb_err_init(&f->err);
        if (layer_store_open(f->root, &f->s, &f->err) < 0)
                return -1;
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fx *f = *state;
        layer_store_free(f->s);
        (void) cb_rm_rf(AT_FDCWD, f->root, &f->err);
        (void) cb_rm_rf(AT_FDCWD, f->src, &f->err);
        cb_err_release(&f->err);
        free(f);
        return 0;
}

static void put(const char *dir, const char *path, size_t size, mode_t mode)
{
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        const char *slash = strrchr(path, '/');
        if (slash) {
                char *d = cb_xstrndup(path, (size_t) (slash - path));
                struct cb_err e;
                cb_err_init(&e);
                assert_int_equal(cb_mkdir_p(dfd, d, 0755, &e), 0);
                cb_err_release(&e);
                free(d);
        }
        int fd = openat(dfd, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        assert_true(fd >= 0);
        char *p = cb_xcalloc(1, size + 1);
        assert_int_equal(cb_write_all(fd, p, size), 0);
        assert_int_equal(fchmod(fd, mode), 0);
        free(p);
        close(fd);
        close(dfd);
}

/* Commits what f->src holds as a layer, then empties f->src; unpacked when asked. */
static void layer(struct fx *f, bool unpacked, struct layer_desc *ret)
{
        int dfd = open(f->src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct layer_commit_opts o;
        layer_commit_opts_init(&o);
        o.compression = LAYER_UNCOMPRESSED;
        assert_int_equal(layer_commit_dir(f->s, dfd, &o, ret, &f->err), 0);
        close(dfd);
        if (unpacked) {
                char *path = NULL;
                assert_int_equal(layer_store_unpacked(f->s, ret, &path, &f->err), 0);
                free(path);
        }
        assert_int_equal(cb_rm_rf(AT_FDCWD, f->src, &f->err), 0);
        assert_int_equal(mkdir(f->src, 0755), 0);
}

/* A report as kv_compat_json() shapes the parts the memo touches; *ret_summary with BLD_COMPAT_PREFIX. */
static json_t *report(uint64_t files, uint64_t bytes, char **ret_summary)
{
        char *line = kv_compat_counts_line("", 1, 4096, bytes);
        char *pline = kv_compat_counts_line(BLD_COMPAT_PREFIX, 1, 4096, bytes);
        char *jsum = cb_xasprintf("CUDA runtime 12.4\n%s", line);
        json_t *j = json_pack("{s:s, s:{s:I, s:I, s:I, s:I, s:I}, s:s}", "schema", KV_COMPAT_SCHEMA, "scan",
                              "regular_files", (json_int_t) files, "image_bytes", (json_int_t) bytes,
                              "cuda_files", (json_int_t) 1, "bytes_read", (json_int_t) 4096, "elf_files",
                              (json_int_t) 3, "summary", jsum);
        *ret_summary = cb_xasprintf(BLD_COMPAT_PREFIX "CUDA runtime 12.4\n%s", pline);
        free(line);
        free(pline);
        free(jsum);
        return j;
}

static const struct bld_compat_memo_opts opts = {.cuda_version = "12.4.1"};

static void put_memo(struct fx *f, const struct layer_desc *l, size_t n, uint64_t files, uint64_t bytes)
{
        char key[CB_DIGEST_STR_LEN];
        char *sum = NULL;
        json_t *j = report(files, bytes, &sum);
        bld_compat_memo_key(l, n, opts.cuda_version, NULL, NULL, NULL, key);
        bld_compat_memo_put(f->s, key, j, sum, NULL);
        json_decref(j);
        free(sum);
}

/* The memo of exactly l[0..n), as bld_compat_memo_get() finds it: its counters, or false. */
static bool memo_counts(struct fx *f, const struct layer_desc *l, size_t n, json_t **ret_static,
                        char **ret_summary)
{
        char key[CB_DIGEST_STR_LEN];
        char *gap = NULL;
        bld_compat_memo_key(l, n, opts.cuda_version, NULL, NULL, NULL, key);
        bool ok = bld_compat_memo_get(f->s, key, ret_static, ret_summary, &gap);
        free(gap);
        return ok;
}

static void assert_report(json_t *st, const char *summary, uint64_t files, uint64_t bytes)
{
        char *want_sum = NULL;
        json_t *want = report(files, bytes, &want_sum);
        assert_true(json_equal(st, want));
        assert_string_equal(summary, want_sum);
        json_decref(want);
        free(want_sum);
}

static void test_shift_moves_counters_json_and_summaries(void **state)
{
        (void) state;
        char *sum = NULL, *nsum = NULL;
        json_t *j = report(10, 5000000, &sum), *n = NULL;
        assert_int_equal(bld_compat_memo_shift(j, sum, 2, 1250000, &n, &nsum), 0);
        assert_report(n, nsum, 12, 6250000);
        assert_non_null(strstr(nsum, "read 0.0 MB of 6.2 MB (0.07%)\n"));
        json_decref(n);
        free(nsum);
        /* back down, not below zero */
        assert_int_equal(bld_compat_memo_shift(j, sum, -10, -5000000, &n, &nsum), 0);
        assert_report(n, nsum, 0, 0);
        json_decref(n);
        free(nsum);
        assert_int_equal(bld_compat_memo_shift(j, sum, -11, 0, &n, &nsum), -EBADMSG);
        /* a summary whose last line is not the counts line is not ours to rewrite */
        assert_int_equal(bld_compat_memo_shift(j, "compat: something else\n", 1, 1, &n, &nsum), -EBADMSG);
        json_decref(j);
        free(sum);
}

/* base: a layer holding a few files, unpacked as builds leave it */
static void base(struct fx *f, struct layer_desc *ret)
{
        put(f->src, "usr/bin/tool", 20, 0755);
        put(f->src, "app/old.py", 5, 0644);
        layer(f, true, ret);
}

static void test_lookup_derives_from_the_prefix_without_mounting(void **state)
{
        struct fx *f = *state;
        struct layer_desc l[3];
        base(f, &l[0]);
        put(f->src, "app/check.py", 300, 0644);
        put(f->src, "app/data/table.csv", 7000, 0644);
        layer(f, false, &l[1]); /* as a COPY step commits: the blob only */
        put(f->src, "app/notes.txt", 11, 0644);
        layer(f, false, &l[2]);
        put_memo(f, l, 1, 1000, 9000000);

        json_t *st = NULL;
        char *sum = NULL, *gap = NULL;
        assert_true(bld_compat_memo_lookup(f->s, l, 3, &opts, &st, &sum, &gap));
        assert_report(st, sum, 1003, 9007311);
        assert_null(gap);
        json_decref(st);
        free(sum);
        /* and it is remembered as the image's own */
        assert_true(memo_counts(f, l, 3, &st, &sum));
        assert_report(st, sum, 1003, 9007311);
        json_decref(st);
        free(sum);
}

static void test_save_remembers_the_prefixes_below_inert_layers(void **state)
{
        struct fx *f = *state;
        struct layer_desc l[4];
        base(f, &l[0]);
        put(f->src, "opt/libcudart.so.12", 10, 0644); /* the report names it: not inert */
        layer(f, true, &l[1]);
        put(f->src, "app/a.py", 100, 0644);
        layer(f, true, &l[2]);
        put(f->src, "app/b.py", 20, 0644);
        layer(f, false, &l[3]);
        char *sum = NULL;
        json_t *j = report(50, 1000000, &sum);
        bld_compat_memo_save(f->s, l, 4, &opts, j, sum, NULL);
        json_decref(j);
        free(sum);

        json_t *st = NULL;
        assert_true(memo_counts(f, l, 4, &st, &sum));
        assert_report(st, sum, 50, 1000000);
        json_decref(st);
        free(sum);
        assert_true(memo_counts(f, l, 3, &st, &sum));
        assert_report(st, sum, 49, 999980);
        json_decref(st);
        free(sum);
        assert_true(memo_counts(f, l, 2, &st, &sum));
        assert_report(st, sum, 48, 999880);
        json_decref(st);
        free(sum);
        /* below the library, no memo: the report of l[0] alone differs in more than its counters */
        assert_false(memo_counts(f, l, 1, &st, &sum));
}

static void test_lookup_refuses_layers_that_are_not_inert_or_not_new(void **state)
{
        struct fx *f = *state;
        struct layer_desc l[2], lib, over, dir_over_file, elf;
        json_t *st = NULL;
        char *sum = NULL, *gap = NULL;
        base(f, &l[0]);
        put_memo(f, l, 1, 1000, 9000000);

        put(f->src, "app/libcudart.so.11.0", 10, 0644);
        layer(f, false, &lib);
        put(f->src, "app/old.py", 9, 0644); /* replaces a file of the base: counted once, not twice */
        layer(f, false, &over);
        put(f->src, "usr/bin/tool/x", 9, 0644); /* a directory where the base has a file */
        layer(f, false, &dir_over_file);
        put(f->src, "app/run", 2048, 0755); /* an ELF candidate */
        layer(f, false, &elf);
        const struct layer_desc *tops[] = {&lib, &over, &dir_over_file, &elf};
        for (size_t i = 0; i < sizeof(tops) / sizeof(tops[0]); i++) {
                l[1] = *tops[i];
                assert_false(bld_compat_memo_lookup(f->s, l, 2, &opts, &st, &sum, &gap));
        }

        /* two layers above the memo's, the upper replacing the lower's file */
        struct layer_desc t[3];
        t[0] = l[0];
        put(f->src, "app/same.py", 3, 0644);
        layer(f, false, &t[1]);
        put(f->src, "app/same.py", 4, 0644);
        layer(f, false, &t[2]);
        assert_false(bld_compat_memo_lookup(f->s, t, 3, &opts, &st, &sum, &gap));

        /* a base that is not unpacked: nothing to compare with, so no shortcut */
        struct layer_desc p[2];
        put(f->src, "etc/x", 1, 0644);
        layer(f, false, &p[0]);
        put(f->src, "app/new.py", 1, 0644);
        layer(f, false, &p[1]);
        put_memo(f, p, 1, 10, 100);
        assert_false(bld_compat_memo_lookup(f->s, p, 2, &opts, &st, &sum, &gap));
        /* five layers above the memo are too many */
        struct layer_desc q[6];
        q[0] = l[0];
        for (int i = 1; i < 6; i++) {
                char name[32];
                snprintf(name, sizeof(name), "app/n%d.py", i);
                put(f->src, name, 1, 0644);
                layer(f, false, &q[i]);
        }
        assert_false(bld_compat_memo_lookup(f->s, q, 6, &opts, &st, &sum, &gap));
        assert_true(bld_compat_memo_lookup(f->s, q, 5, &opts, &st, &sum, &gap));
        assert_report(st, sum, 1004, 9000004);
        json_decref(st);
        free(sum);
}

/* A layer blob made by hand, as another tool could write it: entries "f:PATH" (a 3-byte file) or
 * "l:PATH" (a symlink to ../usr), in that order. */
static void tar_layer(struct fx *f, const char *const *entries, size_t n, struct layer_desc *ret)
{
        char *path = cb_xasprintf("%s/hand.tar", f->src);
        struct archive *a = archive_write_new();
        assert_int_equal(archive_write_set_format_pax(a), ARCHIVE_OK);
        assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
        for (size_t i = 0; i < n; i++) {
                struct archive_entry *e = archive_entry_new();
                archive_entry_set_pathname(e, entries[i] + 2);
                archive_entry_set_perm(e, 0644);
                if (entries[i][0] == 'l') {
                        archive_entry_set_filetype(e, AE_IFLNK);
                        archive_entry_set_symlink(e, "../usr");
                } else {
                        archive_entry_set_filetype(e, AE_IFREG);
                        archive_entry_set_size(e, 3);
                }
                assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
                if (entries[i][0] == 'f')
                        assert_int_equal(archive_write_data(a, "abc", 3), 3);
                archive_entry_free(e);
        }
        assert_int_equal(archive_write_close(a), ARCHIVE_OK);
        archive_write_free(a);
        struct cb_buf b;
        cb_buf_init(&b, CB_BUF_UNLIMITED);
        assert_true(cb_read_file(AT_FDCWD, path, 1 << 20, &b, &f->err) >= 0);
        memset(ret, 0, sizeof(*ret));
        assert_int_equal(layer_store_put_blob(f->s, b.p, b.len, ret->digest, &f->err), 0);
        memcpy(ret->diff_id, ret->digest, sizeof(ret->digest));
        cb_buf_release(&b);
        unlink(path);
        free(path);
}

static void test_lookup_refuses_a_path_through_a_symlink_of_the_layers_above(void **state)
{
        struct fx *f = *state;
        struct layer_desc l[2];
        json_t *st = NULL;
        char *sum = NULL, *gap = NULL;
        base(f, &l[0]);
        put_memo(f, l, 1, 1000, 9000000);
        /* extraction would write app/lnk/x.py as usr/x.py: not a new path at all */
        const char *const through[] = {"l:app/lnk", "f:app/lnk/x.py"};
        tar_layer(f, through, 2, &l[1]);
        assert_false(bld_compat_memo_lookup(f->s, l, 2, &opts, &st, &sum, &gap));
        const char *const replaced[] = {"f:app/dir/x.py", "l:app/dir"};
        tar_layer(f, replaced, 2, &l[1]);
        assert_false(bld_compat_memo_lookup(f->s, l, 2, &opts, &st, &sum, &gap));
        const char *const twice[] = {"f:app/x.py", "f:app/x.py"};
        tar_layer(f, twice, 2, &l[1]);
        assert_false(bld_compat_memo_lookup(f->s, l, 2, &opts, &st, &sum, &gap));
        const char *const plain[] = {"l:app/lnk", "f:app/dir/x.py"};
        tar_layer(f, plain, 2, &l[1]);
        assert_true(bld_compat_memo_lookup(f->s, l, 2, &opts, &st, &sum, &gap));
        assert_report(st, sum, 1001, 9000003);
        json_decref(st);
        free(sum);
}

static void test_scan_leaves_an_inert_top_layer_packed(void **state)
{
        struct fx *f = *state;
        struct layer_desc l[2];
        put(f->src, "usr/bin/tool", 20, 0755);
        layer(f, false, &l[0]); /* unpacked by the call, as the mount would */
        for (int i = 0; i < 50; i++) {
                char name[32];
                snprintf(name, sizeof(name), "data/%02d.txt", i);
                put(f->src, name, 100, 0644);
        }
        layer(f, false, &l[1]);
        uint64_t files = 0, bytes = 0;
        assert_int_equal(bld_compat_memo_scan_layers(f->s, l, 2, &files, &bytes), 1);
        assert_int_equal(files, 50);
        assert_int_equal(bytes, 5000);
        int fd = layer_store_open_unpacked(f->s, &l[0], &f->err);
        assert_true(fd >= 0);
        close(fd);
        assert_int_equal(layer_store_open_unpacked(f->s, &l[1], &f->err), -ENOENT);

        /* the scan of l[0] becomes the report of both, remembered */
        char *sum = NULL;
        json_t *j = report(1, 20, &sum);
        assert_int_equal(bld_compat_memo_extend(f->s, l, 2, &opts, files, bytes, &j, &sum, NULL), 0);
        assert_report(j, sum, 51, 5020);
        json_decref(j);
        free(sum);
        assert_true(memo_counts(f, l, 2, &j, &sum));
        assert_report(j, sum, 51, 5020);
        json_decref(j);
        free(sum);

        /* a top layer the report reads is mounted */
        put(f->src, "usr/lib/libcudnn.so.9", 10, 0644);
        layer(f, false, &l[1]);
        assert_int_equal(bld_compat_memo_scan_layers(f->s, l, 2, &files, &bytes), 2);
        assert_int_equal(bld_compat_memo_scan_layers(f->s, l, 1, &files, &bytes), 1);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_shift_moves_counters_json_and_summaries),
            cmocka_unit_test_setup_teardown(test_lookup_derives_from_the_prefix_without_mounting, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_save_remembers_the_prefixes_below_inert_layers, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_lookup_refuses_layers_that_are_not_inert_or_not_new, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_scan_leaves_an_inert_top_layer_packed, setup, teardown),
            cmocka_unit_test_setup_teardown(test_lookup_refuses_a_path_through_a_symlink_of_the_layers_above,
                                            setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* store.c: opening, tmp/ recovery, blobs (atomic writes, verified reads), the blob writer. */
#include "helpers.h"

#include <dirent.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>

struct fx {
        char *root;
        struct layer_store *s;
        struct cb_err err;
};

static int setup(void **state)
{
        struct fx *f = cb_xcalloc(1, sizeof(*f));
        f->root = t_mkdtemp();
        cb_err_init(&f->err);
        assert_int_equal(layer_store_open(f->root, &f->s, &f->err), 0);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fx *f = *state;
        layer_store_free(f->s);
        t_rm(f->root);
        free(f->root);
        cb_err_release(&f->err);
        free(f);
        return 0;
}

static void test_open_creates_layout(void **state)
{
        struct fx *f = *state;
        int fd = layer_store_root_fd(f->s);
        assert_true(t_exists(fd, "blobs/sha256"));
        assert_true(t_exists(fd, "layers"));
        assert_true(t_exists(fd, "cache"));
        assert_true(t_exists(fd, "tmp"));
        assert_true(t_exists(fd, "oci-layout"));
        assert_string_equal(layer_store_root(f->s), f->root);
}

static void test_put_then_read_blob_round_trips(void **state)
{
        struct fx *f = *state;
        char d[CB_DIGEST_STR_LEN];
        assert_int_equal(layer_store_put_blob(f->s, "hello", 5, d, &f->err), 0);
        assert_string_equal(d, "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
        assert_true(layer_store_has_blob(f->s, d));
        struct cb_buf b;
        cb_buf_init(&b, CB_BUF_UNLIMITED);
        assert_int_equal(layer_store_read_blob(f->s, d, 100, &b, &f->err), 0);
        assert_int_equal(b.len, 5);
        assert_memory_equal(b.p, "hello", 5);
        cb_buf_reset(&b);
        assert_int_equal(layer_store_read_blob(f->s, d, 4, &b, &f->err), -E2BIG);
        assert_int_equal(b.len, 0);
        cb_buf_release(&b);
        uint64_t size = 0;
        int fd = layer_store_open_blob(f->s, d, &size, &f->err);
        assert_true(fd >= 0);
        assert_int_equal(size, 5);
        close(fd);
}

static void test_read_blob_rejects_corrupt_content(void **state)
{
        struct fx *f = *state;
        char d[CB_DIGEST_STR_LEN];
        assert_int_equal(layer_store_put_blob(f->s, "hello", 5, d, &f->err), 0);
        char *rel = cb_xasprintf("blobs/sha256/%s", d + 7);
        t_write(layer_store_root_fd(f->s), rel, "HELLO", 0644);
        free(rel);
        struct cb_buf b;
        cb_buf_init(&b, CB_BUF_UNLIMITED);
        assert_int_equal(layer_store_read_blob(f->s, d, 100, &b, &f->err), -EBADMSG);
        assert_non_null(strstr(cb_err_msg(&f->err), "corrupt"));
        assert_int_equal(b.len, 0);
        cb_buf_release(&b);
}

static void test_missing_and_invalid_digests(void **state)
{
        struct fx *f = *state;
        struct cb_buf b;
        cb_buf_init(&b, CB_BUF_UNLIMITED);
        assert_int_equal(layer_store_read_blob(f->s, "sha256:0000000000000000000000000000000000000000000000000000000000000000",
                                               10, &b, &f->err),
                         -ENOENT);
        assert_int_equal(layer_store_read_blob(f->s, "sha256:../../etc/passwd", 10, &b, &f->err), -EINVAL);
        assert_false(layer_store_has_blob(f->s, "md5:abc"));
        cb_buf_release(&b);
}

static int count_entries(int dfd, const char *path)
{
        int fd = openat(dfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(fd >= 0);
        DIR *d = fdopendir(fd);
        int n = 0;
        struct dirent *de;
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
                        n++;
        closedir(d);
        return n;
}

static void test_writer_commit_verifies_expected(void **state)
{
        struct fx *f = *state;
        struct layer_blob_writer *w;
        assert_int_equal(layer_store_blob_begin(f->s, &w, &f->err), 0);
        assert_int_equal(layer_blob_writer_write(w, "abc", 3, &f->err), 0);
        assert_int_equal(layer_blob_writer_commit(w, "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
                                                  NULL, &f->err),
                         -EBADMSG);
        assert_int_equal(count_entries(layer_store_root_fd(f->s), "blobs/sha256"), 0);
        assert_int_equal(count_entries(layer_store_work_fd(f->s), "."), 0);

        char d[CB_DIGEST_STR_LEN];
        assert_int_equal(layer_store_blob_begin(f->s, &w, &f->err), 0);
        assert_int_equal(layer_blob_writer_write(w, "abc", 3, &f->err), 0);
        assert_int_equal(layer_blob_writer_size(w), 3);
        assert_int_equal(layer_blob_writer_commit(w, NULL, d, &f->err), 0);
        assert_string_equal(d, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_true(layer_store_has_blob(f->s, d));
}

static void test_writer_fd_writes_are_hashed_at_commit(void **state)
{
        struct fx *f = *state;
        struct layer_blob_writer *w;
        assert_int_equal(layer_store_blob_begin(f->s, &w, &f->err), 0);
        assert_int_equal(cb_write_all(layer_blob_writer_fd(w), "abc", 3), 0);
        char d[CB_DIGEST_STR_LEN];
        assert_int_equal(layer_blob_writer_commit(w, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                                                  d, &f->err),
                         0);
        assert_true(layer_store_has_blob(f->s, d));
}

static void test_writer_abort_leaves_nothing(void **state)
{
        struct fx *f = *state;
        struct layer_blob_writer *w;
        assert_int_equal(layer_store_blob_begin(f->s, &w, &f->err), 0);
        assert_int_equal(layer_blob_writer_write(w, "abc", 3, &f->err), 0);
        layer_blob_writer_abort(w);
        layer_blob_writer_abort(NULL);
        assert_int_equal(count_entries(layer_store_work_fd(f->s), "."), 0);
        assert_int_equal(count_entries(layer_store_root_fd(f->s), "blobs/sha256"), 0);
}

static void test_open_removes_dead_work_dirs_but_not_live_ones(void **state)
{
        struct fx *f = *state;
        int tfd = openat(layer_store_root_fd(f->s), "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(tfd >= 0);
        /* a crashed process's work dir: nobody holds its lock */
        assert_int_equal(mkdirat(tfd, "work-1-dead", 0700), 0);
        t_write(tfd, "work-1-dead/blob-x", "partial", 0644);
        struct layer_store *s2;
        assert_int_equal(layer_store_open(f->root, &s2, &f->err), 0);
        assert_false(t_exists(tfd, "work-1-dead"));
        /* the first store's own work dir is locked: still there */
        assert_int_equal(faccessat(AT_FDCWD, layer_store_work_path(f->s), F_OK, 0), 0);
        assert_int_equal(count_entries(tfd, "."), 2);
        layer_store_free(s2);
        assert_int_equal(count_entries(tfd, "."), 1);
        close(tfd);
}

static void test_put_blob_is_idempotent(void **state)
{
        struct fx *f = *state;
        char d1[CB_DIGEST_STR_LEN], d2[CB_DIGEST_STR_LEN];
        assert_int_equal(layer_store_put_blob(f->s, "x", 1, d1, &f->err), 0);
        assert_int_equal(layer_store_put_blob(f->s, "x", 1, d2, &f->err), 0);
        assert_string_equal(d1, d2);
        assert_int_equal(count_entries(layer_store_root_fd(f->s), "blobs/sha256"), 1);
        char *p = layer_store_blob_path(f->s, d1);
        assert_non_null(strstr(p, "/blobs/sha256/"));
        free(p);
}

/* cb_read_all() overran its buffer when the room left under max was smaller than one 64 KiB read; the
 * store reads index.json, memo files and JSON blobs with small maxima through it. */
static void test_small_max_reads_exactly(void **state)
{
        struct fx *f = *state;
        int fd = layer_store_root_fd(f->s);
        t_write(fd, "cache/probe", "0123456789", 0644);
        struct cb_buf b;
        cb_buf_init(&b, 64);
        assert_int_equal(cb_read_file(fd, "cache/probe", 10, &b, &f->err), 0);
        assert_int_equal(b.len, 10);
        cb_buf_reset(&b);
        assert_int_equal(cb_read_file(fd, "cache/probe", 9, &b, &f->err), -E2BIG);
        cb_buf_reset(&b);
        assert_int_equal(cb_read_file(fd, "cache/probe", 200, &b, &f->err), 0);
        assert_string_equal(b.p, "0123456789");
        cb_buf_release(&b);
}

/* A process killed in the middle of writing a blob leaves only its work directory, which the next open
 * removes; nothing half-written ever appears in blobs/. */
static void test_killed_writer_leaves_store_consistent(void **state)
{
        struct fx *f = *state;
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                struct cb_err e;
                cb_err_init(&e);
                struct layer_store *s;
                if (layer_store_open(f->root, &s, &e) < 0)
                        _exit(1);
                struct layer_blob_writer *w;
                if (layer_store_blob_begin(s, &w, &e) < 0 || layer_blob_writer_write(w, "partial", 7, &e) < 0)
                        _exit(1);
                raise(SIGKILL);
                _exit(1);
        }
        int st;
        assert_int_equal(waitpid(pid, &st, 0), pid);
        assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
        int tfd = openat(layer_store_root_fd(f->s), "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_int_equal(count_entries(tfd, "."), 2); /* ours and the dead one's */
        struct layer_store *s2;
        assert_int_equal(layer_store_open(f->root, &s2, &f->err), 0);
        assert_int_equal(count_entries(tfd, "."), 2); /* ours and s2's: the dead one is gone */
        layer_store_free(s2);
        assert_int_equal(count_entries(tfd, "."), 1);
        close(tfd);
        assert_int_equal(count_entries(layer_store_root_fd(f->s), "blobs/sha256"), 0);
}

/* Two processes tagging at once lose no tag: index.json is rewritten under index.lock. */
static void test_concurrent_tags_all_kept(void **state)
{
        struct fx *f = *state;
        char md[CB_DIGEST_STR_LEN];
        json_t *cfg = json_pack("{s:s, s:s}", "architecture", "amd64", "os", "linux");
        assert_int_equal(layer_image_write(f->s, cfg, NULL, 0, false, NULL, md, &f->err), 0);
        json_decref(cfg);
        pid_t pids[2];
        for (int k = 0; k < 2; k++) {
                pids[k] = fork();
                assert_true(pids[k] >= 0);
                if (pids[k] == 0) {
                        struct cb_err e;
                        cb_err_init(&e);
                        struct layer_store *s;
                        if (layer_store_open(f->root, &s, &e) < 0)
                                _exit(1);
                        for (int i = 0; i < 25; i++) {
                                char name[64];
                                snprintf(name, sizeof(name), "localhost/p%d:t%d", k, i);
                                if (layer_store_tag(s, name, md, &e) < 0)
                                        _exit(1);
                        }
                        layer_store_free(s);
                        _exit(0);
                }
        }
        for (int k = 0; k < 2; k++) {
                int st;
                assert_int_equal(waitpid(pids[k], &st, 0), pids[k]);
                assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        }
        struct layer_image_entry *v;
        size_t n;
        assert_int_equal(layer_store_list(f->s, &v, &n, &f->err), 0);
        assert_int_equal(n, 50);
        layer_image_entries_free(v, n);
}

static void test_default_root_follows_environment(void **state)
{
        struct fx *f = *state;
        char *saved = getenv("CUBUILD_ROOT") ? cb_xstrdup(getenv("CUBUILD_ROOT")) : NULL;
        char *r = NULL;
        setenv("CUBUILD_ROOT", "/srv/store", 1);
        assert_int_equal(layer_default_root(&r, &f->err), 0);
        assert_string_equal(r, "/srv/store");
        free(r);
        unsetenv("CUBUILD_ROOT");
        assert_int_equal(layer_default_root(&r, &f->err), 0);
        if (geteuid() == 0)
                assert_string_equal(r, "/var/lib/cubuild");
        else
                assert_non_null(strstr(r, "/cubuild"));
        free(r);
        if (saved) {
                setenv("CUBUILD_ROOT", saved, 1);
                free(saved);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_open_creates_layout, setup, teardown),
                cmocka_unit_test_setup_teardown(test_put_then_read_blob_round_trips, setup, teardown),
                cmocka_unit_test_setup_teardown(test_read_blob_rejects_corrupt_content, setup, teardown),
                cmocka_unit_test_setup_teardown(test_missing_and_invalid_digests, setup, teardown),
                cmocka_unit_test_setup_teardown(test_writer_commit_verifies_expected, setup, teardown),
                cmocka_unit_test_setup_teardown(test_writer_fd_writes_are_hashed_at_commit, setup, teardown),
                cmocka_unit_test_setup_teardown(test_writer_abort_leaves_nothing, setup, teardown),
                cmocka_unit_test_setup_teardown(test_open_removes_dead_work_dirs_but_not_live_ones, setup, teardown),
                cmocka_unit_test_setup_teardown(test_put_blob_is_idempotent, setup, teardown),
                cmocka_unit_test_setup_teardown(test_small_max_reads_exactly, setup, teardown),
                cmocka_unit_test_setup_teardown(test_killed_writer_leaves_store_consistent, setup, teardown),
                cmocka_unit_test_setup_teardown(test_concurrent_tags_all_kept, setup, teardown),
                cmocka_unit_test_setup_teardown(test_default_root_follows_environment, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

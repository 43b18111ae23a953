/* extract.c: secure extraction. Hostile tarballs are generated here with libarchive's write API; every
 * case runs twice, with openat2 RESOLVE_IN_ROOT and with the O_NOFOLLOW walk fallback. */
#include "helpers.h"

#include <dirent.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "layers/internal.h"

struct fx {
        char *dir;    /* holds root/, outside/, and the tarballs */
        int dir_fd;
        int root_fd;
        struct cb_err err;
};

static int setup_common(void **state, bool fallback)
{
        struct fx *f = cb_xcalloc(1, sizeof(*f));
        f->dir = t_mkdtemp();
        f->dir_fd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_int_equal(mkdirat(f->dir_fd, "root", 0755), 0);
        assert_int_equal(mkdirat(f->dir_fd, "outside", 0755), 0);
        f->root_fd = openat(f->dir_fd, "root", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        cb_err_init(&f->err);
        layer_extract_no_openat2 = fallback;
        *state = f;
        return 0;
}

static int setup(void **state)
{
        return setup_common(state, false);
}

static int setup_fallback(void **state)
{
        return setup_common(state, true);
}

static int teardown(void **state)
{
        struct fx *f = *state;
        close(f->root_fd);
        close(f->dir_fd);
        t_rm(f->dir);
        free(f->dir);
        cb_err_release(&f->err);
        free(f);
        layer_extract_no_openat2 = false;
        return 0;
}

static char *tpath(struct fx *f, const char *name)
{
        return cb_xasprintf("%s/%s", f->dir, name);
}

static int extract_opts(struct fx *f, const char *tarname, const struct layer_extract_opts *o)
{
        char *p = tpath(f, tarname);
        int fd = open(p, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        cb_err_reset(&f->err);
        int r = layer_extract_fd_opts(f->root_fd, fd, o, &f->err);
        close(fd);
        free(p);
        return r;
}

static int extract(struct fx *f, const char *tarname, enum layer_extract_mode mode)
{
        struct layer_extract_opts o;
        layer_extract_opts_init(&o);
        o.mode = mode;
        o.keep_setuid = true;
        return extract_opts(f, tarname, &o);
}

static void outside_is_empty(struct fx *f)
{
        int fd = openat(f->dir_fd, "outside", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d = fdopendir(fd);
        struct dirent *de;
        int n = 0;
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
                        n++;
        closedir(d);
        assert_int_equal(n, 0);
}

static void test_plain_round_trip(void **state)
{
        struct fx *f = *state;
        struct t_tar t;
        char *p = tpath(f, "a.tgz");
        t_tar_open(&t, p, "gzip");
        t_tar_add(&t, 'd', "./etc/", NULL, 0755);
        t_tar_add(&t, 'f', "./etc/hosts", "127.0.0.1 localhost\n", 0644);
        t_tar_add(&t, 'f', "usr/bin/sudo", "x", 04755);
        t_tar_add(&t, 'l', "usr/bin/s", "sudo", 0777);
        t_tar_add(&t, 'h', "usr/bin/sudo2", "usr/bin/sudo", 0);
        t_tar_close(&t);
        free(p);
        assert_int_equal(extract(f, "a.tgz", LAYER_EXTRACT_APPLY), 0);
        char *c = t_read(f->root_fd, "etc/hosts");
        assert_string_equal(c, "127.0.0.1 localhost\n");
        free(c);
        struct stat st, st2;
        assert_int_equal(fstatat(f->root_fd, "usr/bin/sudo", &st, 0), 0);
        assert_int_equal(st.st_mode & 07777, 04755);
        assert_int_equal(fstatat(f->root_fd, "usr/bin/sudo2", &st2, 0), 0);
        assert_int_equal(st.st_ino, st2.st_ino);
        assert_int_equal(st.st_mtime, 1000000000);
        assert_int_equal(fstatat(f->root_fd, "etc", &st, 0), 0);
        assert_int_equal(st.st_mtime, 1000000000);
        char l[16];
        assert_int_equal(readlinkat(f->root_fd, "usr/bin/s", l, sizeof(l)), 4);
        assert_int_equal(extract(f, "a.tgz", LAYER_EXTRACT_APPLY), 0); /* again, over itself */
}

static void test_zstd_and_plain_detected(void **state)
{
        struct fx *f = *state;
        const char *filters[] = { "zstd", NULL };
        for (size_t i = 0; i < 2; i++) {
                struct t_tar t;
                char *p = tpath(f, "b.tar");
                t_tar_open(&t, p, filters[i]);
                t_tar_add(&t, 'f', "x", "data", 0644);
                t_tar_close(&t);
                free(p);
                if (extract(f, "b.tar", LAYER_EXTRACT_APPLY) != 0)
                        fail_msg("%s", cb_err_msg(&f->err));
                char *c = t_read(f->root_fd, "x");
                assert_string_equal(c, "data");
                free(c);
        }
}

static void test_setuid_stripped_unless_asked(void **state)
{
        struct fx *f = *state;
        struct t_tar t;
        char *p = tpath(f, "s.tar");
        t_tar_open(&t, p, NULL);
        t_tar_add(&t, 'f', "su", "x", 06755);
        t_tar_close(&t);
        free(p);
        struct layer_extract_opts o;
        layer_extract_opts_init(&o);
        assert_int_equal(extract_opts(f, "s.tar", &o), 0);
        struct stat st;
        assert_int_equal(fstatat(f->root_fd, "su", &st, 0), 0);
        assert_int_equal(st.st_mode & 07777, 0755);
}

static void test_dotdot_rejected(void **state)
{
        struct fx *f = *state;
        struct t_tar t;
        char *p = tpath(f, "t.tar");
        t_tar_open(&t, p, NULL);
        t_tar_add(&t, 'f', "../outside/pwned", "x", 0644);
        t_tar_close(&t);
        free(p);
        assert_int_equal(extract(f, "t.tar", LAYER_EXTRACT_APPLY), -EINVAL);
        assert_non_null(strstr(cb_err_msg(&f->err), "escapes the root"));
        p = tpath(f, "t2.tar");
        t_tar_open(&t, p, NULL);
        t_tar_add(&t, 'f', "a/../../outside/pwned", "x", 0644);
        t_tar_close(&t);
        free(p);
        assert_int_equal(extract(f, "t2.tar", LAYER_EXTRACT_APPLY), -EINVAL);
        outside_is_empty(f);
}

static void test_absolute_path_lands_inside_root(void **state)
{
        struct fx *f = *state;
        struct t_tar t;
        char *p = tpath(f, "abs.tar");
        char *victim = cb_xasprintf("%s/outside/pwned", f->dir);
        t_tar_open(&t, p, NULL);
        t_tar_add(&t, 'f', victim, "x", 0644);
        t_tar_close(&t);
        free(p);
        assert_int_equal(extract(f, "abs.tar", LAYER_EXTRACT_APPLY), 0);
        outside_is_empty(f);
        char *inside = cb_xstrdup(victim + 1);
        assert_true(t_exists(f->root_fd, inside));
        free(inside);
        free(victim);
}

static void test_symlink_escape_contained(void **state)
{
        struct fx *f = *state;
        /* absolute and relative symlinks that point out of the root, then writes through them: each either
         * lands inside the root or fails, and nothing appears outside */
        char *out = cb_xasprintf("%s/outside", f->dir);
        const char *targets[] = { out, "../../../../../../../../outside", ".." };
        const char *writes[] = { "l/pwned", "l/pwned", "l/outside/pwned" };
        for (size_t i = 0; i < CB_ARRAY_SIZE(targets); i++) {
                struct t_tar t;
                char *p = tpath(f, "sl.tar");
                t_tar_open(&t, p, NULL);
                t_tar_add(&t, 'l', "l", targets[i], 0777);
                t_tar_add(&t, 'l', "chain", "l", 0777); /* links to links */
                t_tar_add(&t, 'f', writes[i], "x", 0644);
                t_tar_close(&t);
                free(p);
                int r = extract(f, "sl.tar", LAYER_EXTRACT_APPLY);
                assert_true(r == 0 || r == -ENOENT);
                outside_is_empty(f);
        }
        /* an absolute symlink to a directory that exists in the root resolves to it */
        struct t_tar t;
        char *p = tpath(f, "sl2.tar");
        t_tar_open(&t, p, NULL);
        t_tar_add(&t, 'd', "etc", NULL, 0755);
        t_tar_add(&t, 'l', "etc2", "/etc", 0777);
        t_tar_add(&t, 'l', "etc3", "../../etc2", 0777);
        t_tar_add(&t, 'f', "etc2/passwd", "root:x:0:0", 0644);
        t_tar_add(&t, 'f', "etc3/group", "root:x:0:", 0644);
        t_tar_close(&t);
        free(p);
        assert_int_equal(extract(f, "sl2.tar", LAYER_EXTRACT_APPLY), 0);
        assert_true(t_exists(f->root_fd, "etc/passwd"));
        assert_true(t_exists(f->root_fd, "etc/group"));
        outside_is_empty(f);
        free(out);
}

static void test_final_symlink_not_followed(void **state)
{
        struct fx *f = *state;
        char *victim = cb_xasprintf("%s/outside/target", f->dir);
        struct t_tar t;
        char *p = tpath(f, "fs.tar");
        t_tar_open(&t, p, NULL);
        t_tar_add(&t, 'l', "x", victim, 0777);
        t_tar_add(&t, 'f', "x", "overwritten", 0644);
        t_tar_close(&t);
        free(p);
        assert_int_equal(extract(f, "fs.tar", LAYER_EXTRACT_APPLY), 0);
        outside_is_empty(f);
        char *c = t_read(f->root_fd, "x");
        assert_string_equal(c, "overwritten");
        free(c);
        free(victim);
}

static void test_hardlink_escapes_rejected_or_contained(void **state)
{
        struct fx *f = *state;
        t_write(f->dir_fd, "outside/secret", "s3cret", 0600);
        struct t_tar t;
        char *p = tpath(f, "hl.tar");
        t_tar_open(&t, p, NULL);
        t_tar_add(&t, 'h', "link", "../outside/secret", 0);
        t_tar_close(&t);
        free(p);
        assert_int_equal(extract(f, "hl.tar", LAYER_EXTRACT_APPLY), -EINVAL);
        /* a hard link through a symlinked directory resolves inside the root, where no secret exists */
        char *out = cb_xasprintf("%s/outside", f->dir);
        p = tpath(f, "hl2.tar");
        t_tar_open(&t, p, NULL);
        t_tar_add(&t, 'l', "o", out, 0777);
        t_tar_add(&t, 'h', "link2", "o/secret", 0);
        t_tar_close(&t);
        free(p);
        free(out);
        assert_true(extract(f, "hl2.tar", LAYER_EXTRACT_APPLY) < 0);
        assert_false(t_exists(f->root_fd, "link2"));
        struct stat st;
        assert_int_equal(fstatat(f->dir_fd, "outside/secret", &st, 0), 0);
        assert_int_equal(st.st_nlink, 1);
}

static void test_file_dir_swaps_and_duplicates(void **state)
{
        struct fx *f = *state;
        struct t_tar t;
        char *p = tpath(f, "sw.tar");
        t_tar_open(&t, p, NULL);
        t_tar_add(&t, 'd', "a", NULL, 0755);
        t_tar_add(&t, 'f', "a/inner", "1", 0644);
        t_tar_add(&t, 'f', "a", "now a file", 0644);  /* dir replaced by file */
        t_tar_add(&t, 'f', "b", "first", 0644);
        t_tar_add(&t, 'f', "b", "second", 0644);      /* duplicate: last wins */
        t_tar_add(&t, 'f', "c", "file", 0644);
        t_tar_add(&t, 'd', "c", NULL, 0755);           /* file replaced by dir */
        t_tar_add(&t, 'f', "c/x", "in c", 0644);
        t_tar_close(&t);
        free(p);
        assert_int_equal(extract(f, "sw.tar", LAYER_EXTRACT_APPLY), 0);
        char *c = t_read(f->root_fd, "a");
        assert_string_equal(c, "now a file");
        free(c);
        c = t_read(f->root_fd, "b");
        assert_string_equal(c, "second");
        free(c);
        c = t_read(f->root_fd, "c/x");
        assert_string_equal(c, "in c");
        free(c);
}

static void test_limits_reported(void **state)
{
        struct fx *f = *state;
        struct t_tar t;
        char *p = tpath(f, "bomb.tgz");
        t_tar_open(&t, p, "gzip");
        static char big[1 << 20];
        memset(big, 'A', sizeof(big) - 1);
        for (int i = 0; i < 4; i++) {
                char n[16];
                snprintf(n, sizeof(n), "f%d", i);
                t_tar_add(&t, 'f', n, big, 0644);
        }
        t_tar_close(&t);
        free(p);
        struct layer_extract_opts o;
        layer_extract_opts_init(&o);
        o.max_total_size = 2u << 20;
        assert_int_equal(extract_opts(f, "bomb.tgz", &o), -E2BIG);
        assert_non_null(strstr(cb_err_msg(&f->err), "larger than"));
        layer_extract_opts_init(&o);
        o.max_entries = 2;
        assert_int_equal(extract_opts(f, "bomb.tgz", &o), -E2BIG);
        assert_non_null(strstr(cb_err_msg(&f->err), "entries"));

        p = tpath(f, "long.tar");
        t_tar_open(&t, p, NULL);
        char name[6000];
        memset(name, 'n', sizeof(name) - 1);
        name[sizeof(name) - 1] = '\0';
        t_tar_add(&t, 'f', name, "x", 0644);
        t_tar_close(&t);
        free(p);
        assert_int_equal(extract(f, "long.tar", LAYER_EXTRACT_APPLY), -ENAMETOOLONG);
}

static void test_truncated_and_corrupt_rejected(void **state)
{
        struct fx *f = *state;
        struct t_tar t;
        char *p = tpath(f, "tr.tgz");
        t_tar_open(&t, p, "gzip");
        static char big[200000];
        for (size_t i = 0; i < sizeof(big) - 1; i++)
                big[i] = (char) ('a' + (i * 7919) % 26);
        t_tar_add(&t, 'f', "f", big, 0644);
        t_tar_close(&t);
        struct stat st;
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(truncate(p, st.st_size / 2), 0);
        free(p);
        assert_int_equal(extract(f, "tr.tgz", LAYER_EXTRACT_APPLY), -EBADMSG);

        t_write(f->dir_fd, "junk.tgz", "\x1f\x8bgarbage garbage garbage", 0644);
        assert_int_equal(extract(f, "junk.tgz", LAYER_EXTRACT_APPLY), -EBADMSG);
}

/* A small archive followed by a long run of zeros (a decompression bomb after the end marker) is refused
 * once the tail passes 64 MiB instead of being read for as long as it lasts. */
static void test_endless_tail_refused(void **state)
{
        struct fx *f = *state;
        struct t_tar t;
        char *p = tpath(f, "tail.tar");
        t_tar_open(&t, p, NULL);
        t_tar_add(&t, 'f', "x", "x", 0644);
        t_tar_close(&t);
        char *gz = tpath(f, "tail.tgz");
        char *cmd = cb_xasprintf("(cat %s; head -c 80M /dev/zero) | gzip -1 > %s", p, gz);
        assert_int_equal(system(cmd), 0);
        free(cmd);
        free(p);
        free(gz);
        assert_int_equal(extract(f, "tail.tgz", LAYER_EXTRACT_APPLY), -E2BIG);
        assert_non_null(strstr(cb_err_msg(&f->err), "after the end of the archive"));
}

static void test_whiteouts_applied(void **state)
{
        struct fx *f = *state;
        t_write(f->root_fd, "gone", "old", 0644);
        t_write(f->root_fd, "d/old1", "old", 0644);
        t_write(f->root_fd, "d/sub/old2", "old", 0644);
        t_write(f->root_fd, "keep", "old", 0644);
        struct t_tar t;
        char *p = tpath(f, "wh.tar");
        t_tar_open(&t, p, NULL);
        t_tar_add(&t, 'f', ".wh.gone", "", 0);
        t_tar_add(&t, 'd', "d", NULL, 0755);
        t_tar_add(&t, 'f', "d/new", "new", 0644);
        t_tar_add(&t, 'f', "d/.wh..wh..opq", "", 0); /* after d/new: must not remove it */
        t_tar_add(&t, 'f', ".wh.missing", "", 0);
        t_tar_close(&t);
        free(p);
        assert_int_equal(extract(f, "wh.tar", LAYER_EXTRACT_APPLY), 0);
        assert_false(t_exists(f->root_fd, "gone"));
        assert_false(t_exists(f->root_fd, "d/old1"));
        assert_false(t_exists(f->root_fd, "d/sub"));
        assert_true(t_exists(f->root_fd, "d/new"));
        assert_true(t_exists(f->root_fd, "keep"));
        assert_false(t_exists(f->root_fd, ".wh.gone"));
        assert_false(t_exists(f->root_fd, "d/.wh..wh..opq"));
}

static void test_whiteouts_kept_for_overlay(void **state)
{
        struct fx *f = *state;
        if (geteuid() != 0)
                skip();
        struct t_tar t;
        char *p = tpath(f, "wo.tar");
        t_tar_open(&t, p, NULL);
        t_tar_add(&t, 'f', ".wh.gone", "", 0);
        t_tar_add(&t, 'd', "d", NULL, 0755);
        t_tar_add(&t, 'f', "d/.wh..wh..opq", "", 0);
        t_tar_add(&t, 'f', "d/new", "new", 0644);
        t_tar_close(&t);
        free(p);
        assert_int_equal(extract(f, "wo.tar", LAYER_EXTRACT_OVERLAY), 0);
        struct stat st;
        assert_int_equal(fstatat(f->root_fd, "gone", &st, AT_SYMLINK_NOFOLLOW), 0);
        assert_true(S_ISCHR(st.st_mode));
        assert_int_equal(st.st_rdev, makedev(0, 0));
        int d = openat(f->root_fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        char v[4];
        ssize_t n = fgetxattr(d, "trusted.overlay.opaque", v, sizeof(v));
        if (n < 0)
                n = fgetxattr(d, "user.overlay.opaque", v, sizeof(v));
        assert_int_equal(n, 1);
        close(d);
        assert_true(t_exists(f->root_fd, "d/new"));
}

static void test_devices_only_as_root(void **state)
{
        struct fx *f = *state;
        struct t_tar t;
        char *p = tpath(f, "dev.tar");
        t_tar_open(&t, p, NULL);
        t_tar_add(&t, 'c', "null", NULL, 0666);
        t_tar_close(&t);
        free(p);
        assert_int_equal(extract(f, "dev.tar", LAYER_EXTRACT_APPLY), 0);
        assert_int_equal(t_exists(f->root_fd, "null"), geteuid() == 0);
}

static void test_overlay_xattrs_from_tar_dropped(void **state)
{
        struct fx *f = *state;
        if (geteuid() != 0)
                skip();
        struct t_tar t;
        char *p = tpath(f, "xa.tar");
        t_tar_open(&t, p, NULL);
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, "d");
        archive_entry_set_filetype(e, AE_IFDIR);
        archive_entry_set_perm(e, 0755);
        archive_entry_xattr_add_entry(e, "trusted.overlay.redirect", "/etc", 4);
        assert_int_equal(archive_write_header(t.a, e), ARCHIVE_OK);
        archive_entry_free(e);
        t_tar_close(&t);
        free(p);
        assert_int_equal(extract(f, "xa.tar", LAYER_EXTRACT_OVERLAY), 0);
        int d = openat(f->root_fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        char v[8];
        assert_true(fgetxattr(d, "trusted.overlay.redirect", v, sizeof(v)) < 0);
        close(d);
}

static void add_dir_at(struct t_tar *t, const char *name, time_t mtime, mode_t perm)
{
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, name);
        archive_entry_set_filetype(e, AE_IFDIR);
        archive_entry_set_perm(e, perm);
        archive_entry_set_mtime(e, mtime, 0);
        assert_int_equal(archive_write_header(t->a, e), ARCHIVE_OK);
        archive_entry_free(e);
}

static void test_duplicate_dirs_later_wins_and_readonly_dirs_fill(void **state)
{
        struct fx *f = *state;
        struct t_tar t;
        char *p = tpath(f, "dd.tar");
        t_tar_open(&t, p, NULL);
        add_dir_at(&t, "ro", 100, 0555);
        t_tar_add(&t, 'f', "ro/file", "x", 0444); /* inside a read-only directory */
        add_dir_at(&t, "d", 100, 0755);
        add_dir_at(&t, "d", 200, 0700);
        t_tar_close(&t);
        free(p);
        assert_int_equal(extract(f, "dd.tar", LAYER_EXTRACT_APPLY), 0);
        struct stat st;
        assert_int_equal(fstatat(f->root_fd, "d", &st, 0), 0);
        assert_int_equal(st.st_mtime, 200);
        assert_int_equal(st.st_mode & 07777, 0700);
        assert_int_equal(fstatat(f->root_fd, "ro", &st, 0), 0);
        assert_int_equal(st.st_mode & 07777, 0555);
        assert_int_equal(st.st_mtime, 100);
        assert_true(t_exists(f->root_fd, "ro/file"));
}

/* Consecutive files reuse their parent's fd; anything that changes what a path resolves to must drop it. */
static void test_parent_cache_follows_replacements(void **state)
{
        struct fx *f = *state;
        char *out = cb_xasprintf("%s/outside", f->dir);
        struct t_tar t;
        char *p = tpath(f, "pc.tar");
        t_tar_open(&t, p, NULL);
        t_tar_add(&t, 'd', "a", NULL, 0755);
        t_tar_add(&t, 'f', "a/x", "1", 0644);
        t_tar_add(&t, 'l', "a", out, 0777);   /* a is now a symlink out of the root */
        t_tar_add(&t, 'f', "a/y", "2", 0644); /* must resolve through the new a, inside the root */
        t_tar_add(&t, 'd', "b", NULL, 0755);
        t_tar_add(&t, 'f', "b/x", "3", 0644);
        t_tar_add(&t, 'f', "b", "file", 0644); /* b is now a file */
        t_tar_add(&t, 'f', "b/y", "4", 0644); /* no directory b any more: an error, not a write into the old one */
        t_tar_close(&t);
        free(p);
        int r = extract(f, "pc.tar", LAYER_EXTRACT_APPLY);
        outside_is_empty(f);
        assert_true(r == -ENOTDIR || r == -ENOENT);
        char *inside = cb_xasprintf("%s/y", out + 1);
        assert_true(t_exists(f->root_fd, inside) || r < 0);
        free(inside);
        free(out);
}

#define BOTH(fn)                                                                                             \
        cmocka_unit_test_setup_teardown(fn, setup, teardown),                                                \
                cmocka_unit_test_prestate_setup_teardown(fn, setup_fallback, teardown, NULL)

int main(void)
{
        const struct CMUnitTest tests[] = {
                BOTH(test_plain_round_trip),
                BOTH(test_zstd_and_plain_detected),
                BOTH(test_setuid_stripped_unless_asked),
                BOTH(test_dotdot_rejected),
                BOTH(test_absolute_path_lands_inside_root),
                BOTH(test_symlink_escape_contained),
                BOTH(test_final_symlink_not_followed),
                BOTH(test_hardlink_escapes_rejected_or_contained),
                BOTH(test_file_dir_swaps_and_duplicates),
                BOTH(test_limits_reported),
                BOTH(test_truncated_and_corrupt_rejected),
                BOTH(test_whiteouts_applied),
                cmocka_unit_test_setup_teardown(test_endless_tail_refused, setup, teardown),
                BOTH(test_whiteouts_kept_for_overlay),
                BOTH(test_devices_only_as_root),
                BOTH(test_overlay_xattrs_from_tar_dropped),
                BOTH(test_duplicate_dirs_later_wins_and_readonly_dirs_fill),
                BOTH(test_parent_cache_follows_replacements),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

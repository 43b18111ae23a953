/* The RUN sandbox over a real overlay: the host's root filesystem as the lower layer, so the test
 * needs no image. Needs root (CAP_SYS_ADMIN) and overlayfs; skips with a reason otherwise. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/xattr.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "builder/internal.h"

static char tmpdir[] = "/var/tmp/cb-sandbox-XXXXXX";
static bool can_run;

struct out {
        struct cb_buf b;
};

static void collect(void *ud, const char *p, size_t n)
{
        struct out *o = ud;
        (void) cb_buf_add(&o->b, p, n);
}

static int run_in(struct bld_rootfs *fs, const char *cmd, bool net_none, const char *etc, struct out *o,
                  int *status, struct cb_err *err)
{
        char *argv[] = { (char *) "/bin/sh", (char *) "-c", (char *) cmd, NULL };
        char *envp[] = { (char *) "PATH=/usr/sbin:/usr/bin:/sbin:/bin", (char *) "FOO=bar", NULL };
        struct bld_run_spec s = {
                .rootfs = fs->merged,
                .argv = argv,
                .envp = envp,
                .cwd = "/",
                .network_none = net_none,
                .hostname = "cubuild-test",
                .etc_dir = etc,
                .on_output = collect,
                .ud = o,
        };
        return bld_sandbox_run(&s, status, err);
}

static int setup(void **state)
{
        (void) state;
        struct cb_err err;
        cb_err_init(&err);
        if (geteuid() != 0 || bld_sandbox_init(&err) < 0) {
                cb_err_release(&err);
                return 0;
        }
        cb_err_release(&err);
        if (!mkdtemp(tmpdir))
                return -1;
        can_run = true;
        return 0;
}

static int teardown(void **state)
{
        (void) state;
        if (can_run)
                (void) cb_rm_rf(AT_FDCWD, tmpdir, NULL);
        return 0;
}

static void mount_host(struct bld_rootfs *fs)
{
        struct cb_err err;
        const char *lowers[] = { "/" };
        cb_err_init(&err);
        int r = bld_rootfs_mount(fs, tmpdir, lowers, 1, &err);
        if (r < 0)
                fail_msg("mount: %s", cb_err_msg(&err));
        cb_err_release(&err);
}

static void test_run_reports_exit_status_and_output(void **state)
{
        (void) state;
        if (!can_run)
                skip();
        struct bld_rootfs fs;
        struct out o;
        struct cb_err err;
        int status = -1;
        cb_buf_init(&o.b, CB_BUF_UNLIMITED);
        cb_err_init(&err);
        mount_host(&fs);
        int r = run_in(&fs, "echo out-$FOO; echo err >&2; exit 7", false, NULL, &o, &status, &err);
        assert_int_equal(r, 0);
        assert_int_equal(status, 7);
        assert_non_null(strstr(o.b.p, "out-bar"));
        assert_non_null(strstr(o.b.p, "err"));
        bld_rootfs_release(&fs);
        cb_buf_release(&o.b);
        cb_err_release(&err);
}

static void test_run_is_pid_1_with_its_own_hostname(void **state)
{
        (void) state;
        if (!can_run)
                skip();
        struct bld_rootfs fs;
        struct out o;
        struct cb_err err;
        int status = -1;
        cb_buf_init(&o.b, CB_BUF_UNLIMITED);
        cb_err_init(&err);
        mount_host(&fs);
        int r = run_in(&fs, "echo pid=$$; cat /proc/sys/kernel/hostname", false, NULL, &o, &status, &err);
        assert_int_equal(r, 0);
        assert_int_equal(status, 0);
        assert_non_null(strstr(o.b.p, "pid=1\n"));
        assert_non_null(strstr(o.b.p, "cubuild-test"));
        bld_rootfs_release(&fs);
        cb_buf_release(&o.b);
        cb_err_release(&err);
}

static void test_writes_land_in_upper_but_injected_files_do_not(void **state)
{
        (void) state;
        if (!can_run)
                skip();
        struct bld_rootfs fs;
        struct out o;
        struct cb_err err;
        int status = -1;
        char etc[4096];
        cb_buf_init(&o.b, CB_BUF_UNLIMITED);
        cb_err_init(&err);
        (void) snprintf(etc, sizeof(etc), "%s/etc-inject", tmpdir);
        assert_int_equal(mkdir(etc, 0755), 0);
        const char *names[] = { "resolv.conf", "hosts", "hostname" };
        for (size_t i = 0; i < 3; i++) {
                char p[4200];
                (void) snprintf(p, sizeof(p), "%s/%s", etc, names[i]);
                assert_int_equal(cb_write_file_atomic(AT_FDCWD, p, "# injected\n", 11, 0644, NULL), 0);
        }
        mount_host(&fs);
        int r = run_in(&fs, "grep -q injected /etc/resolv.conf && echo made >/cb-made && mkdir -p /cb-dir/x", false,
                       etc, &o, &status, &err);
        assert_int_equal(r, 0);
        assert_int_equal(status, 0);
        assert_int_equal(bld_rootfs_unmount(&fs, &err), 0);
        char p[4200];
        struct stat st;
        (void) snprintf(p, sizeof(p), "%s/cb-made", fs.upper);
        assert_int_equal(stat(p, &st), 0);
        (void) snprintf(p, sizeof(p), "%s/cb-dir/x", fs.upper);
        assert_int_equal(stat(p, &st), 0);
        /* the host has /etc/resolv.conf, so binding over it must not copy it up */
        (void) snprintf(p, sizeof(p), "%s/etc/resolv.conf", fs.upper);
        assert_int_not_equal(stat(p, &st), 0);
        (void) snprintf(p, sizeof(p), "%s/proc", fs.upper);
        assert_int_not_equal(stat(p, &st), 0);
        bld_rootfs_release(&fs);
        cb_buf_release(&o.b);
        cb_err_release(&err);
}

static void test_network_none_has_only_loopback(void **state)
{
        (void) state;
        if (!can_run)
                skip();
        struct bld_rootfs fs;
        struct out o;
        struct cb_err err;
        int status = -1;
        cb_buf_init(&o.b, CB_BUF_UNLIMITED);
        cb_err_init(&err);
        mount_host(&fs);
        int r = run_in(&fs, "ls /sys/class/net", true, NULL, &o, &status, &err);
        assert_int_equal(r, 0);
        assert_int_equal(status, 0);
        assert_string_equal(o.b.p, "lo\n");
        bld_rootfs_release(&fs);
        cb_buf_release(&o.b);
        cb_err_release(&err);
}

static void test_missing_command_is_exit_127_not_a_setup_error(void **state)
{
        (void) state;
        if (!can_run)
                skip();
        struct bld_rootfs fs;
        struct out o;
        struct cb_err err;
        int status = -1;
        cb_buf_init(&o.b, CB_BUF_UNLIMITED);
        cb_err_init(&err);
        mount_host(&fs);
        int r = run_in(&fs, "no-such-command-anywhere", false, NULL, &o, &status, &err);
        assert_int_equal(r, 0);
        assert_int_equal(status, 127);
        bld_rootfs_release(&fs);
        cb_buf_release(&o.b);
        cb_err_release(&err);
}

/* Whether any process's command line is exactly argv0 arg (a NUL between them, as /proc has it). */
static bool process_running(const char *argv0, const char *arg)
{
        DIR *d = opendir("/proc");
        struct dirent *de;
        bool found = false;
        char want[64];
        int wn = snprintf(want, sizeof(want), "%s%c%s", argv0, '\0', arg);
        assert_true(d != NULL);
        while (!found && (de = readdir(d))) {
                char path[300];
                (void) snprintf(path, sizeof(path), "/proc/%s/cmdline", de->d_name);
                struct cb_buf b;
                cb_buf_init(&b, 4096);
                if (cb_read_file(AT_FDCWD, path, 4096, &b, NULL) >= 0 && b.len >= (size_t) wn + 1 &&
                    memcmp(b.p, want, (size_t) wn + 1) == 0)
                        found = true;
                cb_buf_release(&b);
        }
        (void) closedir(d);
        return found;
}

static void test_timeout_kills_and_reaps_the_whole_tree(void **state)
{
        (void) state;
        if (!can_run)
                skip();
        struct bld_rootfs fs;
        struct out o;
        struct cb_err err;
        int status = -1;
        cb_buf_init(&o.b, CB_BUF_UNLIMITED);
        cb_err_init(&err);
        mount_host(&fs);
        char *argv[] = { (char *) "/bin/sh", (char *) "-c", (char *) "sleep 4711 & sleep 4712; echo never", NULL };
        char *envp[] = { (char *) "PATH=/usr/bin:/bin", NULL };
        struct bld_run_spec s = {
                .rootfs = fs.merged,
                .argv = argv,
                .envp = envp,
                .cwd = "/",
                .timeout_ms = 300,
                .on_output = collect,
                .ud = &o,
        };
        time_t t0 = time(NULL);
        int r = bld_sandbox_run(&s, &status, &err);
        assert_int_equal(r, -ETIMEDOUT);
        assert_non_null(strstr(cb_err_msg(&err), "--run-timeout 300 ms"));
        assert_true(time(NULL) - t0 < 10);
        assert_null(strstr(o.b.p, "never"));
        /* both sleeps were in the step's pid namespace: gone with it, nothing left to reap */
        assert_false(process_running("sleep", "4711"));
        assert_false(process_running("sleep", "4712"));
        bld_rootfs_release(&fs);
        cb_buf_release(&o.b);
        cb_err_release(&err);
}

static void test_trim_removes_only_empty_copied_up_parents(void **state)
{
        (void) state;
        if (!can_run)
                skip();
        char up[4096];
        (void) snprintf(up, sizeof(up), "%s/trim-upper", tmpdir);
        assert_int_equal(mkdir(up, 0755), 0);
        int fd = open(up, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(fd >= 0);
        /* etc/: copied up for a mount point, left empty; root/.cache: the same, two levels;
         * var/: the step wrote in it; opt/: the step emptied it (opaque) */
        assert_int_equal(mkdirat(fd, "etc", 0755), 0);
        assert_int_equal(mkdirat(fd, "root", 0700), 0);
        assert_int_equal(mkdirat(fd, "root/.cache", 0755), 0);
        assert_int_equal(mkdirat(fd, "var", 0755), 0);
        assert_int_equal(mkdirat(fd, "var/lib", 0755), 0);
        int f = openat(fd, "var/lib/data", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        assert_true(f >= 0);
        (void) close(f);
        assert_int_equal(mkdirat(fd, "opt", 0755), 0);
        int o = openat(fd, "opt", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        /* trusted.* needs CAP_SYS_ADMIN and a filesystem that keeps it; without, opt/ is not checked */
        bool opaque = fsetxattr(o, "trusted.overlay.opaque", "y", 1, 0) == 0;
        (void) close(o);
        char *dests[] = { (char *) "/etc/hosts", (char *) "/root/.cache/pip", (char *) "/var/lib/x/y",
                          (char *) "/opt/mnt" };
        bld_sandbox_trim_upper(fd, dests, 4);
        struct stat st;
        assert_int_equal(fstatat(fd, "etc", &st, AT_SYMLINK_NOFOLLOW), -1);
        assert_int_equal(fstatat(fd, "root", &st, AT_SYMLINK_NOFOLLOW), -1);
        assert_int_equal(fstatat(fd, "var/lib/data", &st, AT_SYMLINK_NOFOLLOW), 0);
        if (opaque)
                assert_int_equal(fstatat(fd, "opt", &st, AT_SYMLINK_NOFOLLOW), 0);
        (void) close(fd);
}

int main(void)
{
        if (geteuid() != 0)
                (void) fprintf(stderr, "test_sandbox: skipping: needs root for namespaces and overlayfs\n");
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_run_reports_exit_status_and_output),
                cmocka_unit_test(test_run_is_pid_1_with_its_own_hostname),
                cmocka_unit_test(test_writes_land_in_upper_but_injected_files_do_not),
                cmocka_unit_test(test_network_none_has_only_loopback),
                cmocka_unit_test(test_missing_command_is_exit_127_not_a_setup_error),
                cmocka_unit_test(test_timeout_kills_and_reaps_the_whole_tree),
                cmocka_unit_test(test_trim_removes_only_empty_copied_up_parents),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}

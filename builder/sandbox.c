/* The RUN sandbox: mount, pid, ipc and uts namespaces (and net for --network=none) over an overlay
 * rootfs, entered with pivot_root. The process tree is tied to ours with PDEATHSIG, so killing the
 * helper (or dying) takes the whole namespace down: PID 1 of a pid namespace takes its tree with it. */
#include "builder/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/openat2.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static volatile pid_t current_helper = -1;
static volatile sig_atomic_t interrupted;
static volatile sig_atomic_t shell_running;

void bld_sandbox_kill_current(void)
{
        pid_t p = current_helper;
        if (p > 0)
                (void) kill(p, SIGKILL);
}

void bld_sandbox_interrupt(int sig)
{
        /* Ctrl-C at a debug shell belongs to the shell (it reaches it through the terminal) */
        if (shell_running && sig == SIGINT)
                return;
        interrupted = sig;
        bld_sandbox_kill_current();
}

int bld_interrupted(void)
{
        return interrupted;
}

int bld_sandbox_init(struct cb_err *err)
{
        if (unshare(CLONE_NEWNS) < 0)
                return cb_fail(err, errno, "unshare the mount namespace (cubuild needs root or CAP_SYS_ADMIN)");
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
                /* in a chroot "/" is no mount point and cannot be made private from inside; the
                 * mounts cubuild makes are unmounted by cubuild as always, but one left by a crash
                 * would show outside too */
                if (errno != EINVAL)
                        return cb_fail(err, errno, "make the mount namespace private");
                (void) fputs("cubuild: warning: '/' is not a mount point (a chroot?): the mounts of this build "
                             "are not private\n",
                             stderr);
        }
        return 0;
}

/* A mount point the sandbox made in the rootfs and must take away again. */
struct made {
        char *path; /* relative to the rootfs */
        bool dir;
};

struct made_list {
        struct made *v;
        size_t n, cap;
};

static void made_add(struct made_list *l, const char *path, bool dir)
{
        if (l->n == l->cap) {
                l->cap = l->cap ? l->cap * 2 : 16;
                l->v = cb_xrealloc(l->v, l->cap * sizeof(*l->v));
        }
        l->v[l->n].path = cb_xstrdup(path);
        l->v[l->n].dir = dir;
        l->n++;
}

/* Make sure path (absolute inside the rootfs) exists as a directory or a file, creating missing
 * components and recording each one made, deepest last. */
static int ensure_target(int root_fd, const char *path, bool dir, mode_t leaf_mode, struct made_list *made,
                         struct cb_err *err)
{
        _cleanup_free_ char *p = cb_xstrdup(path);
        char *s = p;
        while (*s == '/')
                s++;
        if (!*s)
                return 0;
        for (char *c = s;; c++) {
                if (*c != '/' && *c != '\0')
                        continue;
                bool last = *c == '\0';
                char saved = *c;
                *c = '\0';
                int fd = bld_open_in_root(root_fd, s, O_PATH, 0);
                if (fd >= 0) {
                        (void) close(fd);
                } else if (errno == ENOENT) {
                        /* resolve the parent inside the root, create the leaf there */
                        char *slash = strrchr(s, '/');
                        _cleanup_close_ int pfd = -1;
                        const char *leaf = s;
                        if (slash) {
                                *slash = '\0';
                                pfd = bld_open_in_root(root_fd, s, O_PATH | O_DIRECTORY, 0);
                                *slash = '/';
                                leaf = slash + 1;
                        } else {
                                pfd = fcntl(root_fd, F_DUPFD_CLOEXEC, 3);
                        }
                        if (pfd < 0)
                                return cb_fail(err, errno, "resolve the parent of '/%s' in the rootfs", s);
                        if (!last || dir) {
                                mode_t m = last ? leaf_mode : 0755;
                                if (mkdirat(pfd, leaf, m) < 0 && errno != EEXIST)
                                        return cb_fail(err, errno, "mkdir '/%s' in the rootfs", s);
                                if (m & 07000)
                                        (void) fchmodat(pfd, leaf, m, 0); /* umask and mkdir drop the sticky bit */
                                made_add(made, s, true);
                        } else {
                                int fd2 = openat(pfd, leaf, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
                                if (fd2 < 0)
                                        return cb_fail(err, errno, "create '/%s' in the rootfs", s);
                                (void) close(fd2);
                                made_add(made, s, false);
                        }
                } else {
                        return cb_fail(err, errno, "resolve '/%s' in the rootfs", s);
                }
                *c = saved;
                if (last)
                        break;
        }
        return 0;
}

static void remove_made(int root_fd, struct made_list *made)
{
        for (size_t i = made->n; i-- > 0;) {
                const char *p = made->v[i].path;
                char *slash = strrchr(p, '/');
                int pfd;
                const char *leaf = p;
                if (slash) {
                        _cleanup_free_ char *parent = cb_xstrndup(p, (size_t) (slash - p));
                        pfd = bld_open_in_root(root_fd, parent, O_PATH | O_DIRECTORY, 0);
                        leaf = slash + 1;
                } else {
                        pfd = fcntl(root_fd, F_DUPFD_CLOEXEC, 3);
                }
                if (pfd >= 0) {
                        /* a directory the step filled stays (it is the step's content now) */
                        (void) unlinkat(pfd, leaf, made->v[i].dir ? AT_REMOVEDIR : 0);
                        (void) close(pfd);
                }
                free(made->v[i].path);
        }
        free(made->v);
        made->v = NULL;
        made->n = made->cap = 0;
}

const char *const bld_sandbox_etc_files[3] = { "/etc/resolv.conf", "/etc/hosts", "/etc/hostname" };

static int by_depth_desc(const void *a, const void *b)
{
        const char *x = *(const char *const *) a, *y = *(const char *const *) b;
        size_t dx = 0, dy = 0;
        for (const char *p = x; *p; p++)
                dx += *p == '/';
        for (const char *p = y; *p; p++)
                dy += *p == '/';
        return dx != dy ? (dx > dy ? -1 : 1) : strcmp(x, y);
}

void bld_sandbox_trim_upper(int upper_fd, char *const *dests, size_t n)
{
        char **anc = NULL;
        size_t na = 0;
        for (size_t i = 0; i < n; i++) {
                const char *d = dests[i];
                while (*d == '/')
                        d++;
                for (const char *s = strchr(d, '/'); s; s = strchr(s + 1, '/')) {
                        anc = cb_xrealloc(anc, (na + 1) * sizeof(char *));
                        anc[na++] = cb_xstrndup(d, (size_t) (s - d));
                }
        }
        if (na)
                qsort(anc, na, sizeof(char *), by_depth_desc);
        for (size_t i = 0; i < na; i++) {
                if (i && strcmp(anc[i], anc[i - 1]) == 0)
                        continue;
                int fd = openat(upper_fd, anc[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0)
                        continue;
                char v[4];
                ssize_t r = fgetxattr(fd, "trusted.overlay.opaque", v, sizeof(v));
                (void) close(fd);
                /* an empty opaque directory says the step emptied it: that is content */
                if (r > 0 && v[0] == 'y')
                        continue;
                (void) unlinkat(upper_fd, anc[i], AT_REMOVEDIR); /* ENOTEMPTY: the step wrote there */
        }
        for (size_t i = 0; i < na; i++)
                free(anc[i]);
        free(anc);
}

/* Whether dest lives on a filesystem the sandbox makes itself (/dev, or a tmpfs bind): its mount
 * point is created inside the child, on that filesystem, never in the image. */
static bool on_sandbox_fs(const struct bld_run_spec *s, const char *dest)
{
        if (strncmp(dest, "/dev/", 5) == 0)
                return true;
        for (size_t i = 0; i < s->nbinds; i++) {
                const struct bld_bind *b = &s->binds[i];
                size_t n = strlen(b->dest);
                if (!b->src && strncmp(dest, b->dest, n) == 0 && dest[n] == '/')
                        return true;
        }
        return false;
}

/* --- in the child, after unshare: everything below runs in the new namespaces --- */

static void child_fail(int efd, const char *what, int e)
{
        char msg[512];
        int n = snprintf(msg, sizeof(msg), "%s: %s", what, strerror(e));
        if (n > 0)
                (void) cb_write_all(efd, msg, (size_t) n < sizeof(msg) ? (size_t) n : sizeof(msg) - 1);
        _exit(125);
}

static int mount_at(int root_fd, const char *target, const char *src, const char *fstype, unsigned long flags,
                    const char *data)
{
        int fd = bld_open_in_root(root_fd, target, O_PATH, 0);
        if (fd < 0)
                return -1;
        char p[64];
        (void) snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
        int r = mount(src, p, fstype, flags, data);
        int e = errno;
        (void) close(fd);
        errno = e;
        return r;
}

static const char *const dev_nodes[] = { "null", "zero", "full", "random", "urandom", "tty" };

static void setup_dev(int root_fd, const struct bld_run_spec *s, int efd)
{
        char opts[64];
        if (mount_at(root_fd, "/dev", "tmpfs", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755,size=65536k") < 0)
                child_fail(efd, "mount /dev", errno);
        _cleanup_close_ int dev = bld_open_in_root(root_fd, "/dev", O_PATH | O_DIRECTORY, 0);
        if (dev < 0)
                child_fail(efd, "open /dev", errno);
        for (size_t i = 0; i < CB_ARRAY_SIZE(dev_nodes); i++) {
                char host[32], in[64];
                (void) snprintf(host, sizeof(host), "/dev/%s", dev_nodes[i]);
                int fd = openat(dev, dev_nodes[i], O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
                if (fd < 0)
                        child_fail(efd, "create a /dev node", errno);
                (void) close(fd);
                (void) snprintf(in, sizeof(in), "/dev/%s", dev_nodes[i]);
                if (mount_at(root_fd, in, host, NULL, MS_BIND, NULL) < 0)
                        child_fail(efd, "bind a /dev node", errno);
        }
        (void) mkdirat(dev, "pts", 0755);
        (void) mkdirat(dev, "shm", 01777);
        (void) mkdirat(dev, "mqueue", 0755);
        if (mount_at(root_fd, "/dev/pts", "devpts", "devpts", MS_NOSUID | MS_NOEXEC,
                     "newinstance,ptmxmode=0666,mode=0620") < 0)
                child_fail(efd, "mount /dev/pts", errno);
        (void) symlinkat("pts/ptmx", dev, "ptmx");
        (void) symlinkat("/proc/self/fd", dev, "fd");
        (void) symlinkat("/proc/self/fd/0", dev, "stdin");
        (void) symlinkat("/proc/self/fd/1", dev, "stdout");
        (void) symlinkat("/proc/self/fd/2", dev, "stderr");
        (void) snprintf(opts, sizeof(opts), "mode=1777,size=%llu",
                        (unsigned long long) (s->shm_size ? s->shm_size : 64ull << 20));
        if (mount_at(root_fd, "/dev/shm", "shm", "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0)
                child_fail(efd, "mount /dev/shm", errno);
        if (mount_at(root_fd, "/dev/mqueue", "mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
                (void) 0; /* mqueue is a nicety; kernels without it still run most steps */
}

static void bind_ro(int root_fd, const char *target, const char *src, bool readonly, bool rec, int efd)
{
        if (mount_at(root_fd, target, src, NULL, MS_BIND | (rec ? MS_REC : 0), NULL) < 0)
                child_fail(efd, target, errno);
        if (readonly && mount_at(root_fd, target, NULL, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
                child_fail(efd, target, errno);
}

static void loopback_up(int efd)
{
        int sk = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (sk < 0)
                child_fail(efd, "socket for loopback", errno);
        struct ifreq ifr;
        memset(&ifr, 0, sizeof(ifr));
        memcpy(ifr.ifr_name, "lo", 3);
        if (ioctl(sk, SIOCGIFFLAGS, &ifr) < 0)
                child_fail(efd, "get loopback flags", errno);
        ifr.ifr_flags |= IFF_UP;
        if (ioctl(sk, SIOCSIFFLAGS, &ifr) < 0)
                child_fail(efd, "bring loopback up", errno);
        (void) close(sk);
}

static void mkdir_p_abs(const char *path)
{
        _cleanup_free_ char *p = cb_xstrdup(path);
        for (char *c = p + 1;; c++) {
                if (*c == '/' || *c == '\0') {
                        char saved = *c;
                        *c = '\0';
                        (void) mkdir(p, 0755);
                        *c = saved;
                        if (!saved)
                                break;
                }
        }
}

static void child_main(const struct bld_run_spec *s, int efd)
{
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                child_fail(efd, "make mounts private", errno);
        int root_fd = open(s->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (root_fd < 0)
                child_fail(efd, "open the rootfs", errno);
        if (s->network_none)
                loopback_up(efd);
        if (mount_at(root_fd, "/proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
                child_fail(efd, "mount /proc", errno);
        setup_dev(root_fd, s, efd);
        /* a sysfs of our own: it shows the sandbox's network namespace, read-only */
        if (mount_at(root_fd, "/sys", "sysfs", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
                bind_ro(root_fd, "/sys", "/sys", true, true, efd);
        if (s->etc_dir) {
                static const char *const files[] = { "resolv.conf", "hosts", "hostname" };
                for (size_t i = 0; i < CB_ARRAY_SIZE(files); i++) {
                        char src[4096], dst[64];
                        (void) snprintf(src, sizeof(src), "%s/%s", s->etc_dir, files[i]);
                        (void) snprintf(dst, sizeof(dst), "/etc/%s", files[i]);
                        bind_ro(root_fd, dst, src, false, false, efd);
                }
        }
        for (size_t i = 0; i < s->nbinds; i++) {
                const struct bld_bind *b = &s->binds[i];
                if (b->src && on_sandbox_fs(s, b->dest)) {
                        /* on our own tmpfs: the mount point lives and dies with the sandbox */
                        int fd = b->is_dir ? -1 : bld_open_in_root(root_fd, b->dest, O_WRONLY | O_CREAT, 0666);
                        if (b->is_dir) {
                                _cleanup_free_ char *rel = cb_xstrdup(b->dest + 1);
                                char *sl = strrchr(rel, '/');
                                int pfd = -1;
                                if (sl) {
                                        *sl = '\0';
                                        pfd = bld_open_in_root(root_fd, rel, O_PATH | O_DIRECTORY, 0);
                                }
                                if (pfd >= 0) {
                                        (void) mkdirat(pfd, sl + 1, 0755);
                                        (void) close(pfd);
                                }
                        } else if (fd < 0) {
                                child_fail(efd, b->dest, errno);
                        } else {
                                (void) close(fd);
                        }
                }
                if (!b->src) {
                        if (mount_at(root_fd, b->dest, "tmpfs", "tmpfs", MS_NOSUID | MS_NODEV, "mode=755") < 0)
                                child_fail(efd, b->dest, errno);
                        continue;
                }
                bind_ro(root_fd, b->dest, b->src, b->readonly, true, efd);
        }
        if (fchdir(root_fd) < 0)
                child_fail(efd, "chdir to the rootfs", errno);
        (void) close(root_fd);
        /* pivot_root(".", ".") stacks the old root on top of the new one; detaching it leaves the
         * new root alone without a put_old directory in the image (runc does the same) */
        if (syscall(SYS_pivot_root, ".", ".") < 0)
                child_fail(efd, "pivot_root", errno);
        if (umount2(".", MNT_DETACH) < 0)
                child_fail(efd, "detach the old root", errno);
        if (chdir("/") < 0)
                child_fail(efd, "chdir /", errno);
        if (s->hostname && sethostname(s->hostname, strlen(s->hostname)) < 0)
                child_fail(efd, "sethostname", errno);
        const char *cwd = s->cwd && *s->cwd ? s->cwd : "/";
        mkdir_p_abs(cwd);
        if (chdir(cwd) < 0)
                child_fail(efd, "chdir to the working directory", errno);
        for (size_t i = 0; i < s->nulimits; i++) {
                struct rlimit rl = { (rlim_t) s->ulimits[i].soft, (rlim_t) s->ulimits[i].hard };
                if (setrlimit((__rlimit_resource_t) s->ulimits[i].resource, &rl) < 0)
                        child_fail(efd, "--ulimit", errno);
        }
        if (setgroups(s->ngroups, s->groups) < 0)
                child_fail(efd, "setgroups", errno);
        if (setgid(s->gid) < 0)
                child_fail(efd, "setgid", errno);
        if (setuid(s->uid) < 0)
                child_fail(efd, "setuid", errno);
        environ = (char **) s->envp;
        execvp(s->argv[0], s->argv);
        int e = errno;
        char what[512];
        (void) snprintf(what, sizeof(what), "exec '%s'", s->argv[0]);
        child_fail(efd, what, e);
}

static void helper_main(const struct bld_run_spec *s, int efd, int out_fd, pid_t parent)
{
        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
                _exit(125); /* cubuild died before the line above: nobody waits for us */
        int flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS;
        if (s->network_none)
                flags |= CLONE_NEWNET;
        if (unshare(flags) < 0)
                child_fail(efd, "unshare namespaces", errno);
        /* alive: its write end stays open in this helper only, so the child can see whether the
         * helper died before the child's PDEATHSIG was set */
        int alive[2];
        if (pipe2(alive, O_CLOEXEC) < 0)
                child_fail(efd, "pipe", errno);
        pid_t pid = fork();
        if (pid < 0)
                child_fail(efd, "fork", errno);
        if (pid == 0) {
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                (void) close(alive[1]);
                struct pollfd pf = { .fd = alive[0], .events = POLLIN };
                if (poll(&pf, 1, 0) > 0)
                        _exit(125); /* the helper is gone already */
                (void) close(alive[0]);
                if (!s->interactive) {
                        int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
                        if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(out_fd, 2) < 0)
                                child_fail(efd, "set up stdio", errno);
                } else if (isatty(STDIN_FILENO)) {
                        /* the debug shell gets the terminal's foreground (job control, Ctrl-C for
                         * itself); taking it from the background group would stop us with SIGTTOU */
                        (void) signal(SIGTTOU, SIG_IGN);
                        (void) setpgid(0, 0);
                        (void) tcsetpgrp(STDIN_FILENO, getpgrp());
                        (void) signal(SIGTTOU, SIG_DFL);
                }
                child_main(s, efd);
        }
        (void) close(alive[0]);
        if (out_fd >= 0)
                (void) close(out_fd);
        int st;
        while (waitpid(pid, &st, 0) < 0) {
                if (errno != EINTR)
                        _exit(125);
        }
        if (WIFEXITED(st))
                _exit(WEXITSTATUS(st));
        _exit(128 + WTERMSIG(st));
}

static uint64_t now_ms(void)
{
        struct timespec ts;
        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

/* Reads the step's output until every process holding the pipe is gone (the pid namespace's
 * processes all die with its PID 1), killing the helper on timeout or interrupt. *ret_why:
 * 0, -ETIMEDOUT or -EINTR. Without an output pipe (interactive), waits for the helper itself:
 * *ret_reaped is set and *ret_st gets its wait status. */
static void pump(const struct bld_run_spec *s, pid_t helper, int out_fd, int *ret_why, bool *ret_reaped,
                 int *ret_st)
{
        uint64_t start = now_ms();
        uint64_t killed_at = 0;
        *ret_why = 0;
        for (;;) {
                uint64_t now = now_ms();
                if (!killed_at && interrupted) {
                        *ret_why = -EINTR;
                        killed_at = now;
                } else if (!killed_at && s->timeout_ms && now - start >= s->timeout_ms) {
                        *ret_why = -ETIMEDOUT;
                        killed_at = now;
                }
                if (killed_at) {
                        (void) kill(helper, SIGKILL);
                        /* a process that escaped the tree and holds the pipe must not hang us */
                        if (now - killed_at > 5000)
                                break;
                }
                int wait = 100;
                if (s->timeout_ms && !killed_at && s->timeout_ms - (now - start) < (uint64_t) wait)
                        wait = (int) (s->timeout_ms - (now - start));
                if (out_fd < 0) {
                        /* interactive: nothing to read, only the helper to wait for */
                        if (waitpid(helper, ret_st, WNOHANG) == helper) {
                                *ret_reaped = true;
                                return;
                        }
                        (void) poll(NULL, 0, wait);
                } else {
                        struct pollfd pf = { .fd = out_fd, .events = POLLIN };
                        int n = poll(&pf, 1, wait);
                        if (n > 0) {
                                char chunk[8192];
                                ssize_t got = read(out_fd, chunk, sizeof(chunk));
                                if (got < 0 && (errno == EINTR || errno == EAGAIN))
                                        continue;
                                if (got <= 0)
                                        return;
                                if (s->on_output)
                                        s->on_output(s->ud, chunk, (size_t) got);
                        }
                }
                if (s->on_tick)
                        s->on_tick(s->ud);
        }
}

int bld_sandbox_run(const struct bld_run_spec *s, int *ret_status, struct cb_err *err)
{
        struct made_list made = { 0 };
        if (interrupted)
                return cb_failc(err, -EINTR, "interrupted by signal %d", (int) interrupted);
        _cleanup_close_ int root_fd = open(s->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (root_fd < 0)
                return cb_fail(err, errno, "open rootfs '%s'", s->rootfs);

        /* /tmp is no mount: an image without one gets an empty one for the step, removed again
         * unless the step wrote into it (docker commits what RUN leaves in /tmp) */
        static const struct {
                const char *path;
                mode_t mode;
        } dirs[] = { { "/proc", 0755 }, { "/dev", 0755 }, { "/sys", 0755 }, { "/tmp", 01777 } };
        int r = 0;
        for (size_t i = 0; i < CB_ARRAY_SIZE(dirs) && r >= 0; i++)
                r = ensure_target(root_fd, dirs[i].path, true, dirs[i].mode, &made, err);
        if (s->etc_dir) {
                for (size_t i = 0; i < CB_ARRAY_SIZE(bld_sandbox_etc_files) && r >= 0; i++)
                        r = ensure_target(root_fd, bld_sandbox_etc_files[i], false, 0644, &made, err);
        }
        for (size_t i = 0; i < s->nbinds && r >= 0; i++)
                if (!on_sandbox_fs(s, s->binds[i].dest))
                        r = ensure_target(root_fd, s->binds[i].dest, !s->binds[i].src || s->binds[i].is_dir, 0755,
                                          &made, err);
        if (r < 0) {
                remove_made(root_fd, &made);
                return r;
        }

        int ep[2], op[2] = { -1, -1 };
        if (pipe2(ep, O_CLOEXEC) < 0) {
                int e = errno;
                remove_made(root_fd, &made);
                return cb_fail(err, e, "pipe");
        }
        if (!s->interactive && pipe2(op, O_CLOEXEC) < 0) {
                int e = errno;
                (void) close(ep[0]);
                (void) close(ep[1]);
                remove_made(root_fd, &made);
                return cb_fail(err, e, "pipe");
        }
        pid_t parent = getpid();
        pid_t pid = fork();
        if (pid < 0) {
                int e = errno;
                (void) close(ep[0]);
                (void) close(ep[1]);
                if (op[0] >= 0) {
                        (void) close(op[0]);
                        (void) close(op[1]);
                }
                remove_made(root_fd, &made);
                return cb_fail(err, e, "fork");
        }
        if (pid == 0) {
                (void) close(ep[0]);
                if (op[0] >= 0)
                        (void) close(op[0]);
                helper_main(s, ep[1], op[1], parent);
        }
        current_helper = pid;
        shell_running = s->interactive;
        (void) close(ep[1]);
        if (op[1] >= 0)
                (void) close(op[1]);
        /* the pipe reaches EOF when the namespace's last process is gone */
        int why = 0, st = 0;
        bool reaped = false;
        pump(s, pid, op[0], &why, &reaped, &st);
        if (op[0] >= 0)
                (void) close(op[0]);
        /* the helper dies with its child (PID 1 of the step), which takes every other process of
         * the step's pid namespace with it: after this wait nothing of the step is left */
        while (!reaped && waitpid(pid, &st, 0) < 0) {
                if (errno != EINTR) {
                        st = 0;
                        break;
                }
        }
        current_helper = -1;
        if (s->interactive && isatty(STDIN_FILENO)) {
                /* the terminal back to our process group, as a shell does after a job */
                void (*old)(int) = signal(SIGTTOU, SIG_IGN);
                (void) tcsetpgrp(STDIN_FILENO, getpgrp());
                (void) signal(SIGTTOU, old);
        }
        shell_running = 0;
        /* Ctrl-C on a terminal reaches the step's processes too: one of them may have died of it
         * before our handler ran, ending the step first; it was still an interrupt */
        if (!why && interrupted)
                why = -EINTR;
        struct cb_buf msg;
        cb_buf_init(&msg, 4096);
        (void) cb_read_all(ep[0], &msg);
        (void) close(ep[0]);
        remove_made(root_fd, &made);
        if (why == -EINTR) {
                cb_buf_release(&msg);
                return cb_failc(err, -EINTR, "interrupted by signal %d", (int) interrupted);
        }
        if (why == -ETIMEDOUT) {
                cb_buf_release(&msg);
                return cb_failc(err, -ETIMEDOUT, "killed after --run-timeout %llu ms",
                                (unsigned long long) s->timeout_ms);
        }
        if (msg.len) {
                r = cb_failc(err, -EIO, "sandbox: %s", msg.p);
                cb_buf_release(&msg);
                return r;
        }
        cb_buf_release(&msg);
        if (WIFEXITED(st))
                *ret_status = WEXITSTATUS(st);
        else
                *ret_status = 128 + WTERMSIG(st);
        return 0;
}

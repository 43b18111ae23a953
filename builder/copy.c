/* COPY and ADD: sources from the build context (after .dockerignore) or from another stage,
 * written into the step's rootfs with every destination path resolved inside that root. */
#include "builder/steps.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#include "builder/context.h"
#include "builder/copy_add.h"
#include "builder/copy_job.h"
#include "builder/filememo.h"
#include "builder/imgconfig.h"
#include "builder/internal.h"
#include "builder/run.h"

#define COPY_BUF (1u << 20)

static void copy_links_release(struct copy_job *j)
{
        free(j->buf);
        j->buf = NULL;
        for (size_t i = 0; i < j->nlinks; i++)
                free(j->links[i].dst);
        free(j->links);
        j->links = NULL;
        j->nlinks = j->links_cap = 0;
}

/* An earlier copy of the same source inode, hard-linked to dst_dir/name; 1 when linked. */
static int link_earlier(struct copy_job *j, const struct stat *st, int dst_dir, const char *name)
{
        if (st->st_nlink < 2)
                return 0;
        for (size_t i = 0; i < j->nlinks; i++) {
                if (j->links[i].dev != st->st_dev || j->links[i].ino != st->st_ino)
                        continue;
                (void) unlinkat(dst_dir, name, 0);
                return linkat(AT_FDCWD, j->links[i].dst, dst_dir, name, 0) == 0 ? 1 : 0;
        }
        return 0;
}

static void remember_link(struct copy_job *j, const struct stat *st, int dst_dir, const char *name)
{
        if (st->st_nlink < 2)
                return;
        char proc[64], dir[4096];
        (void) snprintf(proc, sizeof(proc), "/proc/self/fd/%d", dst_dir);
        ssize_t n = readlink(proc, dir, sizeof(dir) - 1);
        if (n <= 0)
                return;
        dir[n] = '\0';
        if (j->nlinks == j->links_cap) {
                j->links_cap = j->links_cap ? j->links_cap * 2 : 16;
                j->links = cb_xrealloc(j->links, j->links_cap * sizeof(*j->links));
        }
        j->links[j->nlinks++] = (struct copy_link){ st->st_dev, st->st_ino, cb_xasprintf("%s/%s", dir, name) };
}

/* chmod(1)'s symbolic form, which BuildKit's --chmod takes besides octal ("u+x,go=rX"): an empty
 * who means all, and no umask applies. */
int bld_copy_mode_symbolic(const char *spec, mode_t cur, bool is_dir, mode_t *ret)
{
        mode_t m = cur & 07777;
        const char *p = spec;
        for (;;) {
                mode_t who = 0;
                for (; *p && strchr("ugoa", *p); p++)
                        who |= *p == 'u' ? 04700 : *p == 'g' ? 02070 : *p == 'o' ? 01007 : 07777;
                if (!who)
                        who = 07777;
                if (*p != '+' && *p != '-' && *p != '=')
                        return -EINVAL;
                while (*p == '+' || *p == '-' || *p == '=') {
                        char op = *p++;
                        mode_t bits = 0;
                        for (; *p && strchr("rwxXst", *p); p++) {
                                if (*p == 'r')
                                        bits |= 0444;
                                else if (*p == 'w')
                                        bits |= 0222;
                                else if (*p == 'x' || (*p == 'X' && (is_dir || (cur & 0111))))
                                        bits |= 0111;
                                else if (*p == 's')
                                        bits |= 06000;
                                else if (*p == 't')
                                        bits |= 01000;
                        }
                        bits &= who;
                        if (op == '+')
                                m |= bits;
                        else if (op == '-')
                                m &= ~bits;
                        else
                                m = (m & ~who) | bits;
                }
                if (*p == '\0')
                        break;
                if (*p++ != ',')
                        return -EINVAL;
        }
        *ret = m;
        return 0;
}

/* Whether --exclude drops rel (a path from the source root): patterns are matched relative to the
 * copied directory, as BuildKit's copier matches them against the path below its source. */
bool bld_copy_excluded(const struct copy_job *j, const char *rel)
{
        if (!j->exclude)
                return false;
        size_t n = j->xbase ? strlen(j->xbase) : 0;
        if (n && strncmp(rel, j->xbase, n) == 0 && rel[n] == '/')
                rel += n + 1;
        return df_ignore_match(j->exclude, rel);
}

/* One source entry as the cache key sees it: path, type, mode, size, content or link target. */
static int hash_entry(struct copy_job *j, int src_dir, const char *name, const char *rel, const struct stat *st,
                      struct cb_err *err)
{
        struct cb_buf line;
        cb_buf_init(&line, CB_BUF_UNLIMITED);
        (void) cb_buf_addf(&line, "%s\n%o\n", rel, (unsigned) st->st_mode);
        if (!j->from_context)
                (void) cb_buf_addf(&line, "%u:%u\n", (unsigned) st->st_uid, (unsigned) st->st_gid);
        if (S_ISLNK(st->st_mode)) {
                char target[4096];
                ssize_t n = readlinkat(src_dir, name, target, sizeof(target) - 1);
                if (n < 0) {
                        cb_buf_release(&line);
                        return cb_fail(err, errno, "readlink '%s'", rel);
                }
                (void) cb_buf_add(&line, target, (size_t) n);
        } else if (S_ISREG(st->st_mode)) {
                char dg[CB_DIGEST_STR_LEN];
                unsigned long long size;
                int r = bld_file_digest(j->from_context ? j->b->memo : NULL, src_dir, name, st, dg, &size, err);
                if (r < 0) {
                        cb_buf_release(&line);
                        return r;
                }
                (void) cb_buf_addf(&line, "%llu %s", size, dg);
        }
        (void) cb_buf_addc(&line, '\n');
        cb_sha256_update(j->hash, line.p, line.len + 1);
        cb_buf_release(&line);
        j->files++;
        return 0;
}

/* mkdir -p inside the root: every component resolved in it, so a symlink in the image cannot
 * lead the copy out. Returns a directory fd. */
static int mkdirs_depth(const struct copy_job *job, int root_fd, const char *path, unsigned depth,
                        struct cb_err *err)
{
        if (depth > 40)
                return cb_failc(err, -ELOOP, "'%s': too many levels of symbolic links", path);
        _cleanup_free_ char *p = cb_xstrdup(path);
        int fd = bld_open_in_root(root_fd, "/", O_RDONLY | O_DIRECTORY, 0);
        if (fd < 0)
                return cb_fail(err, errno, "open the rootfs");
        size_t n = strlen(p);
        for (size_t i = 0; i <= n; i++) {
                if (p[i] != '/' && p[i] != '\0')
                        continue;
                /* p[0..i) is the path so far; its last component starts after the previous '/' */
                size_t j = i;
                while (j > 0 && p[j - 1] != '/')
                        j--;
                if (i == j || (i - j == 1 && p[j] == '.'))
                        continue;
                char saved = p[i];
                p[i] = '\0';
                /* each step resolves from the root again, so ".." and symlinks stay inside */
                int next = bld_open_in_root(root_fd, p, O_RDONLY | O_DIRECTORY, 0);
                if (next < 0 && errno == ENOENT) {
                        if (mkdirat(fd, p + j, 0755) == 0) {
                                /* 0755 whatever our umask, as BuildKit's MkdirAll under buildkitd's 022 */
                                (void) fchmodat(fd, p + j, 0755, 0);
                                /* BuildKit's MkdirAll gives the directories it creates the --chown owner */
                                if (job->chown)
                                        (void) fchownat(fd, p + j, job->uid, job->gid, AT_SYMLINK_NOFOLLOW);
                        } else if (errno != EEXIST) {
                                int e = errno;
                                (void) close(fd);
                                return cb_fail(err, e, "mkdir '%s'", p);
                        }
                        next = bld_open_in_root(root_fd, p, O_RDONLY | O_DIRECTORY, 0);
                }
                if (next < 0 && errno == ENOENT) {
                        /* a dangling symlink: its target is made, inside the root, as BuildKit's
                         * RootPath + MkdirAll do */
                        char target[4096];
                        ssize_t tl = readlinkat(fd, p + j, target, sizeof(target) - 1);
                        if (tl > 0) {
                                target[tl] = '\0';
                                _cleanup_free_ char *np = cb_xasprintf("%.*s%s%s%s", target[0] == '/' ? 0 : (int) j, p,
                                                                      target, saved ? "/" : "", saved ? p + i + 1 : "");
                                (void) close(fd);
                                return mkdirs_depth(job, root_fd, np, depth + 1, err);
                        }
                        errno = ENOENT;
                }
                if (next < 0) {
                        int e = errno;
                        (void) close(fd);
                        return cb_fail(err, e, "open directory '%s'", p);
                }
                (void) close(fd);
                fd = next;
                p[i] = saved;
        }
        return fd;
}

static int mkdirs_in(const struct copy_job *job, int root_fd, const char *path, struct cb_err *err)
{
        return mkdirs_depth(job, root_fd, path, 0, err);
}

int bld_mkdirs_in_root(int root_fd, const char *path, uid_t uid, gid_t gid, struct cb_err *err)
{
        struct copy_job j = { .chown = true, .uid = uid, .gid = gid };
        int fd = mkdirs_in(&j, root_fd, path, err);
        if (fd < 0)
                return fd;
        (void) close(fd);
        return 0;
}

void bld_copy_meta(const struct copy_job *j, const struct stat *st, uid_t *ret_uid, gid_t *ret_gid, mode_t *ret_mode)
{
        *ret_uid = j->chown ? j->uid : (j->from_context ? 0 : st->st_uid);
        *ret_gid = j->chown ? j->gid : (j->from_context ? 0 : st->st_gid);
        mode_t mode = j->chmod ? (mode_t) j->mode : (st->st_mode & 07777);
        if (j->chmod_sym && bld_copy_mode_symbolic(j->chmod_sym, st->st_mode, S_ISDIR(st->st_mode), &mode) < 0)
                mode = st->st_mode & 07777; /* checked when the flag was read */
        *ret_mode = mode;
}

static void apply_meta(struct copy_job *j, int dir_fd, const char *name, const struct stat *st, bool is_link)
{
        uid_t uid;
        gid_t gid;
        mode_t mode;
        bld_copy_meta(j, st, &uid, &gid, &mode);
        (void) fchownat(dir_fd, name, uid, gid, AT_SYMLINK_NOFOLLOW);
        if (!is_link)
                (void) fchmodat(dir_fd, name, mode, 0);
        struct timespec ts[2] = { st->st_atim, st->st_mtim };
        (void) utimensat(dir_fd, name, ts, AT_SYMLINK_NOFOLLOW);
}

static int copy_file(struct copy_job *j, int sfd, const struct stat *st, int dst_dir, const char *name,
                     struct cb_err *err)
{
        if (link_earlier(j, st, dst_dir, name) == 1) {
                j->files++;
                return 0;
        }
        (void) unlinkat(dst_dir, name, 0);
        int dfd = openat(dst_dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (dfd < 0)
                return cb_fail(err, errno, "create '%s'", name);
        off_t left = st->st_size;
        while (left > 0) {
                ssize_t n = -1;
                if (!j->no_copy_range) {
                        n = copy_file_range(sfd, NULL, dfd, NULL, (size_t) (left > (1 << 30) ? (1 << 30) : left), 0);
                        /* across mounts (the context to an overlay) the kernel refuses every time */
                        if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP))
                                j->no_copy_range = true;
                }
                if (j->no_copy_range) {
                        if (!j->buf)
                                j->buf = cb_xmalloc(COPY_BUF);
                        n = read(sfd, j->buf, COPY_BUF);
                        if (n > 0 && cb_write_all(dfd, j->buf, (size_t) n) < 0)
                                n = -1;
                }
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        int e = errno;
                        (void) close(dfd);
                        return cb_fail(err, e, "copy to '%s'", name);
                }
                if (n == 0)
                        break;
                left -= n;
        }
        if (close(dfd) < 0)
                return cb_fail(err, errno, "close '%s'", name);
        apply_meta(j, dst_dir, name, st, false);
        remember_link(j, st, dst_dir, name);
        j->files++;
        return 0;
}

static int copy_tree(struct copy_job *j, int src_dir, const char *rel, int dst_dir, unsigned depth,
                     struct cb_err *err);

/* Copies the entry src_dir/name (rel: its path from the context root, for .dockerignore) to
 * dst_dir/dst_name. */
static int copy_entry(struct copy_job *j, int src_dir, const char *name, const char *rel, int dst_dir,
                      const char *dst_name, unsigned depth, struct cb_err *err)
{
        struct stat st;
        if (fstatat(src_dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return cb_fail(err, errno, "stat '%s'", rel);
        if (j->hash) {
                int r = hash_entry(j, src_dir, name, rel, &st, err);
                if (r < 0 || !S_ISDIR(st.st_mode))
                        return r;
                if (depth > COPY_DEPTH_MAX)
                        return cb_failc(err, -ELOOP, "'%s': directories nested deeper than %d", rel, COPY_DEPTH_MAX);
                _cleanup_close_ int s = openat(src_dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (s < 0)
                        return cb_fail(err, errno, "open directory '%s'", rel);
                return copy_tree(j, s, rel, -1, depth + 1, err);
        }
        if (S_ISLNK(st.st_mode)) {
                char target[4096];
                ssize_t n = readlinkat(src_dir, name, target, sizeof(target) - 1);
                if (n < 0)
                        return cb_fail(err, errno, "readlink '%s'", rel);
                target[n] = '\0';
                (void) unlinkat(dst_dir, dst_name, 0);
                if (symlinkat(target, dst_dir, dst_name) < 0)
                        return cb_fail(err, errno, "symlink '%s'", dst_name);
                apply_meta(j, dst_dir, dst_name, &st, true);
                j->files++;
                return 0;
        }
        if (S_ISDIR(st.st_mode)) {
                if (depth > COPY_DEPTH_MAX)
                        return cb_failc(err, -ELOOP, "'%s': directories nested deeper than %d", rel, COPY_DEPTH_MAX);
                struct stat dst;
                if (fstatat(dst_dir, dst_name, &dst, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(dst.st_mode))
                        (void) unlinkat(dst_dir, dst_name, 0);
                if (mkdirat(dst_dir, dst_name, 0755) < 0 && errno != EEXIST)
                        return cb_fail(err, errno, "mkdir '%s'", dst_name);
                _cleanup_close_ int s = openat(src_dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                _cleanup_close_ int d = openat(dst_dir, dst_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (s < 0 || d < 0)
                        return cb_fail(err, errno, "open directory '%s'", rel);
                int r = copy_tree(j, s, rel, d, depth + 1, err);
                if (r < 0)
                        return r;
                apply_meta(j, dst_dir, dst_name, &st, false);
                return 0;
        }
        if (S_ISREG(st.st_mode)) {
                _cleanup_close_ int s = openat(src_dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
                if (s < 0)
                        return cb_fail(err, errno, "open '%s'", rel);
                return copy_file(j, s, &st, dst_dir, dst_name, err);
        }
        if (!j->from_context && (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) || S_ISFIFO(st.st_mode))) {
                (void) unlinkat(dst_dir, dst_name, 0);
                if (mknodat(dst_dir, dst_name, st.st_mode, st.st_rdev) < 0)
                        return cb_fail(err, errno, "mknod '%s'", dst_name);
                apply_meta(j, dst_dir, dst_name, &st, false);
                return 0;
        }
        return 0; /* sockets and devices in a context are skipped, as docker does */
}

static int name_cmp(const void *a, const void *b)
{
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static int copy_tree(struct copy_job *j, int src_dir, const char *rel, int dst_dir, unsigned depth,
                     struct cb_err *err)
{
        char **names = NULL;
        size_t n = 0;
        int r = bld_dir_names(src_dir, &names, &n);
        if (r < 0)
                return cb_fail(err, -r, "read directory '%s'", rel);
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *crel = *rel && strcmp(rel, ".") ? cb_xasprintf("%s/%s", rel, names[i])
                                                                     : cb_xstrdup(names[i]);
                bool ign = j->from_context && j->ignore && df_ignore_match(j->ignore, crel);
                if (ign) {
                        /* an ignored directory is still walked when a '!' pattern may take back
                         * something below it, as Docker does; its entries are checked one by one */
                        struct stat cst;
                        ign = !(fstatat(src_dir, names[i], &cst, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(cst.st_mode) &&
                                df_ignore_may_reinclude(j->ignore, crel));
                }
                if (r >= 0 && !ign && !bld_copy_excluded(j, crel))
                        r = copy_entry(j, src_dir, names[i], crel, dst_dir, names[i], depth, err);
                free(names[i]);
        }
        free(names);
        return r;
}

static bool has_glob(const char *s)
{
        return strpbrk(s, "*?[") != NULL;
}

/* Expands one source into paths relative to the source root: a glob is matched component by
 * component against directory listings (sorted), a plain path is taken as it is. */
static void add_path(char ***v, size_t *n, size_t *cap, char *p)
{
        if (*n == *cap) {
                *cap = *cap ? *cap * 2 : 8;
                *v = cb_xrealloc(*v, *cap * sizeof(char *));
        }
        (*v)[(*n)++] = p;
}

/* "**" (any number of directories) only with --parents, whose patterns BuildKit matches with
 * moby/patternmatcher; plain COPY globs are Go's filepath.Match, where "**" is just "*". */
static int glob_in(int root, const char *prefix, const char *pattern, bool dstar, unsigned depth, char ***v, size_t *n,
                   size_t *cap)
{
        const char *slash = strchr(pattern, '/');
        _cleanup_free_ char *comp = slash ? cb_xstrndup(pattern, (size_t) (slash - pattern)) : cb_xstrdup(pattern);
        const char *rest = slash ? slash + 1 : NULL;
        bool any_depth = dstar && strcmp(comp, "**") == 0 && rest && *rest;
        if (depth > COPY_DEPTH_MAX)
                return 0;
        if (any_depth) /* zero directories: the rest of the pattern right here */
                (void) glob_in(root, prefix, rest, dstar, depth + 1, v, n, cap);
        _cleanup_close_ int dfd = bld_open_in_root(root, *prefix ? prefix : "/", O_RDONLY | O_DIRECTORY, 0);
        if (dfd < 0)
                return 0;
        DIR *d = fdopendir(CB_TAKE_FD(dfd));
        if (!d)
                return -errno;
        struct dirent *de;
        char **names = NULL;
        size_t nn = 0, nc = 0;
        while ((de = readdir(d))) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                        continue;
                if (any_depth) {
                        /* one more directory level; symlinked directories are not walked */
                        struct stat st;
                        bool is_dir = de->d_type == DT_DIR ||
                                      (de->d_type == DT_UNKNOWN &&
                                       fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                                       S_ISDIR(st.st_mode));
                        if (is_dir)
                                add_path(&names, &nn, &nc, cb_xstrdup(de->d_name));
                        continue;
                }
                /* Go's filepath.Match: '*' matches a leading dot too */
                if (fnmatch(comp, de->d_name, 0) == 0)
                        add_path(&names, &nn, &nc, cb_xstrdup(de->d_name));
        }
        (void) closedir(d);
        if (nn > 1)
                qsort(names, nn, sizeof(char *), name_cmp);
        for (size_t i = 0; i < nn; i++) {
                char *full = *prefix ? cb_xasprintf("%s/%s", prefix, names[i]) : cb_xstrdup(names[i]);
                free(names[i]);
                if (any_depth) {
                        (void) glob_in(root, full, pattern, dstar, depth + 1, v, n, cap);
                        free(full);
                } else if (rest && *rest) {
                        (void) glob_in(root, full, rest, dstar, depth + 1, v, n, cap);
                        free(full);
                } else {
                        add_path(v, n, cap, full);
                }
        }
        free(names);
        return 0;
}

static char *clean_rel(const char *s)
{
        while (*s == '/')
                s++;
        while (s[0] == '.' && s[1] == '/')
                s += 2;
        char *p = cb_xstrdup(*s ? s : ".");
        size_t n = strlen(p);
        while (n > 1 && p[n - 1] == '/')
                p[--n] = '\0';
        return p;
}

/* ADD's unpacking of the archive open on afd into dst_dir_fd (into_dir or no leaf) or into
 * dst_dir_fd/leaf, made as BuildKit's MkdirAll makes it. With --chown, the entries are unpacked into
 * a scratch directory first and copied over with the new owner, since current BuildKit gives every
 * unpacked entry the --chown owner; modes and mtimes stay the archive's either way. */
static int unpack_into(struct copy_job *j, int afd, int dst_dir_fd, const char *leaf, bool into_dir, const char *what,
                       struct cb_err *err)
{
        _cleanup_close_ int d = -1;
        if (into_dir || !leaf) {
                d = fcntl(dst_dir_fd, F_DUPFD_CLOEXEC, 3);
        } else {
                if (mkdirat(dst_dir_fd, leaf, 0755) == 0) {
                        if (j->chown)
                                (void) fchownat(dst_dir_fd, leaf, j->uid, j->gid, AT_SYMLINK_NOFOLLOW);
                } else if (errno != EEXIST) {
                        return cb_fail(err, errno, "mkdir '%s'", leaf);
                }
                d = openat(dst_dir_fd, leaf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        }
        if (d < 0)
                return cb_fail(err, errno, "open the destination of '%s'", what);
        int r;
        if (!j->chown) {
                r = bld_archive_extract(afd, d, j->b->tmp_dir, err);
        } else {
                _cleanup_free_ char *tmpl = cb_xasprintf("%s/unpack-XXXXXX", j->b->tmp_dir);
                if (!mkdtemp(tmpl))
                        return cb_fail(err, errno, "mkdtemp '%s'", tmpl);
                _cleanup_close_ int sfd = open(tmpl, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                r = sfd < 0 ? cb_fail(err, errno, "open '%s'", tmpl)
                            : bld_archive_extract(afd, sfd, j->b->tmp_dir, err);
                if (r >= 0) {
                        struct copy_job sub = *j;
                        sub.from_context = false; /* owners and device nodes as the archive has them */
                        sub.chmod = false;
                        sub.chmod_sym = NULL;
                        sub.exclude = NULL;
                        sub.unpack = false;
                        sub.xbase = NULL;
                        sub.src_root = sfd;
                        r = copy_tree(&sub, sfd, "", d, 0, err);
                        j->files += sub.files;
                        /* the copy buffer and the hard-link table are the job's, whichever of the two
                         * allocated or grew them */
                        j->buf = sub.buf;
                        j->no_copy_range = sub.no_copy_range;
                        j->links = sub.links;
                        j->nlinks = sub.nlinks;
                        j->links_cap = sub.links_cap;
                }
                struct cb_err e2;
                cb_err_init(&e2);
                (void) cb_rm_rf(AT_FDCWD, tmpl, &e2);
                cb_err_release(&e2);
        }
        if (r < 0)
                cb_wrap(err, "unpack '%s'", what);
        else
                j->files++;
        return r;
}

static int copy_source(struct copy_job *j, const char *rel, int dst_dir_fd, const char *dst_leaf, bool into_dir,
                       struct cb_err *err)
{
        /* the source is resolved inside its root: "../x" and symlinks out of the context stay in */
        _cleanup_close_ int sfd = bld_open_in_root(j->src_root, rel, O_PATH | O_NOFOLLOW, 0);
        if (sfd < 0)
                return cb_fail(err, errno, "'%s'", rel);
        struct stat st;
        if (fstat(sfd, &st) < 0)
                return cb_fail(err, errno, "stat '%s'", rel);
        bool followed = false;
        if (S_ISLNK(st.st_mode)) {
                /* a named source that is a symlink is followed (inside the root), as docker does */
                (void) close(sfd);
                sfd = bld_open_in_root(j->src_root, rel, O_PATH, 0);
                if (sfd < 0 || fstat(sfd, &st) < 0)
                        return cb_fail(err, errno, "'%s'", rel);
                followed = true;
        }
        const char *slash = strrchr(rel, '/');
        const char *base = slash ? slash + 1 : rel;
        const char *src_name = base; /* the entry copy_entry reads: the link's target when followed */
        _cleanup_free_ char *target_path = NULL;
        _cleanup_close_ int parent = -1;
        if (followed && !S_ISDIR(st.st_mode)) {
                /* the file the link resolved to, inside the root: copied under the link's name */
                char proc[64], path[4096];
                (void) snprintf(proc, sizeof(proc), "/proc/self/fd/%d", sfd);
                ssize_t n = readlink(proc, path, sizeof(path) - 1);
                if (n <= 0)
                        return cb_fail(err, errno, "resolve '%s'", rel);
                path[n] = '\0';
                target_path = cb_xstrdup(path);
                char *ts = strrchr(target_path, '/');
                if (!ts)
                        return cb_failc(err, -EINVAL, "resolve '%s'", rel);
                *ts = '\0';
                src_name = ts + 1;
                parent = open(*target_path ? target_path : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (parent < 0)
                        return cb_fail(err, errno, "open the directory of '%s'", rel);
        } else {
                _cleanup_free_ char *pp = slash ? cb_xstrndup(rel, (size_t) (slash - rel)) : cb_xstrdup("/");
                parent = bld_open_in_root(j->src_root, pp, O_RDONLY | O_DIRECTORY, 0);
                if (parent < 0)
                        return cb_fail(err, errno, "open the directory of '%s'", rel);
        }
        if (j->unpack && j->from_context && !j->hash && S_ISREG(st.st_mode)) {
                /* ADD: a local tar archive is unpacked into the destination directory */
                _cleanup_close_ int afd = bld_open_in_root(j->src_root, rel, O_RDONLY, 0);
                bool is_tar = false;
                if (afd < 0)
                        return cb_fail(err, errno, "open '%s'", rel);
                int r = bld_archive_detect(afd, &is_tar, err);
                if (r < 0)
                        return r;
                if (is_tar)
                        return unpack_into(j, afd, dst_dir_fd, dst_leaf, into_dir, rel, err);
        }
        if (S_ISDIR(st.st_mode)) {
                /* a directory's contents are copied, not the directory itself */
                if (!j->parents)
                        j->xbase = strcmp(rel, ".") ? rel : "";
                _cleanup_close_ int s = bld_open_in_root(j->src_root, rel, O_RDONLY | O_DIRECTORY, 0);
                _cleanup_close_ int d = -1;
                if (j->hash) {
                        if (s < 0)
                                return cb_fail(err, errno, "open directory '%s'", rel);
                        cb_sha256_update(j->hash, "dir\n", 4);
                        return copy_tree(j, s, strcmp(rel, ".") ? rel : "", -1, 0, err);
                }
                if (into_dir || !dst_leaf) {
                        d = fcntl(dst_dir_fd, F_DUPFD_CLOEXEC, 3);
                } else {
                        bool made = mkdirat(dst_dir_fd, dst_leaf, 0755) == 0;
                        if (!made && errno != EEXIST)
                                return cb_fail(err, errno, "mkdir '%s'", dst_leaf);
                        /* 0755 whatever our umask, as mkdirs_in() makes them; a destination directory the
                         * copy makes belongs to --chown's owner, as in Docker */
                        if (made)
                                (void) fchmodat(dst_dir_fd, dst_leaf, 0755, 0);
                        if (made && j->chown)
                                (void) fchownat(dst_dir_fd, dst_leaf, j->uid, j->gid, AT_SYMLINK_NOFOLLOW);
                        d = openat(dst_dir_fd, dst_leaf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                }
                if (s < 0 || d < 0)
                        return cb_fail(err, errno, "open directory '%s'", rel);
                return copy_tree(j, s, strcmp(rel, ".") ? rel : "", d, 0, err);
        }
        return copy_entry(j, parent, strcmp(rel, ".") ? src_name : ".", rel, dst_dir_fd,
                          into_dir || !dst_leaf ? base : dst_leaf, 0, err);
}

static int stage_rootfs_for(struct bld_ctx *b, const char *from, struct bld_rootfs *fs, struct cb_err *err);

static int write_heredoc(struct copy_job *j, int dir_fd, const char *name, const char *body, struct cb_err *err)
{
        (void) unlinkat(dir_fd, name, 0);
        int fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0)
                return cb_fail(err, errno, "create '%s'", name);
        if (cb_write_all(fd, body, strlen(body)) < 0) {
                int e = errno;
                (void) close(fd);
                return cb_fail(err, e, "write '%s'", name);
        }
        if (close(fd) < 0)
                return cb_fail(err, errno, "close '%s'", name);
        (void) fchownat(dir_fd, name, j->chown ? j->uid : 0, j->chown ? j->gid : 0, AT_SYMLINK_NOFOLLOW);
        (void) fchmodat(dir_fd, name, j->chmod ? (mode_t) j->mode : 0644, 0);
        j->files++;
        return 0;
}

static bool flag_bool(const char *v)
{
        return !v || (strcmp(v, "false") != 0 && strcmp(v, "0") != 0);
}

static bool is_url(const char *w)
{
        return strncmp(w, "http://", 7) == 0 || strncmp(w, "https://", 8) == 0;
}

/* Where --link writes: the step's fresh upper directory itself (tmp/<id>/upper beside merged, see
 * struct bld_rootfs), so nothing of the layers below (a symlinked or existing destination, the
 * parents' metadata) shapes the layer. The overlay is only unmounted and its upper committed after. */
static int link_root(const char *merged, struct cb_err *err)
{
        const char *sl = strrchr(merged, '/');
        if (!sl || strcmp(sl, "/merged") != 0)
                return cb_failc(err, -EINVAL, "--link: unexpected rootfs layout '%s'", merged);
        _cleanup_free_ char *up = cb_xasprintf("%.*s/upper", (int) (sl - merged), merged);
        int fd = open(up, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return cb_fail(err, errno, "open '%s'", up);
        return fd;
}

/* COPY --parents: src (a path from the source root) lands at dst_fd/sub, its parent directories
 * below the pivot re-created with the source directories' metadata, as BuildKit's createParentDirs. */
static int copy_with_parents(struct copy_job *j, const char *src, const char *sub, int dst_fd, struct cb_err *err)
{
        struct stat st;
        {
                _cleanup_close_ int sfd = bld_open_in_root(j->src_root, src, O_PATH, 0);
                if (sfd < 0 || fstat(sfd, &st) < 0)
                        return cb_fail(err, errno, "'%s'", src);
        }
        _cleanup_free_ char *comps = cb_xstrdup(sub);
        size_t ncomp = 1;
        for (char *c = comps; *c; c++)
                if (*c == '/')
                        ncomp++;
        /* a directory's own name is made here too; a file's is made by the copy */
        size_t nmake = S_ISDIR(st.st_mode) ? ncomp : ncomp - 1;
        if (!strcmp(sub, ".") || !*sub)
                nmake = 0;
        int *fds = cb_xcalloc(nmake + 1, sizeof(int));
        bool *made = cb_xcalloc(nmake + 1, sizeof(bool));
        char **names = cb_xcalloc(nmake + 1, sizeof(char *));
        struct stat *sts = cb_xcalloc(nmake + 1, sizeof(struct stat));
        fds[0] = fcntl(dst_fd, F_DUPFD_CLOEXEC, 3);
        int r = fds[0] < 0 ? cb_fail(err, errno, "dup") : 0;
        size_t depth = 0;
        const char *prefix_end = src + strlen(src) - strlen(sub); /* src = pivot/sub */
        char *c = comps;
        for (; depth < nmake && r >= 0; depth++) {
                char *slash = strchr(c, '/');
                if (slash)
                        *slash = '\0';
                names[depth] = c;
                _cleanup_free_ char *sp = cb_xasprintf("%.*s%.*s%s", (int) (prefix_end - src), src,
                                                      (int) (c - comps), sub, c);
                _cleanup_close_ int sd = bld_open_in_root(j->src_root, sp, O_PATH, 0);
                if (sd < 0 || fstat(sd, &sts[depth]) < 0) {
                        r = cb_fail(err, errno, "'%s'", sp);
                        break;
                }
                if (mkdirat(fds[depth], c, 0755) == 0)
                        made[depth] = true;
                else if (errno != EEXIST)
                        r = cb_fail(err, errno, "mkdir '%s'", sp);
                if (r >= 0) {
                        fds[depth + 1] = openat(fds[depth], c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (fds[depth + 1] < 0)
                                r = cb_fail(err, errno, "open '%s'", sp);
                }
                if (slash)
                        c = slash + 1;
        }
        if (r >= 0)
                r = copy_source(j, src, fds[depth], NULL, true, err);
        /* the created parents take their sources' metadata once their children are in */
        for (size_t i = depth; i-- > 0;)
                if (r >= 0 && made[i])
                        apply_meta(j, fds[i], names[i], &sts[i], false);
        for (size_t i = 0; i <= depth; i++)
                if (fds[i] > 0)
                        (void) close(fds[i]);
        free(fds);
        free(made);
        free(names);
        free(sts);
        return r;
}

/* ADD URL: downloaded (or this build's download reused), checked, and written as DEST (or DEST/NAME)
 * with mode 0600 and the Last-Modified mtime, as BuildKit's http source; --unpack=true unpacks it. */
static int add_url(struct copy_job *j, const char *url, const char *checksum, bool unpack, int dfd, const char *leaf,
                   bool dir_dest, struct cb_err *err)
{
        _cleanup_free_ char *path = NULL;
        char dg[CB_DIGEST_STR_LEN];
        int r = bld_url_fetch(j->b, url, !j->hash, &path, dg, err);
        if (r >= 0 && checksum)
                r = bld_url_verify(path, dg, url, checksum, err);
        if (r < 0)
                return r;
        if (j->hash) {
                /* Docker downloads again for every build and compares: the content is the key */
                cb_sha256_update(j->hash, "url\n", 4);
                cb_sha256_update(j->hash, url, strlen(url) + 1);
                cb_sha256_update(j->hash, dg, strlen(dg) + 1);
                return 0;
        }
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0)
                return cb_fail(err, errno, "open '%s'", path);
        _cleanup_free_ char *name = bld_url_basename(url);
        const char *target = dir_dest || !leaf ? name : leaf;
        if (unpack) {
                bool is_tar = false;
                r = bld_archive_detect(fd, &is_tar, err);
                if (r < 0)
                        return r;
                if (is_tar)
                        return unpack_into(j, fd, dfd, leaf, dir_dest, url, err);
        }
        st.st_mode = S_IFREG | 0600;
        st.st_uid = 0;
        st.st_gid = 0;
        return copy_file(j, fd, &st, dfd, target, err);
}

/* Frees a vector of owned strings. */
static void strv_release(char **v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

/* Length of the part of a glob pattern before its first component with a wildcard: 3 for "a/b"
 * followed by a component with '*', '?' or '['. */
static size_t glob_fixed_len(const char *pat)
{
        size_t fixed = 0;
        for (const char *p = pat; *p;) {
                const char *sl = strchr(p, '/');
                size_t n = sl ? (size_t) (sl - p) : strlen(p);
                if (memchr(p, '*', n) || memchr(p, '?', n) || memchr(p, '[', n))
                        break;
                fixed = (size_t) (p - pat) + n;
                if (!sl)
                        break;
                p = sl + 1;
        }
        return fixed;
}

int bld_copy(struct bld_ctx *b, struct bld_stage *st, const struct df_instr *in, const char *merged,
             struct cb_sha256 *hash, const struct layer_commit_opts *direct, struct layer_desc *ret_layer,
             struct cb_err *err)
{
        const char *kw = df_instr_kind_name(in->kind);
        bool is_add = in->kind == DF_INSTR_ADD;
        struct copy_job j = {
                .b = b, .in = in, .dst_root = -1, .src_root = -1, .from_context = true, .hash = hash, .unpack = is_add,
                .ignore = b->ignore, .direct = direct
        };
        int src_ctx = b->ctx_fd; /* the main context, or a named local one (--from=NAME) */
        struct bld_rootfs from_fs = { 0 };
        char **srcs = NULL, **subs = NULL, **xbases = NULL, **urls = NULL;
        size_t nsrcs = 0, cap = 0, nsubs = 0, subcap = 0, nxb = 0, xbcap = 0, nurls = 0, ucap = 0;
        char **hd_names = NULL, **hd_bodies = NULL; /* heredoc sources */
        size_t nhd = 0, hd_cap = 0, nhd_b = 0, hd_bcap = 0;
        _cleanup_free_ char *dest = NULL, *checksum = NULL, *chmod_sym = NULL, *from_name = NULL;
        struct cb_buf excl;
        bool parents = false, link = false, unpack_set = false;
        size_t nargs_src = 0;
        int r = 0;

        cb_buf_init(&excl, CB_BUF_UNLIMITED);
        for (size_t i = 0; i < in->nflags && r >= 0; i++) {
                const struct df_flag *f = &in->flags[i];
                _cleanup_free_ char *v = NULL;
                if (f->value)
                        r = df_expand_word(st->vars, f->value, df_file_escape(b->df), &v, err);
                if (r < 0)
                        break;
                if (strcmp(f->name, "chown") == 0) {
                        j.chown = true;
                        if (!hash)
                                r = bld_resolve_user(merged, v ? v : "", &j.uid, &j.gid, err);
                        /* a uid without a group: the same number as the gid, as Docker documents */
                        uint64_t n;
                        if (r >= 0 && v && !strchr(v, ':') && cb_parse_u64(cb_str_c(v), UINT32_MAX, &n) == 0)
                                j.gid = (gid_t) n;
                } else if (strcmp(f->name, "chmod") == 0) {
                        j.chmod = true;
                        const char *m = v ? v : "";
                        mode_t probe;
                        if (*m >= '0' && *m <= '9') {
                                r = cb_parse_mode(cb_str_c(m), &j.mode);
                                if (r < 0)
                                        r = cb_failc(err, -EINVAL, "--chmod '%s' is not an octal mode", m);
                        } else if (!*m || bld_copy_mode_symbolic(m, 0, false, &probe) < 0) {
                                r = cb_failc(err, -EINVAL, "--chmod '%s' is neither an octal nor a symbolic mode", m);
                        } else {
                                free(chmod_sym);
                                chmod_sym = cb_xstrdup(m);
                                j.chmod_sym = chmod_sym;
                        }
                } else if (strcmp(f->name, "from") == 0) {
                        const struct bld_nctx *nc = bld_nctx_dir_for(b, v ? v : "");
                        if (nc) {
                                /* a local directory context: read as the main context is */
                                j.ignore = nc->ignore;
                                src_ctx = nc->fd;
                                free(from_name);
                                from_name = cb_xstrdup(v ? v : "");
                                j.from_name = from_name;
                                if (hash) {
                                        cb_sha256_update(hash, "context\n", 8);
                                        cb_sha256_update(hash, nc->name, strlen(nc->name) + 1);
                                }
                                continue;
                        }
                        j.from_context = false;
                        free(from_name);
                        from_name = cb_xstrdup(v ? v : "");
                        j.from_name = from_name;
                        if (hash) {
                                /* another stage or image: its identity, not a walk of its files */
                                char id[CB_DIGEST_STR_LEN];
                                r = bld_source_identity(b, v ? v : "", id, err);
                                if (r >= 0)
                                        cb_sha256_update(hash, id, strlen(id));
                                goto out_wrap;
                        }
                        r = stage_rootfs_for(b, v ? v : "", &from_fs, err);
                } else if (strcmp(f->name, "link") == 0) {
                        link = flag_bool(v);
                } else if (strcmp(f->name, "parents") == 0) {
                        parents = flag_bool(v);
                } else if (strcmp(f->name, "exclude") == 0) {
                        (void) cb_buf_addf(&excl, "%s\n", v ? v : "");
                } else if (strcmp(f->name, "checksum") == 0) {
                        free(checksum);
                        checksum = v ? CB_TAKE_PTR(v) : cb_xstrdup("");
                } else if (strcmp(f->name, "unpack") == 0) {
                        j.unpack = flag_bool(v);
                        unpack_set = true;
                } else if (strcmp(f->name, "keep-git-dir") == 0) {
                        continue; /* only meaningful for git sources, which are refused below */
                } else {
                        r = cb_failc(err, -ENOTSUP, "--%s is not supported", f->name);
                }
        }
        if (r >= 0 && excl.len)
                r = df_ignore_parse(cb_buf_str(&excl), "--exclude", &j.exclude, err);
        if (r < 0)
                goto out_wrap;
        j.parents = parents;
        if (in->nargs < 2) {
                r = cb_failc(err, -EINVAL, "needs at least one source and a destination");
                goto out_wrap;
        }
        {
                const char *raw = in->args[in->nargs - 1];
                if (in->json)
                        dest = cb_xstrdup(raw);
                else if ((r = df_expand_word(st->vars, raw, df_file_escape(b->df), &dest, err)) < 0)
                        goto out_wrap;
                if (!*dest) {
                        r = cb_failc(err, -EINVAL, "the destination is empty");
                        goto out_wrap;
                }
        }
        j.src_root = j.from_context ? fcntl(src_ctx, F_DUPFD_CLOEXEC, 3)
                                    : (from_fs.merged ? open(from_fs.merged, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1);
        if (hash)
                j.dst_root = fcntl(b->ctx_fd, F_DUPFD_CLOEXEC, 3);
        else if (link && (j.dst_root = link_root(merged, err)) < 0)
                goto out_wrap_r;
        else if (!link)
                j.dst_root = open(merged, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (j.src_root < 0 || j.dst_root < 0) {
                r = cb_fail(err, errno, "open the source or destination root");
                goto out_wrap;
        }
        for (size_t i = 0; i + 1 < in->nargs; i++) {
                _cleanup_free_ char *w = NULL;
                const struct df_heredoc *hd = df_instr_heredoc_arg(in, i);
                nargs_src++;
                if (hd) {
                        /* COPY <<EOF /dest: the body is the source; it is named after its delimiter */
                        char *body = NULL;
                        if (hd->expand)
                                r = df_expand_heredoc(st->vars, hd->body, df_file_escape(b->df), &body, err);
                        else
                                body = cb_xstrdup(hd->body);
                        if (r < 0)
                                goto out_wrap;
                        if (hash) {
                                cb_sha256_update(hash, "heredoc\n", 8);
                                cb_sha256_update(hash, hd->delim, strlen(hd->delim) + 1);
                                cb_sha256_update(hash, body, strlen(body) + 1);
                                free(body);
                        } else {
                                add_path(&hd_names, &nhd, &hd_cap, cb_xstrdup(hd->delim));
                                add_path(&hd_bodies, &nhd_b, &hd_bcap, body);
                        }
                        continue;
                }
                if (in->json)
                        w = cb_xstrdup(in->args[i]);
                else if ((r = df_expand_word(st->vars, in->args[i], df_file_escape(b->df), &w, err)) < 0)
                        goto out_wrap;
                if (is_url(w)) {
                        if (!is_add) {
                                r = cb_failc(err, -EINVAL, "source '%s': a URL needs ADD, COPY takes no URLs", w);
                                goto out_wrap;
                        }
                        add_path(&urls, &nurls, &ucap, CB_TAKE_PTR(w));
                        continue;
                }
                if (strncmp(w, "git@", 4) == 0 || strncmp(w, "git://", 6) == 0) {
                        r = cb_failc(err, -ENOTSUP, "source '%s': git sources are not supported", w);
                        goto out_wrap;
                }
                if (checksum) {
                        r = cb_failc(err, -EINVAL, "--checksum needs an http(s) source, not '%s'", w);
                        goto out_wrap;
                }
                /* --parents: "a/./b/c" keeps b/c below the destination, "a/b/c" all of it (BuildKit's
                 * pivot); the path before the pivot is what --exclude patterns are relative to */
                _cleanup_free_ char *pivot = NULL, *rel = NULL;
                if (parents) {
                        const char *pv = strstr(w, "/./");
                        _cleanup_free_ char *pp = pv ? cb_xstrndup(w, (size_t) (pv - w)) : cb_xstrdup("");
                        _cleanup_free_ char *q = clean_rel(pv ? pv + 3 : w);
                        pivot = clean_rel(pp);
                        rel = strcmp(pivot, ".") ? cb_xasprintf("%s/%s", pivot, q) : CB_TAKE_PTR(q);
                        if (!strcmp(pivot, "."))
                                pivot[0] = '\0';
                } else {
                        rel = clean_rel(w);
                }
                bool glob = has_glob(rel);
                size_t before = nsrcs;
                if (glob)
                        (void) glob_in(j.src_root, "", rel, parents, 0, &srcs, &nsrcs, &cap);
                else if (j.from_context && j.ignore && strcmp(rel, ".") && df_ignore_match(j.ignore, rel)) {
                        r = cb_failc(err, -ENOENT, "'%s': excluded by .dockerignore", w);
                        goto out_wrap;
                } else
                        add_path(&srcs, &nsrcs, &cap, cb_xstrdup(rel));
                size_t fixed = glob ? glob_fixed_len(rel) : 0;
                /* glob matches: .dockerignore and --exclude drop them (BuildKit sees a filtered context) */
                size_t k = before;
                for (size_t m = before; m < nsrcs; m++) {
                        const char *p = srcs[m];
                        size_t pl = parents ? strlen(pivot) : fixed;
                        const char *xrel = pl && strlen(p) > pl ? p + pl + 1 : p;
                        bool drop = glob && j.from_context && j.ignore && df_ignore_match(j.ignore, p);
                        if (!drop && (glob || parents) && j.exclude && strcmp(xrel, "."))
                                drop = df_ignore_match(j.exclude, xrel);
                        if (drop) {
                                free(srcs[m]);
                                continue;
                        }
                        srcs[k++] = srcs[m];
                        add_path(&subs, &nsubs, &subcap, parents ? cb_xstrdup(xrel) : NULL);
                        add_path(&xbases, &nxb, &xbcap, parents ? cb_xstrdup(pivot) : NULL);
                }
                nsrcs = k;
                if (glob && nsrcs == before) {
                        r = cb_failc(err, -ENOENT, "no source files were specified: '%s' matches nothing", w);
                        goto out_wrap;
                }
        }
        {
                /* the reference: several sources need a directory destination written with a '/' */
                size_t dl = strlen(dest);
                bool slash = dest[dl - 1] == '/' || strcmp(dest, ".") == 0 ||
                             (dl >= 2 && strcmp(dest + dl - 2, "/.") == 0);
                if (nargs_src > 1 && !slash) {
                        r = cb_failc(err, -EINVAL,
                                     "when using %s with more than one source file, the destination must be a "
                                     "directory and end with a /",
                                     kw);
                        goto out_wrap;
                }
        }
        if (hash) {
                for (size_t i = 0; i < nsrcs && r >= 0; i++) {
                        cb_sha256_update(hash, srcs[i], strlen(srcs[i]) + 1);
                        j.xbase = xbases[i];
                        r = copy_source(&j, srcs[i], -1, NULL, true, err);
                }
                for (size_t i = 0; i < nurls && r >= 0; i++)
                        r = add_url(&j, urls[i], checksum, unpack_set && j.unpack, -1, NULL, true, err);
                goto out_wrap;
        }
        {
                const char *wd = json_string_value(json_object_get(bld_config_section(st->config), "WorkingDir"));
                _cleanup_free_ char *abs = dest[0] == '/' ? cb_xstrdup(dest)
                                                          : cb_xasprintf("%s/%s", wd && *wd ? wd : "", dest);
                size_t dl = strlen(abs);
                bool dir_dest = abs[dl - 1] == '/' || nsrcs + nhd + nurls > 1 || parents ||
                                (dl >= 2 && strcmp(abs + dl - 2, "/.") == 0);
                if (!dir_dest) {
                        _cleanup_close_ int probe = bld_open_in_root(j.dst_root, abs, O_RDONLY | O_DIRECTORY, 0);
                        dir_dest = probe >= 0;
                }
                _cleanup_free_ char *dparent = NULL, *leaf = NULL;
                if (dir_dest) {
                        dparent = cb_xstrdup(abs);
                } else {
                        char *sl = strrchr(abs, '/');
                        dparent = cb_xstrndup(abs, (size_t) (sl - abs));
                        leaf = cb_xstrdup(sl + 1);
                }
                if (nsrcs == 1 && nhd + nurls == 0 && !subs[0] && !is_add &&
                    (r = bld_copy_direct(&j, srcs[0], dir_dest, dparent, leaf, ret_layer, err)) != 0)
                        goto out_wrap;
                _cleanup_close_ int dfd = mkdirs_in(&j, j.dst_root, dparent, err);
                if (dfd < 0) {
                        r = dfd;
                        goto out_wrap;
                }
                for (size_t i = 0; i < nsrcs && r >= 0; i++) {
                        j.xbase = xbases[i];
                        if (subs[i])
                                r = copy_with_parents(&j, srcs[i], subs[i], dfd, err);
                        else
                                r = copy_source(&j, srcs[i], dfd, leaf, dir_dest, err);
                }
                for (size_t i = 0; i < nurls && r >= 0; i++)
                        r = add_url(&j, urls[i], checksum, unpack_set && j.unpack, dfd, leaf, dir_dest, err);
                for (size_t i = 0; i < nhd && r >= 0; i++)
                        r = write_heredoc(&j, dfd, dir_dest || !leaf ? hd_names[i] : leaf, hd_bodies[i], err);
        }
        goto out_wrap;
out_wrap_r:
        r = j.dst_root;
out_wrap:
        if (r < 0)
                cb_wrap(err, "%s:%u: %s", b->df_name, in->start_line, kw);
        strv_release(srcs, nsrcs);
        strv_release(subs, nsubs);
        strv_release(xbases, nxb);
        strv_release(urls, nurls);
        strv_release(hd_names, nhd);
        strv_release(hd_bodies, nhd_b);
        cb_buf_release(&excl);
        df_ignore_free(j.exclude);
        if (j.src_root >= 0)
                (void) close(j.src_root);
        if (j.dst_root >= 0)
                (void) close(j.dst_root);
        bld_rootfs_release(&from_fs);
        copy_links_release(&j);
        return r;
}

/* The stage, by name or index, that --from names; NULL when it names an image. */
static struct bld_stage *find_stage(struct bld_ctx *b, const char *from)
{
        uint64_t idx;
        if (cb_parse_u64(cb_str_c(from), UINT32_MAX, &idx) == 0)
                return idx < b->nstages && b->stages[idx].built ? &b->stages[idx] : NULL;
        for (size_t i = 0; i < b->nstages; i++)
                if (b->stages[i].built && b->stages[i].name && strcasecmp(b->stages[i].name, from) == 0)
                        return &b->stages[i];
        return NULL;
}

int bld_source_identity(struct bld_ctx *b, const char *from, char ret[CB_DIGEST_STR_LEN], struct cb_err *err)
{
        struct bld_stage *src = find_stage(b, from);
        uint64_t idx;
        if (!src && cb_parse_u64(cb_str_c(from), UINT32_MAX, &idx) == 0)
                return cb_failc(err, -EINVAL, "--from=%s: no earlier stage with that index", from);
        if (src) {
                memcpy(ret, src->key, CB_DIGEST_STR_LEN);
                return 0;
        }
        return bld_resolve_image(b, from, ret, err);
}

/* COPY --from: an earlier stage by name or index, else an image (local store or registry). */
static int stage_rootfs_for(struct bld_ctx *b, const char *from, struct bld_rootfs *fs, struct cb_err *err)
{
        struct bld_stage *src = find_stage(b, from);
        uint64_t idx;
        if (!src && cb_parse_u64(cb_str_c(from), UINT32_MAX, &idx) == 0)
                return cb_failc(err, -EINVAL, "--from=%s: no earlier stage with that index", from);
        struct layer_image *img = NULL;
        struct layer_desc *layers;
        size_t n;
        if (src) {
                layers = src->layers;
                n = src->nlayers;
        } else {
                char digest[CB_DIGEST_STR_LEN];
                int r = bld_resolve_image(b, from, digest, err);
                if (r >= 0)
                        r = layer_image_read(b->store, digest, &img, err);
                if (r < 0) {
                        cb_wrap(err, "--from=%s", from);
                        return r;
                }
                layers = img->layers;
                n = img->nlayers;
        }
        int r = bld_rootfs_mount_layers(fs, b->store, b->tmp_dir, layers, n, err);
        layer_image_free(img);
        return r;
}

int bld_stage_rootfs(struct bld_ctx *b, const char *from, struct bld_rootfs *fs, struct cb_err *err)
{
        return stage_rootfs_for(b, from, fs, err);
}

int bld_copy_hash_context(struct bld_ctx *b, const char *rel, struct cb_sha256 *h, struct cb_err *err)
{
        return bld_copy_hash_nctx(b, NULL, rel, h, err);
}

int bld_copy_hash_nctx(struct bld_ctx *b, const struct bld_nctx *nc, const char *rel, struct cb_sha256 *h,
                       struct cb_err *err)
{
        struct copy_job j = {
                .b = b, .dst_root = -1, .from_context = true, .hash = h, .ignore = nc ? nc->ignore : b->ignore
        };
        j.src_root = fcntl(nc ? nc->fd : b->ctx_fd, F_DUPFD_CLOEXEC, 3);
        if (j.src_root < 0)
                return cb_fail(err, errno, "dup");
        _cleanup_free_ char *c = clean_rel(rel);
        cb_sha256_update(h, c, strlen(c) + 1);
        int r = copy_source(&j, c, -1, NULL, true, err);
        (void) close(j.src_root);
        return r;
}

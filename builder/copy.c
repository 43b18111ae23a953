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

#include "builder/imgconfig.h"
#include "builder/internal.h"
#include "builder/run.h"

#define COPY_DEPTH_MAX 256

struct copy_job {
        struct bld_ctx *b;
        const struct df_instr *in;
        int dst_root;     /* the step's rootfs */
        int src_root;     /* the context, or another stage's rootfs */
        bool from_context; /* apply .dockerignore, own files by 0:0 */
        bool chown;
        uid_t uid;
        gid_t gid;
        bool chmod;
        unsigned mode;
        uint64_t files;
        struct cb_sha256 *hash; /* set: describe the sources into it instead of copying (cache key) */
};

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
                int r = cb_sha256_file(src_dir, name, dg, &size, err);
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
static int mkdirs_in(int root_fd, const char *path, struct cb_err *err)
{
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
                        if (mkdirat(fd, p + j, 0755) < 0 && errno != EEXIST) {
                                int e = errno;
                                (void) close(fd);
                                return cb_fail(err, e, "mkdir '%s'", p);
                        }
                        next = bld_open_in_root(root_fd, p, O_RDONLY | O_DIRECTORY, 0);
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

static void apply_meta(struct copy_job *j, int dir_fd, const char *name, const struct stat *st, bool is_link)
{
        uid_t uid = j->chown ? j->uid : (j->from_context ? 0 : st->st_uid);
        gid_t gid = j->chown ? j->gid : (j->from_context ? 0 : st->st_gid);
        (void) fchownat(dir_fd, name, uid, gid, AT_SYMLINK_NOFOLLOW);
        if (!is_link) {
                mode_t mode = j->chmod ? (mode_t) j->mode : (st->st_mode & 07777);
                (void) fchmodat(dir_fd, name, mode, 0);
        }
        struct timespec ts[2] = { st->st_atim, st->st_mtim };
        (void) utimensat(dir_fd, name, ts, AT_SYMLINK_NOFOLLOW);
}

static int copy_file(struct copy_job *j, int sfd, const struct stat *st, int dst_dir, const char *name,
                     struct cb_err *err)
{
        (void) unlinkat(dst_dir, name, 0);
        int dfd = openat(dst_dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (dfd < 0)
                return cb_fail(err, errno, "create '%s'", name);
        off_t left = st->st_size;
        while (left > 0) {
                ssize_t n = copy_file_range(sfd, NULL, dfd, NULL, (size_t) (left > (1 << 30) ? (1 << 30) : left), 0);
                if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP)) {
                        char buf[1 << 16];
                        n = read(sfd, buf, sizeof(buf));
                        if (n > 0 && cb_write_all(dfd, buf, (size_t) n) < 0)
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
        int dfd = fcntl(src_dir, F_DUPFD_CLOEXEC, 3);
        if (dfd < 0)
                return cb_fail(err, errno, "dup");
        DIR *d = fdopendir(dfd);
        if (!d) {
                int e = errno;
                (void) close(dfd);
                return cb_fail(err, e, "opendir '%s'", rel);
        }
        char **names = NULL;
        size_t n = 0, cap = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                        continue;
                if (n == cap) {
                        cap = cap ? cap * 2 : 32;
                        names = cb_xrealloc(names, cap * sizeof(char *));
                }
                names[n++] = cb_xstrdup(de->d_name);
        }
        (void) closedir(d);
        if (n > 1)
                qsort(names, n, sizeof(char *), name_cmp);
        int r = 0;
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *crel = *rel && strcmp(rel, ".") ? cb_xasprintf("%s/%s", rel, names[i])
                                                                     : cb_xstrdup(names[i]);
                if (r >= 0 && !(j->from_context && j->b->ignore && df_ignore_match(j->b->ignore, crel)))
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

static int glob_in(int root, const char *prefix, const char *pattern, char ***v, size_t *n, size_t *cap)
{
        const char *slash = strchr(pattern, '/');
        _cleanup_free_ char *comp = slash ? cb_xstrndup(pattern, (size_t) (slash - pattern)) : cb_xstrdup(pattern);
        const char *rest = slash ? slash + 1 : NULL;
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
                if (fnmatch(comp, de->d_name, FNM_PERIOD) == 0)
                        add_path(&names, &nn, &nc, cb_xstrdup(de->d_name));
        }
        (void) closedir(d);
        if (nn > 1)
                qsort(names, nn, sizeof(char *), name_cmp);
        for (size_t i = 0; i < nn; i++) {
                char *full = *prefix ? cb_xasprintf("%s/%s", prefix, names[i]) : cb_xstrdup(names[i]);
                free(names[i]);
                if (rest && *rest) {
                        (void) glob_in(root, full, rest, v, n, cap);
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
        if (S_ISLNK(st.st_mode)) {
                /* a named source that is a symlink is followed (inside the root), as docker does */
                (void) close(sfd);
                sfd = bld_open_in_root(j->src_root, rel, O_PATH, 0);
                if (sfd < 0 || fstat(sfd, &st) < 0)
                        return cb_fail(err, errno, "'%s'", rel);
        }
        const char *slash = strrchr(rel, '/');
        const char *base = slash ? slash + 1 : rel;
        _cleanup_close_ int parent = -1;
        {
                _cleanup_free_ char *pp = slash ? cb_xstrndup(rel, (size_t) (slash - rel)) : cb_xstrdup("/");
                parent = bld_open_in_root(j->src_root, pp, O_RDONLY | O_DIRECTORY, 0);
                if (parent < 0)
                        return cb_fail(err, errno, "open the directory of '%s'", rel);
        }
        if (S_ISDIR(st.st_mode)) {
                /* a directory's contents are copied, not the directory itself */
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
                        if (mkdirat(dst_dir_fd, dst_leaf, 0755) < 0 && errno != EEXIST)
                                return cb_fail(err, errno, "mkdir '%s'", dst_leaf);
                        d = openat(dst_dir_fd, dst_leaf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                }
                if (s < 0 || d < 0)
                        return cb_fail(err, errno, "open directory '%s'", rel);
                return copy_tree(j, s, strcmp(rel, ".") ? rel : "", d, 0, err);
        }
        return copy_entry(j, parent, strcmp(rel, ".") ? base : ".", rel, dst_dir_fd,
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

int bld_copy(struct bld_ctx *b, struct bld_stage *st, const struct df_instr *in, const char *merged,
             struct cb_sha256 *hash, struct cb_err *err)
{
        const char *kw = df_instr_kind_name(in->kind);
        struct copy_job j = {
                .b = b, .in = in, .dst_root = -1, .src_root = -1, .from_context = true, .hash = hash
        };
        struct bld_rootfs from_fs = { 0 };
        char **srcs = NULL;
        size_t nsrcs = 0, cap = 0;
        char **hd_names = NULL, **hd_bodies = NULL; /* heredoc sources */
        size_t nhd = 0, hd_cap = 0, nhd_b = 0, hd_bcap = 0;
        _cleanup_free_ char *dest = NULL;
        int r = 0;

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
                } else if (strcmp(f->name, "chmod") == 0) {
                        j.chmod = true;
                        r = cb_parse_mode(cb_str_c(v ? v : ""), &j.mode);
                        if (r < 0)
                                r = cb_failc(err, -EINVAL, "--chmod '%s' is not an octal mode", v ? v : "");
                } else if (strcmp(f->name, "from") == 0) {
                        j.from_context = false;
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
                        continue; /* every COPY layer is already independent of the layers below */
                } else {
                        r = cb_failc(err, -ENOTSUP, "--%s is not supported", f->name);
                }
        }
        if (r < 0)
                goto out_wrap;
        if (in->nargs < 2) {
                r = cb_failc(err, -EINVAL, "needs at least one source and a destination");
                goto out_wrap;
        }
        j.src_root = j.from_context ? fcntl(b->ctx_fd, F_DUPFD_CLOEXEC, 3)
                                    : (from_fs.merged ? open(from_fs.merged, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1);
        j.dst_root = hash ? fcntl(b->ctx_fd, F_DUPFD_CLOEXEC, 3) : open(merged, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (j.src_root < 0 || j.dst_root < 0) {
                r = cb_fail(err, errno, "open the source or destination root");
                goto out_wrap;
        }
        for (size_t i = 0; i + 1 < in->nargs; i++) {
                _cleanup_free_ char *w = NULL;
                const struct df_heredoc *hd = df_instr_heredoc_arg(in, i);
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
                if (strncmp(w, "http://", 7) == 0 || strncmp(w, "https://", 8) == 0) {
                        r = cb_failc(err, -ENOTSUP, "source '%s': URLs are not supported yet", w);
                        goto out_wrap;
                }
                _cleanup_free_ char *rel = clean_rel(w);
                if (has_glob(rel)) {
                        size_t before = nsrcs;
                        (void) glob_in(j.src_root, "", rel, &srcs, &nsrcs, &cap);
                        if (nsrcs == before) {
                                r = cb_failc(err, -ENOENT, "no source files were specified: '%s' matches nothing",
                                             w);
                                goto out_wrap;
                        }
                } else {
                        if (j.from_context && b->ignore && strcmp(rel, ".") && df_ignore_match(b->ignore, rel)) {
                                r = cb_failc(err, -ENOENT, "'%s': excluded by .dockerignore", w);
                                goto out_wrap;
                        }
                        add_path(&srcs, &nsrcs, &cap, CB_TAKE_PTR(rel));
                }
        }
        if (hash) {
                for (size_t i = 0; i < nsrcs && r >= 0; i++) {
                        cb_sha256_update(hash, srcs[i], strlen(srcs[i]) + 1);
                        r = copy_source(&j, srcs[i], -1, NULL, true, err);
                }
                goto out_wrap;
        }
        {
                const char *raw = in->args[in->nargs - 1];
                if (in->json)
                        dest = cb_xstrdup(raw);
                else if ((r = df_expand_word(st->vars, raw, df_file_escape(b->df), &dest, err)) < 0)
                        goto out_wrap;
        }
        {
                const char *wd = json_string_value(json_object_get(bld_config_section(st->config), "WorkingDir"));
                _cleanup_free_ char *abs = dest[0] == '/' ? cb_xstrdup(dest)
                                                          : cb_xasprintf("%s/%s", wd && *wd ? wd : "", dest);
                size_t dl = strlen(abs);
                bool dir_dest = abs[dl - 1] == '/' || nsrcs + nhd > 1 || (dl >= 2 && strcmp(abs + dl - 2, "/.") == 0);
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
                _cleanup_close_ int dfd = mkdirs_in(j.dst_root, dparent, err);
                if (dfd < 0) {
                        r = dfd;
                        goto out_wrap;
                }
                for (size_t i = 0; i < nsrcs && r >= 0; i++)
                        r = copy_source(&j, srcs[i], dfd, leaf, dir_dest, err);
                for (size_t i = 0; i < nhd && r >= 0; i++)
                        r = write_heredoc(&j, dfd, dir_dest || !leaf ? hd_names[i] : leaf, hd_bodies[i], err);
        }
out_wrap:
        if (r < 0)
                cb_wrap(err, "%s:%u: %s", b->df_name, in->start_line, kw);
        for (size_t i = 0; i < nsrcs; i++)
                free(srcs[i]);
        free(srcs);
        for (size_t i = 0; i < nhd; i++) {
                free(hd_names[i]);
                free(hd_bodies[i]);
        }
        free(hd_names);
        free(hd_bodies);
        if (j.src_root >= 0)
                (void) close(j.src_root);
        if (j.dst_root >= 0)
                (void) close(j.dst_root);
        bld_rootfs_release(&from_fs);
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
        _cleanup_free_ char *norm = bld_ref_normalize(from, err);
        if (!norm)
                return -EINVAL;
        int r = layer_store_resolve(b->store, norm, ret, err);
        if (r == -ENOENT)
                r = bld_pull(b, norm, ret, err);
        return r;
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
                _cleanup_free_ char *norm = bld_ref_normalize(from, err);
                if (!norm)
                        return -EINVAL;
                char digest[CB_DIGEST_STR_LEN];
                int r = layer_store_resolve(b->store, norm, digest, err);
                if (r == -ENOENT)
                        r = bld_pull(b, norm, digest, err);
                if (r >= 0)
                        r = layer_image_read(b->store, digest, &img, err);
                if (r < 0) {
                        cb_wrap(err, "--from=%s", from);
                        return r;
                }
                layers = img->layers;
                n = img->nlayers;
        }
        char **lowers = cb_xcalloc(n + 1, sizeof(char *));
        size_t k = 0;
        int r = 0;
        for (size_t i = n; i-- > 0 && r >= 0;) {
                r = layer_store_unpacked(b->store, &layers[i], &lowers[k], err);
                if (r >= 0)
                        k++;
        }
        if (r >= 0)
                r = bld_rootfs_mount(fs, b->tmp_dir, (const char *const *) lowers, k, err);
        for (size_t i = 0; i < k; i++)
                free(lowers[i]);
        free(lowers);
        layer_image_free(img);
        return r;
}

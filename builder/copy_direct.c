/* COPY straight into a layer: when the destination is new (or an empty directory), the layer is what
 * the copy into the rootfs followed by layer_commit_dir() would give: the destination's parent
 * directories (those of the image as overlayfs copies them up, the missing ones as mkdir -p makes
 * them), then the source's entries with COPY's owner and mode. Writing it from the sources saves
 * writing every file into the rootfs and reading it back: for a tree of many small files, also
 * creating every inode twice. The layer is unpacked when a later step first mounts it. */
#include "builder/copy_job.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "builder/context.h"
#include "builder/internal.h"
#include "builder/run.h"

#define DIRECT_COMPONENTS_MAX 64

struct visit_ctx {
        const struct copy_job *j;
        const char *base; /* the source directory's path from its root, for .dockerignore ("" at the root) */
};

/* The owner and mode apply_meta() gives a copied entry. */
static void own(const struct copy_job *j, struct stat *st)
{
        uid_t uid;
        gid_t gid;
        mode_t mode;
        bld_copy_meta(j, st, &uid, &gid, &mode);
        st->st_uid = uid;
        st->st_gid = gid;
        if (!S_ISLNK(st->st_mode))
                st->st_mode = (st->st_mode & S_IFMT) | mode;
}

/* What copy_tree() and copy_entry() do to each entry of a source directory, as a layer_tree_visit. */
static bool visit(void *ud, const char *rel, struct stat *st)
{
        const struct visit_ctx *v = ud;
        const struct copy_job *j = v->j;
        mode_t type = st->st_mode & S_IFMT;
        _cleanup_free_ char *crel = *v->base ? cb_xasprintf("%s/%s", v->base, rel) : cb_xstrdup(rel);
        if (j->from_context && j->ignore && df_ignore_match(j->ignore, crel) &&
            !(type == S_IFDIR && df_ignore_may_reinclude(j->ignore, crel)))
                return false;
        if (bld_copy_excluded(j, crel))
                return false;
        /* sockets never; devices and fifos only from a stage (a context's are skipped, as docker does) */
        if (type == S_IFSOCK || (j->from_context && type != S_IFREG && type != S_IFDIR && type != S_IFLNK))
                return false;
        own(j, st);
        return true;
}

/* Whether the source directory gives the copy at least one entry (an empty one changes nothing). */
static bool gives_entries(const struct visit_ctx *v, int dir_fd)
{
        char **names = NULL;
        size_t n = 0;
        if (bld_dir_names(dir_fd, &names, &n) < 0)
                return false;
        bool any = false;
        for (size_t i = 0; i < n; i++) {
                struct stat st;
                if (!any && fstatat(dir_fd, names[i], &st, AT_SYMLINK_NOFOLLOW) == 0)
                        any = visit((void *) v, names[i], &st);
                free(names[i]);
        }
        free(names);
        return any;
}

static bool dir_is_empty(int fd)
{
        int d = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *dir = d >= 0 ? fdopendir(d) : NULL;
        if (!dir) {
                if (d >= 0)
                        (void) close(d);
                return false;
        }
        bool empty = true;
        struct dirent *de;
        while (empty && (de = readdir(dir)))
                empty = !strcmp(de->d_name, ".") || !strcmp(de->d_name, "..");
        (void) closedir(dir);
        return empty;
}

/* Splits path into its components ("." dropped); false on ".." or more than max of them. */
static bool split_path(char *path, char **comp, size_t max, size_t *ret_n)
{
        size_t n = 0;
        for (char *p = path; *p;) {
                size_t len = strcspn(p, "/");
                char *c = p;
                p += len;
                if (*p)
                        *p++ = '\0';
                if (len == 0 || !strcmp(c, "."))
                        continue;
                if (!strcmp(c, "..") || n == max)
                        return false;
                comp[n++] = c;
        }
        *ret_n = n;
        return true;
}

struct dest {
        char *comp[DIRECT_COMPONENTS_MAX];
        struct stat st[DIRECT_COMPONENTS_MAX];
        int fd[DIRECT_COMPONENTS_MAX + 1]; /* fd[i]: the directory holding comp[i]; fd[0] the root */
        size_t n, first_new;               /* first_new: the first component the copy creates (n: none) */
};

static void dest_release(struct dest *d)
{
        for (size_t i = 1; i <= d->n; i++)
                if (d->fd[i] >= 0)
                        (void) close(d->fd[i]);
}

/* Resolves the destination's components in the rootfs, none of them followed: false when one is a
 * symlink or no directory (the copy into the rootfs resolves those), or when the target exists and
 * is not an empty directory (target_dir) or exists at all (a file). */
static bool resolve_dest(int root, struct dest *d, bool target_dir)
{
        d->fd[0] = root;
        for (size_t i = 1; i <= d->n; i++)
                d->fd[i] = -1;
        d->first_new = d->n;
        for (size_t i = 0; i < d->n; i++) {
                if (fstatat(d->fd[i], d->comp[i], &d->st[i], AT_SYMLINK_NOFOLLOW) < 0) {
                        if (errno != ENOENT)
                                return false;
                        d->first_new = i;
                        return true;
                }
                if (!S_ISDIR(d->st[i].st_mode) || (i + 1 == d->n && !target_dir))
                        return false;
                d->fd[i + 1] = openat(d->fd[i], d->comp[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (d->fd[i + 1] < 0)
                        return false;
        }
        return dir_is_empty(d->fd[d->n]);
}

/* The destination's directories: those of the image with their metadata and xattrs (as overlayfs copies
 * them up), the one the copy creates something in with a new mtime, the missing ones 0755 owned by
 * --chown's owner (as mkdirs_in() makes them). For a file source the last component is the file. */
static int write_dirs(struct layer_writer *w, const struct copy_job *j, struct dest *d, size_t ndirs,
                      struct cb_err *err)
{
        struct timespec now;
        (void) clock_gettime(CLOCK_REALTIME, &now);
        struct cb_buf path;
        cb_buf_init(&path, CB_BUF_UNLIMITED);
        int r = 0;
        for (size_t i = 0; i < ndirs && r >= 0; i++) {
                (void) cb_buf_addf(&path, "%s%s", i ? "/" : "", d->comp[i]);
                struct stat st;
                if (i < d->first_new) {
                        st = d->st[i];
                        /* something is created right in it: the next component, or a target's entries */
                        if (i + 1 == d->first_new || i + 1 == d->n)
                                st.st_mtim = now;
                        r = layer_writer_add(w, path.p, &st, d->fd[i], d->comp[i], true, err);
                } else {
                        memset(&st, 0, sizeof(st));
                        st.st_mode = S_IFDIR | 0755;
                        st.st_uid = j->chown ? j->uid : 0;
                        st.st_gid = j->chown ? j->gid : 0;
                        st.st_nlink = 2;
                        st.st_mtim = now;
                        r = layer_writer_add(w, path.p, &st, -1, NULL, false, err);
                }
        }
        cb_buf_release(&path);
        return r;
}

/* Whether the layer carries the source directory's files unchanged (the static report may read them
 * there): no mode, filter or name of the path changes what a scan of the image would see. */
static bool scannable(const struct copy_job *j, const struct dest *d)
{
        if (j->chmod || j->chmod_sym || j->exclude || (j->from_context && j->ignore) || d->n == 0 ||
            !strcmp(d->comp[0], "proc") || !strcmp(d->comp[0], "sys"))
                return false;
        for (size_t i = 0; i < d->n; i++) {
                size_t l = strlen(d->comp[i]);
                if (l >= 10 && !strcmp(d->comp[i] + l - 10, ".dist-info"))
                        return false;
        }
        return true;
}

int bld_copy_direct(struct copy_job *j, const char *src, bool dir_dest, const char *dparent, const char *leaf,
                    struct layer_desc *ret, struct cb_err *err)
{
        const char *off = getenv("CUBUILD_COPY_VIA_ROOTFS");
        if ((off && *off && strcmp(off, "0") != 0) || j->unpack || j->parents || j->hash || !j->direct)
                return 0;
        /* the source: a file or directory named without a symlink (those are followed by copy_source()) */
        _cleanup_close_ int sfd = bld_open_in_root(j->src_root, src, O_PATH | O_NOFOLLOW, 0);
        struct stat sst;
        if (sfd < 0 || fstat(sfd, &sst) < 0 || !(S_ISREG(sst.st_mode) || S_ISDIR(sst.st_mode)))
                return 0;
        bool is_dir = S_ISDIR(sst.st_mode);
        const char *slash = strrchr(src, '/');
        const char *base = slash ? slash + 1 : src;
        _cleanup_free_ char *target = is_dir ? cb_xasprintf("%s/%s", dparent, dir_dest || !leaf ? "" : leaf)
                                             : cb_xasprintf("%s/%s", dparent, dir_dest || !leaf ? base : leaf);
        struct dest d;
        if (!split_path(target, d.comp, DIRECT_COMPONENTS_MAX, &d.n) || d.n == 0)
                return 0;
        bool usable = resolve_dest(j->dst_root, &d, is_dir);
        struct visit_ctx v = { .j = j, .base = strcmp(src, ".") ? src : "" };
        if (is_dir)
                j->xbase = v.base; /* --exclude is relative to the copied directory, as copy_source() sets it */
        _cleanup_close_ int sdir = is_dir ? bld_open_in_root(j->src_root, src, O_RDONLY | O_DIRECTORY, 0) : -1;
        /* an existing target that nothing lands in stays out of the layer: so would it in the rootfs */
        if (usable && is_dir && (sdir < 0 || (d.first_new == d.n && !gives_entries(&v, sdir))))
                usable = false;
        _cleanup_close_ int sparent = -1;
        if (usable && !is_dir) {
                _cleanup_free_ char *pp = slash ? cb_xstrndup(src, (size_t) (slash - src)) : cb_xstrdup("/");
                sparent = bld_open_in_root(j->src_root, pp, O_RDONLY | O_DIRECTORY, 0);
                usable = sparent >= 0;
        }
        if (!usable) {
                dest_release(&d);
                return 0;
        }
        struct layer_writer *w = NULL;
        int r = layer_writer_begin(j->b->store, j->direct, &w, err);
        if (r >= 0)
                r = write_dirs(w, j, &d, is_dir ? d.n : d.n - 1, err);
        /* the destination's place in the layer: its components joined */
        struct cb_buf path;
        cb_buf_init(&path, CB_BUF_UNLIMITED);
        for (size_t i = 0; i < d.n; i++)
                (void) cb_buf_addf(&path, "%s%s", i ? "/" : "", d.comp[i]);
        if (r >= 0 && is_dir) {
                r = layer_writer_add_tree(w, path.p, sdir, visit, &v, err);
        } else if (r >= 0) {
                struct stat st = sst;
                own(j, &st);
                r = layer_writer_add(w, path.p, &st, sparent, base, false, err);
        }
        cb_buf_release(&path);
        bool unchanged = is_dir && scannable(j, &d);
        dest_release(&d);
        if (r < 0) {
                layer_writer_abort(w);
                return r;
        }
        r = layer_writer_commit(w, ret, err);
        if (r < 0)
                return r;
        bld_copy_direct_forget(j->b);
        if (unchanged) {
                struct bld_direct_src *x = &j->b->direct_src;
                memcpy(x->diff_id, ret->diff_id, CB_DIGEST_STR_LEN);
                x->from = j->from_name ? cb_xstrdup(j->from_name) : NULL;
                x->src = cb_xstrdup(src);
                struct cb_buf p;
                cb_buf_init(&p, CB_BUF_UNLIMITED);
                for (size_t i = 0; i < d.n; i++)
                        (void) cb_buf_addf(&p, "/%s", d.comp[i]);
                x->dest = cb_buf_take(&p, NULL);
        }
        return 1;
}

void bld_copy_direct_forget(struct bld_ctx *b)
{
        struct bld_direct_src *x = &b->direct_src;
        free(x->from);
        free(x->src);
        free(x->dest);
        *x = (struct bld_direct_src){ 0 };
}

int bld_copy_direct_source(struct bld_ctx *b, const char *diff_id, struct bld_rootfs *fs, int *ret_fd,
                           const char **ret_path, struct cb_err *err)
{
        const struct bld_direct_src *x = &b->direct_src;
        if (!x->diff_id[0] || strcmp(x->diff_id, diff_id) != 0)
                return -ENOENT;
        int root = b->ctx_fd;
        if (x->from) {
                const struct bld_nctx *nc = bld_nctx_dir_for(b, x->from);
                if (nc) {
                        root = nc->fd;
                } else {
                        int r = bld_stage_rootfs(b, x->from, fs, err);
                        if (r < 0)
                                return r;
                        root = open(fs->merged, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                        if (root < 0)
                                return cb_fail(err, errno, "open '%s'", fs->merged);
                }
        }
        int fd = bld_open_in_root(root, x->src, O_RDONLY | O_DIRECTORY, 0);
        int e = errno;
        if (root != b->ctx_fd && fs->merged)
                (void) close(root);
        if (fd < 0)
                return cb_fail(err, e, "open '%s'", x->src);
        *ret_fd = fd;
        *ret_path = x->dest;
        return 0;
}

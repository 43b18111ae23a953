/* An overlay mount for one build step: the stage's layers (unpacked once in the store) as read-only
 * lower directories, a fresh upper directory that becomes the step's layer. */
#include "builder/internal.h"
#include "layers/layer.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <unistd.h>

static int overlay_new_api(const char *const *lowers, size_t n, const char *empty, const char *upper,
                           const char *work, const char *merged)
{
        int fs = fsopen("overlay", FSOPEN_CLOEXEC);
        if (fs < 0)
                return -errno;
        int r = 0;
        /* lowerdir+ (Linux 6.8) takes one layer per call: no page-size limit on the layer count */
        if (n == 0)
                r = fsconfig(fs, FSCONFIG_SET_STRING, "lowerdir+", empty, 0);
        for (size_t i = 0; i < n && r == 0; i++)
                r = fsconfig(fs, FSCONFIG_SET_STRING, "lowerdir+", lowers[i], 0);
        if (r == 0)
                r = fsconfig(fs, FSCONFIG_SET_STRING, "upperdir", upper, 0);
        if (r == 0)
                r = fsconfig(fs, FSCONFIG_SET_STRING, "workdir", work, 0);
        /* a renamed lower directory must be copied up whole, so the upper dir is a plain diff */
        if (r == 0)
                (void) fsconfig(fs, FSCONFIG_SET_STRING, "redirect_dir", "off", 0);
        if (r == 0)
                (void) fsconfig(fs, FSCONFIG_SET_STRING, "metacopy", "off", 0);
        /* volatile (Linux 5.10): the step's fsyncs and the unmount do not wait for the upper directory to
         * reach the disk (an unmount would otherwise write back everything a RUN wrote, seconds for a
         * pip install of GBs); the layer's blob is fsynced when it is committed, and the unpacked copy is
         * as durable as an extracted one. An older kernel ignores the flag it does not know. */
        if (r == 0)
                (void) fsconfig(fs, FSCONFIG_SET_FLAG, "volatile", NULL, 0);
        if (r == 0)
                r = fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0);
        if (r < 0) {
                int e = errno;
                (void) close(fs);
                return -e;
        }
        int mfd = fsmount(fs, FSMOUNT_CLOEXEC, 0);
        int e = errno;
        (void) close(fs);
        if (mfd < 0)
                return -e;
        r = move_mount(mfd, "", AT_FDCWD, merged, MOVE_MOUNT_F_EMPTY_PATH);
        e = errno;
        (void) close(mfd);
        return r < 0 ? -e : 0;
}

static int overlay_old_api(const char *const *lowers, size_t n, const char *empty, const char *upper,
                           const char *work, const char *merged)
{
        struct cb_buf o;
        cb_buf_init(&o, 65536);
        (void) cb_buf_adds(&o, "lowerdir=");
        if (n == 0)
                (void) cb_buf_adds(&o, empty);
        for (size_t i = 0; i < n; i++)
                (void) cb_buf_addf(&o, "%s%s", i ? ":" : "", lowers[i]);
        (void) cb_buf_addf(&o, ",upperdir=%s,workdir=%s,redirect_dir=off", upper, work);
        int r = mount("overlay", merged, "overlay", 0, o.p);
        int e = errno;
        cb_buf_release(&o);
        return r < 0 ? -e : 0;
}

int bld_rootfs_mount(struct bld_rootfs *fs, const char *tmp_dir, const char *const *lowers, size_t n,
                     struct cb_err *err)
{
        char rnd[17];
        memset(fs, 0, sizeof(*fs));
        cb_random_hex(rnd, 8);
        fs->dir = cb_xasprintf("%s/step-%s", tmp_dir, rnd);
        fs->upper = cb_xasprintf("%s/upper", fs->dir);
        fs->merged = cb_xasprintf("%s/merged", fs->dir);
        _cleanup_free_ char *work = cb_xasprintf("%s/work", fs->dir);
        _cleanup_free_ char *empty = cb_xasprintf("%s/empty", fs->dir);
        const char *dirs[] = { fs->dir, fs->upper, fs->merged, work, empty };
        for (size_t i = 0; i < CB_ARRAY_SIZE(dirs); i++)
                if (mkdir(dirs[i], 0755) < 0)
                        return cb_fail(err, errno, "mkdir '%s'", dirs[i]);
        /* one layer twice in the stack (two steps that changed nothing commit the same empty
         * layer) is one directory twice, which overlayfs refuses with ELOOP; its top-most copy
         * alone gives the same tree, since it sets every path the lower copy sets */
        _cleanup_free_ const char **uniq = cb_xcalloc(n + 1, sizeof(*uniq));
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
                size_t j = 0;
                while (j < k && strcmp(uniq[j], lowers[i]) != 0)
                        j++;
                if (j == k)
                        uniq[k++] = lowers[i];
        }
        int r = overlay_new_api(uniq, k, empty, fs->upper, work, fs->merged);
        if (r == -EINVAL || r == -ENOSYS)
                r = overlay_old_api(uniq, k, empty, fs->upper, work, fs->merged);
        if (r < 0)
                return cb_fail(err, -r, "mount overlay on '%s' (%zu layers)", fs->merged, k);
        fs->mounted = true;
        return 0;
}

int bld_rootfs_unmount(struct bld_rootfs *fs, struct cb_err *err)
{
        if (!fs->mounted)
                return 0;
        if (umount2(fs->merged, 0) < 0) {
                int e = errno;
                if (e != EBUSY || umount2(fs->merged, MNT_DETACH) < 0)
                        return cb_fail(err, e, "unmount '%s'", fs->merged);
        }
        fs->mounted = false;
        return 0;
}

void bld_rootfs_release(struct bld_rootfs *fs)
{
        if (!fs->dir)
                return;
        if (fs->mounted)
                (void) umount2(fs->merged, MNT_DETACH);
        (void) cb_rm_rf(AT_FDCWD, fs->dir, NULL);
        free(fs->dir);
        free(fs->upper);
        free(fs->merged);
        memset(fs, 0, sizeof(*fs));
}

int bld_open_in_root(int root_fd, const char *path, int flags, mode_t mode)
{
        struct open_how how = {
                .flags = (unsigned long long) (flags | O_CLOEXEC),
                .mode = (flags & O_CREAT) ? mode : 0,
                .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
        };
        while (*path == '/')
                path++;
        if (!*path)
                path = ".";
        long r = syscall(SYS_openat2, root_fd, path, &how, sizeof(how));
        return r < 0 ? -1 : (int) r;
}

char *bld_opt_get(const char *list, const char *key)
{
        size_t kl = strlen(key);
        for (const char *p = list; p && *p;) {
                const char *end = strchr(p, ',');
                size_t n = end ? (size_t) (end - p) : strlen(p);
                if (n > kl && strncmp(p, key, kl) == 0 && p[kl] == '=')
                        return cb_xstrndup(p + kl + 1, n - kl - 1);
                if (n == kl && strncmp(p, key, kl) == 0)
                        return cb_xstrdup("");
                p = end ? end + 1 : NULL;
        }
        return NULL;
}

char *bld_referrers_tag(const char *name, const char *manifest_digest)
{
        const char *slash = strrchr(name, '/');
        const char *at = strchr(name, '@');
        const char *colon = strrchr(slash ? slash : name, ':');
        size_t repo_len = at ? (size_t) (at - name) : colon ? (size_t) (colon - name) : strlen(name);
        if (at && colon && colon < at)
                repo_len = (size_t) (colon - name);
        return cb_xasprintf("%.*s:sha256-%s", (int) repo_len, name, manifest_digest + 7);
}

int bld_rootfs_mount_layers(struct bld_rootfs *fs, struct layer_store *s, const char *tmp_dir,
                            const struct layer_desc *layers, size_t n, struct cb_err *err)
{
        char **lowers = cb_xcalloc(n + 1, sizeof(char *));
        size_t k = 0;
        int r = 0;
        for (size_t i = n; i-- > 0 && r >= 0;) {
                r = layer_store_unpacked(s, &layers[i], &lowers[k], err);
                if (r >= 0)
                        k++;
        }
        if (r >= 0)
                r = bld_rootfs_mount(fs, tmp_dir, (const char *const *) lowers, k, err);
        for (size_t i = 0; i < k; i++)
                free(lowers[i]);
        free(lowers);
        return r;
}

static int name_cmp(const void *a, const void *b)
{
        return strcmp(*(char *const *) a, *(char *const *) b);
}

int bld_dir_names(int dir_fd, char ***ret, size_t *ret_n)
{
        int dfd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 3);
        if (dfd < 0)
                return -errno;
        DIR *d = fdopendir(dfd);
        if (!d) {
                int e = errno;
                (void) close(dfd);
                return -e;
        }
        rewinddir(d); /* the dup shares dir_fd's offset */
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
        *ret = names;
        *ret_n = n;
        return 0;
}

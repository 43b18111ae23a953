/* Overlay whiteouts (overlayfs: a 0/0 character device hides a lower entry; an opaque xattr on a directory
 * hides the lower directory's children) and their OCI counterparts (image-spec layer.md: ".wh.<name>" and
 * ".wh..wh..opq"). */
#include "layers/layer.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "layers/internal.h"

bool layer_is_overlay_whiteout(mode_t mode, dev_t rdev)
{
        return S_ISCHR(mode) && major(rdev) == 0 && minor(rdev) == 0;
}

static bool opaque_value(int dir_fd, const char *name)
{
        char v[4];
        ssize_t n = fgetxattr(dir_fd, name, v, sizeof(v));
        return n == 1 && v[0] == 'y';
}

bool layer_dir_is_opaque(int dir_fd)
{
        return opaque_value(dir_fd, "trusted.overlay.opaque") || opaque_value(dir_fd, "user.overlay.opaque");
}

int layer_make_overlay_whiteout(int dir_fd, const char *name, struct cb_err *err)
{
        if (mknodat(dir_fd, name, S_IFCHR | 0000, makedev(0, 0)) < 0)
                return cb_fail(err, errno, "create whiteout '%s'", name);
        return 0;
}

int layer_mark_opaque(int dir_fd, struct cb_err *err)
{
        if (fsetxattr(dir_fd, "trusted.overlay.opaque", "y", 1, 0) == 0)
                return 0;
        int e = errno;
        /* unprivileged overlay (userxattr mount option) reads user.overlay.* instead */
        if ((e == EPERM || e == ENOTSUP) && fsetxattr(dir_fd, "user.overlay.opaque", "y", 1, 0) == 0)
                return 0;
        return cb_fail(err, e, "mark directory opaque");
}

bool layer_xattr_is_overlay(const char *name)
{
        return !strncmp(name, "trusted.overlay.", 16) || !strncmp(name, "user.overlay.", 13);
}

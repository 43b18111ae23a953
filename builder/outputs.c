/* Where a finished image goes besides the store: -o type=oci|local..., --iidfile. */
#include "builder/steps.h"
#include "builder/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

enum layer_compression bld_compression_of(const char *name)
{
        if (name && strcmp(name, "zstd") == 0)
                return LAYER_ZSTD;
        if (name && strcmp(name, "none") == 0)
                return LAYER_UNCOMPRESSED;
        return LAYER_GZIP;
}

bool bld_outputs_compressed(const struct bld_opts *o)
{
        if (o->compression || o->push)
                return true;
        for (size_t i = 0; i < o->noutputs; i++) {
                const char *spec = o->outputs[i];
                _cleanup_free_ char *type = bld_opt_get(spec, "type");
                if (!type ? !strchr(spec, '=') : strcmp(type, "oci") == 0 || strcmp(type, "oci-archive") == 0)
                        return true;
        }
        return false;
}

int bld_outputs(struct bld_ctx *b, const char *digest, struct cb_err *err)
{
        const struct bld_opts *o = b->opts;
        for (size_t i = 0; i < o->noutputs; i++) {
                const char *spec = o->outputs[i];
                _cleanup_free_ char *type = bld_opt_get(spec, "type");
                _cleanup_free_ char *dest = bld_opt_get(spec, "dest");
                _cleanup_free_ char *name = bld_opt_get(spec, "name");
                if (!type && !strchr(spec, '=')) {
                        /* docker: -o DIR means type=local; we write an OCI layout there */
                        type = cb_xstrdup("oci");
                        dest = cb_xstrdup(spec);
                }
                if (!type || !dest)
                        return cb_failc(err, -EINVAL, "--output '%s': give type= and dest=", spec);
                if (strcmp(type, "oci") == 0) {
                        const char *ref = name ? name : (o->ntags ? o->tags[0] : "latest");
                        int r = layer_export_oci_dir(b->store, digest, dest, ref, err);
                        if (r < 0) {
                                cb_wrap(err, "--output '%s'", spec);
                                return r;
                        }
                } else if (strcmp(type, "oci-archive") == 0 || strcmp(type, "docker-archive") == 0 ||
                           strcmp(type, "docker") == 0) {
                        const char *ref = name ? name : (o->ntags ? o->tags[0] : NULL);
                        _cleanup_free_ char *norm = ref ? bld_ref_normalize(ref, err) : NULL;
                        _cleanup_free_ char *tmp = cb_xasprintf("%s.tmp-%d", dest, (int) getpid());
                        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                        if (fd < 0)
                                return cb_fail(err, errno, "--output: create '%s'", tmp);
                        int r;
                        if (strcmp(type, "oci-archive") == 0) {
                                r = layer_export_oci_archive(b->store, digest, ref, fd, err);
                        } else {
                                const char *tags[] = { norm };
                                r = layer_export_docker_archive(b->store, digest, norm ? tags : NULL, norm ? 1 : 0, fd,
                                                                err);
                        }
                        if (r >= 0 && fsync(fd) < 0)
                                r = cb_fail(err, errno, "fsync '%s'", tmp);
                        if (close(fd) < 0 && r >= 0)
                                r = cb_fail(err, errno, "close '%s'", tmp);
                        if (r >= 0 && rename(tmp, dest) < 0)
                                r = cb_fail(err, errno, "rename to '%s'", dest);
                        if (r < 0) {
                                (void) unlink(tmp);
                                cb_wrap(err, "--output '%s'", spec);
                                return r;
                        }
                } else {
                        return cb_failc(err, -ENOTSUP,
                                        "--output type=%s is not supported (use oci, oci-archive or docker-archive)",
                                        type);
                }
        }
        if (o->iidfile) {
                int r = cb_write_file_atomic(AT_FDCWD, o->iidfile, digest, strlen(digest), 0644, err);
                if (r < 0) {
                        cb_wrap(err, "--iidfile");
                        return r;
                }
        }
        return 0;
}

/* libFuzzer target: secure extraction of an arbitrary byte stream (gzip/zstd/plain tar detected) into a
 * scratch root, in both modes. Besides crashes and sanitizer reports it aborts when anything appears
 * beside the root (an escape) or when extraction leaves the scratch directory in a state rm -rf cannot
 * clean. Limits are small so bombs end quickly. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "layers/layer.h"

static char *base;

static void count_outside(int dfd, const char *name)
{
        /* the scratch dir must hold exactly "root" (and nothing else) after each run */
        int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                abort();
        char buf[4096];
        long n = syscall(SYS_getdents64, fd, buf, sizeof(buf));
        close(fd);
        if (n < 0)
                abort();
        int entries = 0;
        for (long off = 0; off < n;) {
                unsigned short reclen = *(unsigned short *) (buf + off + 16);
                const char *nm = buf + off + 19;
                if (strcmp(nm, ".") && strcmp(nm, ".."))
                        entries++;
                off += reclen;
        }
        if (entries != 0) {
                fprintf(stderr, "escape: %d entries appeared beside the root\n", entries);
                abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (!base) {
                const char *t = getenv("TMPDIR");
                base = cb_xasprintf("%s/cb-fuzz-extract-XXXXXX", t && t[0] ? t : "/tmp");
                if (!mkdtemp(base))
                        abort();
        }
        int bfd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (bfd < 0)
                abort();
        int mfd = memfd_create("fuzz-tar", MFD_CLOEXEC);
        if (mfd < 0 || cb_write_all(mfd, data, size) < 0)
                abort();
        for (int mode = 0; mode < 2; mode++) {
                if (mkdirat(bfd, "root", 0755) < 0 || mkdirat(bfd, "side", 0755) < 0)
                        abort();
                int rfd = openat(bfd, "root", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                (void) lseek(mfd, 0, SEEK_SET);
                struct layer_extract_opts o;
                layer_extract_opts_init(&o);
                o.mode = mode ? LAYER_EXTRACT_OVERLAY : LAYER_EXTRACT_APPLY;
                o.keep_setuid = true;
                o.max_entries = 2000;
                o.max_total_size = 16u << 20;
                o.max_name_len = 1024;
                struct cb_err err;
                cb_err_init(&err);
                int r = layer_extract_fd_opts(rfd, mfd, &o, &err);
                if (r < 0 && !cb_err_set(&err))
                        abort(); /* every failure carries a message */
                cb_err_release(&err);
                close(rfd);
                count_outside(bfd, "side");
                struct cb_err e2;
                cb_err_init(&e2);
                if (cb_rm_rf(bfd, "root", &e2) < 0 || cb_rm_rf(bfd, "side", &e2) < 0) {
                        fprintf(stderr, "cleanup: %s\n", cb_err_msg(&e2));
                        abort();
                }
                cb_err_release(&e2);
        }
        close(mfd);
        close(bfd);
        return 0;
}

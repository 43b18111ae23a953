/* COPY's job, shared by the copy into a rootfs (copy.c) and the layer written straight from the sources
 * (copy_direct.c). Internal to builder/. */
#ifndef BLD_COPY_JOB_H
#define BLD_COPY_JOB_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "builder/internal.h"
#include "builder/steps.h"

#define COPY_DEPTH_MAX 256

struct copy_job {
        struct bld_ctx *b;
        const struct df_instr *in;
        int dst_root;     /* the step's rootfs */
        int src_root;     /* the context, or another stage's rootfs */
        bool from_context; /* apply .dockerignore, own files by 0:0 */
        const struct df_ignore *ignore; /* the context's .dockerignore (main or named), or NULL */
        bool chown;
        uid_t uid;
        gid_t gid;
        bool chmod;
        unsigned mode;
        const char *chmod_sym; /* --chmod in chmod(1)'s symbolic form, else NULL */
        bool unpack;           /* ADD: unpack local tar archives */
        struct df_ignore *exclude; /* --exclude patterns, or NULL */
        const char *xbase;         /* what --exclude patterns are relative to ("" the source root) */
        bool parents;              /* COPY --parents: xbase is the pivot, kept for every entry */
        uint64_t files;
        struct cb_sha256 *hash; /* set: describe the sources into it instead of copying (cache key) */
        const struct layer_commit_opts *direct; /* set: the layer may be written from the sources */
        const char *from_name;                  /* --from's value, or NULL */
        bool no_copy_range;     /* copy_file_range() refused once (EXDEV...): read and write from now on */
        unsigned char *buf;     /* COPY_BUF bytes for read and write, allocated at first use */
        /* files with more than one link, copied once, linked after: hard links survive the copy */
        struct copy_link {
                dev_t dev;
                ino_t ino;
                char *dst; /* absolute path of the first copy */
        } *links;
        size_t nlinks, links_cap;
};

/* chmod(1)'s symbolic form, which BuildKit's --chmod takes besides octal ("u+x,go=rX"): an empty
 * who means all, and no umask applies. */
int bld_copy_mode_symbolic(const char *spec, mode_t cur, bool is_dir, mode_t *ret);
/* The owner and mode (permission bits) a copied entry gets: --chown, else 0:0 from a context and the
 * source's owner from a stage; --chmod, else the source's bits. Symlinks take the owner only. */
void bld_copy_meta(const struct copy_job *j, const struct stat *st, uid_t *ret_uid, gid_t *ret_gid,
                   mode_t *ret_mode);
/* Whether --exclude drops rel (a path from the source root). */
bool bld_copy_excluded(const struct copy_job *j, const char *rel);

/* The layer of a COPY whose destination is new (or an empty directory), written straight from its one
 * source (a file or directory of the context or of another stage) without writing the files into the
 * rootfs first: the same entries and metadata the copy into the rootfs and layer_commit_dir() give.
 * src: the source, as a path in j->src_root; abs: the absolute destination; dir_dest, dparent, leaf: as
 * bld_copy() split it. Returns 1 with *ret set when it wrote the layer, 0 when this copy has to go through
 * the rootfs (nothing was changed), or an error. CUBUILD_COPY_VIA_ROOTFS=1 in the environment turns it
 * off (tests compare both). */
int bld_copy_direct(struct copy_job *j, const char *src, bool dir_dest, const char *dparent, const char *leaf,
                    struct layer_desc *ret, struct cb_err *err);

/* Opens (*ret_fd, to close) the directory that bld_copy_direct() carried unchanged into the layer with
 * diff_id, mounting its stage into fs when it came from one (unmount and release fs after use), and gives
 * the path it has in the image (*ret_path, borrowed from b). 0 when found, -ENOENT when diff_id is not
 * such a layer, < 0 on errors. */
int bld_copy_direct_source(struct bld_ctx *b, const char *diff_id, struct bld_rootfs *fs, int *ret_fd,
                           const char **ret_path, struct cb_err *err);
/* Forgets the recorded source (b->direct_src). */
void bld_copy_direct_forget(struct bld_ctx *b);

#endif

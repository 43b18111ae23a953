/* builder/: the CLI, the build plan, the sandbox, and the glue between parser/, layers/, registry/
 * and kernels/. */
#ifndef BLD_H
#define BLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/cb.h"
#include "registry/reg.h"

/* Everything `cubuild build` takes. Strings are borrowed from argv for the whole build. */
struct bld_opts {
        const char *root;    /* store root */
        const char *file;    /* Dockerfile path, "-" for stdin, NULL: CONTEXT/Dockerfile */
        const char *context; /* build context directory */
        const char **tags;
        size_t ntags;
        const char **build_args; /* "K=V", or "K" to take K from the environment */
        size_t nbuild_args;
        const char **labels; /* "K=V" */
        size_t nlabels;
        const char **outputs; /* "type=oci,dest=DIR" ... */
        size_t noutputs;
        const char *target;
        const char *iidfile;
        const char *network; /* "host" (default) or "none" */
        const char *compression; /* "gzip" (default), "zstd", "none" */
        const char *verify;        /* "auto" (default), "require", "skip" */
        const char *verify_report; /* --verify-report FILE */
        const char *metadata_file; /* --metadata-file FILE: digests, pushed names, verification */
        const char *gpus;          /* --gpus all|N|none for RUN (default none) */
        const char **secrets; /* "id=ID,src=PATH" or "id=ID,env=VAR" */
        size_t nsecrets;
        uint64_t shm_size; /* /dev/shm in RUN; 0: 64 MiB */
        int64_t source_date_epoch; /* -1: unset */
        struct reg_opts reg; /* registries: mirrors, insecure hosts, config */
        bool push;           /* push every -t name after the build */
        bool no_cache;
        bool quiet;
        bool debug;
};

const char *bld_version(void);
void bld_opts_init(struct bld_opts *o);
/* Builds and tags; ret_digest gets the manifest digest ("sha256:…"). */
int bld_build(const struct bld_opts *o, char ret_digest[CB_DIGEST_STR_LEN], struct cb_err *err);

struct layer_store;
/* Pushes the store image `name` (a name or digest) to dest (NULL: name itself), and its GPU
 * verification report beside it when the store has one. */
int bld_push_image(struct layer_store *s, const struct reg_opts *ro, const char *name, const char *dest, bool quiet,
                   struct cb_err *err);

#endif

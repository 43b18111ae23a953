/* builder/: the CLI, the build plan, the sandbox, and the glue between parser/, layers/, registry/
 * and kernels/. */
#ifndef BLD_H
#define BLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/cb.h"

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
        const char *compression; /* "gzip" (default), "zstd" */
        const char *verify;        /* "auto" (default), "require", "skip" */
        const char *verify_report; /* --verify-report FILE */
        const char *gpus;          /* --gpus all|N|none for RUN (default none) */
        const char **secrets; /* "id=ID,src=PATH" or "id=ID,env=VAR" */
        size_t nsecrets;
        uint64_t shm_size; /* /dev/shm in RUN; 0: 64 MiB */
        int64_t source_date_epoch; /* -1: unset */
        bool no_cache;
        bool quiet;
        bool debug;
};

const char *bld_version(void);
void bld_opts_init(struct bld_opts *o);
/* Builds and tags; ret_digest gets the manifest digest ("sha256:…"). */
int bld_build(const struct bld_opts *o, char ret_digest[CB_DIGEST_STR_LEN], struct cb_err *err);

#endif

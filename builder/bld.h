/* builder/: the CLI, the build plan, the sandbox, and the glue between parser/, layers/, registry/
 * and kernels/. */
#ifndef BLD_H
#define BLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/cb.h"
#include "registry/reg.h"

struct bld_ulimit;

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
        const char **no_cache_filter; /* --no-cache-filter STAGE: stages whose steps always run */
        size_t nno_cache_filter;
        const char *iidfile;
        const char *network; /* "host" (default) or "none" */
        const char *compression; /* "gzip" (default), "zstd" */
        const char *verify;        /* "auto" (default), "require", "skip" */
        const char *verify_report; /* --verify-report FILE */
        const char *metadata_file; /* --metadata-file FILE: digests, pushed names, verification */
        const char *gpus;          /* --gpus all|N|none for RUN (default none) */
        const char **cache_from; /* "type=registry,ref=REF", "type=local,src=DIR", or a bare REF */
        size_t ncache_from;
        const char **cache_to; /* "type=registry,ref=REF[,mode=min|max]", "type=local,dest=DIR[,mode=...]" */
        size_t ncache_to;
        const char **build_contexts; /* "NAME=docker-image://REF|DIGEST": FROM NAME uses that image */
        size_t nbuild_contexts;
        const char *require_arch;   /* --require-arch sm_80,sm_90: the static report's gaps fail the build */
        const char *require_driver; /* --require-driver 535: idem for the driver the image needs */
        const char **secrets; /* "id=ID,src=PATH" or "id=ID,env=VAR" */
        size_t nsecrets;
        uint64_t shm_size; /* /dev/shm in RUN; 0: 64 MiB */
        const char **add_hosts; /* --add-host HOST:IP, added to /etc/hosts in RUN */
        size_t nadd_hosts;
        struct bld_ulimit *ulimits; /* --ulimit, parsed */
        size_t nulimits;
        const char **annotations; /* --annotation K=V on the manifest */
        size_t nannotations;
        const char *progress;    /* --progress auto|plain|tty|rawjson|quiet; NULL: auto */
        uint64_t run_timeout_ms; /* --run-timeout: a RUN step running longer is killed; 0: no limit */
        bool on_error_shell;     /* --on-error shell: a shell in a failed RUN step's sandbox */
        int64_t source_date_epoch; /* -1: unset */
        unsigned jobs;             /* --jobs: stages built at once (1: one after the other) */
        struct reg_opts reg; /* registries: mirrors, insecure hosts, config */
        bool push;           /* push every -t name after the build */
        bool pull;           /* --pull: resolve FROM images at the registry even when stored */
        bool no_cache;
        bool format_docker; /* --format docker: Docker v2 schema 2 media types */
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
struct bld_progress;
/* The same, with byte counters and messages going to pg (borrowed; NULL: silent). */
int bld_push_image_progress(struct layer_store *s, const struct reg_opts *ro, const char *name, const char *dest,
                            struct bld_progress *pg, struct cb_err *err);

#endif

/* getopt ids of the long options that have no short letter; one list for every command's table
 * (builder/clispec.c) and the parsers that switch on them. */
#ifndef BLD_OPTIDS_H
#define BLD_OPTIDS_H

enum {
        BLD_OPT_BUILD_ARG = 256,
        BLD_OPT_LABEL,
        BLD_OPT_TARGET,
        BLD_OPT_NO_CACHE,
        BLD_OPT_IIDFILE,
        BLD_OPT_NETWORK,
        BLD_OPT_SECRET,
        BLD_OPT_COMPRESSION,
        BLD_OPT_SDE,
        BLD_OPT_SHM,
        BLD_OPT_PROGRESS,
        BLD_OPT_PLATFORM,
        BLD_OPT_PULL,
        BLD_OPT_VERIFY,
        BLD_OPT_VERIFY_REPORT,
        BLD_OPT_GPUS,
        BLD_OPT_PUSH,
        BLD_OPT_METADATA,
        BLD_OPT_JOBS,
        BLD_OPT_FORMAT,
        BLD_OPT_NO_CACHE_FILTER,
        BLD_OPT_ADD_HOST,
        BLD_OPT_ULIMIT,
        BLD_OPT_ANNOTATION,
        BLD_OPT_LOAD,
        BLD_OPT_CHECK,
        BLD_OPT_SSH,
        BLD_OPT_RUN_TIMEOUT,
        BLD_OPT_ON_ERROR,
        /* global options */
        BLD_OPT_ROOT,
        BLD_OPT_DEBUG,
        BLD_OPT_CONFIG,
        BLD_OPT_MIRROR,
        BLD_OPT_INSECURE,
        BLD_OPT_VERSION,
        /* other commands */
        BLD_OPT_STRICT,
        BLD_OPT_LIST_RULES,
        BLD_OPT_PASSWORD_STDIN,
        BLD_OPT_AUTHFILE,
        /* the static compatibility report (build, compat) */
        BLD_OPT_REQUIRE_ARCH,
        BLD_OPT_REQUIRE_DRIVER,
        BLD_OPT_JSON,
        /* the shared build cache (build, bake) and bake */
        BLD_OPT_CACHE_FROM,
        BLD_OPT_CACHE_TO,
        BLD_OPT_SET,
        BLD_OPT_PRINT,
        BLD_OPT_PROVENANCE,
        BLD_OPT_SBOM,
        BLD_OPT_NO_FILES,
        BLD_OPT_GET,
        BLD_OPT_CONTEXT,
        BLD_OPT_INPUTS,
        BLD_OPT_BUILD_CONTEXT,
        BLD_OPT_REPAIR,
        /* prune */
        BLD_OPT_PRUNE_CACHE,
        BLD_OPT_KEEP_STORAGE,
        BLD_OPT_FILTER,
};

#endif

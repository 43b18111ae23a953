/* Exit codes, asserted by the CLI tests (STYLE.md §10). */
#ifndef BLD_EXIT_H
#define BLD_EXIT_H

enum {
        BLD_EXIT_OK = 0,
        BLD_EXIT_FAILED = 1, /* parse, RUN, registry, store */
        BLD_EXIT_USAGE = 2,
        BLD_EXIT_VERIFY = 3, /* GPU verification failed */
        /* 128+N: killed by signal N */
};

#endif

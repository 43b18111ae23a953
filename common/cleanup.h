/* Scope-bound cleanup (systemd/crun style). Every helper accepts NULL or -1 and then does nothing. */
#ifndef CB_CLEANUP_H
#define CB_CLEANUP_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))

static inline void cb_freep(void *p)
{
        int e = errno;
        free(*(void **) p);
        errno = e;
}

static inline void cb_closep(int *fd)
{
        if (*fd >= 0) {
                int e = errno;
                (void) close(*fd);
                errno = e;
        }
}

static inline void cb_fclosep(FILE **f)
{
        if (*f) {
                int e = errno;
                (void) fclose(*f);
                errno = e;
        }
}

#define _cleanup_free_ _cleanup_(cb_freep)
#define _cleanup_close_ _cleanup_(cb_closep)
#define _cleanup_fclose_ _cleanup_(cb_fclosep)

/* Hand ownership on: returns the value and resets the variable so its cleanup does nothing. */
#define CB_TAKE_PTR(p)                                                                                       \
        ({                                                                                                   \
                __typeof__(p) _tp = (p);                                                                     \
                (p) = NULL;                                                                                  \
                _tp;                                                                                         \
        })
#define CB_TAKE_FD(fd)                                                                                       \
        ({                                                                                                   \
                int _tfd = (fd);                                                                             \
                (fd) = -1;                                                                                   \
                _tfd;                                                                                        \
        })

#define CB_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif

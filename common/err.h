/* The error chain (crun's shape). One struct cb_err travels as the last argument of every call
 * that can fail. The callee raises with cb_fail(); each caller on the way up adds only what it
 * knows with cb_wrap(), which prepends "context: ". The user sees one line:
 *   "Dockerfile:14: COPY: open 'app/': No such file or directory" */
#ifndef CB_ERR_H
#define CB_ERR_H

#include <errno.h>
#include <stdbool.h>

#include "buf.h"

struct cb_err {
        int errnum;           /* errno of the failing call; 0 when the failure is our own verdict */
        const char *src_file; /* where cb_fail() was called, shown with --debug */
        int src_line;
        struct cb_buf msg;
};

void cb_err_init(struct cb_err *err);
void cb_err_release(struct cb_err *err);
/* Clears a raised error so the struct can be reused. */
void cb_err_reset(struct cb_err *err);
static inline bool cb_err_set(const struct cb_err *err)
{
        return err->msg.len > 0;
}
/* Borrowed: valid until the next call on err. "" when nothing was raised. */
const char *cb_err_msg(const struct cb_err *err);

/* Raise: replaces any earlier message. errnum > 0 appends ": strerror(errnum)". Returns -errnum, or
 * -EINVAL when errnum is 0, so callers write `return cb_fail(err, errno, "open '%s'", p);`.
 * err may be NULL (the error is then dropped). */
/* The statement expression makes "always negative" visible at every call site, for the compiler and
 * the static analyzer alike (they cannot see into err.c). */
#define cb_fail(err, errnum, ...)                                                                            \
        ({                                                                                                   \
                int _cb_r = cb_fail_at((err), (errnum), __FILE__, __LINE__, __VA_ARGS__);                    \
                _cb_r < 0 ? _cb_r : -EINVAL;                                                                 \
        })
/* Like cb_fail() but returns code (a negative errno) and records no strerror text. */
#define cb_failc(err, code, ...)                                                                             \
        ({                                                                                                   \
                int _cb_r = cb_failc_at((err), (code), __FILE__, __LINE__, __VA_ARGS__);                     \
                _cb_r < 0 ? _cb_r : -EINVAL;                                                                 \
        })
int cb_fail_at(struct cb_err *err, int errnum, const char *file, int line, const char *fmt, ...)
        __attribute__((format(printf, 5, 6)));
int cb_failc_at(struct cb_err *err, int code, const char *file, int line, const char *fmt, ...)
        __attribute__((format(printf, 5, 6)));
/* Prepend context to the raised message. Does nothing when err is NULL. */
void cb_wrap(struct cb_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Non-fatal findings the builder prints once (an xattr the filesystem cannot store, lint). */
struct cb_warnings {
        char **v;
        size_t n, cap;
};
void cb_warnings_init(struct cb_warnings *w);
void cb_warnings_release(struct cb_warnings *w);
void cb_warn(struct cb_warnings *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif

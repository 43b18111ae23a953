#include "err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define CB_ERR_MAX (64u * 1024u)

void cb_err_init(struct cb_err *err)
{
        err->errnum = 0;
        err->src_file = NULL;
        err->src_line = 0;
        cb_buf_init(&err->msg, CB_ERR_MAX);
}

void cb_err_release(struct cb_err *err)
{
        cb_buf_release(&err->msg);
        err->errnum = 0;
        err->src_file = NULL;
        err->src_line = 0;
}

void cb_err_reset(struct cb_err *err)
{
        cb_buf_reset(&err->msg);
        err->errnum = 0;
        err->src_file = NULL;
        err->src_line = 0;
}

const char *cb_err_msg(const struct cb_err *err)
{
        return err->msg.p;
}

static void __attribute__((format(printf, 5, 0)))
vset(struct cb_err *err, int errnum, const char *file, int line, const char *fmt, va_list ap)
{
        cb_buf_reset(&err->msg);
        err->errnum = errnum;
        err->src_file = file;
        err->src_line = line;
        (void) cb_buf_vaddf(&err->msg, fmt, ap);
}

int cb_fail_at(struct cb_err *err, int errnum, const char *file, int line, const char *fmt, ...)
{
        int saved = errnum;
        if (errnum < 0)
                errnum = -errnum;
        if (err) {
                va_list ap;
                va_start(ap, fmt);
                vset(err, errnum, file, line, fmt, ap);
                va_end(ap);
                if (errnum > 0)
                        (void) cb_buf_addf(&err->msg, ": %s", strerror(errnum));
        }
        (void) saved;
        return errnum > 0 ? -errnum : -EINVAL;
}

int cb_failc_at(struct cb_err *err, int code, const char *file, int line, const char *fmt, ...)
{
        if (code > 0)
                code = -code;
        if (code == 0)
                code = -EINVAL;
        if (err) {
                va_list ap;
                va_start(ap, fmt);
                vset(err, 0, file, line, fmt, ap);
                va_end(ap);
        }
        return code;
}

void cb_wrap(struct cb_err *err, const char *fmt, ...)
{
        struct cb_buf pre;
        va_list ap;

        if (!err)
                return;
        cb_buf_init(&pre, CB_ERR_MAX);
        va_start(ap, fmt);
        (void) cb_buf_vaddf(&pre, fmt, ap);
        va_end(ap);
        if (err->msg.len) {
                (void) cb_buf_adds(&pre, ": ");
                (void) cb_buf_add(&pre, err->msg.p, err->msg.len);
        }
        cb_buf_release(&err->msg);
        err->msg = pre;
}

void cb_warnings_init(struct cb_warnings *w)
{
        w->v = NULL;
        w->n = w->cap = 0;
}

void cb_warnings_release(struct cb_warnings *w)
{
        for (size_t i = 0; i < w->n; i++)
                free(w->v[i]);
        free(w->v);
        cb_warnings_init(w);
}

void cb_warn(struct cb_warnings *w, const char *fmt, ...)
{
        struct cb_buf b;
        va_list ap;

        if (!w)
                return;
        cb_buf_init(&b, CB_ERR_MAX);
        va_start(ap, fmt);
        (void) cb_buf_vaddf(&b, fmt, ap);
        va_end(ap);
        if (w->n == w->cap) {
                w->cap = w->cap ? w->cap * 2 : 8;
                w->v = cb_xrealloc(w->v, w->cap * sizeof(*w->v));
        }
        w->v[w->n++] = cb_buf_take(&b, NULL);
}

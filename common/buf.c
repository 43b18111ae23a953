#include "buf.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static char empty_buf[1];

void *cb_xmalloc(size_t n)
{
        void *p = malloc(n ? n : 1);
        if (!p) {
                (void) fputs("cubuild: out of memory\n", stderr);
                abort();
        }
        return p;
}

void *cb_xcalloc(size_t n, size_t size)
{
        void *p = calloc(n ? n : 1, size ? size : 1);
        if (!p) {
                (void) fputs("cubuild: out of memory\n", stderr);
                abort();
        }
        return p;
}

void *cb_xrealloc(void *p, size_t n)
{
        void *q = realloc(p, n ? n : 1);
        if (!q) {
                (void) fputs("cubuild: out of memory\n", stderr);
                abort();
        }
        return q;
}

char *cb_xstrdup(const char *s)
{
        return cb_xstrndup(s, strlen(s));
}

char *cb_xstrndup(const char *s, size_t n)
{
        char *p = cb_xmalloc(n + 1);
        memcpy(p, s, n);
        p[n] = '\0';
        return p;
}

char *cb_xasprintf(const char *fmt, ...)
{
        struct cb_buf b;
        va_list ap;
        cb_buf_init(&b, CB_BUF_UNLIMITED);
        va_start(ap, fmt);
        (void) cb_buf_vaddf(&b, fmt, ap);
        va_end(ap);
        return cb_buf_take(&b, NULL);
}

struct cb_str cb_str_c(const char *s)
{
        return (struct cb_str){ s, s ? strlen(s) : 0 };
}

bool cb_str_eq(struct cb_str a, struct cb_str b)
{
        return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

bool cb_str_eq_c(struct cb_str a, const char *s)
{
        return cb_str_eq(a, cb_str_c(s));
}

bool cb_str_eq_nocase_c(struct cb_str a, const char *s)
{
        size_t n = strlen(s);
        return a.len == n && strncasecmp(a.p, s, n) == 0;
}

bool cb_str_has_prefix(struct cb_str a, const char *prefix)
{
        size_t n = strlen(prefix);
        return a.len >= n && memcmp(a.p, prefix, n) == 0;
}

char *cb_str_dup(struct cb_str s)
{
        return cb_xstrndup(s.p ? s.p : "", s.len);
}

void cb_buf_init(struct cb_buf *b, size_t max)
{
        b->p = empty_buf;
        b->len = 0;
        b->cap = 0;
        b->max = max;
}

void cb_buf_release(struct cb_buf *b)
{
        if (b->cap)
                free(b->p);
        cb_buf_init(b, b->max);
}

void cb_buf_reset(struct cb_buf *b)
{
        b->len = 0;
        b->p[0] = '\0';
}

int cb_buf_grow(struct cb_buf *b, size_t extra)
{
        size_t need;
        if (extra > SIZE_MAX - b->len - 1)
                return -E2BIG;
        need = b->len + extra + 1;
        if (b->max != CB_BUF_UNLIMITED && need - 1 > b->max)
                return -E2BIG;
        if (need <= b->cap)
                return 0;
        size_t cap = b->cap ? b->cap : 64;
        while (cap < need)
                cap = cap > SIZE_MAX / 2 ? need : cap * 2;
        if (b->cap == 0) {
                b->p = cb_xmalloc(cap);
                b->p[0] = '\0';
        } else {
                b->p = cb_xrealloc(b->p, cap);
        }
        b->cap = cap;
        return 0;
}

int cb_buf_add(struct cb_buf *b, const void *p, size_t len)
{
        int r = cb_buf_grow(b, len);
        if (r < 0)
                return r;
        if (len)
                memcpy(b->p + b->len, p, len);
        b->len += len;
        b->p[b->len] = '\0';
        return 0;
}

int cb_buf_adds(struct cb_buf *b, const char *s)
{
        return cb_buf_add(b, s, strlen(s));
}

int cb_buf_addc(struct cb_buf *b, char c)
{
        return cb_buf_add(b, &c, 1);
}

int cb_buf_vaddf(struct cb_buf *b, const char *fmt, va_list ap)
{
        va_list cp;
        char small[256];
        int n;

        va_copy(cp, ap);
        n = vsnprintf(small, sizeof(small), fmt, cp); /* NOLINT(clang-analyzer-valist.Uninitialized): va_copy above */
        va_end(cp);
        if (n < 0)
                return -EINVAL;
        if ((size_t) n < sizeof(small))
                return cb_buf_add(b, small, (size_t) n);
        int r = cb_buf_grow(b, (size_t) n);
        if (r < 0)
                return r;
        (void) vsnprintf(b->p + b->len, (size_t) n + 1, fmt, ap);
        b->len += (size_t) n;
        return 0;
}

int cb_buf_addf(struct cb_buf *b, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        int r = cb_buf_vaddf(b, fmt, ap);
        va_end(ap);
        return r;
}

void cb_buf_truncate(struct cb_buf *b, size_t len)
{
        if (len < b->len) {
                b->len = len;
                b->p[len] = '\0';
        }
}

char *cb_buf_take(struct cb_buf *b, size_t *ret_len)
{
        char *p;
        if (ret_len)
                *ret_len = b->len;
        if (b->cap == 0)
                p = cb_xstrdup("");
        else
                p = b->p;
        cb_buf_init(b, b->max);
        return p;
}

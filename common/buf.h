/* Growable byte buffer (transparent value type, git's strbuf shape).
 *
 * After cb_buf_init(), p is never NULL and p[len] is always '\0', though the bytes may contain NUL.
 * max caps growth: an append past it fails with -E2BIG and leaves the buffer as it was, so hostile
 * input (a huge manifest, a 2 GB RUN line) fails instead of eating memory. p is valid until the next
 * append, reset or release. */
#ifndef CB_BUF_H
#define CB_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct cb_buf {
        char *p;
        size_t len, cap, max;
};

/* A slice: borrowed bytes, not NUL-terminated. Print with "%.*s", (int) s.len, s.p. */
struct cb_str {
        const char *p;
        size_t len;
};

#define CB_BUF_UNLIMITED ((size_t) -1)
#define CB_STR(lit) ((struct cb_str){ (lit), sizeof(lit) - 1 })

static inline struct cb_str cb_str_from(const char *s, size_t len)
{
        return (struct cb_str){ s, len };
}
struct cb_str cb_str_c(const char *s);
bool cb_str_eq(struct cb_str a, struct cb_str b);
bool cb_str_eq_c(struct cb_str a, const char *s);
bool cb_str_eq_nocase_c(struct cb_str a, const char *s);
bool cb_str_has_prefix(struct cb_str a, const char *prefix);
/* Owned: a NUL-terminated copy; free() it. */
char *cb_str_dup(struct cb_str s);

void cb_buf_init(struct cb_buf *b, size_t max);
void cb_buf_release(struct cb_buf *b);
void cb_buf_reset(struct cb_buf *b);
int cb_buf_grow(struct cb_buf *b, size_t extra);
int cb_buf_add(struct cb_buf *b, const void *p, size_t len);
int cb_buf_adds(struct cb_buf *b, const char *s);
int cb_buf_addc(struct cb_buf *b, char c);
int cb_buf_addf(struct cb_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cb_buf_vaddf(struct cb_buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
void cb_buf_truncate(struct cb_buf *b, size_t len);
/* Owned: the bytes, NUL-terminated; the buffer is re-initialised empty with the same max. */
char *cb_buf_take(struct cb_buf *b, size_t *ret_len);

static inline struct cb_str cb_buf_str(const struct cb_buf *b)
{
        return (struct cb_str){ b->p, b->len };
}

/* Exits the process on OOM: the one deliberate exit (STYLE.md §3). */
void *cb_xmalloc(size_t n);
void *cb_xcalloc(size_t n, size_t size);
void *cb_xrealloc(void *p, size_t n);
char *cb_xstrdup(const char *s);
char *cb_xstrndup(const char *s, size_t n);
char *cb_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif

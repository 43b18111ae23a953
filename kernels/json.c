/* A small growable string and JSON writer (see internal.h for why kernels/ has its own). */
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool sb_reserve(struct kv_sb *sb, size_t extra)
{
        size_t need, cap;
        char *p;

        if (sb->oom)
                return false;
        if (extra > SIZE_MAX / 2 - sb->len) {
                sb->oom = true;
                return false;
        }
        need = sb->len + extra + 1;
        if (need <= sb->cap)
                return true;
        cap = sb->cap ? sb->cap : 256;
        while (cap < need)
                cap *= 2;
        p = realloc(sb->p, cap);
        if (!p) {
                sb->oom = true;
                return false;
        }
        sb->p = p;
        sb->cap = cap;
        return true;
}

void kv_sb_add(struct kv_sb *sb, const char *p, size_t len)
{
        if (!sb_reserve(sb, len))
                return;
        memcpy(sb->p + sb->len, p, len);
        sb->len += len;
        sb->p[sb->len] = '\0';
}

void kv_sb_adds(struct kv_sb *sb, const char *s)
{
        kv_sb_add(sb, s, strlen(s));
}

void kv_sb_vaddf(struct kv_sb *sb, const char *fmt, va_list ap)
{
        va_list ap2;
        int n;

        va_copy(ap2, ap);
        n = vsnprintf(NULL, 0, fmt, ap2);
        va_end(ap2);
        if (n < 0 || !sb_reserve(sb, (size_t) n))
                return;
        vsnprintf(sb->p + sb->len, (size_t) n + 1, fmt, ap);
        sb->len += (size_t) n;
}

char *kv_asprintf(const char *fmt, ...)
{
        struct kv_sb sb = {0};
        va_list ap;

        va_start(ap, fmt);
        kv_sb_vaddf(&sb, fmt, ap);
        va_end(ap);
        return kv_sb_take(&sb);
}

void kv_sb_addf(struct kv_sb *sb, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        kv_sb_vaddf(sb, fmt, ap);
        va_end(ap);
}

char *kv_sb_take(struct kv_sb *sb)
{
        char *p;

        if (sb->oom) {
                kv_sb_release(sb);
                return NULL;
        }
        p = sb->p ? sb->p : strdup("");
        sb->p = NULL;
        sb->len = sb->cap = 0;
        return p;
}

void kv_sb_release(struct kv_sb *sb)
{
        free(sb->p);
        sb->p = NULL;
        sb->len = sb->cap = 0;
        sb->oom = false;
}

void kv_json_escape(struct kv_sb *sb, const char *s)
{
        kv_sb_add(sb, "\"", 1);
        for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
                switch (*p) {
                case '"':
                        kv_sb_add(sb, "\\\"", 2);
                        break;
                case '\\':
                        kv_sb_add(sb, "\\\\", 2);
                        break;
                case '\n':
                        kv_sb_add(sb, "\\n", 2);
                        break;
                case '\r':
                        kv_sb_add(sb, "\\r", 2);
                        break;
                case '\t':
                        kv_sb_add(sb, "\\t", 2);
                        break;
                default:
                        if (*p < 0x20)
                                kv_sb_addf(sb, "\\u%04x", *p);
                        else
                                kv_sb_add(sb, (const char *) p, 1);
                }
        }
        kv_sb_add(sb, "\"", 1);
}

/* Comma, newline, indentation and key before a value. */
static void begin_value(struct kv_json *j, const char *key)
{
        if (j->depth > 0) {
                if (j->nonempty[j->depth - 1])
                        kv_sb_add(&j->sb, ",", 1);
                j->nonempty[j->depth - 1] = true;
                kv_sb_add(&j->sb, "\n", 1);
                for (int i = 0; i < j->depth; i++)
                        kv_sb_add(&j->sb, "  ", 2);
        }
        if (key) {
                kv_json_escape(&j->sb, key);
                kv_sb_add(&j->sb, ": ", 2);
        }
}

void kv_json_open(struct kv_json *j, const char *key, char bracket)
{
        begin_value(j, key);
        kv_sb_add(&j->sb, &bracket, 1);
        if (j->depth < KV_JSON_MAX_DEPTH) {
                j->nonempty[j->depth] = false;
                j->depth++;
        }
}

void kv_json_close(struct kv_json *j, char bracket)
{
        bool nonempty = false;

        if (j->depth > 0) {
                j->depth--;
                nonempty = j->nonempty[j->depth];
        }
        if (nonempty) {
                kv_sb_add(&j->sb, "\n", 1);
                for (int i = 0; i < j->depth; i++)
                        kv_sb_add(&j->sb, "  ", 2);
        }
        kv_sb_add(&j->sb, &bracket, 1);
        if (j->depth == 0)
                kv_sb_add(&j->sb, "\n", 1);
}

void kv_json_str(struct kv_json *j, const char *key, const char *val)
{
        begin_value(j, key);
        if (val)
                kv_json_escape(&j->sb, val);
        else
                kv_sb_adds(&j->sb, "null");
}

void kv_json_int(struct kv_json *j, const char *key, long long v)
{
        begin_value(j, key);
        kv_sb_addf(&j->sb, "%lld", v);
}

void kv_json_num(struct kv_json *j, const char *key, double v)
{
        begin_value(j, key);
        if (isfinite(v))
                kv_sb_addf(&j->sb, "%.6g", v);
        else
                kv_sb_adds(&j->sb, "null");
}

void kv_json_bool(struct kv_json *j, const char *key, bool v)
{
        begin_value(j, key);
        kv_sb_adds(&j->sb, v ? "true" : "false");
}

void kv_json_null(struct kv_json *j, const char *key)
{
        begin_value(j, key);
        kv_sb_adds(&j->sb, "null");
}

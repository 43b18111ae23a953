/* kernels/internal.h: helpers shared by the verifier, the injection plan and their tools; not for
 * other modules. Plain C and libc only: the verifier is compiled on its own inside an old rootfs. */
#ifndef CUBUILD_KV_INTERNAL_H
#define CUBUILD_KV_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- growable string (kernels/ cannot use common/'s cb_buf) ---- */
struct kv_sb {
        char *p; /* NUL-terminated once anything was added; NULL before */
        size_t len;
        size_t cap;
        bool oom; /* an allocation failed: the content is truncated, callers check once at the end */
};
void kv_sb_add(struct kv_sb *sb, const char *p, size_t len);
void kv_sb_adds(struct kv_sb *sb, const char *s);
void kv_sb_addf(struct kv_sb *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void kv_sb_vaddf(struct kv_sb *sb, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* printf into a new malloc'd string; NULL on OOM. */
char *kv_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Returns the string (never NULL unless oom; "" when empty) and resets sb; the caller frees it. */
char *kv_sb_take(struct kv_sb *sb);
void kv_sb_release(struct kv_sb *sb);

/* ---- JSON writer ----
 * A hand-written writer because the verifier runs inside arbitrary images, where no JSON library
 * can be assumed; it writes, it never parses. Output is indented with two spaces. Keys are NULL
 * inside arrays. Strings are escaped per RFC 8259 (bytes >= 0x80 pass through: callers give UTF-8). */
#define KV_JSON_MAX_DEPTH 16
struct kv_json {
        struct kv_sb sb;
        int depth;
        bool nonempty[KV_JSON_MAX_DEPTH];
};
void kv_json_open(struct kv_json *j, const char *key, char bracket);   /* '{' or '[' */
void kv_json_close(struct kv_json *j, char bracket);                   /* '}' or ']' */
void kv_json_str(struct kv_json *j, const char *key, const char *val); /* NULL -> null */
void kv_json_int(struct kv_json *j, const char *key, long long v);
void kv_json_num(struct kv_json *j, const char *key, double v); /* non-finite -> null */
void kv_json_bool(struct kv_json *j, const char *key, bool v);
void kv_json_null(struct kv_json *j, const char *key);
/* Appends s as a JSON string literal, quotes included. */
void kv_json_escape(struct kv_sb *sb, const char *s);

/* ---- ld.so.cache ---- */
struct kv_ldcache_entry {
        char *name; /* the soname the loader looks up: "libcuda.so.1" */
        char *path; /* "/usr/lib/x86_64-linux-gnu/libcuda.so.1" as the cache holds it */
        int32_t flags;
};
/* The ld.so.cache flags of a 64-bit library for the machine this is compiled for, and the mask. */
#define KV_LDCACHE_TYPE_MASK 0xff00
#if defined(__x86_64__)
#define KV_LDCACHE_NATIVE 0x0303
#elif defined(__aarch64__)
#define KV_LDCACHE_NATIVE 0x0a03
#elif defined(__powerpc64__)
#define KV_LDCACHE_NATIVE 0x0503
#else
#define KV_LDCACHE_NATIVE 0x0003
#endif

/* Parses glibc's ld.so.cache (the "glibc-ld.so.cache1.1" format, alone or after the old
 * "ld.so-1.7.0" table as glibc < 2.32 writes it). Returns the entry count, or -EBADMSG for data that
 * is not such a cache. *ret is owned by the caller: kv_ldcache_free(*ret, count). */
int kv_ldcache_parse(const unsigned char *data, size_t len, struct kv_ldcache_entry **ret);
void kv_ldcache_free(struct kv_ldcache_entry *e, size_t n);

/* ---- ELF ---- */
/* The DT_NEEDED sonames of the 64-bit ELF shared object at fd. Returns the count (*ret owned by the
 * caller, an array of malloc'd strings, free each then the array), or -errno / -EBADMSG. */
int kv_elf_needed(int fd, char ***ret);

/* ---- files ---- */
/* Reads a whole file (at most max bytes) into a malloc'd, NUL-terminated buffer. Returns the length
 * or -errno (-EFBIG past max). */
long kv_read_file(int dir_fd, const char *path, size_t max, char **ret);

#endif

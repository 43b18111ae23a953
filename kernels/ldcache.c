/* Reading glibc's ld.so.cache, the table ldconfig writes and the loader searches by soname.
 * Layout from glibc's sysdeps/generic/dl-cache.h: the old "ld.so-1.7.0" table (12-byte entries),
 * optionally followed, 8-byte aligned, by the new "glibc-ld.so.cache1.1" table (24-byte entries);
 * since glibc 2.32 ldconfig writes the new table alone. String offsets in the new table count from
 * the start of its header. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define OLD_MAGIC "ld.so-1.7.0"
#define NEW_MAGIC "glibc-ld.so.cache"
#define NEW_VERSION "1.1"
#define OLD_HEADER 16 /* magic[11] padded to 12, uint32 nlibs */
#define OLD_ENTRY 12
#define NEW_HEADER 48 /* magic[17] version[3] nlibs len_strings flags pad[3] ext_offset unused[3] */
#define NEW_ENTRY 24

static uint32_t rd32(const unsigned char *p)
{
        uint32_t v;

        memcpy(&v, p, 4); /* the cache is in host byte order */
        return v;
}

/* A NUL-terminated string at off inside data, or NULL. */
static const char *str_at(const unsigned char *data, size_t len, size_t base, uint32_t off)
{
        size_t at = base + off;

        if (at < base || at >= len)
                return NULL;
        if (!memchr(data + at, '\0', len - at))
                return NULL;
        return (const char *) data + at;
}

void kv_ldcache_free(struct kv_ldcache_entry *e, size_t n)
{
        if (!e)
                return;
        for (size_t i = 0; i < n; i++) {
                free(e[i].name);
                free(e[i].path);
        }
        free(e);
}

int kv_ldcache_parse(const unsigned char *data, size_t len, struct kv_ldcache_entry **ret)
{
        size_t base = 0, n;
        struct kv_ldcache_entry *e;

        if (len >= OLD_HEADER && memcmp(data, OLD_MAGIC, sizeof(OLD_MAGIC) - 1) == 0) {
                uint64_t old_n = rd32(data + 12);

                base = OLD_HEADER + old_n * OLD_ENTRY;
                base = (base + 7) & ~(size_t) 7;
                if (base >= len)
                        return -EBADMSG; /* old table alone: not written by any glibc since 2.32 */
        }
        if (len - base < NEW_HEADER || memcmp(data + base, NEW_MAGIC, sizeof(NEW_MAGIC) - 1) != 0 ||
            memcmp(data + base + sizeof(NEW_MAGIC) - 1, NEW_VERSION, sizeof(NEW_VERSION) - 1) != 0)
                return -EBADMSG;
        n = rd32(data + base + 20);
        if (n > (len - base - NEW_HEADER) / NEW_ENTRY)
                return -EBADMSG;
        e = calloc(n ? n : 1, sizeof(*e));
        if (!e)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                const unsigned char *ent = data + base + NEW_HEADER + i * NEW_ENTRY;
                const char *key = str_at(data, len, base, rd32(ent + 4));
                const char *val = str_at(data, len, base, rd32(ent + 8));

                if (!key || !val) {
                        kv_ldcache_free(e, i);
                        return -EBADMSG;
                }
                memcpy(&e[i].flags, ent, 4);
                e[i].name = strdup(key);
                e[i].path = strdup(val);
                if (!e[i].name || !e[i].path) {
                        kv_ldcache_free(e, i + 1);
                        return -ENOMEM;
                }
        }
        *ret = e;
        return (int) n;
}

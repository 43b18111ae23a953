/* Reading the CUDA code of an ELF file by headers only: the ELF header, the section headers, the
 * section-name table, then in .nv_fatbin each fatbinary's container header and its entries' headers.
 * Entry payloads (cubins, PTX text, compressed or not) are skipped by their sizes, never read.
 *
 * The fatbinary layout (little-endian, as nvcc writes it and cuobjdump reads it):
 *   container header, 16 bytes: u32 magic 0xBA55ED50, u16 version, u16 header size, u64 size of the
 *     entries that follow;
 *   entry header, at least 64 bytes: u16 kind (1 PTX, 2 ELF/SASS), u16, u32 header size, u64 payload
 *     size, u32 compressed size, u32, u16 minor, u16 major (the PTX ISA version for PTX), u32 arch
 *     (90 for sm_90), u32 name offset, u32 name length, u64 flags, u64, u64 uncompressed size.
 *   flags: 0x2000 and 0x8000 mark a compressed payload (LZ4, zstd), 0x100000 arch-specific code
 *     (sm_90a), 0x200000 family-specific code (sm_100f).
 * Containers follow each other in the section, 8-byte aligned. */
#include "compat.h"
#include "compat-internal.h"

#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FATBIN_MAGIC 0xBA55ED50u
#define FATBIN_HEADER 16
#define FATBIN_ENTRY_MIN 64
#define FLAG_COMPRESSED_LZ4 0x2000u
#define FLAG_COMPRESSED_ZSTD 0x8000u
#define FLAG_ARCH_SPECIFIC 0x100000u
#define FLAG_ARCH_FAMILY 0x200000u
#define SHSTRTAB_MAX (1u << 20)
#define DYNAMIC_MAX (1u << 20)
#define MAX_ENTRIES 4096 /* per fatbinary; nvcc writes one per -gencode target */

static uint16_t rd16(const unsigned char *p)
{
        return (uint16_t) (p[0] | p[1] << 8);
}

static uint32_t rd32(const unsigned char *p)
{
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

static uint64_t rd64(const unsigned char *p)
{
        return (uint64_t) rd32(p) | (uint64_t) rd32(p + 4) << 32;
}

/* pread of exactly len bytes at off, counted. */
static int read_at(struct kv_elf *e, void *buf, size_t len, uint64_t off)
{
        size_t got = 0;

        if (off > e->size || len > e->size - off)
                return -EBADMSG;
        while (got < len) {
                ssize_t n = pread(e->fd, (char *) buf + got, len - got, (off_t) (off + got));

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        return -EBADMSG;
                got += (size_t) n;
                e->bytes_read += (uint64_t) n;
        }
        return 0;
}

void kv_elf_release(struct kv_elf *e)
{
        free(e->sh);
        free(e->shstr);
        e->sh = NULL;
        e->shstr = NULL;
}

int kv_elf_open(struct kv_elf *e, int fd, uint64_t size)
{
        unsigned char eh[sizeof(Elf64_Ehdr)];
        uint64_t shoff;
        size_t shnum, shstrndx;
        int r;

        memset(e, 0, sizeof(*e));
        e->fd = fd;
        e->size = size;
        if (size < sizeof(eh))
                return -ENOEXEC;
        r = read_at(e, eh, sizeof(eh), 0);
        if (r < 0)
                return r;
        if (memcmp(eh, ELFMAG, SELFMAG) != 0 || eh[EI_CLASS] != ELFCLASS64 || eh[EI_DATA] != ELFDATA2LSB)
                return -ENOEXEC;
        shoff = rd64(eh + offsetof(Elf64_Ehdr, e_shoff));
        shnum = rd16(eh + offsetof(Elf64_Ehdr, e_shnum));
        shstrndx = rd16(eh + offsetof(Elf64_Ehdr, e_shstrndx));
        if (shoff == 0)
                return 0; /* stripped of section headers: nothing to find */
        if (rd16(eh + offsetof(Elf64_Ehdr, e_shentsize)) != sizeof(Elf64_Shdr))
                return -EBADMSG;
        if (shnum == 0 || shstrndx == SHN_XINDEX) {
                /* more sections than fit the header: the counts live in section 0 */
                unsigned char s0[sizeof(Elf64_Shdr)];

                r = read_at(e, s0, sizeof(s0), shoff);
                if (r < 0)
                        return r;
                if (shnum == 0)
                        shnum = (size_t) rd64(s0 + offsetof(Elf64_Shdr, sh_size));
                if (shstrndx == SHN_XINDEX)
                        shstrndx = rd32(s0 + offsetof(Elf64_Shdr, sh_link));
        }
        if (shnum == 0 || shnum > (size - shoff) / sizeof(Elf64_Shdr) || shstrndx >= shnum)
                return -EBADMSG;
        e->sh = malloc(shnum * sizeof(Elf64_Shdr));
        if (!e->sh)
                return -ENOMEM;
        e->shnum = shnum;
        r = read_at(e, e->sh, shnum * sizeof(Elf64_Shdr), shoff);
        if (r < 0)
                goto fail;
        {
                const unsigned char *s = e->sh + shstrndx * sizeof(Elf64_Shdr);
                uint64_t off = rd64(s + offsetof(Elf64_Shdr, sh_offset));
                uint64_t len = rd64(s + offsetof(Elf64_Shdr, sh_size));

                r = -EBADMSG;
                if (len == 0 || len > SHSTRTAB_MAX)
                        goto fail;
                e->shstr = malloc((size_t) len + 1);
                if (!e->shstr) {
                        r = -ENOMEM;
                        goto fail;
                }
                r = read_at(e, e->shstr, (size_t) len, off);
                if (r < 0)
                        goto fail;
                e->shstr[len] = '\0';
                e->shstr_len = (size_t) len;
        }
        return 0;
fail:
        kv_elf_release(e);
        return r;
}

int kv_elf_section(const struct kv_elf *e, const char *name, uint32_t type, uint64_t *ret_off, uint64_t *ret_len,
                   uint32_t *ret_link)
{
        for (size_t i = 0; i < e->shnum; i++) {
                const unsigned char *s = e->sh + i * sizeof(Elf64_Shdr);
                uint32_t nm = rd32(s + offsetof(Elf64_Shdr, sh_name));
                uint32_t ty = rd32(s + offsetof(Elf64_Shdr, sh_type));

                if (ty == SHT_NOBITS)
                        continue;
                if (name && (nm >= e->shstr_len || strcmp(e->shstr + nm, name) != 0))
                        continue;
                if (type && ty != type)
                        continue;
                *ret_off = rd64(s + offsetof(Elf64_Shdr, sh_offset));
                *ret_len = rd64(s + offsetof(Elf64_Shdr, sh_size));
                if (ret_link)
                        *ret_link = rd32(s + offsetof(Elf64_Shdr, sh_link));
                if (*ret_off > e->size || *ret_len > e->size - *ret_off)
                        return -EBADMSG;
                return (int) i;
        }
        return -ENOENT;
}

int kv_elf_fatbins(struct kv_elf *e, kv_fatbin_fn fn, void *ud)
{
        uint64_t sec_off, sec_len, off = 0;
        struct kv_fatbin_entry *entries = NULL;
        int count = 0, r;
        unsigned misses = 0;

        r = kv_elf_section(e, ".nv_fatbin", 0, &sec_off, &sec_len, NULL);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        entries = calloc(MAX_ENTRIES, sizeof(*entries));
        if (!entries)
                return -ENOMEM;
        while (sec_len - off >= FATBIN_HEADER) {
                unsigned char h[FATBIN_HEADER];
                uint64_t hs, fat, end, at;
                size_t n = 0;

                r = read_at(e, h, sizeof(h), sec_off + off);
                if (r < 0)
                        goto out;
                if (rd32(h) != FATBIN_MAGIC) {
                        /* alignment padding between containers; give up on anything longer */
                        if (++misses > 8)
                                break;
                        off += 8;
                        continue;
                }
                misses = 0;
                hs = rd16(h + 6);
                fat = rd64(h + 8);
                if (hs < FATBIN_HEADER || hs > sec_len - off || fat > sec_len - off - hs) {
                        r = -EBADMSG;
                        goto out;
                }
                end = off + hs + fat;
                at = off + hs;
                while (end - at >= FATBIN_ENTRY_MIN) {
                        unsigned char eh[FATBIN_ENTRY_MIN];
                        uint64_t ehs, esz, flags;

                        r = read_at(e, eh, sizeof(eh), sec_off + at);
                        if (r < 0)
                                goto out;
                        ehs = rd32(eh + 4);
                        esz = rd64(eh + 8);
                        if (ehs < FATBIN_ENTRY_MIN || ehs > end - at || esz > end - at - ehs) {
                                r = -EBADMSG;
                                goto out;
                        }
                        flags = rd64(eh + 40);
                        if (n < MAX_ENTRIES && (rd16(eh) == KV_FATBIN_PTX || rd16(eh) == KV_FATBIN_SASS)) {
                                struct kv_fatbin_entry *x = &entries[n++];

                                x->kind = (enum kv_fatbin_kind) rd16(eh);
                                x->sm = rd32(eh + 28);
                                x->variant = flags & FLAG_ARCH_SPECIFIC ? KV_ARCH_SPECIFIC
                                             : flags & FLAG_ARCH_FAMILY ? KV_ARCH_FAMILY
                                                                          : KV_ARCH_PLAIN;
                                x->ptx_major = x->kind == KV_FATBIN_PTX ? rd16(eh + 26) : 0;
                                x->ptx_minor = x->kind == KV_FATBIN_PTX ? rd16(eh + 24) : 0;
                                x->compressed = (flags & (FLAG_COMPRESSED_LZ4 | FLAG_COMPRESSED_ZSTD)) != 0;
                        }
                        at += ehs + esz;
                }
                if (n > 0) {
                        fn(ud, entries, n);
                        count++;
                }
                off = (end + 7) & ~(uint64_t) 7;
                if (off > sec_len)
                        break;
        }
        r = count;
out:
        free(entries);
        return r;
}

int kv_elf_needed_cuda(struct kv_elf *e, char ***ret, size_t *ret_n)
{
        uint64_t doff, dlen, soff, slen;
        uint32_t link;
        unsigned char *dyn = NULL;
        char **out = NULL;
        size_t n = 0;
        int r;

        *ret = NULL;
        *ret_n = 0;
        r = kv_elf_section(e, NULL, SHT_DYNAMIC, &doff, &dlen, &link);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        if (dlen > DYNAMIC_MAX || link >= e->shnum)
                return -EBADMSG;
        {
                const unsigned char *s = e->sh + (size_t) link * sizeof(Elf64_Shdr);

                soff = rd64(s + offsetof(Elf64_Shdr, sh_offset));
                slen = rd64(s + offsetof(Elf64_Shdr, sh_size));
                if (soff > e->size || slen > e->size - soff)
                        return -EBADMSG;
        }
        dyn = malloc((size_t) dlen + 1);
        if (!dyn)
                return -ENOMEM;
        r = read_at(e, dyn, (size_t) dlen, doff);
        if (r < 0)
                goto out;
        for (size_t i = 0; i + sizeof(Elf64_Dyn) <= dlen; i += sizeof(Elf64_Dyn)) {
                uint64_t tag = rd64(dyn + i), val = rd64(dyn + i + 8);
                char name[128];
                size_t len;
                char **grown;

                if (tag == DT_NULL)
                        break;
                if (tag != DT_NEEDED || val >= slen)
                        continue;
                len = sizeof(name) - 1;
                if (len > slen - val)
                        len = (size_t) (slen - val);
                r = read_at(e, name, len, soff + val);
                if (r < 0)
                        goto out;
                name[len] = '\0';
                if (!kv_compat_is_cuda_lib(name))
                        continue;
                grown = realloc(out, (n + 1) * sizeof(*out));
                if (!grown) {
                        r = -ENOMEM;
                        goto out;
                }
                out = grown;
                out[n] = strdup(name);
                if (!out[n]) {
                        r = -ENOMEM;
                        goto out;
                }
                n++;
        }
        *ret = out;
        *ret_n = n;
        out = NULL;
        r = 0;
out:
        if (out) {
                for (size_t i = 0; i < n; i++)
                        free(out[i]);
                free(out);
        }
        free(dyn);
        return r;
}

int kv_fatbin_scan(int fd, kv_fatbin_fn fn, void *ud, uint64_t *ret_bytes_read)
{
        struct kv_elf e;
        off_t size = lseek(fd, 0, SEEK_END);
        int r;

        if (size < 0)
                return -errno;
        r = kv_elf_open(&e, fd, (uint64_t) size);
        if (r >= 0 && e.sh)
                r = kv_elf_fatbins(&e, fn, ud);
        if (ret_bytes_read)
                *ret_bytes_read = e.bytes_read;
        kv_elf_release(&e);
        return r;
}

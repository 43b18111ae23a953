/* Test helper: writes a small 64-bit ELF file with an .nv_fatbin section laid out as nvcc writes it
 * (one container per struct fake_fatbin, 64-byte entry headers, payloads of zeros left as holes) and
 * a .dynamic section naming DT_NEEDED libraries. Lets the scanner's tests run without nvcc. */
#ifndef KV_TEST_COMPAT_HELPERS_H
#define KV_TEST_COMPAT_HELPERS_H

#include <elf.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fake_entry {
        unsigned kind; /* 1 PTX, 2 SASS */
        unsigned sm;
        unsigned ptx_major, ptx_minor;
        uint64_t flags;
        uint64_t payload; /* bytes of payload (a hole in the file) */
};

struct fake_fatbin {
        const struct fake_entry *e;
        size_t n;
};

static inline void put16(unsigned char *p, uint16_t v)
{
        memcpy(p, &v, 2);
}
static inline void put32(unsigned char *p, uint32_t v)
{
        memcpy(p, &v, 4);
}
static inline void put64(unsigned char *p, uint64_t v)
{
        memcpy(p, &v, 8);
}

/* Writes the ELF at dir_fd/path. Returns 0 or -1. */
static inline int fake_elf(int dir_fd, const char *path, const struct fake_fatbin *fb, size_t nfb,
                           const char *const *needed, size_t nneeded)
{
        static const char shstr[] = "\0.shstrtab\0.nv_fatbin\0.dynstr\0.dynamic\0";
        unsigned char eh[64] = {0}, sh[5][64];
        char dynstr[512] = {0};
        unsigned char dyn[16 * 9] = {0};
        size_t dynstr_len = 1, ndyn = 0;
        uint64_t off = 64, fat_off = 64, fat_len, dynstr_off, dyn_off, shstr_off, sh_off;
        int fd = openat(dir_fd, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);

        if (fd < 0)
                return -1;
        for (size_t i = 0; i < nfb; i++) {
                uint64_t start = off, size = 0;
                unsigned char h[16] = {0};

                off += 16;
                for (size_t k = 0; k < fb[i].n; k++) {
                        const struct fake_entry *e = &fb[i].e[k];
                        unsigned char x[64] = {0};

                        put16(x, (uint16_t) e->kind);
                        put16(x + 2, 0x101);
                        put32(x + 4, 64);
                        put64(x + 8, e->payload);
                        put16(x + 24, (uint16_t) (e->kind == 1 ? e->ptx_minor : 8));
                        put16(x + 26, (uint16_t) (e->kind == 1 ? e->ptx_major : 1));
                        put32(x + 28, e->sm);
                        put64(x + 40, e->flags | 0x11);
                        if (pwrite(fd, x, sizeof(x), (off_t) off) != (ssize_t) sizeof(x))
                                goto fail;
                        off += 64 + e->payload;
                        size += 64 + e->payload;
                }
                put32(h, 0xBA55ED50u);
                put16(h + 4, 1);
                put16(h + 6, 16);
                put64(h + 8, size);
                if (pwrite(fd, h, sizeof(h), (off_t) start) != (ssize_t) sizeof(h))
                        goto fail;
                off = (off + 7) & ~(uint64_t) 7;
        }
        fat_len = off - fat_off;
        for (size_t i = 0; i < nneeded && ndyn < 8; i++) {
                size_t l = strlen(needed[i]) + 1;

                if (dynstr_len + l > sizeof(dynstr))
                        break;
                put64(dyn + ndyn * 16, DT_NEEDED);
                put64(dyn + ndyn * 16 + 8, dynstr_len);
                memcpy(dynstr + dynstr_len, needed[i], l);
                dynstr_len += l;
                ndyn++;
        }
        ndyn++; /* DT_NULL */
        dynstr_off = off;
        if (pwrite(fd, dynstr, dynstr_len, (off_t) dynstr_off) != (ssize_t) dynstr_len)
                goto fail;
        dyn_off = (dynstr_off + dynstr_len + 7) & ~(uint64_t) 7;
        if (pwrite(fd, dyn, ndyn * 16, (off_t) dyn_off) != (ssize_t) (ndyn * 16))
                goto fail;
        shstr_off = dyn_off + ndyn * 16;
        if (pwrite(fd, shstr, sizeof(shstr), (off_t) shstr_off) != (ssize_t) sizeof(shstr))
                goto fail;
        sh_off = (shstr_off + sizeof(shstr) + 7) & ~(uint64_t) 7;
        memset(sh, 0, sizeof(sh));
        /* 1 .shstrtab, 2 .nv_fatbin, 3 .dynstr, 4 .dynamic */
        put32(sh[1], 1);
        put32(sh[1] + 4, SHT_STRTAB);
        put64(sh[1] + 24, shstr_off);
        put64(sh[1] + 32, sizeof(shstr));
        put32(sh[2], 11);
        put32(sh[2] + 4, SHT_PROGBITS);
        put64(sh[2] + 24, fat_off);
        put64(sh[2] + 32, fat_len);
        put32(sh[3], 22);
        put32(sh[3] + 4, SHT_STRTAB);
        put64(sh[3] + 24, dynstr_off);
        put64(sh[3] + 32, dynstr_len);
        put32(sh[4], 30);
        put32(sh[4] + 4, SHT_DYNAMIC);
        put64(sh[4] + 24, dyn_off);
        put64(sh[4] + 32, ndyn * 16);
        put32(sh[4] + 40, 3);
        if (pwrite(fd, sh, sizeof(sh), (off_t) sh_off) != (ssize_t) sizeof(sh))
                goto fail;
        memcpy(eh, ELFMAG, SELFMAG);
        eh[EI_CLASS] = ELFCLASS64;
        eh[EI_DATA] = ELFDATA2LSB;
        eh[EI_VERSION] = EV_CURRENT;
        put16(eh + 16, ET_DYN);
        put16(eh + 18, EM_X86_64);
        put32(eh + 20, EV_CURRENT);
        put64(eh + 40, sh_off);
        put16(eh + 52, 64);
        put16(eh + 58, 64);
        put16(eh + 60, 5);
        put16(eh + 62, 1);
        if (pwrite(fd, eh, sizeof(eh), 0) != (ssize_t) sizeof(eh))
                goto fail;
        return close(fd);
fail:
        close(fd);
        return -1;
}

/* A scratch directory tree for a test (cmocka setup and teardown: *state is the struct tree). */
struct tree {
        char dir[64];
        int fd;
};

static inline int tree_setup(void **state)
{
        struct tree *t = calloc(1, sizeof(*t));

        snprintf(t->dir, sizeof(t->dir), "/tmp/kv-compat-XXXXXX");
        if (!mkdtemp(t->dir))
                return -1;
        t->fd = open(t->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        *state = t;
        return t->fd < 0 ? -1 : 0;
}

static inline int tree_teardown(void **state)
{
        struct tree *t = *state;
        char cmd[128];

        close(t->fd);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->dir);
        if (system(cmd) != 0)
                return -1;
        free(t);
        return 0;
}

#endif

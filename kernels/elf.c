/* The DT_NEEDED list of a 64-bit ELF shared object, to find which driver libraries a driver library
 * loads (libnvidia-nvvm.so.4 needs libnvidia-gpucomp.so.<version>, for instance). */
#include "internal.h"

#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ELF_MAX (512u << 20) /* driver libraries are tens of MB; refuse anything absurd */

static void free_list(char **v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

/* File offset of virtual address va through the PT_LOAD segments, or (uint64_t)-1. */
static uint64_t va_to_off(const Elf64_Phdr *ph, size_t phnum, uint64_t va)
{
        for (size_t i = 0; i < phnum; i++)
                if (ph[i].p_type == PT_LOAD && va >= ph[i].p_vaddr && va - ph[i].p_vaddr < ph[i].p_filesz)
                        return va - ph[i].p_vaddr + ph[i].p_offset;
        return (uint64_t) -1;
}

int kv_elf_needed(int fd, char ***ret)
{
        char *buf = NULL;
        const unsigned char *d;
        const Elf64_Ehdr *eh;
        const Elf64_Phdr *ph;
        const Elf64_Dyn *dyn = NULL;
        size_t len, ndyn = 0, n = 0;
        uint64_t strtab = (uint64_t) -1, strsz = 0;
        char **out = NULL;
        long r;
        int rc;

        r = kv_read_file(fd, NULL, ELF_MAX, &buf);
        if (r < 0)
                return (int) r;
        len = (size_t) r;
        d = (const unsigned char *) buf;
        rc = -EBADMSG;
        if (len < sizeof(Elf64_Ehdr) || memcmp(d, ELFMAG, SELFMAG) != 0 || d[EI_CLASS] != ELFCLASS64)
                goto out_free;
        eh = (const Elf64_Ehdr *) (void *) buf;
        if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phoff > len ||
            (len - eh->e_phoff) / sizeof(Elf64_Phdr) < eh->e_phnum || eh->e_phoff % 8 != 0)
                goto out_free;
        ph = (const Elf64_Phdr *) (void *) (buf + eh->e_phoff);
        for (size_t i = 0; i < eh->e_phnum; i++) {
                if (ph[i].p_type != PT_DYNAMIC)
                        continue;
                if (ph[i].p_offset > len || ph[i].p_filesz > len - ph[i].p_offset || ph[i].p_offset % 8 != 0)
                        goto out_free;
                dyn = (const Elf64_Dyn *) (void *) (buf + ph[i].p_offset);
                ndyn = ph[i].p_filesz / sizeof(Elf64_Dyn);
        }
        if (!dyn) {
                rc = 0; /* static: needs nothing */
                *ret = NULL;
                goto out_free;
        }
        for (size_t i = 0; i < ndyn && dyn[i].d_tag != DT_NULL; i++) {
                if (dyn[i].d_tag == DT_STRTAB)
                        strtab = va_to_off(ph, eh->e_phnum, dyn[i].d_un.d_ptr);
                else if (dyn[i].d_tag == DT_STRSZ)
                        strsz = dyn[i].d_un.d_val;
        }
        if (strtab >= len || strsz > len - strtab)
                goto out_free;
        for (size_t i = 0; i < ndyn && dyn[i].d_tag != DT_NULL; i++) {
                const char *s;
                char **grown;

                if (dyn[i].d_tag != DT_NEEDED)
                        continue;
                if (dyn[i].d_un.d_val >= strsz ||
                    !memchr(buf + strtab + dyn[i].d_un.d_val, '\0', strsz - dyn[i].d_un.d_val))
                        goto out_list;
                s = buf + strtab + dyn[i].d_un.d_val;
                grown = realloc(out, (n + 1) * sizeof(*out));
                if (!grown) {
                        rc = -ENOMEM;
                        goto out_list;
                }
                out = grown;
                out[n] = strdup(s);
                if (!out[n]) {
                        rc = -ENOMEM;
                        goto out_list;
                }
                n++;
        }
        *ret = out;
        free(buf);
        return (int) n;

out_list:
        free_list(out, n);
out_free:
        free(buf);
        return rc;
}

/* kernels/compat-internal.h: the static report's ELF reader, shared by compat.c and compat-elf.c. */
#ifndef CUBUILD_KV_COMPAT_INTERNAL_H
#define CUBUILD_KV_COMPAT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compat.h"

struct kv_elf {
        int fd;                /* borrowed */
        uint64_t size;         /* the file's size */
        unsigned char *sh;     /* owned: the section headers, raw */
        size_t shnum;
        char *shstr;           /* owned: the section-name table, NUL-terminated */
        size_t shstr_len;
        uint64_t bytes_read;   /* every byte read so far */
};

/* Reads the ELF header, section headers and section names. 0 (e->sh NULL when the file has no
 * section headers), -ENOEXEC when fd is no 64-bit little-endian ELF, -EBADMSG, -errno. Release with
 * kv_elf_release() whatever it returned. */
int kv_elf_open(struct kv_elf *e, int fd, uint64_t size);
void kv_elf_release(struct kv_elf *e);
/* The first section named name (NULL: any) of type type (0: any), not SHT_NOBITS. Returns its index,
 * -ENOENT, or -EBADMSG when it lies outside the file. */
int kv_elf_section(const struct kv_elf *e, const char *name, uint32_t type, uint64_t *ret_off, uint64_t *ret_len,
                   uint32_t *ret_link);
/* Calls fn per fatbinary in .nv_fatbin; returns how many, or < 0. */
int kv_elf_fatbins(struct kv_elf *e, kv_fatbin_fn fn, void *ud);
/* The DT_NEEDED entries that name CUDA libraries (kv_compat_is_cuda_lib()), reading only .dynamic and
 * those strings. *ret: owned array of owned strings (NULL when none). */
int kv_elf_needed_cuda(struct kv_elf *e, char ***ret, size_t *ret_n);

/* Whether a soname is one of the CUDA libraries whose absence the report names (libcudart, cuBLAS,
 * cuDNN, NCCL, cuFFT, cuRAND, cuSPARSE, cuSOLVER, NVRTC, nvJitLink, CUPTI). */
bool kv_compat_is_cuda_lib(const char *soname);

#endif

/* The data the static compatibility report judges with: NVIDIA's driver tables, PTX ISA releases and
 * GPU architecture families; and the small parsers that go with them. */
#include "compat.h"

#include <stdio.h>
#include <string.h>

/* CUDA Toolkit and Corresponding Driver Versions, Linux x86_64, the "Toolkit Driver Version" column
 * (the driver a release needs for all of its features), from NVIDIA's CUDA Toolkit Release Notes,
 * table 3 (docs.nvidia.com/cuda/cuda-toolkit-release-notes/index.html, "CUDA Driver"). One row per
 * release, its GA driver; an update release of the same major.minor needs no more than its GA's
 * minor-version floor below. */
static const struct {
        int cuda;
        const char *driver;
} toolkit_drivers[] = {
    {8000, "375.26"},     {9000, "384.81"},     {9010, "390.46"},     {9020, "396.26"},
    {10000, "410.48"},    {10010, "418.39"},    {10020, "440.33"},    {11000, "450.36.06"},
    {11010, "455.23"},    {11020, "460.27.03"}, {11030, "465.19.01"}, {11040, "470.42.01"},
    {11050, "495.29.05"}, {11060, "510.39.01"}, {11070, "515.43.04"}, {11080, "520.61.05"},
    {12000, "525.60.13"}, {12010, "530.30.02"}, {12020, "535.54.03"}, {12030, "545.23.06"},
    {12040, "550.54.14"}, {12050, "555.42.02"}, {12060, "560.28.03"}, {12080, "570.26"},
    {12090, "575.51.03"}, {13000, "580.65.06"},
};

/* Minor-version compatibility: from CUDA 11 on, an application built with any release of a major
 * runs, with a limited feature set (no PTX JIT of newer PTX, a few APIs), on the major's minimum
 * driver. Source: NVIDIA CUDA Compatibility guide, "Minor Version Compatibility", table 1, and the
 * release notes' table 2 ("CUDA Toolkit and Minimum Required Driver Version for CUDA Minor Version
 * Compatibility"): 11.x >= 450.80.02, 12.x >= 525.60.13, 13.x >= 580 (580.65.06, CUDA 13.0 GA). */
static const struct {
        int major;
        const char *driver;
} compat_drivers[] = {
    {11, "450.80.02"},
    {12, "525.60.13"},
    {13, "580.65.06"},
};

/* PTX ISA versions and the CUDA release that introduced each (PTX ISA reference, "Release Notes"
 * table; 8.6 came with 12.7, which had no Linux GA of its own, so 12.8's driver row applies). */
static const struct {
        unsigned isa; /* 10 * major + minor */
        int cuda;
} ptx_isas[] = {
    {60, 9000},  {61, 9010},  {62, 9020},  {63, 10000}, {64, 10010}, {65, 10020}, {70, 11000},
    {71, 11010}, {72, 11020}, {73, 11030}, {74, 11040}, {75, 11050}, {76, 11060}, {77, 11070},
    {78, 11080}, {80, 12000}, {81, 12010}, {82, 12020}, {83, 12030}, {84, 12040}, {85, 12050},
    {86, 12080}, {87, 12080}, {88, 12090}, {90, 13000},
};

uint64_t kv_driver_parse(const char *s)
{
        uint64_t part[3] = {0, 0, 0};
        size_t n = 0;
        const char *p = s;

        if (!s || !*s)
                return 0;
        while (n < 3) {
                uint64_t v = 0;
                size_t digits = 0;

                while (*p >= '0' && *p <= '9' && digits < 6) {
                        v = v * 10 + (uint64_t) (*p - '0');
                        p++;
                        digits++;
                }
                if (digits == 0 || digits == 6)
                        return 0;
                part[n++] = v;
                if (*p != '.')
                        break;
                p++;
        }
        if (*p != '\0' || part[0] == 0 || part[1] > 0xffff || part[2] > 0xffff)
                return 0;
        return part[0] << 32 | part[1] << 16 | part[2];
}

const char *kv_cuda_min_driver(int cuda)
{
        for (size_t i = 0; i < sizeof(toolkit_drivers) / sizeof(toolkit_drivers[0]); i++)
                if (toolkit_drivers[i].cuda == cuda)
                        return toolkit_drivers[i].driver;
        /* 12.6's successor 12.7 had no Linux release; a minor between two rows takes the next row */
        for (size_t i = 0; i < sizeof(toolkit_drivers) / sizeof(toolkit_drivers[0]); i++)
                if (toolkit_drivers[i].cuda > cuda && toolkit_drivers[i].cuda / 1000 == cuda / 1000)
                        return toolkit_drivers[i].driver;
        return NULL;
}

const char *kv_cuda_min_driver_compat(int major)
{
        for (size_t i = 0; i < sizeof(compat_drivers) / sizeof(compat_drivers[0]); i++)
                if (compat_drivers[i].major == major)
                        return compat_drivers[i].driver;
        if (major > 0 && major < 11)
                return kv_cuda_min_driver(major * 1000);
        return NULL;
}

int kv_ptx_isa_cuda(unsigned major, unsigned minor)
{
        unsigned isa = major * 10 + minor;

        for (size_t i = 0; i < sizeof(ptx_isas) / sizeof(ptx_isas[0]); i++)
                if (ptx_isas[i].isa == isa)
                        return ptx_isas[i].cuda;
        return 0;
}

unsigned kv_arch_parse(const char *s, size_t len)
{
        unsigned v = 0, digits = 0;
        size_t i = 0;

        if (len > 3 && memcmp(s, "sm_", 3) == 0)
                i = 3;
        else if (len > 8 && memcmp(s, "compute_", 8) == 0)
                i = 8;
        if (i == 0 && len == 3 && s[1] == '.' && s[0] >= '1' && s[0] <= '9' && s[2] >= '0' && s[2] <= '9')
                return (unsigned) (s[0] - '0') * 10 + (unsigned) (s[2] - '0');
        if (i == 0 && len == 4 && s[2] == '.' && s[0] == '1' && s[1] >= '0' && s[1] <= '9' && s[3] >= '0' &&
            s[3] <= '9')
                return 100 + (unsigned) (s[1] - '0') * 10 + (unsigned) (s[3] - '0');
        for (; i < len; i++) {
                if (s[i] < '0' || s[i] > '9' || digits == 3)
                        return 0;
                v = v * 10 + (unsigned) (s[i] - '0');
                digits++;
        }
        if (digits < 2 || v < 10)
                return 0;
        return v;
}

const char *kv_arch_family(unsigned sm)
{
        if (sm >= 30 && sm < 40)
                return "Kepler";
        if (sm >= 50 && sm < 60)
                return "Maxwell";
        if (sm >= 60 && sm < 70)
                return "Pascal";
        if (sm == 70 || sm == 72)
                return "Volta";
        if (sm == 75)
                return "Turing";
        if (sm >= 80 && sm < 89)
                return "Ampere";
        if (sm == 89)
                return "Ada";
        if (sm == 90)
                return "Hopper";
        if (sm >= 100 && sm < 130)
                return "Blackwell";
        return "unknown";
}

enum kv_run kv_fatbin_entry_runs(const struct kv_fatbin_entry *e, unsigned dev_sm)
{
        if (e->kind == KV_FATBIN_SASS) {
                /* SASS is binary compatible within a major, towards higher minors; arch-specific
                 * SASS (sm_90a) only on its own architecture */
                if (e->variant == KV_ARCH_SPECIFIC)
                        return e->sm == dev_sm ? KV_RUN_NATIVE : KV_RUN_NONE;
                return e->sm / 10 == dev_sm / 10 && e->sm <= dev_sm ? KV_RUN_NATIVE : KV_RUN_NONE;
        }
        if (e->kind == KV_FATBIN_PTX) {
                /* PTX JITs forward to any newer GPU; arch- and family-specific PTX does not leave
                 * its architecture or family */
                if (e->variant == KV_ARCH_SPECIFIC)
                        return e->sm == dev_sm ? KV_RUN_JIT : KV_RUN_NONE;
                if (e->variant == KV_ARCH_FAMILY && e->sm / 10 != dev_sm / 10)
                        return KV_RUN_NONE;
                return e->sm <= dev_sm ? KV_RUN_JIT : KV_RUN_NONE;
        }
        return KV_RUN_NONE;
}

/* Choosing among the embedded kernel images, reading PTX headers, and version strings. */
#include "kv.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

const struct kv_image *kv_image_pick(const struct kv_image *images, size_t count, unsigned major,
                                     unsigned minor)
{
        const struct kv_image *best = NULL;
        unsigned dev = major * 10 + minor;

        /* SASS runs on devices of the same major whose minor is at least the cubin's. */
        for (size_t i = 0; i < count; i++) {
                const struct kv_image *im = &images[i];

                if (im->kind != KV_IMAGE_CUBIN || im->sm / 10 != major || im->sm > dev)
                        continue;
                if (!best || im->sm > best->sm)
                        best = im;
        }
        if (best)
                return best;
        for (size_t i = 0; i < count; i++)
                if (images[i].kind == KV_IMAGE_PTX && images[i].sm <= dev)
                        return &images[i];
        return NULL;
}

const struct kv_image *kv_image_ptx(const struct kv_image *images, size_t count)
{
        for (size_t i = 0; i < count; i++)
                if (images[i].kind == KV_IMAGE_PTX)
                        return &images[i];
        return NULL;
}

/* Reads an unsigned decimal at *p (at most 4 digits), advancing *p. */
static bool read_num(const char **p, const char *end, unsigned *ret)
{
        unsigned v = 0, digits = 0;

        while (*p < end && **p >= '0' && **p <= '9' && digits < 5) {
                v = v * 10 + (unsigned) (**p - '0');
                (*p)++;
                digits++;
        }
        if (digits == 0 || digits > 4)
                return false;
        *ret = v;
        return true;
}

int kv_ptx_info(const char *ptx, size_t len, unsigned *ret_major, unsigned *ret_minor, unsigned *ret_sm)
{
        const char *p = ptx, *end = ptx + len;
        bool have_version = false, have_target = false;
        unsigned major = 0, minor = 0, sm = 0;

        while (p < end && !(have_version && have_target)) {
                const char *eol = memchr(p, '\n', (size_t) (end - p));
                const char *line_end = eol ? eol : end;
                const char *q = p;

                if ((size_t) (line_end - q) > 9 && memcmp(q, ".version ", 9) == 0 && !have_version) {
                        q += 9;
                        if (!read_num(&q, line_end, &major) || q >= line_end || *q != '.')
                                return -EINVAL;
                        q++;
                        if (!read_num(&q, line_end, &minor))
                                return -EINVAL;
                        have_version = true;
                } else if ((size_t) (line_end - q) > 11 && memcmp(q, ".target sm_", 11) == 0 &&
                           !have_target) {
                        q += 11;
                        if (!read_num(&q, line_end, &sm))
                                return -EINVAL;
                        have_target = true;
                }
                p = eol ? eol + 1 : end;
        }
        if (!have_version || !have_target)
                return -EINVAL;
        *ret_major = major;
        *ret_minor = minor;
        *ret_sm = sm;
        return 0;
}

void kv_cuda_version_str(int v, char *buf, size_t len)
{
        if (len == 0)
                return;
        if (v <= 0) {
                snprintf(buf, len, "unknown");
                return;
        }
        snprintf(buf, len, "%d.%d", v / 1000, (v % 1000) / 10);
}

int kv_arch_list_supports(const char *list, unsigned major, unsigned minor)
{
        unsigned dev = major * 10 + minor;
        int best = 0;
        const char *p = list;

        while (p && *p) {
                const char *comma = strchr(p, ',');
                const char *end = comma ? comma : p + strlen(p);
                bool sass = false;
                const char *q = p;
                unsigned sm;

                while (q < end && *q == ' ')
                        q++;
                if ((size_t) (end - q) > 3 && memcmp(q, "sm_", 3) == 0) {
                        sass = true;
                        q += 3;
                } else if ((size_t) (end - q) > 8 && memcmp(q, "compute_", 8) == 0) {
                        q += 8;
                } else {
                        q = NULL;
                }
                /* A trailing letter ("sm_90a") marks arch-specific SASS that runs only on that
                 * exact architecture. */
                if (q && read_num(&q, end, &sm)) {
                        bool specific = q < end && *q >= 'a' && *q <= 'z';

                        if (sass && sm == dev)
                                return 2;
                        if (sass && !specific && sm / 10 == major && sm <= dev)
                                best = 1;
                        if (!sass && !specific && sm <= dev)
                                best = 1;
                }
                p = comma ? comma + 1 : NULL;
        }
        return best;
}

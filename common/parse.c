#include "parse.h"

#include <errno.h>

int cb_parse_u64(struct cb_str s, uint64_t max, uint64_t *ret)
{
        uint64_t v = 0;
        if (s.len == 0)
                return -EINVAL;
        for (size_t i = 0; i < s.len; i++) {
                char c = s.p[i];
                if (c < '0' || c > '9')
                        return -EINVAL;
                unsigned d = (unsigned) (c - '0');
                if (v > (max - d) / 10)
                        return -ERANGE;
                v = v * 10 + d;
        }
        *ret = v;
        return 0;
}

int cb_parse_mode(struct cb_str s, unsigned *ret)
{
        unsigned v = 0;
        if (s.len == 0 || s.len > 5)
                return -EINVAL;
        for (size_t i = 0; i < s.len; i++) {
                if (s.p[i] < '0' || s.p[i] > '7')
                        return -EINVAL;
                v = v * 8 + (unsigned) (s.p[i] - '0');
        }
        if (v > 07777)
                return -ERANGE;
        *ret = v;
        return 0;
}

int cb_parse_size(struct cb_str s, uint64_t *ret)
{
        uint64_t mult = 1, v;
        if (s.len > 0) {
                switch (s.p[s.len - 1]) {
                case 'k': case 'K': mult = 1ull << 10; s.len--; break;
                case 'm': case 'M': mult = 1ull << 20; s.len--; break;
                case 'g': case 'G': mult = 1ull << 30; s.len--; break;
                case 't': case 'T': mult = 1ull << 40; s.len--; break;
                case 'b': case 'B': s.len--; break;
                default: break;
                }
        }
        int r = cb_parse_u64(s, UINT64_MAX / mult, &v);
        if (r < 0)
                return r;
        *ret = v * mult;
        return 0;
}

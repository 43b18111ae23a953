/* Value syntaxes inside instructions that builder/ converts for the image config: HEALTHCHECK
 * durations (Go's time.ParseDuration, which BuildKit uses) and EXPOSE port specs. */
#include "parser/df.h"
#include "parser/internal.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

int df_duration_parse(const char *s, uint64_t *ret_ns)
{
        static const struct {
                const char *unit;
                uint64_t ns;
        } units[] = {{"ns", 1},
                     {"us", 1000},
                     {"\xc2\xb5s", 1000},
                     {"ms", 1000000},
                     {"s", 1000000000ull},
                     {"m", 60000000000ull},
                     {"h", 3600000000000ull}};
        uint64_t total = 0;

        if (!s || !*s)
                return -EINVAL;
        if (strcmp(s, "0") == 0) {
                *ret_ns = 0;
                return 0;
        }
        while (*s) {
                uint64_t whole = 0, frac = 0, scale = 1;
                bool digits = false;
                while (*s >= '0' && *s <= '9') {
                        if (whole > UINT64_MAX / 10)
                                return -ERANGE;
                        whole = whole * 10 + (uint64_t) (*s++ - '0');
                        digits = true;
                }
                if (*s == '.') {
                        s++;
                        while (*s >= '0' && *s <= '9') {
                                if (scale < 1000000000ull) {
                                        frac = frac * 10 + (uint64_t) (*s - '0');
                                        scale *= 10;
                                }
                                s++;
                                digits = true;
                        }
                }
                if (!digits)
                        return -EINVAL;
                size_t best = 0, k = CB_ARRAY_SIZE(units);
                for (size_t i = 0; i < CB_ARRAY_SIZE(units); i++) {
                        size_t n = strlen(units[i].unit);
                        if (n > best && strncmp(s, units[i].unit, n) == 0) {
                                best = n;
                                k = i;
                        }
                }
                if (k == CB_ARRAY_SIZE(units))
                        return -EINVAL; /* Go requires a unit on every non-zero number */
                s += best;
                uint64_t u = units[k].ns;
                if (whole > (UINT64_MAX - total) / u)
                        return -ERANGE;
                total += whole * u + frac * u / scale;
        }
        *ret_ns = total;
        return 0;
}

int df_port_parse(const char *s, struct df_port *ret)
{
        struct df_port p = {.proto = "tcp"};
        const char *slash = strchr(s, '/');
        size_t nlen = slash ? (size_t) (slash - s) : strlen(s);
        const char *dash = memchr(s, '-', nlen);
        uint64_t lo, hi;

        if (slash) {
                const char *proto = slash + 1;
                if (strcasecmp(proto, "tcp") == 0)
                        p.proto = "tcp";
                else if (strcasecmp(proto, "udp") == 0)
                        p.proto = "udp";
                else if (strcasecmp(proto, "sctp") == 0)
                        p.proto = "sctp";
                else
                        return -EINVAL;
        }
        if (cb_parse_u64(cb_str_from(s, dash ? (size_t) (dash - s) : nlen), 65535, &lo) < 0)
                return -EINVAL;
        hi = lo;
        if (dash && cb_parse_u64(cb_str_from(dash + 1, nlen - (size_t) (dash - s) - 1), 65535, &hi) < 0)
                return -EINVAL;
        if (hi < lo)
                return -EINVAL;
        p.first = (unsigned) lo;
        p.last = (unsigned) hi;
        *ret = p;
        return 0;
}

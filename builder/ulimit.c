/* --ulimit TYPE=SOFT[:HARD], as docker build takes it. */
#include <errno.h>
#include <string.h>
#include <sys/resource.h>

#include "builder/internal.h"

static const struct {
        const char *name;
        int resource;
} names[] = {
        { "core", RLIMIT_CORE },       { "cpu", RLIMIT_CPU },         { "data", RLIMIT_DATA },
        { "fsize", RLIMIT_FSIZE },     { "locks", RLIMIT_LOCKS },     { "memlock", RLIMIT_MEMLOCK },
        { "msgqueue", RLIMIT_MSGQUEUE }, { "nice", RLIMIT_NICE },     { "nofile", RLIMIT_NOFILE },
        { "nproc", RLIMIT_NPROC },     { "rss", RLIMIT_RSS },         { "rtprio", RLIMIT_RTPRIO },
        { "rttime", RLIMIT_RTTIME },   { "sigpending", RLIMIT_SIGPENDING }, { "stack", RLIMIT_STACK },
};

static int parse_limit(const char *s, size_t n, unsigned long long *ret)
{
        if (n == 2 && strncmp(s, "-1", 2) == 0) {
                *ret = (unsigned long long) RLIM_INFINITY;
                return 0;
        }
        _cleanup_free_ char *v = cb_xstrndup(s, n);
        uint64_t x;
        if (cb_parse_u64(cb_str_c(v), UINT64_MAX, &x) < 0)
                return -EINVAL;
        *ret = x;
        return 0;
}

int bld_ulimit_parse(const char *s, struct bld_ulimit *ret)
{
        const char *eq = strchr(s, '=');
        if (!eq)
                return -EINVAL;
        size_t nl = (size_t) (eq - s);
        ret->resource = -1;
        for (size_t i = 0; i < CB_ARRAY_SIZE(names); i++)
                if (strlen(names[i].name) == nl && strncmp(names[i].name, s, nl) == 0)
                        ret->resource = names[i].resource;
        if (ret->resource < 0)
                return -ENOENT;
        const char *v = eq + 1;
        const char *colon = strchr(v, ':');
        size_t sl = colon ? (size_t) (colon - v) : strlen(v);
        if (parse_limit(v, sl, &ret->soft) < 0)
                return -EINVAL;
        if (!colon) {
                ret->hard = ret->soft;
        } else if (parse_limit(colon + 1, strlen(colon + 1), &ret->hard) < 0) {
                return -EINVAL;
        }
        if (ret->hard != (unsigned long long) RLIM_INFINITY && (ret->soft == (unsigned long long) RLIM_INFINITY || ret->soft > ret->hard))
                return -ERANGE;
        return 0;
}

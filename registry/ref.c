/* Image references, parsed and normalised as docker's distribution/reference does:
 *   reference := name [ ":" tag ] [ "@" digest ]
 *   name      := [domain "/"] path-component ["/" path-component]*
 *   domain    := host [":" port]   (host: dotted DNS labels, or an [IPv6] literal)
 *   path-component := [a-z0-9]+ (separator [a-z0-9]+)*   separator := "." | "_" | "__" | "-"+
 *   tag       := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
 * The first component is a domain when it holds '.' or ':', is "localhost", or has upper case
 * (the same test docker's splitDockerDomain makes). */
#include "reg.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "internal.h"

#define NAME_MAX_LEN 255
#define TAG_MAX_LEN 128

static bool is_lower_alnum(char ch)
{
        return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
}

/* One path component: alnum runs joined by ".", "_", "__" or one or more "-". */
static bool path_component_valid(const char *p, size_t len)
{
        size_t i = 0;
        if (len == 0 || !is_lower_alnum(p[0]) || !is_lower_alnum(p[len - 1]))
                return false;
        while (i < len) {
                if (is_lower_alnum(p[i])) {
                        i++;
                        continue;
                }
                size_t j = i;
                while (j < len && !is_lower_alnum(p[j]))
                        j++;
                struct cb_str sep = cb_str_from(p + i, j - i);
                bool dashes = true;
                for (size_t k = 0; k < sep.len; k++)
                        if (sep.p[k] != '-')
                                dashes = false;
                if (!(cb_str_eq_c(sep, ".") || cb_str_eq_c(sep, "_") || cb_str_eq_c(sep, "__") || dashes))
                        return false;
                i = j;
        }
        return true;
}

static bool path_valid(const char *p, size_t len)
{
        size_t start = 0;
        for (size_t i = 0; i <= len; i++) {
                if (i == len || p[i] == '/') {
                        if (!path_component_valid(p + start, i - start))
                                return false;
                        start = i + 1;
                }
        }
        return true;
}

static bool dns_label_valid(const char *p, size_t len)
{
        if (len == 0 || len > 63 || !isalnum((unsigned char) p[0]) || !isalnum((unsigned char) p[len - 1]))
                return false;
        for (size_t i = 0; i < len; i++)
                if (!isalnum((unsigned char) p[i]) && p[i] != '-')
                        return false;
        return true;
}

bool reg_domain_valid(const char *p, size_t len)
{
        size_t hostlen = len;
        if (len == 0)
                return false;
        if (p[0] == '[') {
                const char *close = memchr(p, ']', len);
                if (!close || close == p + 1)
                        return false;
                for (const char *q = p + 1; q < close; q++)
                        if (!isxdigit((unsigned char) *q) && *q != ':' && *q != '.')
                                return false;
                hostlen = (size_t) (close - p) + 1;
        } else {
                const char *colon = memchr(p, ':', len);
                if (colon)
                        hostlen = (size_t) (colon - p);
                size_t start = 0;
                for (size_t i = 0; i <= hostlen; i++) {
                        if (i == hostlen || p[i] == '.') {
                                if (!dns_label_valid(p + start, i - start))
                                        return false;
                                start = i + 1;
                        }
                }
        }
        if (hostlen == len)
                return true;
        if (p[hostlen] != ':' || hostlen + 1 == len)
                return false;
        uint64_t port;
        return cb_parse_u64(cb_str_from(p + hostlen + 1, len - hostlen - 1), 65535, &port) == 0;
}

static bool tag_valid(const char *p, size_t len)
{
        if (len == 0 || len > TAG_MAX_LEN)
                return false;
        for (size_t i = 0; i < len; i++) {
                char ch = p[i];
                bool word = isalnum((unsigned char) ch) || ch == '_';
                if (!(word || (i > 0 && (ch == '.' || ch == '-'))))
                        return false;
        }
        return true;
}

static bool all_hex(const char *p, size_t len)
{
        for (size_t i = 0; i < len; i++)
                if (!isxdigit((unsigned char) p[i]))
                        return false;
        return true;
}

void reg_ref_release(struct reg_ref *r)
{
        if (!r)
                return;
        free(r->domain);
        free(r->path);
        free(r->tag);
        free(r->digest);
        *r = (struct reg_ref){ 0 };
}

int reg_ref_parse(const char *s, struct reg_ref *ret, struct cb_err *err)
{
        if (!s || !*s)
                return cb_failc(err, -EINVAL, "invalid reference format: empty reference");
        size_t n = strlen(s);
        for (size_t i = 0; i < n; i++)
                if ((unsigned char) s[i] <= ' ' || (unsigned char) s[i] >= 0x7f)
                        return cb_failc(err, -EINVAL, "invalid reference format: '%s' contains a space or control character", s);

        /* digest: after the last '@' */
        const char *at = strrchr(s, '@');
        size_t name_tag_len = at ? (size_t) (at - s) : n;
        _cleanup_free_ char *digest = NULL;
        if (at) {
                const char *d = at + 1;
                if (memchr(s, '@', name_tag_len))
                        return cb_failc(err, -EINVAL, "invalid reference format: '%s'", s);
                if (strncmp(d, "sha256:", 7) != 0) {
                        const char *colon = strchr(d, ':');
                        if (!colon || colon == d || !all_hex(colon + 1, strlen(colon + 1)) || strlen(colon + 1) < 32)
                                return cb_failc(err, -EINVAL, "invalid reference format: '%s': bad digest", s);
                        return cb_failc(err, -EINVAL, "'%s': unsupported digest algorithm '%.*s'", s,
                                        (int) (colon - d), d);
                }
                if (!cb_digest_valid(d))
                        return cb_failc(err, -EINVAL, "invalid reference format: '%s': bad sha256 digest", s);
                digest = cb_xstrdup(d);
        }
        if (name_tag_len == 0)
                return cb_failc(err, -EINVAL, "invalid reference format: '%s': no repository name", s);

        /* tag: after the last ':' that comes after the last '/' */
        const char *nt = s;
        const char *slash = NULL;
        for (const char *q = nt; q < nt + name_tag_len; q++)
                if (*q == '/')
                        slash = q;
        const char *colon = NULL;
        for (const char *q = slash ? slash : nt; q < nt + name_tag_len; q++)
                if (*q == ':')
                        colon = q;
        size_t name_len = colon ? (size_t) (colon - nt) : name_tag_len;
        _cleanup_free_ char *tag = NULL;
        if (colon) {
                size_t tl = name_tag_len - name_len - 1;
                if (!tag_valid(colon + 1, tl))
                        return cb_failc(err, -EINVAL, "invalid reference format: '%s': bad tag '%.*s'", s, (int) tl,
                                        colon + 1);
                tag = cb_xstrndup(colon + 1, tl);
        }
        if (name_len == 0)
                return cb_failc(err, -EINVAL, "invalid reference format: '%s': no repository name", s);
        if (name_len > NAME_MAX_LEN)
                return cb_failc(err, -EINVAL, "invalid reference format: '%s': repository name longer than %d characters",
                                s, NAME_MAX_LEN);

        /* domain split (splitDockerDomain) */
        const char *first_slash = memchr(nt, '/', name_len);
        _cleanup_free_ char *domain = NULL;
        const char *rest = nt;
        size_t rest_len = name_len;
        if (first_slash) {
                size_t dl = (size_t) (first_slash - nt);
                bool has_upper = false;
                for (size_t i = 0; i < dl; i++)
                        if (isupper((unsigned char) nt[i]))
                                has_upper = true;
                if (memchr(nt, '.', dl) || memchr(nt, ':', dl) || (dl == 9 && memcmp(nt, "localhost", 9) == 0) ||
                    has_upper) {
                        if (!reg_domain_valid(nt, dl))
                                return cb_failc(err, -EINVAL, "invalid reference format: '%s': bad registry host '%.*s'",
                                                s, (int) dl, nt);
                        domain = cb_xstrndup(nt, dl);
                        rest = first_slash + 1;
                        rest_len = name_len - dl - 1;
                }
        }
        if (!domain)
                domain = cb_xstrdup("docker.io");
        else if (strcmp(domain, "index.docker.io") == 0) {
                free(domain);
                domain = cb_xstrdup("docker.io");
        }
        for (size_t i = 0; i < rest_len; i++)
                if (isupper((unsigned char) rest[i]))
                        return cb_failc(err, -EINVAL, "invalid reference format: '%s': repository name must be lowercase", s);
        if (!path_valid(rest, rest_len))
                return cb_failc(err, -EINVAL, "invalid reference format: '%s': bad repository name '%.*s'", s,
                                (int) rest_len, rest);
        if (!first_slash && rest_len == 64 && all_hex(rest, rest_len))
                return cb_failc(err, -EINVAL, "invalid repository name '%s': a 64-character hexadecimal name is an image ID, not a reference", s);
        _cleanup_free_ char *path = NULL;
        if (strcmp(domain, "docker.io") == 0 && !memchr(rest, '/', rest_len))
                path = cb_xasprintf("library/%.*s", (int) rest_len, rest);
        else
                path = cb_xstrndup(rest, rest_len);
        if (strlen(domain) + 1 + strlen(path) > NAME_MAX_LEN)
                return cb_failc(err, -EINVAL, "invalid reference format: '%s': repository name longer than %d characters",
                                s, NAME_MAX_LEN);
        if (!tag && !digest)
                tag = cb_xstrdup("latest");

        *ret = (struct reg_ref){
                .domain = CB_TAKE_PTR(domain),
                .path = CB_TAKE_PTR(path),
                .tag = CB_TAKE_PTR(tag),
                .digest = CB_TAKE_PTR(digest),
        };
        return 0;
}

char *reg_ref_name(const struct reg_ref *r)
{
        return cb_xasprintf("%s/%s", r->domain, r->path);
}

static char *with_tag_digest(const struct reg_ref *r, const char *name)
{
        return cb_xasprintf("%s%s%s%s%s", name, r->tag ? ":" : "", r->tag ? r->tag : "", r->digest ? "@" : "",
                            r->digest ? r->digest : "");
}

char *reg_ref_string(const struct reg_ref *r)
{
        _cleanup_free_ char *name = reg_ref_name(r);
        return with_tag_digest(r, name);
}

char *reg_ref_familiar(const struct reg_ref *r)
{
        const char *path = r->path;
        _cleanup_free_ char *name = NULL;
        size_t first = strcspn(path, "/");
        /* "docker.io/a.b/c" must keep its domain: "a.b/c" would parse with a.b as the registry */
        bool looks_like_domain = memchr(path, '.', first) || memchr(path, ':', first) ||
                                 (first == 9 && !strncmp(path, "localhost", 9));
        if (strcmp(r->domain, "docker.io") == 0 && !looks_like_domain) {
                if (strncmp(path, "library/", 8) == 0 && !strchr(path + 8, '/'))
                        path += 8;
                name = cb_xstrdup(path);
        } else {
                name = reg_ref_name(r);
        }
        return with_tag_digest(r, name);
}

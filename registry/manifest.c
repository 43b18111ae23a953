/* Manifests and indexes as registries serve them: OCI image manifest and index, Docker v2 schema 2
 * manifest and manifest list. Only what pull and push need is kept: the config and layer
 * descriptors, or the index's entries with their platforms. Replies are hostile: every field is
 * type-checked and every digest validated before anything uses it. */
#include "reg.h"

#include <errno.h>
#include <string.h>
#include <sys/utsname.h>

#include "internal.h"

static void desc_release(struct reg_descriptor *d)
{
        free(d->media_type);
        free(d->digest);
        free(d->os);
        free(d->arch);
        free(d->variant);
        *d = (struct reg_descriptor){ 0 };
}

void reg_manifest_release(struct reg_manifest *m)
{
        free(m->media_type);
        desc_release(&m->config);
        for (size_t i = 0; i < m->nitems; i++)
                desc_release(&m->items[i]);
        free(m->items);
        *m = (struct reg_manifest){ 0 };
}

static int parse_desc(json_t *j, const char *what, size_t idx, bool platform, struct reg_descriptor *ret,
                      struct cb_err *err)
{
        if (!json_is_object(j))
                return cb_failc(err, -EBADMSG, "%s %zu is not an object", what, idx);
        const char *mt = json_string_value(json_object_get(j, "mediaType"));
        const char *dg = json_string_value(json_object_get(j, "digest"));
        json_t *sz = json_object_get(j, "size");
        if (!dg || !cb_digest_valid(dg))
                return cb_failc(err, -EBADMSG, "%s %zu: missing or unsupported digest%s%s", what, idx, dg ? " " : "",
                                dg ? dg : "");
        if (!json_is_integer(sz) || json_integer_value(sz) < 0)
                return cb_failc(err, -EBADMSG, "%s %zu (%s): missing or negative size", what, idx, dg);
        *ret = (struct reg_descriptor){
                .media_type = mt ? cb_xstrdup(mt) : NULL,
                .digest = cb_xstrdup(dg),
                .size = (uint64_t) json_integer_value(sz),
        };
        if (platform) {
                json_t *p = json_object_get(j, "platform");
                const char *os = json_string_value(json_object_get(p, "os"));
                const char *arch = json_string_value(json_object_get(p, "architecture"));
                const char *var = json_string_value(json_object_get(p, "variant"));
                ret->os = os ? cb_xstrdup(os) : NULL;
                ret->arch = arch ? cb_xstrdup(arch) : NULL;
                ret->variant = var ? cb_xstrdup(var) : NULL;
        }
        return 0;
}

static bool is_index_type(const char *t)
{
        return t && (!strcmp(t, REG_MT_OCI_INDEX) || !strcmp(t, REG_MT_DOCKER_LIST));
}

static bool is_manifest_type(const char *t)
{
        return t && (!strcmp(t, REG_MT_OCI_MANIFEST) || !strcmp(t, REG_MT_DOCKER_MANIFEST));
}

int reg_manifest_parse(const char *p, size_t len, const char *content_type, struct reg_manifest *ret,
                       struct cb_err *err)
{
        json_error_t je;
        _cleanup_(reg_json_decrefp) json_t *j = json_loadb(p, len, JSON_REJECT_DUPLICATES, &je);
        if (!j)
                return cb_failc(err, -EBADMSG, "manifest is not valid JSON: %s (line %d)", je.text, je.line);
        if (!json_is_object(j))
                return cb_failc(err, -EBADMSG, "manifest is not a JSON object");
        json_t *sv = json_object_get(j, "schemaVersion");
        if (!json_is_integer(sv) || json_integer_value(sv) != 2)
                return cb_failc(err, -EPROTONOSUPPORT, "manifest schemaVersion %lld is not supported (only 2)",
                                json_is_integer(sv) ? (long long) json_integer_value(sv) : -1LL);
        const char *mt = json_string_value(json_object_get(j, "mediaType"));
        /* the body's mediaType wins over the reply's Content-Type, which proxies rewrite */
        const char *ct = NULL;
        if (content_type) {
                size_t n = strcspn(content_type, ";");
                while (n > 0 && content_type[n - 1] == ' ')
                        n--;
                static const char *const known[] = { REG_MT_OCI_INDEX, REG_MT_DOCKER_LIST, REG_MT_OCI_MANIFEST,
                                                     REG_MT_DOCKER_MANIFEST };
                for (size_t i = 0; i < CB_ARRAY_SIZE(known); i++)
                        if (strlen(known[i]) == n && !strncmp(known[i], content_type, n))
                                ct = known[i];
        }
        const char *type = mt ? mt : ct;
        json_t *manifests = json_object_get(j, "manifests");
        json_t *layers = json_object_get(j, "layers");
        bool index;
        if (is_index_type(type))
                index = true;
        else if (is_manifest_type(type))
                index = false;
        else if (type)
                return cb_failc(err, -EPROTONOSUPPORT, "unsupported manifest media type '%s'", type);
        else if (manifests && !layers)
                index = true;
        else if (layers && !manifests)
                index = false;
        else
                return cb_failc(err, -EBADMSG, "manifest has neither a mediaType nor layers or manifests");

        struct reg_manifest m = { .is_index = index,
                                  .media_type = cb_xstrdup(type ? type : index ? REG_MT_OCI_INDEX : REG_MT_OCI_MANIFEST) };
        json_t *arr = index ? manifests : layers;
        if (!json_is_array(arr)) {
                reg_manifest_release(&m);
                return cb_failc(err, -EBADMSG, "manifest has no '%s' array", index ? "manifests" : "layers");
        }
        int r = 0;
        if (!index) {
                r = parse_desc(json_object_get(j, "config"), "config", 0, false, &m.config, err);
                if (r < 0) {
                        reg_manifest_release(&m);
                        return r;
                }
        }
        size_t n = json_array_size(arr);
        m.items = cb_xcalloc(n ? n : 1, sizeof(*m.items));
        for (size_t i = 0; i < n; i++) {
                r = parse_desc(json_array_get(arr, i), index ? "manifest" : "layer", i, index, &m.items[i], err);
                if (r < 0) {
                        reg_manifest_release(&m);
                        return r;
                }
                m.nitems++;
        }
        *ret = m;
        return 0;
}

char *reg_host_platform(void)
{
        struct utsname u;
        const char *arch = "amd64";
        const char *variant = NULL;
        if (uname(&u) == 0) {
                if (!strcmp(u.machine, "x86_64"))
                        arch = "amd64";
                else if (!strcmp(u.machine, "aarch64") || !strcmp(u.machine, "arm64"))
                        arch = "arm64";
                else if (!strncmp(u.machine, "armv7", 5))
                        arch = "arm", variant = "v7";
                else if (!strncmp(u.machine, "armv6", 5))
                        arch = "arm", variant = "v6";
                else if (!strcmp(u.machine, "ppc64le"))
                        arch = "ppc64le";
                else if (!strcmp(u.machine, "s390x"))
                        arch = "s390x";
                else if (!strcmp(u.machine, "riscv64"))
                        arch = "riscv64";
                else if (!strcmp(u.machine, "i686") || !strcmp(u.machine, "i386"))
                        arch = "386";
        }
        return variant ? cb_xasprintf("linux/%s/%s", arch, variant) : cb_xasprintf("linux/%s", arch);
}

/* arm64 images say "v8" or nothing; both mean the same (containerd's normalisation). */
static bool variant_eq(const char *arch, const char *a, const char *b)
{
        if (!strcmp(arch, "arm64")) {
                a = a && *a ? a : "v8";
                b = b && *b ? b : "v8";
        }
        if (!a || !*a)
                return !b || !*b;
        return b && !strcmp(a, b);
}

int reg_index_choose(const struct reg_manifest *idx, const char *platform, size_t *ret_i, struct cb_err *err)
{
        /* "os/arch[/variant]" */
        _cleanup_free_ char *copy = cb_xstrdup(platform);
        char *os = copy;
        char *arch = strchr(os, '/');
        char *variant = NULL;
        if (arch) {
                *arch++ = '\0';
                variant = strchr(arch, '/');
                if (variant) {
                        *variant++ = '\0';
                        if (!*variant || strchr(variant, '/'))
                                arch = NULL;
                }
        }
        if (!*os || !arch || !*arch)
                return cb_failc(err, -EINVAL, "bad platform '%s' (expected os/arch[/variant])", platform);
        if (!strcmp(arch, "x86_64"))
                arch = "amd64";
        else if (!strcmp(arch, "aarch64"))
                arch = "arm64";
        ssize_t loose = -1;
        for (size_t i = 0; i < idx->nitems; i++) {
                const struct reg_descriptor *d = &idx->items[i];
                if (!d->os || !d->arch || strcmp(d->os, os) || strcmp(d->arch, arch))
                        continue;
                if (variant_eq(arch, variant, d->variant)) {
                        *ret_i = i;
                        return 0;
                }
                /* no variant asked: take the first of the architecture */
                if (!variant && loose < 0)
                        loose = (ssize_t) i;
        }
        if (loose >= 0) {
                *ret_i = (size_t) loose;
                return 0;
        }
        struct cb_buf offered;
        cb_buf_init(&offered, 4096);
        for (size_t i = 0; i < idx->nitems; i++) {
                const struct reg_descriptor *d = &idx->items[i];
                if (!d->os || !d->arch || !strcmp(d->os, "unknown"))
                        continue;
                (void) cb_buf_addf(&offered, "%s%s/%s%s%s", offered.len ? ", " : "", d->os, d->arch,
                                   d->variant ? "/" : "", d->variant ? d->variant : "");
        }
        int r = cb_failc(err, -ENOENT, "no manifest for platform '%s' (offered: %s)", platform,
                         offered.len ? offered.p : "none");
        cb_buf_release(&offered);
        return r;
}

/* Registries config: YAML with the concepts of containers' registries.conf (prefix, location,
 * mirror, insecure, blocked), documented in docs/registry.md:
 *
 *   registries:
 *     - prefix: docker.io
 *       mirrors:
 *         - location: 127.0.0.1:5000
 *           insecure: true
 *     - prefix: registry.internal:5000
 *       insecure: true
 *   certs_dirs: [/etc/cubuild/certs.d]
 *
 * Other top-level keys belong to the rest of cubuild's config and are ignored here. The rule whose
 * prefix is the longest match of "domain/path" wins; its prefix is replaced by location (when set) and
 * by each mirror's location to get the host and repository to ask. */
#include "reg.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <yaml.h>

#include "internal.h"

#define CONFIG_MAX (1u * 1024u * 1024u)

static void rule_release(struct reg_rule *r)
{
        free(r->prefix);
        free(r->location);
        for (size_t i = 0; i < r->nmirrors; i++)
                free(r->mirrors[i].location);
        free(r->mirrors);
}

void reg_config_release(struct reg_config *cfg)
{
        for (size_t i = 0; i < cfg->nrules; i++)
                rule_release(&cfg->rules[i]);
        free(cfg->rules);
        for (size_t i = 0; i < cfg->ncerts_dirs; i++)
                free(cfg->certs_dirs[i]);
        free(cfg->certs_dirs);
        *cfg = (struct reg_config){ 0 };
}

static struct reg_rule *rule_get(struct reg_config *cfg, const char *prefix)
{
        for (size_t i = 0; i < cfg->nrules; i++)
                if (strcmp(cfg->rules[i].prefix, prefix) == 0)
                        return &cfg->rules[i];
        cfg->rules = cb_xrealloc(cfg->rules, (cfg->nrules + 1) * sizeof(*cfg->rules));
        struct reg_rule *r = &cfg->rules[cfg->nrules++];
        *r = (struct reg_rule){ .prefix = cb_xstrdup(prefix) };
        return r;
}

static void rule_add_mirror(struct reg_rule *r, const char *loc, bool insecure)
{
        r->mirrors = cb_xrealloc(r->mirrors, (r->nmirrors + 1) * sizeof(*r->mirrors));
        r->mirrors[r->nmirrors++] = (struct reg_mirror){ .location = cb_xstrdup(loc), .insecure = insecure };
}

/* "http://h:5000/" -> "h:5000" with *ret_http; trailing slashes dropped. */
static char *clean_location(const char *s, bool *ret_http)
{
        *ret_http = false;
        if (strncmp(s, "http://", 7) == 0) {
                *ret_http = true;
                s += 7;
        } else if (strncmp(s, "https://", 8) == 0) {
                s += 8;
        }
        size_t n = strlen(s);
        while (n > 0 && s[n - 1] == '/')
                n--;
        return cb_xstrndup(s, n);
}

static bool location_valid(const char *loc)
{
        size_t hl = strcspn(loc, "/");
        return hl > 0 && reg_domain_valid(loc, hl);
}

int reg_config_add_mirror(struct reg_config *cfg, const char *spec, struct cb_err *err)
{
        const char *eq = strchr(spec, '=');
        _cleanup_free_ char *prefix = eq ? cb_xstrndup(spec, (size_t) (eq - spec)) : cb_xstrdup("docker.io");
        bool http;
        _cleanup_free_ char *loc = clean_location(eq ? eq + 1 : spec, &http);
        if (!*prefix || !location_valid(loc))
                return cb_failc(err, -EINVAL, "registry mirror '%s': expected [REGISTRY=]HOST[:PORT][/PATH]", spec);
        if (strcmp(prefix, "index.docker.io") == 0) {
                free(prefix);
                prefix = cb_xstrdup("docker.io");
        }
        rule_add_mirror(rule_get(cfg, prefix), loc, http);
        return 0;
}

void reg_config_add_insecure(struct reg_config *cfg, const char *host)
{
        bool http;
        _cleanup_free_ char *h = clean_location(host, &http);
        rule_get(cfg, h)->insecure = true;
}

bool reg_host_is_loopback(const char *host)
{
        if (host[0] == '[')
                return strncmp(host, "[::1]", 5) == 0;
        size_t hl = strcspn(host, ":");
        if (hl == 9 && strncmp(host, "localhost", 9) == 0)
                return true;
        return strncmp(host, "127.", 4) == 0;
}

/* ---- YAML ---- */

static const char *scalar(yaml_document_t *d, yaml_node_t *n)
{
        return n && n->type == YAML_SCALAR_NODE ? (const char *) n->data.scalar.value : NULL;
}

static int parse_bool(const char *v, bool *ret)
{
        if (!v)
                return -EINVAL;
        if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "on")) {
                *ret = true;
                return 0;
        }
        if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "off")) {
                *ret = false;
                return 0;
        }
        return -EINVAL;
}

static int cfg_fail(struct cb_err *err, const char *name, const yaml_node_t *n, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static int cfg_fail(struct cb_err *err, const char *name, const yaml_node_t *n, const char *fmt, ...)
{
        struct cb_buf b;
        cb_buf_init(&b, 4096);
        va_list ap;
        va_start(ap, fmt);
        (void) cb_buf_vaddf(&b, fmt, ap);
        va_end(ap);
        int r = cb_failc(err, -EINVAL, "%s:%zu: %s", name, (size_t) n->start_mark.line + 1, b.p);
        cb_buf_release(&b);
        return r;
}
#define CFG_FAIL(node, ...) cfg_fail(err, name, (node), __VA_ARGS__)

static int parse_mirror(yaml_document_t *d, yaml_node_t *n, const char *name, struct reg_rule *rule,
                        struct cb_err *err)
{
        const char *loc = NULL;
        bool insecure = false;
        if (n->type == YAML_SCALAR_NODE) {
                loc = scalar(d, n);
        } else if (n->type == YAML_MAPPING_NODE) {
                for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
                        yaml_node_t *kn = yaml_document_get_node(d, p->key);
                        yaml_node_t *vn = yaml_document_get_node(d, p->value);
                        const char *k = scalar(d, kn);
                        if (!k)
                                return CFG_FAIL(kn, "mirror keys must be scalars");
                        if (!strcmp(k, "location")) {
                                loc = scalar(d, vn);
                        } else if (!strcmp(k, "insecure")) {
                                if (parse_bool(scalar(d, vn), &insecure) < 0)
                                        return CFG_FAIL(vn, "'insecure' must be true or false");
                        } else {
                                return CFG_FAIL(kn, "unknown mirror key '%s'", k);
                        }
                }
        } else {
                return CFG_FAIL(n, "a mirror is a location or a mapping");
        }
        if (!loc)
                return CFG_FAIL(n, "mirror without a location");
        bool http;
        _cleanup_free_ char *clean = clean_location(loc, &http);
        if (!location_valid(clean))
                return CFG_FAIL(n, "bad mirror location '%s'", loc);
        rule_add_mirror(rule, clean, insecure || http);
        return 0;
}

static int parse_rule(yaml_document_t *d, yaml_node_t *n, const char *name, struct reg_config *cfg,
                      struct cb_err *err)
{
        if (n->type != YAML_MAPPING_NODE)
                return CFG_FAIL(n, "each entry of 'registries' is a mapping");
        const char *prefix = NULL;
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
                const char *k = scalar(d, yaml_document_get_node(d, p->key));
                if (k && !strcmp(k, "prefix"))
                        prefix = scalar(d, yaml_document_get_node(d, p->value));
        }
        if (!prefix) {
                for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
                        const char *k = scalar(d, yaml_document_get_node(d, p->key));
                        if (k && !strcmp(k, "location"))
                                prefix = scalar(d, yaml_document_get_node(d, p->value));
                }
        }
        if (!prefix || !*prefix)
                return CFG_FAIL(n, "registry entry without 'prefix' (or 'location')");
        bool http;
        _cleanup_free_ char *pclean = clean_location(prefix, &http);
        const char *phost = pclean[0] == '*' && pclean[1] == '.' ? pclean + 2 : pclean;
        if (!location_valid(phost))
                return CFG_FAIL(n, "bad prefix '%s'", prefix);
        struct reg_rule *rule = rule_get(cfg, pclean);
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
                yaml_node_t *kn = yaml_document_get_node(d, p->key);
                yaml_node_t *vn = yaml_document_get_node(d, p->value);
                const char *k = scalar(d, kn);
                if (!k)
                        return CFG_FAIL(kn, "registry keys must be scalars");
                if (!strcmp(k, "prefix")) {
                        continue;
                } else if (!strcmp(k, "location")) {
                        const char *v = scalar(d, vn);
                        bool h2;
                        _cleanup_free_ char *lc = v ? clean_location(v, &h2) : NULL;
                        if (!lc || !location_valid(lc))
                                return CFG_FAIL(vn, "bad location '%s'", v ? v : "");
                        free(rule->location);
                        rule->location = CB_TAKE_PTR(lc);
                        rule->insecure |= h2;
                } else if (!strcmp(k, "insecure") || !strcmp(k, "blocked")) {
                        bool b;
                        if (parse_bool(scalar(d, vn), &b) < 0)
                                return CFG_FAIL(vn, "'%s' must be true or false", k);
                        if (k[0] == 'i')
                                rule->insecure = b;
                        else
                                rule->blocked = b;
                } else if (!strcmp(k, "mirrors") || !strcmp(k, "mirror")) {
                        if (vn->type != YAML_SEQUENCE_NODE)
                                return CFG_FAIL(vn, "'%s' is a list", k);
                        for (yaml_node_item_t *it = vn->data.sequence.items.start; it < vn->data.sequence.items.top; it++) {
                                int r = parse_mirror(d, yaml_document_get_node(d, *it), name, rule, err);
                                if (r < 0)
                                        return r;
                        }
                } else {
                        return CFG_FAIL(kn, "unknown registry key '%s'", k);
                }
        }
        return 0;
}

int reg_config_parse(const char *p, size_t len, const char *name, struct reg_config *ret, struct cb_err *err)
{
        yaml_parser_t parser;
        yaml_document_t doc;
        if (!yaml_parser_initialize(&parser))
                return cb_failc(err, -ENOMEM, "%s: yaml parser", name);
        yaml_parser_set_input_string(&parser, (const unsigned char *) p, len);
        if (!yaml_parser_load(&parser, &doc)) {
                int r = cb_failc(err, -EINVAL, "%s:%zu: %s", name, (size_t) parser.problem_mark.line + 1,
                                 parser.problem ? parser.problem : "YAML error");
                yaml_parser_delete(&parser);
                return r;
        }
        yaml_parser_delete(&parser);
        int r = 0;
        yaml_node_t *root = yaml_document_get_root_node(&doc);
        if (root && root->type == YAML_MAPPING_NODE) {
                for (yaml_node_pair_t *pr = root->data.mapping.pairs.start; pr < root->data.mapping.pairs.top && r == 0;
                     pr++) {
                        yaml_node_t *kn = yaml_document_get_node(&doc, pr->key);
                        yaml_node_t *vn = yaml_document_get_node(&doc, pr->value);
                        const char *k = scalar(&doc, kn);
                        if (!k)
                                continue;
                        if (!strcmp(k, "registries")) {
                                if (vn->type != YAML_SEQUENCE_NODE) {
                                        r = CFG_FAIL(vn, "'registries' is a list");
                                        break;
                                }
                                for (yaml_node_item_t *it = vn->data.sequence.items.start;
                                     it < vn->data.sequence.items.top && r == 0; it++)
                                        r = parse_rule(&doc, yaml_document_get_node(&doc, *it), name, ret, err);
                        } else if (!strcmp(k, "certs_dirs")) {
                                if (vn->type != YAML_SEQUENCE_NODE) {
                                        r = CFG_FAIL(vn, "'certs_dirs' is a list");
                                        break;
                                }
                                for (yaml_node_item_t *it = vn->data.sequence.items.start;
                                     it < vn->data.sequence.items.top; it++) {
                                        const char *v = scalar(&doc, yaml_document_get_node(&doc, *it));
                                        if (!v || !*v) {
                                                r = CFG_FAIL(vn, "'certs_dirs' holds paths");
                                                break;
                                        }
                                        ret->certs_dirs = cb_xrealloc(ret->certs_dirs,
                                                                      (ret->ncerts_dirs + 1) * sizeof(char *));
                                        ret->certs_dirs[ret->ncerts_dirs++] = cb_xstrdup(v);
                                }
                        }
                }
        } else if (root && !(root->type == YAML_SCALAR_NODE && root->data.scalar.length == 0)) {
                r = CFG_FAIL(root, "the config is a mapping");
        }
        yaml_document_delete(&doc);
        return r;
}

int reg_config_load(const char *path, struct reg_config *ret, struct cb_err *err)
{
        struct cb_buf b;
        cb_buf_init(&b, CONFIG_MAX);
        int r = cb_read_file(AT_FDCWD, path, CONFIG_MAX, &b, err);
        if (r == 0)
                r = reg_config_parse(b.p, b.len, path, ret, err);
        cb_buf_release(&b);
        return r;
}

/* ---- endpoints ---- */

void reg_endpoints_free(struct reg_endpoint *v, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                free(v[i].host);
                free(v[i].repo);
        }
        free(v);
}

static size_t prefix_match(const char *prefix, const char *domain, const char *name)
{
        size_t pl = strlen(prefix);
        if (prefix[0] == '*' && prefix[1] == '.') {
                size_t dl = strlen(domain);
                size_t sl = pl - 1; /* ".example.com" */
                if (dl > sl && strcmp(domain + dl - sl, prefix + 1) == 0)
                        return strlen(domain);
                return 0;
        }
        if (strncmp(name, prefix, pl) == 0 && (name[pl] == '\0' || name[pl] == '/'))
                return pl;
        return 0;
}

static bool host_flag_insecure(const struct reg_config *cfg, const char *host)
{
        for (size_t i = 0; i < cfg->nrules; i++) {
                const struct reg_rule *r = &cfg->rules[i];
                const char *loc = r->location ? r->location : r->prefix;
                if (r->insecure && (!strcmp(r->prefix, host) || !strcmp(loc, host)))
                        return true;
        }
        return false;
}

static void add_endpoint(struct reg_endpoint **v, size_t *n, const char *loc, const char *rest, bool insecure,
                         bool mirror)
{
        _cleanup_free_ char *full = cb_xasprintf("%s%s", loc, rest);
        size_t hl = strcspn(full, "/");
        *v = cb_xrealloc(*v, (*n + 1) * sizeof(**v));
        char *host = cb_xstrndup(full, hl);
        if (!strcmp(host, "docker.io") || !strcmp(host, "index.docker.io")) {
                free(host);
                host = cb_xstrdup("registry-1.docker.io");
        }
        const char *repo = full[hl] == '/' ? full + hl + 1 : "";
        (*v)[(*n)++] = (struct reg_endpoint){
                .host = host,
                .repo = cb_xstrdup(repo),
                .insecure = insecure,
                .mirror = mirror,
        };
}

int reg_config_endpoints(const struct reg_config *cfg, const char *domain, const char *path, bool pull,
                         struct reg_endpoint **ret, size_t *ret_n, struct cb_err *err)
{
        _cleanup_free_ char *name = cb_xasprintf("%s/%s", domain, path);
        const struct reg_rule *best = NULL;
        size_t best_len = 0;
        for (size_t i = 0; i < cfg->nrules; i++) {
                size_t m = prefix_match(cfg->rules[i].prefix, domain, name);
                if (m > best_len) {
                        best = &cfg->rules[i];
                        best_len = m;
                }
        }
        struct reg_endpoint *v = NULL;
        size_t n = 0;
        if (!best) {
                add_endpoint(&v, &n, domain, name + strlen(domain), host_flag_insecure(cfg, domain), false);
                *ret = v;
                *ret_n = n;
                return 0;
        }
        if (best->blocked)
                return cb_failc(err, -EACCES, "'%s' is blocked by the registries config (prefix '%s')", name,
                                best->prefix);
        const char *rest = name + best_len;
        if (pull)
                for (size_t i = 0; i < best->nmirrors; i++) {
                        const char *ml = best->mirrors[i].location;
                        size_t mhl = strcspn(ml, "/");
                        _cleanup_free_ char *mh = cb_xstrndup(ml, mhl);
                        add_endpoint(&v, &n, ml, rest, best->mirrors[i].insecure || host_flag_insecure(cfg, mh), true);
                }
        const char *loc = best->location ? best->location : best->prefix;
        if (loc[0] == '*') /* a wildcard rule keeps the host it matched */
                loc = domain, rest = name + strlen(domain);
        size_t lhl = strcspn(loc, "/");
        _cleanup_free_ char *lh = cb_xstrndup(loc, lhl);
        add_endpoint(&v, &n, loc, rest, best->insecure || host_flag_insecure(cfg, lh), false);
        *ret = v;
        *ret_n = n;
        return 0;
}

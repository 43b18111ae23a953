/* cubuild's keys of the configuration file (store size budget), read with libyaml. */
#include "builder/settings.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <yaml.h>

#define SETTINGS_MAX (1u << 20)

int bld_settings_parse_size(const char *s, uint64_t *ret)
{
        size_t n = strlen(s);
        /* "20GB", "512MB": docker's units; a trailing B after k/m/g/t adds nothing */
        if (n >= 2 && (s[n - 1] == 'b' || s[n - 1] == 'B') && strchr("kKmMgGtT", s[n - 2]))
                n--;
        if (n == 0)
                return -EINVAL;
        uint64_t v;
        if (cb_parse_size((struct cb_str){ s, n }, &v) < 0)
                return -EINVAL;
        *ret = v;
        return 0;
}

static const char *scalar(yaml_document_t *d, yaml_node_t *n)
{
        return n && n->type == YAML_SCALAR_NODE ? (const char *) n->data.scalar.value : NULL;
}

static int parse_store(yaml_document_t *d, yaml_node_t *n, const char *name, struct bld_settings *s,
                       struct cb_err *err)
{
        if (n->type != YAML_MAPPING_NODE)
                return cb_failc(err, -EINVAL, "%s:%zu: 'store' is a mapping", name, (size_t) n->start_mark.line + 1);
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
                yaml_node_t *kn = yaml_document_get_node(d, p->key);
                yaml_node_t *vn = yaml_document_get_node(d, p->value);
                const char *k = scalar(d, kn);
                size_t line = (size_t) (kn ? kn->start_mark.line : n->start_mark.line) + 1;
                if (k && !strcmp(k, "keep_storage")) {
                        const char *v = scalar(d, vn);
                        if (!v || bld_settings_parse_size(v, &s->keep_storage) < 0)
                                return cb_failc(err, -EINVAL, "%s:%zu: store.keep_storage '%s' is not a size like 20g",
                                                name, line, v ? v : "");
                        s->has_keep_storage = true;
                } else {
                        return cb_failc(err, -EINVAL, "%s:%zu: unknown key 'store.%s' (known: keep_storage)", name,
                                        line, k ? k : "");
                }
        }
        return 0;
}

int bld_settings_parse(const char *p, size_t len, const char *name, struct bld_settings *ret, struct cb_err *err)
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
        struct bld_settings s = { 0 };
        int r = 0;
        yaml_node_t *root = yaml_document_get_root_node(&doc);
        if (root && root->type == YAML_MAPPING_NODE) {
                for (yaml_node_pair_t *pr = root->data.mapping.pairs.start; pr < root->data.mapping.pairs.top && r == 0;
                     pr++) {
                        const char *k = scalar(&doc, yaml_document_get_node(&doc, pr->key));
                        if (k && !strcmp(k, "store"))
                                r = parse_store(&doc, yaml_document_get_node(&doc, pr->value), name, &s, err);
                }
        } else if (root && !(root->type == YAML_SCALAR_NODE && root->data.scalar.length == 0)) {
                r = cb_failc(err, -EINVAL, "%s:%zu: the config is a mapping", name, (size_t) root->start_mark.line + 1);
        }
        yaml_document_delete(&doc);
        if (r == 0)
                *ret = s;
        return r;
}

int bld_settings_load(const char *path, struct bld_settings *ret, struct cb_err *err)
{
        if (!path) {
                *ret = (struct bld_settings){ 0 };
                return 0;
        }
        struct cb_buf b;
        cb_buf_init(&b, SETTINGS_MAX);
        int r = cb_read_file(AT_FDCWD, path, SETTINGS_MAX, &b, err);
        if (r >= 0)
                r = bld_settings_parse(b.p, b.len, path, ret, err);
        cb_buf_release(&b);
        return r;
}

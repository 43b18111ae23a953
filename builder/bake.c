/* The bake file: YAML (or JSON) through libyaml into jansson values, with ${VAR} interpolation,
 * inherits, --set, groups, and the build order. The structure is docker buildx bake's JSON
 * definition; compose files' services.*.build are read as targets. */
#include "builder/bake.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "builder/steps.h"
#include "parser/df.h"

#define VAR_DEPTH_MAX 16
#define DOCKERFILE_MAX (16u << 20)

enum vkind { V_STR, V_LIST, V_MAP, V_BOOL };

static const struct {
        const char *name;
        enum vkind kind;
} target_keys[] = {
        { "context", V_STR },     { "dockerfile", V_STR }, { "args", V_MAP },       { "labels", V_MAP },
        { "tags", V_LIST },       { "platforms", V_LIST }, { "output", V_LIST },    { "cache-from", V_LIST },
        { "cache-to", V_LIST },   { "target", V_STR },     { "inherits", V_LIST },  { "contexts", V_MAP },
        { "push", V_BOOL },       { "no-cache", V_BOOL },  { "pull", V_BOOL },      { "secret", V_LIST },
        { "network", V_STR },     { "verify", V_STR },     { "description", V_STR },
};

struct var {
        char *name;
        char *raw; /* the default as written, or the environment's value */
        bool from_env;
        char *value; /* interpolated, on first use */
        bool busy;
        unsigned line;
};

struct set_op {
        char *pattern, *key, *value;
};

struct bld_bake {
        char *name; /* the file name, for errors */
        yaml_document_t doc;
        bool have_doc;
        bool compose;
        struct var *vars;
        size_t nvars;
        json_t *targets; /* name -> target as written (interpolated), "inherits" kept */
        json_t *groups;  /* name -> [names] */
        json_t *lines;   /* "target.NAME" / "group.NAME" -> line */
        struct set_op *sets;
        size_t nsets;
        /* after resolve */
        char **order;
        json_t **resolved; /* borrowed from `final` */
        size_t norder;
        size_t **deps;
        size_t *ndeps;
        json_t *final;     /* name -> resolved target */
        json_t *requested; /* what the plan's default group lists */
};

static int __attribute__((format(printf, 5, 6)))
bake_fail(struct bld_bake *bk, const yaml_node_t *n, const char *key, struct cb_err *err, const char *fmt, ...)
{
        struct cb_buf m;
        cb_buf_init(&m, CB_BUF_UNLIMITED);
        if (n)
                (void) cb_buf_addf(&m, "%s:%zu: ", bk->name, n->start_mark.line + 1);
        else
                (void) cb_buf_addf(&m, "%s: ", bk->name);
        if (key)
                (void) cb_buf_addf(&m, "%s: ", key);
        va_list ap;
        va_start(ap, fmt);
        (void) cb_buf_vaddf(&m, fmt, ap); /* NOLINT(clang-analyzer-valist.Uninitialized): va_start above */
        va_end(ap);
        int r = cb_failc(err, -EINVAL, "%s", m.p);
        cb_buf_release(&m);
        return r;
}

static const char *scalar(const yaml_node_t *n)
{
        return n && n->type == YAML_SCALAR_NODE ? (const char *) n->data.scalar.value : NULL;
}

static bool is_null(const yaml_node_t *n)
{
        if (!n || n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
                return false;
        const char *s = scalar(n);
        return !*s || !strcmp(s, "~") || !strcmp(s, "null");
}

static yaml_node_t *node(struct bld_bake *bk, int id)
{
        return yaml_document_get_node(&bk->doc, id);
}

#define CAT2(a, b) a##b
#define CAT(a, b) CAT2(a, b)
/* kn, vn: the key and value node of each pair. Nested uses must sit on different lines. A break
 * leaves only the inner one-pass loop: callers stop with return, or test their status first. */
/* NOLINTBEGIN(bugprone-macro-parentheses): kn and vn are declared names, which cannot be parenthesised */
#define FOREACH_PAIR(bk, map, kn, vn) FOREACH_PAIR_(bk, map, kn, vn, CAT(p_, __LINE__), CAT(once_, __LINE__))
#define FOREACH_PAIR_(bk, map, kn, vn, p_, once_)                                                            \
        for (yaml_node_pair_t *p_ = (map)->data.mapping.pairs.start; p_ < (map)->data.mapping.pairs.top; p_++) \
                for (yaml_node_t *kn = node(bk, p_->key), *vn = node(bk, p_->value), *once_ = kn; once_;   \
                     once_ = NULL)
/* NOLINTEND(bugprone-macro-parentheses) */

/* ---- variables and interpolation --------------------------------------------------------------- */

static struct var *var_find(struct bld_bake *bk, const char *name, size_t len)
{
        for (size_t i = 0; i < bk->nvars; i++)
                if (strlen(bk->vars[i].name) == len && !strncmp(bk->vars[i].name, name, len))
                        return &bk->vars[i];
        return NULL;
}

static int interp(struct bld_bake *bk, const yaml_node_t *n, const char *key, const char *s, unsigned depth,
                  char **ret, struct cb_err *err);

static int var_value(struct bld_bake *bk, struct var *v, const yaml_node_t *n, const char *key, unsigned depth,
                     const char **ret, struct cb_err *err)
{
        if (!v->value) {
                if (v->busy || depth > VAR_DEPTH_MAX)
                        return bake_fail(bk, n, key, err, "variable '%s' refers to itself", v->name);
                if (v->from_env) {
                        v->value = cb_xstrdup(v->raw); /* the environment's value is taken as it is */
                } else {
                        v->busy = true;
                        int r = interp(bk, n, key, v->raw, depth + 1, &v->value, err);
                        v->busy = false;
                        if (r < 0)
                                return r;
                }
        }
        *ret = v->value;
        return 0;
}

/* ${NAME}, ${NAME:-default}, ${NAME-default}; $$ is a literal $. NAME: a bake variable, else (compose,
 * or a name the file does not declare) the environment. */
static int interp(struct bld_bake *bk, const yaml_node_t *n, const char *key, const char *s, unsigned depth,
                  char **ret, struct cb_err *err)
{
        struct cb_buf out;
        cb_buf_init(&out, CB_BUF_UNLIMITED);
        for (const char *p = s; *p;) {
                if (p[0] == '$' && p[1] == '$') {
                        (void) cb_buf_addc(&out, '$');
                        p += 2;
                        continue;
                }
                if (p[0] != '$' || p[1] != '{') {
                        (void) cb_buf_addc(&out, *p++);
                        continue;
                }
                const char *name = p + 2, *end = strchr(name, '}');
                if (!end) {
                        cb_buf_release(&out);
                        return bake_fail(bk, n, key, err, "'${' without a closing '}' in '%s'", s);
                }
                size_t nl = strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_");
                const char *def = NULL;
                size_t deflen = 0;
                bool colon = false;
                if (name + nl < end) {
                        if (name[nl] == ':' && name[nl + 1] == '-') {
                                colon = true;
                                def = name + nl + 2;
                        } else if (name[nl] == '-') {
                                def = name + nl + 1;
                        } else {
                                cb_buf_release(&out);
                                return bake_fail(bk, n, key, err, "'%.*s': only ${NAME} and ${NAME:-default} are supported",
                                                 (int) (end - p + 1), p);
                        }
                        deflen = (size_t) (end - def);
                }
                if (nl == 0) {
                        cb_buf_release(&out);
                        return bake_fail(bk, n, key, err, "'%.*s': no variable name", (int) (end - p + 1), p);
                }
                const char *val = NULL;
                struct var *v = var_find(bk, name, nl);
                _cleanup_free_ char *ename = cb_xstrndup(name, nl);
                if (v) {
                        int r = var_value(bk, v, n, key, depth, &val, err);
                        if (r < 0) {
                                cb_buf_release(&out);
                                return r;
                        }
                } else {
                        val = getenv(ename);
                }
                if (def && (!val || (colon && !*val))) {
                        _cleanup_free_ char *d = cb_xstrndup(def, deflen), *dv = NULL;
                        int r = interp(bk, n, key, d, depth + 1, &dv, err);
                        if (r < 0) {
                                cb_buf_release(&out);
                                return r;
                        }
                        (void) cb_buf_adds(&out, dv);
                } else if (val) {
                        (void) cb_buf_adds(&out, val);
                } else if (!bk->compose) {
                        cb_buf_release(&out);
                        return bake_fail(bk, n, key, err, "variable '%s' is not defined (add it under 'variable:' or "
                                                          "set it in the environment)",
                                         ename);
                }
                p = end + 1;
        }
        *ret = cb_buf_take(&out, NULL);
        return 0;
}

/* ---- values ------------------------------------------------------------------------------------ */

static int str_value(struct bld_bake *bk, const yaml_node_t *n, const char *key, json_t **ret, struct cb_err *err)
{
        const char *s = scalar(n);
        if (!s)
                return bake_fail(bk, n, key, err, "expected a string");
        char *v = NULL;
        int r = interp(bk, n, key, s, 0, &v, err);
        if (r < 0)
                return r;
        *ret = json_string(v);
        free(v);
        return 0;
}

static int list_value(struct bld_bake *bk, const yaml_node_t *n, const char *key, json_t **ret, struct cb_err *err)
{
        json_t *a = json_array();
        if (n->type == YAML_SCALAR_NODE) { /* one value where a list is expected: bake takes it */
                json_t *s = NULL;
                int r = str_value(bk, n, key, &s, err);
                if (r < 0) {
                        json_decref(a);
                        return r;
                }
                json_array_append_new(a, s);
                *ret = a;
                return 0;
        }
        if (n->type != YAML_SEQUENCE_NODE) {
                json_decref(a);
                return bake_fail(bk, n, key, err, "expected a list of strings");
        }
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
                json_t *s = NULL;
                int r = str_value(bk, node(bk, *it), key, &s, err);
                if (r < 0) {
                        json_decref(a);
                        return r;
                }
                json_array_append_new(a, s);
        }
        *ret = a;
        return 0;
}

/* A mapping of strings; a null value (args: {K: }) takes K from the environment, or is left out.
 * Compose also writes a list of "K=V". */
static int map_value(struct bld_bake *bk, const yaml_node_t *n, const char *key, json_t **ret, struct cb_err *err)
{
        json_t *o = json_object();
        int r = 0;
        if (n->type == YAML_SEQUENCE_NODE && bk->compose) {
                for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top && r >= 0;
                     it++) {
                        yaml_node_t *in = node(bk, *it);
                        char *v = NULL;
                        const char *s = scalar(in);
                        r = s ? interp(bk, in, key, s, 0, &v, err) : bake_fail(bk, in, key, err, "expected K=V");
                        if (r < 0 || !v)
                                break;
                        char *eq = strchr(v, '=');
                        if (eq) {
                                *eq = '\0';
                                json_object_set_new(o, v, json_string(eq + 1));
                        } else if (getenv(v)) {
                                json_object_set_new(o, v, json_string(getenv(v)));
                        }
                        free(v);
                }
        } else if (n->type != YAML_MAPPING_NODE) {
                r = bake_fail(bk, n, key, err, "expected a mapping of names to strings");
        } else {
                FOREACH_PAIR(bk, n, kn, vn)
                {
                        if (r < 0)
                                break;
                        const char *k = scalar(kn);
                        if (!k) {
                                r = bake_fail(bk, kn, key, err, "expected a name");
                                break;
                        }
                        if (is_null(vn)) {
                                if (getenv(k))
                                        json_object_set_new(o, k, json_string(getenv(k)));
                                continue;
                        }
                        _cleanup_free_ char *sub = cb_xasprintf("%s.%s", key, k);
                        json_t *s = NULL;
                        r = str_value(bk, vn, sub, &s, err);
                        if (r >= 0)
                                json_object_set_new(o, k, s);
                }
        }
        if (r < 0) {
                json_decref(o);
                return r;
        }
        *ret = o;
        return 0;
}

static int bool_value(struct bld_bake *bk, const yaml_node_t *n, const char *key, json_t **ret, struct cb_err *err)
{
        json_t *s = NULL;
        int r = str_value(bk, n, key, &s, err);
        if (r < 0)
                return r;
        const char *v = json_string_value(s);
        if (!strcasecmp(v, "true") || !strcmp(v, "1"))
                *ret = json_true();
        else if (!strcasecmp(v, "false") || !strcmp(v, "0") || !*v)
                *ret = json_false();
        else
                r = bake_fail(bk, n, key, err, "expected true or false, not '%s'", v);
        json_decref(s);
        return r;
}

static int key_kind(const char *k, enum vkind *ret)
{
        for (size_t i = 0; i < CB_ARRAY_SIZE(target_keys); i++) {
                if (!strcmp(target_keys[i].name, k)) {
                        *ret = target_keys[i].kind;
                        return 0;
                }
        }
        return -ENOENT;
}

static int any_value(struct bld_bake *bk, enum vkind kind, const yaml_node_t *n, const char *key, json_t **ret,
                     struct cb_err *err)
{
        switch (kind) {
        case V_STR:
                return str_value(bk, n, key, ret, err);
        case V_LIST:
                return list_value(bk, n, key, ret, err);
        case V_MAP:
                return map_value(bk, n, key, ret, err);
        case V_BOOL:
                return bool_value(bk, n, key, ret, err);
        }
        return -EINVAL;
}

/* ---- the file ---------------------------------------------------------------------------------- */

static int read_variables(struct bld_bake *bk, const yaml_node_t *map, struct cb_err *err)
{
        if (map->type != YAML_MAPPING_NODE)
                return bake_fail(bk, map, "variable", err, "expected a mapping of variable names");
        FOREACH_PAIR(bk, map, kn, vn)
        {
                const char *name = scalar(kn);
                if (!name || !*name || strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") !=
                                              strlen(name))
                        return bake_fail(bk, kn, "variable", err, "'%s' is not a variable name", name ? name : "?");
                _cleanup_free_ char *key = cb_xasprintf("variable.%s", name);
                const char *def = NULL;
                if (vn->type == YAML_MAPPING_NODE) {
                        FOREACH_PAIR(bk, vn, k2, v2)
                        {
                                const char *k = scalar(k2);
                                if (k && !strcmp(k, "default")) {
                                        def = scalar(v2);
                                        if (!def)
                                                return bake_fail(bk, v2, key, err, "default: expected a string");
                                } else if (!k || (strcmp(k, "description") && strcmp(k, "validation"))) {
                                        return bake_fail(bk, k2, key, err, "unknown key '%s' (use default)",
                                                         k ? k : "?");
                                }
                        }
                } else if (scalar(vn)) {
                        def = scalar(vn);
                } else {
                        return bake_fail(bk, vn, key, err, "expected {default: VALUE}");
                }
                bk->vars = cb_xrealloc(bk->vars, (bk->nvars + 1) * sizeof(*bk->vars));
                struct var *v = &bk->vars[bk->nvars++];
                memset(v, 0, sizeof(*v));
                v->name = cb_xstrdup(name);
                v->line = (unsigned) kn->start_mark.line + 1;
                /* docker buildx bake: an environment variable of the same name overrides the default */
                const char *env = getenv(name);
                v->from_env = env != NULL;
                v->raw = cb_xstrdup(env ? env : def ? def : "");
        }
        return 0;
}

static void note_line(struct bld_bake *bk, const char *what, const char *name, const yaml_node_t *n)
{
        _cleanup_free_ char *k = cb_xasprintf("%s.%s", what, name);
        json_object_set_new(bk->lines, k, json_integer((json_int_t) n->start_mark.line + 1));
}

static int read_target(struct bld_bake *bk, const char *name, const yaml_node_t *map, struct cb_err *err)
{
        _cleanup_free_ char *tkey = cb_xasprintf("target.%s", name);
        if (map->type != YAML_MAPPING_NODE)
                return bake_fail(bk, map, tkey, err, "expected a mapping of target keys");
        json_t *t = json_object();
        FOREACH_PAIR(bk, map, kn, vn)
        {
                const char *k = scalar(kn);
                enum vkind kind;
                if (!k || key_kind(k, &kind) < 0) {
                        json_decref(t);
                        return bake_fail(bk, kn, tkey, err, "unknown key '%s'", k ? k : "?");
                }
                _cleanup_free_ char *key = cb_xasprintf("%s.%s", tkey, k);
                json_t *v = NULL;
                int r = any_value(bk, kind, vn, key, &v, err);
                if (r < 0) {
                        json_decref(t);
                        return r;
                }
                json_object_set_new(t, k, v);
        }
        json_object_set_new(bk->targets, name, t);
        note_line(bk, "target", name, map);
        return 0;
}

static bool name_ok(const char *s)
{
        return s && *s && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == strlen(s);
}

static int read_bake(struct bld_bake *bk, const yaml_node_t *root, struct cb_err *err)
{
        /* variables first: targets interpolate them wherever they come in the file */
        FOREACH_PAIR(bk, root, kn, vn)
        {
                const char *k = scalar(kn);
                if (k && !strcmp(k, "variable")) {
                        int r = read_variables(bk, vn, err);
                        if (r < 0)
                                return r;
                }
        }
        FOREACH_PAIR(bk, root, kn, vn)
        {
                const char *k = scalar(kn);
                if (k && !strcmp(k, "variable"))
                        continue;
                if (k && !strcmp(k, "target")) {
                        if (vn->type != YAML_MAPPING_NODE)
                                return bake_fail(bk, vn, "target", err, "expected a mapping of target names");
                        FOREACH_PAIR(bk, vn, tn, tv)
                        {
                                const char *name = scalar(tn);
                                if (!name_ok(name))
                                        return bake_fail(bk, tn, "target", err,
                                                         "'%s' is not a target name (letters, digits, '-', '_')",
                                                         name ? name : "?");
                                int r = read_target(bk, name, tv, err);
                                if (r < 0)
                                        return r;
                        }
                } else if (k && !strcmp(k, "group")) {
                        if (vn->type != YAML_MAPPING_NODE)
                                return bake_fail(bk, vn, "group", err, "expected a mapping of group names");
                        FOREACH_PAIR(bk, vn, gn, gv)
                        {
                                const char *name = scalar(gn);
                                _cleanup_free_ char *gkey = cb_xasprintf("group.%s", name ? name : "?");
                                if (!name_ok(name))
                                        return bake_fail(bk, gn, "group", err, "'%s' is not a group name",
                                                         name ? name : "?");
                                if (gv->type != YAML_MAPPING_NODE)
                                        return bake_fail(bk, gv, gkey, err, "expected {targets: [...]}");
                                json_t *targets = NULL;
                                FOREACH_PAIR(bk, gv, k2, v2)
                                {
                                        const char *kk = scalar(k2);
                                        if (kk && !strcmp(kk, "targets")) {
                                                _cleanup_free_ char *key = cb_xasprintf("%s.targets", gkey);
                                                json_decref(targets);
                                                targets = NULL;
                                                int r = list_value(bk, v2, key, &targets, err);
                                                if (r < 0)
                                                        return r;
                                        } else if (!kk || strcmp(kk, "description")) {
                                                json_decref(targets);
                                                return bake_fail(bk, k2, gkey, err, "unknown key '%s' (use targets)",
                                                                 kk ? kk : "?");
                                        }
                                }
                                json_object_set_new(bk->groups, name, targets ? targets : json_array());
                                note_line(bk, "group", name, gn);
                        }
                } else {
                        return bake_fail(bk, kn, NULL, err, "unknown key '%s' (use variable, group or target)",
                                         k ? k : "?");
                }
        }
        return 0;
}

/* compose: services.NAME.build (a context path, or a mapping) and services.NAME.image as the tag. */
static int read_compose(struct bld_bake *bk, const yaml_node_t *services, struct cb_err *err)
{
        static const struct {
                const char *compose, *bake;
                enum vkind kind;
        } keys[] = {
                { "context", "context", V_STR },       { "dockerfile", "dockerfile", V_STR }, { "args", "args", V_MAP },
                { "labels", "labels", V_MAP },         { "target", "target", V_STR },         { "tags", "tags", V_LIST },
                { "cache_from", "cache-from", V_LIST }, { "cache_to", "cache-to", V_LIST },  { "platforms", "platforms", V_LIST },
                { "network", "network", V_STR },       { "no_cache", "no-cache", V_BOOL },    { "pull", "pull", V_BOOL },
        };
        if (services->type != YAML_MAPPING_NODE)
                return bake_fail(bk, services, "services", err, "expected a mapping of service names");
        FOREACH_PAIR(bk, services, sn, sv)
        {
                const char *name = scalar(sn);
                _cleanup_free_ char *skey = cb_xasprintf("services.%s", name ? name : "?");
                if (!name_ok(name))
                        return bake_fail(bk, sn, "services", err, "'%s' is not a service name bake can use",
                                         name ? name : "?");
                if (sv->type != YAML_MAPPING_NODE)
                        return bake_fail(bk, sv, skey, err, "expected a mapping");
                yaml_node_t *build = NULL, *image = NULL;
                FOREACH_PAIR(bk, sv, k2, v2)
                {
                        const char *k = scalar(k2);
                        if (k && !strcmp(k, "build"))
                                build = v2;
                        else if (k && !strcmp(k, "image"))
                                image = v2;
                }
                if (!build)
                        continue; /* a service that pulls its image has nothing to build */
                json_t *t = json_object();
                _cleanup_free_ char *bkey = cb_xasprintf("%s.build", skey);
                int r = 0;
                if (build->type == YAML_SCALAR_NODE) {
                        json_t *v = NULL;
                        r = str_value(bk, build, bkey, &v, err);
                        if (r >= 0)
                                json_object_set_new(t, "context", v);
                } else if (build->type == YAML_MAPPING_NODE) {
                        FOREACH_PAIR(bk, build, k3, v3)
                        {
                                if (r < 0)
                                        break;
                                const char *k = scalar(k3);
                                size_t i = 0;
                                while (i < CB_ARRAY_SIZE(keys) && (!k || strcmp(keys[i].compose, k)))
                                        i++;
                                if (i == CB_ARRAY_SIZE(keys))
                                        continue; /* compose keys bake does not use (ssh, shm_size, x-bake...) */
                                _cleanup_free_ char *key = cb_xasprintf("%s.%s", bkey, k);
                                json_t *v = NULL;
                                r = any_value(bk, keys[i].kind, v3, key, &v, err);
                                if (r >= 0)
                                        json_object_set_new(t, keys[i].bake, v);
                        }
                } else {
                        r = bake_fail(bk, build, bkey, err, "expected a context path or a mapping");
                }
                if (r >= 0 && image) {
                        json_t *v = NULL;
                        _cleanup_free_ char *ikey = cb_xasprintf("%s.image", skey);
                        r = str_value(bk, image, ikey, &v, err);
                        if (r >= 0) {
                                json_t *tags = json_object_get(t, "tags");
                                if (!tags) {
                                        tags = json_array();
                                        json_object_set_new(t, "tags", tags);
                                }
                                json_array_insert_new(tags, 0, v);
                        }
                }
                if (r < 0) {
                        json_decref(t);
                        return r;
                }
                json_object_set_new(bk->targets, name, t);
                note_line(bk, "target", name, sn);
        }
        return 0;
}

int bld_bake_parse(const char *name, const char *text, size_t len, struct bld_bake **ret, struct cb_err *err)
{
        struct bld_bake *bk = cb_xcalloc(1, sizeof(*bk));
        bk->name = cb_xstrdup(name);
        bk->targets = json_object();
        bk->groups = json_object();
        bk->lines = json_object();
        yaml_parser_t p;
        if (!yaml_parser_initialize(&p)) {
                bld_bake_free(bk);
                return cb_failc(err, -ENOMEM, "libyaml: cannot initialise the parser");
        }
        yaml_parser_set_input_string(&p, (const unsigned char *) text, len);
        int r = 0;
        if (!yaml_parser_load(&p, &bk->doc)) {
                r = cb_failc(err, -EINVAL, "%s:%zu:%zu: %s%s%s", name, p.problem_mark.line + 1, p.problem_mark.column + 1,
                             p.problem ? p.problem : "YAML syntax error", p.context ? " " : "",
                             p.context ? p.context : "");
                yaml_parser_delete(&p);
                bld_bake_free(bk);
                return r;
        }
        yaml_parser_delete(&p);
        bk->have_doc = true;
        yaml_node_t *root = yaml_document_get_root_node(&bk->doc);
        if (!root) {
                r = cb_failc(err, -EINVAL, "%s: the file is empty", name);
        } else if (root->type != YAML_MAPPING_NODE) {
                r = bake_fail(bk, root, NULL, err, "expected a mapping (variable, group, target; or services)");
        } else {
                yaml_node_t *services = NULL;
                FOREACH_PAIR(bk, root, kn, vn)
                {
                        if (scalar(kn) && !strcmp(scalar(kn), "services"))
                                services = vn;
                }
                bk->compose = services != NULL;
                r = services ? read_compose(bk, services, err) : read_bake(bk, root, err);
        }
        if (r < 0) {
                bld_bake_free(bk);
                return r;
        }
        *ret = bk;
        return 0;
}

struct bld_bake *bld_bake_free(struct bld_bake *bk)
{
        if (!bk)
                return NULL;
        if (bk->have_doc)
                yaml_document_delete(&bk->doc);
        for (size_t i = 0; i < bk->nvars; i++) {
                free(bk->vars[i].name);
                free(bk->vars[i].raw);
                free(bk->vars[i].value);
        }
        free(bk->vars);
        for (size_t i = 0; i < bk->nsets; i++) {
                free(bk->sets[i].pattern);
                free(bk->sets[i].key);
                free(bk->sets[i].value);
        }
        free(bk->sets);
        for (size_t i = 0; i < bk->norder; i++) {
                free(bk->order[i]);
                free(bk->deps[i]);
        }
        free(bk->order);
        free(bk->resolved);
        free(bk->deps);
        free(bk->ndeps);
        json_decref(bk->targets);
        json_decref(bk->groups);
        json_decref(bk->lines);
        json_decref(bk->final);
        json_decref(bk->requested);
        free(bk->name);
        free(bk);
        return NULL;
}

/* ---- --set ------------------------------------------------------------------------------------- */

int bld_bake_set(struct bld_bake *bk, const char *spec, struct cb_err *err)
{
        const char *eq = strchr(spec, '=');
        const char *dot = strchr(spec, '.');
        if (!eq || !dot || dot > eq || dot == spec || dot + 1 == eq)
                return cb_failc(err, -EINVAL, "--set '%s': expected TARGET.KEY=VALUE", spec);
        _cleanup_free_ char *key = cb_xstrndup(dot + 1, (size_t) (eq - dot - 1));
        const char *base = key;
        _cleanup_free_ char *head = NULL;
        const char *kdot = strchr(key, '.');
        if (kdot) {
                head = cb_xstrndup(key, (size_t) (kdot - key));
                base = head;
        }
        if (!strcmp(base, "platform"))
                base = "platforms";
        enum vkind kind;
        if (key_kind(base, &kind) < 0 || !strcmp(base, "inherits") || !strcmp(base, "description"))
                return cb_failc(err, -EINVAL, "--set '%s': unknown key '%s'", spec, base);
        if ((kind == V_MAP) != (kdot != NULL))
                return cb_failc(err, -EINVAL, "--set '%s': %s", spec,
                                kind == V_MAP ? "give the entry: KEY.NAME=VALUE" : "this key has no entries");
        bk->sets = cb_xrealloc(bk->sets, (bk->nsets + 1) * sizeof(*bk->sets));
        struct set_op *s = &bk->sets[bk->nsets++];
        s->pattern = cb_xstrndup(spec, (size_t) (dot - spec));
        s->key = kdot ? cb_xasprintf("%s%s", base, kdot) : cb_xstrdup(base);
        s->value = cb_xstrdup(eq + 1);
        return 0;
}

static int apply_sets(struct bld_bake *bk, const char *name, json_t *t, struct cb_err *err)
{
        json_t *touched = json_object(); /* list keys already replaced by an earlier --set */
        int r = 0;
        for (size_t i = 0; i < bk->nsets && r >= 0; i++) {
                const struct set_op *s = &bk->sets[i];
                if (fnmatch(s->pattern, name, 0) != 0)
                        continue;
                const char *kdot = strchr(s->key, '.');
                _cleanup_free_ char *base = kdot ? cb_xstrndup(s->key, (size_t) (kdot - s->key)) : cb_xstrdup(s->key);
                enum vkind kind = V_STR;
                (void) key_kind(base, &kind);
                switch (kind) {
                case V_STR:
                        json_object_set_new(t, base, json_string(s->value));
                        break;
                case V_BOOL:
                        if (!strcasecmp(s->value, "true") || !strcmp(s->value, "1"))
                                json_object_set_new(t, base, json_true());
                        else if (!strcasecmp(s->value, "false") || !strcmp(s->value, "0"))
                                json_object_set_new(t, base, json_false());
                        else
                                r = cb_failc(err, -EINVAL, "--set %s.%s: expected true or false", s->pattern, s->key);
                        break;
                case V_MAP: {
                        json_t *m = json_object_get(t, base);
                        if (!json_is_object(m)) {
                                m = json_object();
                                json_object_set_new(t, base, m);
                        }
                        json_object_set_new(m, kdot + 1, json_string(s->value));
                        break;
                }
                case V_LIST: {
                        json_t *l = json_object_get(t, base);
                        if (!json_object_get(touched, base) || !json_is_array(l)) {
                                l = json_array();
                                json_object_set_new(t, base, l);
                                json_object_set_new(touched, base, json_true());
                        }
                        json_array_append_new(l, json_string(s->value));
                        break;
                }
                }
        }
        json_decref(touched);
        return r;
}

/* ---- resolve ----------------------------------------------------------------------------------- */

static unsigned line_of(struct bld_bake *bk, const char *what, const char *name)
{
        _cleanup_free_ char *k = cb_xasprintf("%s.%s", what, name);
        return (unsigned) json_integer_value(json_object_get(bk->lines, k));
}

/* inherits: the parents' values in order, then the target's own; args, labels and contexts merge
 * key by key, everything else is replaced (buildx bake's rule). */
static int inherit(struct bld_bake *bk, const char *name, unsigned depth, json_t **ret, struct cb_err *err)
{
        json_t *own = json_object_get(bk->targets, name);
        if (!own)
                return -ENOENT;
        if (depth > 32)
                return cb_failc(err, -ELOOP, "%s:%u: target.%s.inherits: a cycle", bk->name,
                                line_of(bk, "target", name), name);
        json_t *t = json_object();
        size_t i;
        json_t *p;
        json_array_foreach(json_object_get(own, "inherits"), i, p)
        {
                const char *pn = json_string_value(p);
                json_t *pt = NULL;
                int r = inherit(bk, pn, depth + 1, &pt, err);
                if (r == -ENOENT)
                        r = cb_failc(err, -EINVAL, "%s:%u: target.%s.inherits: no target '%s'", bk->name,
                                     line_of(bk, "target", name), name, pn);
                if (r < 0) {
                        json_decref(t);
                        return r;
                }
                const char *k;
                json_t *v;
                json_object_foreach(pt, k, v)
                {
                        json_t *cur = json_object_get(t, k);
                        if (json_is_object(v) && json_is_object(cur))
                                json_object_update(cur, v);
                        else
                                json_object_set(t, k, v);
                }
                json_decref(pt);
        }
        const char *k;
        json_t *v;
        json_object_foreach(own, k, v)
        {
                if (!strcmp(k, "inherits"))
                        continue;
                json_t *cur = json_object_get(t, k);
                if (json_is_object(v) && json_is_object(cur))
                        json_object_update(cur, v);
                else
                        json_object_set_new(t, k, json_deep_copy(v));
        }
        *ret = t;
        return 0;
}

static int add_name(struct bld_bake *bk, json_t *set, const char *name, unsigned depth, struct cb_err *err)
{
        if (depth > 32)
                return cb_failc(err, -ELOOP, "%s: group '%s': groups include each other", bk->name, name);
        json_t *g = json_object_get(bk->groups, name);
        if (g) {
                size_t i;
                json_t *v;
                json_array_foreach(g, i, v)
                {
                        int r = add_name(bk, set, json_string_value(v), depth + 1, err);
                        if (r == -ENOENT)
                                r = cb_failc(err, -EINVAL, "%s:%u: group.%s.targets: no target or group '%s'", bk->name,
                                             line_of(bk, "group", name), name, json_string_value(v));
                        if (r < 0)
                                return r;
                }
                return 0;
        }
        if (!json_object_get(bk->targets, name))
                return -ENOENT;
        if (!json_object_get(set, name))
                json_object_set_new(set, name, json_integer((json_int_t) json_object_size(set)));
        return 0;
}

/* The names a target's Dockerfile FROM lines give, with its args applied to the global ARGs. */
static json_t *from_images(json_t *t)
{
        json_t *out = json_array();
        const char *ctx = json_string_value(json_object_get(t, "context"));
        const char *df = json_string_value(json_object_get(t, "dockerfile"));
        if (!ctx)
                ctx = ".";
        if (!df)
                df = "Dockerfile";
        _cleanup_free_ char *path = df[0] == '/' ? cb_xstrdup(df) : cb_xasprintf("%s/%s", ctx, df);
        struct cb_buf text;
        cb_buf_init(&text, DOCKERFILE_MAX);
        struct df_file *f = NULL;
        if (cb_read_file(AT_FDCWD, path, DOCKERFILE_MAX, &text, NULL) < 0 ||
            df_parse(cb_buf_str(&text), path, &f, NULL) < 0) {
                cb_buf_release(&text);
                return out;
        }
        cb_buf_release(&text);
        struct df_vars *meta = df_vars_new();
        json_t *args = json_object_get(t, "args");
        for (size_t i = 0; i < df_file_nmeta_args(f); i++) {
                const struct df_kv *kv = df_file_meta_arg(f, i);
                const char *over = json_string_value(json_object_get(args, kv->key));
                _cleanup_free_ char *v = NULL;
                if (over)
                        df_vars_set(meta, kv->key, over);
                else if (kv->value && df_expand_word(meta, kv->value, df_file_escape(f), &v, NULL) >= 0)
                        df_vars_set(meta, kv->key, v);
        }
        for (size_t i = 0; i < df_file_nstages(f); i++) {
                _cleanup_free_ char *base = NULL;
                if (df_expand_word(meta, df_file_stage(f, i)->base, df_file_escape(f), &base, NULL) < 0)
                        continue;
                char *norm = bld_ref_normalize(base, NULL);
                if (norm)
                        json_array_append_new(out, json_string(norm));
                free(norm);
        }
        df_vars_free(meta);
        df_file_free(f);
        return out;
}

static bool tags_name(json_t *t, const char *norm_ref)
{
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(t, "tags"), i, v)
        {
                char *n = bld_ref_normalize(json_string_value(v), NULL);
                bool eq = n && !strcmp(n, norm_ref);
                free(n);
                if (eq)
                        return true;
        }
        return false;
}

int bld_bake_resolve(struct bld_bake *bk, const char *const *names, size_t n, struct cb_err *err)
{
        json_t *set = json_object(); /* name -> insertion index */
        int r = 0;
        bk->requested = json_array();
        if (n == 0) {
                if (json_object_get(bk->groups, "default") || json_object_get(bk->targets, "default")) {
                        r = add_name(bk, set, "default", 0, err);
                        json_array_append_new(bk->requested, json_string("default"));
                } else if (bk->compose || json_object_size(bk->targets) == 1) {
                        const char *k;
                        json_t *v;
                        json_object_foreach(bk->targets, k, v)
                        {
                                (void) add_name(bk, set, k, 0, err);
                                json_array_append_new(bk->requested, json_string(k));
                        }
                } else {
                        r = cb_failc(err, -EINVAL, "%s: no group or target 'default': name the targets to build",
                                     bk->name);
                }
        }
        for (size_t i = 0; i < n && r >= 0; i++) {
                r = add_name(bk, set, names[i], 0, err);
                if (r == -ENOENT)
                        r = cb_failc(err, -EINVAL, "%s: no target or group '%s'", bk->name, names[i]);
                json_array_append_new(bk->requested, json_string(names[i]));
        }
        if (r >= 0 && json_object_size(set) == 0)
                r = cb_failc(err, -EINVAL, "%s: nothing to build", bk->name);
        /* the plan's default group lists what was asked for, groups expanded (as buildx --print) */
        json_array_clear(bk->requested);
        {
                const char *k;
                json_t *v;
                json_object_foreach(set, k, v) json_array_append_new(bk->requested, json_string(k));
        }
        /* resolve each; contexts: target:NAME pulls NAME in, so iterate until the set stops growing */
        bk->final = json_object();
        for (bool grew = true; grew && r >= 0;) {
                grew = false;
                const char *k;
                json_t *v;
                void *tmp;
                json_object_foreach_safe(set, tmp, k, v)
                {
                        if (json_object_get(bk->final, k))
                                continue;
                        json_t *t = NULL;
                        r = inherit(bk, k, 0, &t, err);
                        if (r >= 0)
                                r = apply_sets(bk, k, t, err);
                        if (r < 0) {
                                json_decref(t);
                                break;
                        }
                        if (!json_object_get(t, "context"))
                                json_object_set_new(t, "context", json_string("."));
                        if (!json_object_get(t, "dockerfile"))
                                json_object_set_new(t, "dockerfile", json_string("Dockerfile"));
                        json_object_set_new(bk->final, k, t);
                        const char *cn;
                        json_t *cv;
                        json_object_foreach(json_object_get(t, "contexts"), cn, cv)
                        {
                                const char *s = json_string_value(cv);
                                if (!s || strncmp(s, "target:", 7) != 0)
                                        continue;
                                if (!json_object_get(bk->targets, s + 7)) {
                                        r = cb_failc(err, -EINVAL, "%s:%u: target.%s.contexts.%s: no target '%s'",
                                                     bk->name, line_of(bk, "target", k), k, cn, s + 7);
                                        break;
                                }
                                if (!json_object_get(set, s + 7)) {
                                        json_object_set_new(set, s + 7, json_integer((json_int_t) json_object_size(set)));
                                        grew = true;
                                }
                        }
                        if (r < 0)
                                break;
                }
        }
        size_t nt = json_object_size(set);
        char **names_v = cb_xcalloc(nt + 1, sizeof(char *));
        bool *dep = cb_xcalloc(nt * nt + 1, sizeof(bool)); /* dep[i*nt+j]: i waits for j */
        if (r >= 0) {
                const char *k;
                json_t *v;
                json_object_foreach(set, k, v) names_v[json_integer_value(v)] = cb_xstrdup(k);
                json_t **from = cb_xcalloc(nt + 1, sizeof(json_t *));
                for (size_t i = 0; i < nt; i++)
                        from[i] = from_images(json_object_get(bk->final, names_v[i]));
                for (size_t i = 0; i < nt; i++) {
                        json_t *t = json_object_get(bk->final, names_v[i]);
                        for (size_t j = 0; j < nt; j++) {
                                if (i == j)
                                        continue;
                                json_t *tj = json_object_get(bk->final, names_v[j]);
                                const char *cn;
                                json_t *cv;
                                json_object_foreach(json_object_get(t, "contexts"), cn, cv)
                                {
                                        const char *s = json_string_value(cv);
                                        if (s && !strncmp(s, "target:", 7) && !strcmp(s + 7, names_v[j]))
                                                dep[i * nt + j] = true;
                                }
                                size_t fi;
                                json_t *fv;
                                json_array_foreach(from[i], fi, fv)
                                {
                                        if (tags_name(tj, json_string_value(fv)))
                                                dep[i * nt + j] = true;
                                }
                        }
                }
                for (size_t i = 0; i < nt; i++)
                        json_decref(from[i]);
                free(from);
        }
        /* Kahn's order, stable by the order names were given */
        if (r >= 0) {
                bool *placed = cb_xcalloc(nt + 1, sizeof(bool));
                size_t *pos = cb_xcalloc(nt + 1, sizeof(size_t));
                bk->order = cb_xcalloc(nt + 1, sizeof(char *));
                bk->resolved = cb_xcalloc(nt + 1, sizeof(json_t *));
                bk->deps = cb_xcalloc(nt + 1, sizeof(size_t *));
                bk->ndeps = cb_xcalloc(nt + 1, sizeof(size_t));
                while (bk->norder < nt) {
                        size_t pick = nt;
                        for (size_t i = 0; i < nt && pick == nt; i++) {
                                if (placed[i])
                                        continue;
                                bool ready = true;
                                for (size_t j = 0; j < nt; j++)
                                        if (dep[i * nt + j] && !placed[j])
                                                ready = false;
                                if (ready)
                                        pick = i;
                        }
                        if (pick == nt) {
                                struct cb_buf c;
                                cb_buf_init(&c, CB_BUF_UNLIMITED);
                                for (size_t i = 0; i < nt; i++)
                                        if (!placed[i])
                                                (void) cb_buf_addf(&c, "%s'%s'", c.len ? ", " : "", names_v[i]);
                                r = cb_failc(err, -ELOOP, "%s: targets wait for each other: %s", bk->name, c.p);
                                cb_buf_release(&c);
                                break;
                        }
                        placed[pick] = true;
                        pos[pick] = bk->norder;
                        size_t o = bk->norder++;
                        bk->order[o] = cb_xstrdup(names_v[pick]);
                        bk->resolved[o] = json_object_get(bk->final, names_v[pick]);
                        bk->deps[o] = cb_xcalloc(nt + 1, sizeof(size_t));
                        for (size_t j = 0; j < nt; j++)
                                if (dep[pick * nt + j])
                                        bk->deps[o][bk->ndeps[o]++] = pos[j];
                }
                free(placed);
                free(pos);
        }
        for (size_t i = 0; i < nt; i++)
                free(names_v[i]);
        free(names_v);
        free(dep);
        json_decref(set);
        return r;
}

size_t bld_bake_count(const struct bld_bake *bk)
{
        return bk->norder;
}

const char *bld_bake_name(const struct bld_bake *bk, size_t i)
{
        return bk->order[i];
}

json_t *bld_bake_target(const struct bld_bake *bk, size_t i)
{
        return bk->resolved[i];
}

const size_t *bld_bake_deps(const struct bld_bake *bk, size_t i, size_t *ret_n)
{
        *ret_n = bk->ndeps[i];
        return bk->deps[i];
}

json_t *bld_bake_plan(const struct bld_bake *bk)
{
        json_t *targets = json_object();
        for (size_t i = 0; i < bk->norder; i++)
                json_object_set(targets, bk->order[i], bk->resolved[i]);
        json_t *names = json_deep_copy(bk->requested);
        return json_pack("{s:{s:{s:o}}, s:o}", "group", "default", "targets", names, "target", targets);
}

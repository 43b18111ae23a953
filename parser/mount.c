/* RUN --mount option parsing (BuildKit's runmount.go keys), from the expanded flag value. */
#include "parser/df.h"
#include "parser/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int parse_bool(const char *v, bool *ret)
{
        if (!v || !*v || strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0) {
                *ret = true;
                return 0;
        }
        if (strcasecmp(v, "false") == 0 || strcmp(v, "0") == 0) {
                *ret = false;
                return 0;
        }
        return -EINVAL;
}

static void set_str(char **slot, const char *v)
{
        free(*slot);
        *slot = cb_xstrdup(v);
}

void df_mount_release(struct df_mount *m)
{
        if (!m)
                return;
        free(m->target);
        free(m->source);
        free(m->from);
        free(m->id);
        free(m->env);
        memset(m, 0, sizeof(*m));
}

static int parse_field(struct df_mount *m, bool *ro_set, char *field, struct cb_err *err)
{
        char *eq = strchr(field, '=');
        const char *v = eq ? eq + 1 : NULL;
        uint64_t n;
        bool b;

        if (eq)
                *eq = '\0';
        const char *k = field;
        if (strcasecmp(k, "type") == 0) {
                if (!v)
                        return cb_failc(err, -EINVAL, "--mount: type needs a value");
                if (strcmp(v, "bind") == 0)
                        m->type = DF_MOUNT_BIND;
                else if (strcmp(v, "cache") == 0)
                        m->type = DF_MOUNT_CACHE;
                else if (strcmp(v, "tmpfs") == 0)
                        m->type = DF_MOUNT_TMPFS;
                else if (strcmp(v, "secret") == 0)
                        m->type = DF_MOUNT_SECRET;
                else if (strcmp(v, "ssh") == 0)
                        m->type = DF_MOUNT_SSH;
                else
                        return cb_failc(err, -EINVAL,
                                        "--mount: unknown type '%s' (bind, cache, tmpfs, secret or ssh)", v);
                return 0;
        }
        if (strcasecmp(k, "readonly") == 0 || strcasecmp(k, "ro") == 0) {
                if (parse_bool(v, &b) < 0)
                        return cb_failc(err, -EINVAL, "--mount: %s='%s' is not a boolean", k, v);
                m->readonly = b;
                *ro_set = true;
                return 0;
        }
        if (strcasecmp(k, "readwrite") == 0 || strcasecmp(k, "rw") == 0) {
                if (parse_bool(v, &b) < 0)
                        return cb_failc(err, -EINVAL, "--mount: %s='%s' is not a boolean", k, v);
                m->readonly = !b;
                *ro_set = true;
                return 0;
        }
        if (strcasecmp(k, "required") == 0) {
                if (parse_bool(v, &b) < 0)
                        return cb_failc(err, -EINVAL, "--mount: required='%s' is not a boolean", v);
                m->required = b;
                return 0;
        }
        if (!v)
                return cb_failc(err, -EINVAL, "--mount: '%s' needs a value (%s=...)", k, k);
        if (strcasecmp(k, "target") == 0 || strcasecmp(k, "dst") == 0 || strcasecmp(k, "destination") == 0)
                set_str(&m->target, v);
        else if (strcasecmp(k, "source") == 0 || strcasecmp(k, "src") == 0)
                set_str(&m->source, v);
        else if (strcasecmp(k, "from") == 0)
                set_str(&m->from, v);
        else if (strcasecmp(k, "id") == 0)
                set_str(&m->id, v);
        else if (strcasecmp(k, "env") == 0)
                set_str(&m->env, v);
        else if (strcasecmp(k, "sharing") == 0) {
                if (strcmp(v, "shared") == 0)
                        m->sharing = DF_SHARING_SHARED;
                else if (strcmp(v, "private") == 0)
                        m->sharing = DF_SHARING_PRIVATE;
                else if (strcmp(v, "locked") == 0)
                        m->sharing = DF_SHARING_LOCKED;
                else
                        return cb_failc(err, -EINVAL, "--mount: sharing='%s' (shared, private or locked)", v);
        } else if (strcasecmp(k, "mode") == 0) {
                if (cb_parse_mode(cb_str_c(v), &m->mode) < 0)
                        return cb_failc(err, -EINVAL, "--mount: mode='%s' is not an octal mode", v);
                m->has_mode = true;
        } else if (strcasecmp(k, "uid") == 0 || strcasecmp(k, "gid") == 0) {
                if (cb_parse_u64(cb_str_c(v), UINT32_MAX, &n) < 0)
                        return cb_failc(err, -EINVAL, "--mount: %s='%s' is not a number", k, v);
                if (strcasecmp(k, "uid") == 0) {
                        m->uid = (unsigned) n;
                        m->has_uid = true;
                } else {
                        m->gid = (unsigned) n;
                        m->has_gid = true;
                }
        } else if (strcasecmp(k, "size") == 0) {
                if (cb_parse_size(cb_str_c(v), &m->size) < 0)
                        return cb_failc(err, -EINVAL, "--mount: size='%s' is not a size", v);
        } else
                return cb_failc(err, -EINVAL, "--mount: unknown key '%s'", k);
        return 0;
}

int df_mount_parse(const char *value, struct df_mount *ret, struct cb_err *err)
{
        struct df_mount m = {.type = DF_MOUNT_BIND};
        _cleanup_free_ char *copy = cb_xstrdup(value ? value : "");
        bool ro_set = false;
        char *save = NULL;
        int r;

        for (char *field = copy; field; field = save) {
                save = strchr(field, ',');
                if (save)
                        *save++ = '\0';
                if (!*field)
                        continue;
                r = parse_field(&m, &ro_set, field, err);
                if (r < 0) {
                        df_mount_release(&m);
                        return r;
                }
        }
        if (!ro_set)
                m.readonly = m.type == DF_MOUNT_BIND || m.type == DF_MOUNT_SECRET || m.type == DF_MOUNT_SSH;
        if (!m.target) {
                if (m.type == DF_MOUNT_SECRET) {
                        if (!m.id && !m.env) {
                                df_mount_release(&m);
                                return cb_failc(err, -EINVAL, "--mount: a secret needs id= or target=");
                        }
                        if (m.id) {
                                const char *base = strrchr(m.id, '/');
                                m.target = cb_xasprintf("/run/secrets/%s", base ? base + 1 : m.id);
                        }
                } else if (m.type == DF_MOUNT_SSH)
                        m.target = cb_xstrdup("/run/buildkit/ssh_agent.0");
                else {
                        df_mount_release(&m);
                        return cb_failc(err, -EINVAL, "--mount: target= is required");
                }
        }
        if (m.type == DF_MOUNT_SECRET && !m.id && m.target) {
                const char *base = strrchr(m.target, '/');
                m.id = cb_xstrdup(base ? base + 1 : m.target);
        }
        if (m.type == DF_MOUNT_CACHE && !m.id && m.target)
                m.id = cb_xstrdup(m.target);
        *ret = m;
        return 0;
}

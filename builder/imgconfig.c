/* The image config as Docker and BuildKit write it: OCI fields plus Docker's extras (Healthcheck,
 * OnBuild, Shell) under "config", one history entry per instruction. */
#include "builder/imgconfig.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

json_t *bld_config_new(void)
{
        return json_pack("{s:s, s:s, s:{}, s:{s:s, s:[]}, s:[]}", "architecture", "amd64", "os", "linux", "config",
                         "rootfs", "type", "layers", "diff_ids", "history");
}

json_t *bld_config_section(json_t *cfg)
{
        json_t *c = json_object_get(cfg, "config");
        if (!json_is_object(c)) {
                c = json_object();
                json_object_set_new(cfg, "config", c);
        }
        return c;
}

void bld_config_format_time(int64_t t, char out[BLD_TIME_LEN])
{
        time_t tt = (time_t) t;
        struct tm tm;
        gmtime_r(&tt, &tm);
        (void) strftime(out, BLD_TIME_LEN, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

json_t *bld_config_object(json_t *cfg, const char *key)
{
        json_t *c = bld_config_section(cfg);
        json_t *o = json_object_get(c, key);
        if (!json_is_object(o)) {
                o = json_object();
                json_object_set_new(c, key, o);
        }
        return o;
}

static const char *env_value(const char *entry, const char *key)
{
        size_t n = strlen(key);
        if (strncmp(entry, key, n) == 0 && entry[n] == '=')
                return entry + n + 1;
        return NULL;
}

const char *bld_config_getenv(json_t *cfg, const char *key)
{
        json_t *env = json_object_get(bld_config_section(cfg), "Env");
        size_t i;
        json_t *v;
        json_array_foreach(env, i, v)
        {
                const char *val = env_value(json_string_value(v) ? json_string_value(v) : "", key);
                if (val)
                        return val;
        }
        return NULL;
}

void bld_config_setenv(json_t *cfg, const char *key, const char *value)
{
        json_t *c = bld_config_section(cfg);
        json_t *env = json_object_get(c, "Env");
        if (!json_is_array(env)) {
                env = json_array();
                json_object_set_new(c, "Env", env);
        }
        char *entry = cb_xasprintf("%s=%s", key, value);
        size_t i;
        json_t *v;
        json_array_foreach(env, i, v)
        {
                if (env_value(json_string_value(v) ? json_string_value(v) : "", key)) {
                        json_array_set_new(env, i, json_string(entry));
                        free(entry);
                        return;
                }
        }
        json_array_append_new(env, json_string(entry));
        free(entry);
}

void bld_config_add_history(json_t *cfg, int64_t created, const char *created_by, bool empty_layer,
                            const char *comment)
{
        char t[BLD_TIME_LEN];
        json_t *h = json_object_get(cfg, "history");
        if (!json_is_array(h)) {
                h = json_array();
                json_object_set_new(cfg, "history", h);
        }
        bld_config_format_time(created, t);
        json_t *e = json_pack("{s:s, s:s}", "created", t, "created_by", created_by);
        if (comment)
                json_object_set_new(e, "comment", json_string(comment));
        if (empty_layer)
                json_object_set_new(e, "empty_layer", json_true());
        json_array_append_new(h, e);
}

json_t *bld_strv_to_json(char *const *v, size_t n)
{
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++)
                json_array_append_new(a, json_string(v[i]));
        return a;
}

int64_t bld_parse_time(const char *s)
{
        struct tm tm;
        memset(&tm, 0, sizeof(tm));
        if (!s || !strptime(s, "%Y-%m-%dT%H:%M:%S", &tm))
                return 0;
        return (int64_t) timegm(&tm);
}

/* Image config helpers (jansson). Internal to builder/. */
#ifndef BLD_IMGCONFIG_H
#define BLD_IMGCONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/cb.h"

#define BLD_TIME_LEN 32

/* Owned: json_decref(). An empty linux/amd64 config. */
json_t *bld_config_new(void);
/* Borrowed: the "config" object, created when missing. */
json_t *bld_config_section(json_t *cfg);
/* Borrowed: the object config.<key> ("Labels", "ExposedPorts", "Volumes"), created when missing. */
json_t *bld_config_object(json_t *cfg, const char *key);
/* Borrowed: value of KEY in config.Env, or NULL. */
const char *bld_config_getenv(json_t *cfg, const char *key);
void bld_config_setenv(json_t *cfg, const char *key, const char *value);
void bld_config_add_history(json_t *cfg, int64_t created, const char *created_by, bool empty_layer,
                            const char *comment);
void bld_config_format_time(int64_t t, char out[BLD_TIME_LEN]);
/* RFC 3339 (fraction and zone ignored: image times are UTC) to seconds; 0 when absent or bad. */
int64_t bld_parse_time(const char *s);
/* Owned: a JSON array of the strings. */
json_t *bld_strv_to_json(char *const *v, size_t n);

static inline void bld_json_decrefp(json_t **j)
{
        if (*j)
                json_decref(*j);
}

#endif

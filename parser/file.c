/* Accessors of a parsed file, stage lookup and BuildKit's ARG scoping. */
#include "parser/df.h"
#include "parser/internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *df_file_name(const struct df_file *f)
{
        return f->name;
}

size_t df_file_ninstr(const struct df_file *f)
{
        return f ? f->ninstr : 0;
}

const struct df_instr *df_file_instr(const struct df_file *f, size_t i)
{
        return f && i < f->ninstr ? f->instrs[i] : NULL;
}

size_t df_file_nstages(const struct df_file *f)
{
        return f ? f->nstages : 0;
}

const struct df_stage *df_file_stage(const struct df_file *f, size_t i)
{
        return f && i < f->nstages ? &f->stages[i] : NULL;
}

long df_file_stage_by_name(const struct df_file *f, const char *name)
{
        if (!f || !name || !*name)
                return -1;
        bool digits = true;
        for (const char *p = name; *p; p++)
                digits = digits && *p >= '0' && *p <= '9';
        if (digits) {
                uint64_t idx;
                if (cb_parse_u64(cb_str_c(name), UINT64_MAX, &idx) < 0 || idx >= f->nstages)
                        return -1;
                return (long) idx;
        }
        return df_stage_lookup(f, name);
}

static uint64_t hash_nocase(const char *s)
{
        uint64_t h = 1469598103934665603ull; /* FNV-1a */
        for (; *s; s++) {
                h ^= (unsigned char) tolower((unsigned char) *s);
                h *= 1099511628211ull;
        }
        return h;
}

long df_stage_lookup(const struct df_file *f, const char *name)
{
        if (!f->name_cap || !name)
                return -1;
        for (size_t i = hash_nocase(name) & (f->name_cap - 1);; i = (i + 1) & (f->name_cap - 1)) {
                const struct df_stage_slot *sl = &f->name_index[i];
                if (!sl->name)
                        return -1;
                if (strcasecmp(sl->name, name) == 0)
                        return sl->idx;
        }
}

static void slot_put(struct df_stage_slot *tab, size_t cap, const char *name, long idx)
{
        for (size_t i = hash_nocase(name) & (cap - 1);; i = (i + 1) & (cap - 1))
                if (!tab[i].name) {
                        tab[i].name = name;
                        tab[i].idx = idx;
                        return;
                }
}

void df_stage_index_add(struct df_file *f, const char *name, long idx)
{
        if (df_stage_lookup(f, name) >= 0)
                return; /* the first stage of a name wins (a duplicate is a lint error) */
        if ((f->name_used + 1) * 2 > f->name_cap) {
                size_t cap = f->name_cap ? f->name_cap * 2 : 16;
                struct df_stage_slot *tab = cb_xcalloc(cap, sizeof(*tab));
                for (size_t i = 0; i < f->name_cap; i++)
                        if (f->name_index[i].name)
                                slot_put(tab, cap, f->name_index[i].name, f->name_index[i].idx);
                free(f->name_index);
                f->name_index = tab;
                f->name_cap = cap;
        }
        slot_put(f->name_index, f->name_cap, name, idx);
        f->name_used++;
}

size_t df_file_nmeta_args(const struct df_file *f)
{
        return f ? f->nmeta : 0;
}

const struct df_kv *df_file_meta_arg(const struct df_file *f, size_t i)
{
        return f && i < f->nmeta ? &f->meta[i] : NULL;
}

const char *df_file_directive(const struct df_file *f, const char *name)
{
        if (!f || !name)
                return NULL;
        if (strcasecmp(name, "syntax") == 0)
                return f->directive_syntax;
        if (strcasecmp(name, "escape") == 0)
                return f->directive_escape;
        if (strcasecmp(name, "check") == 0)
                return f->directive_check;
        return NULL;
}

char df_file_escape(const struct df_file *f)
{
        return f ? f->escape : '\\';
}

bool df_arg_is_predefined(const char *name)
{
        static const char *const names[] = {"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy",
                                            "FTP_PROXY",  "ftp_proxy",  "NO_PROXY",    "no_proxy",
                                            "ALL_PROXY",  "all_proxy"};
        for (size_t i = 0; name && i < CB_ARRAY_SIZE(names); i++)
                if (strcmp(names[i], name) == 0)
                        return true;
        return false;
}

bool df_arg_is_platform(const char *name)
{
        static const char *const names[] = {"TARGETPLATFORM", "TARGETOS", "TARGETARCH", "TARGETVARIANT",
                                            "BUILDPLATFORM",  "BUILDOS",  "BUILDARCH",  "BUILDVARIANT"};
        for (size_t i = 0; name && i < CB_ARRAY_SIZE(names); i++)
                if (strcmp(names[i], name) == 0)
                        return true;
        return false;
}

/* One ARG pair into scope: build arg, else expanded default, else fallback (may be NULL: unset). */
static int apply_pair(const struct df_file *f, const struct df_instr *in, const struct df_kv *kv,
                      const struct df_vars *build_args, const char *fallback, struct df_vars *scope,
                      struct cb_err *err)
{
        _cleanup_free_ char *key = NULL;
        int r = df_expand_word(scope, kv->key, f->escape, &key, err);
        if (r < 0) {
                cb_wrap(err, "%s:%u: ARG", f->name, in->start_line);
                return r;
        }
        const char *given = df_vars_get(build_args, key);
        if (given) {
                df_vars_set(scope, key, given);
                return 0;
        }
        if (kv->value) {
                _cleanup_free_ char *v = NULL;
                r = df_expand_word(scope, kv->value, f->escape, &v, err);
                if (r < 0) {
                        cb_wrap(err, "%s:%u: ARG %s", f->name, in->start_line, key);
                        return r;
                }
                df_vars_set(scope, key, v);
                return 0;
        }
        if (fallback)
                df_vars_set(scope, key, fallback);
        return 0;
}

int df_file_meta_scope(const struct df_file *f, const struct df_vars *build_args,
                       const struct df_vars *auto_args, struct df_vars **ret, struct cb_err *err)
{
        struct df_vars *scope = df_vars_copy(auto_args);
        for (size_t i = 0; i < f->ninstr && (f->nstages == 0 || i < f->stages[0].from); i++) {
                const struct df_instr *in = f->instrs[i];
                if (in->kind != DF_INSTR_ARG)
                        continue;
                for (size_t k = 0; k < in->nkvs; k++) {
                        int r = apply_pair(f, in, &in->kvs[k], build_args, NULL, scope, err);
                        if (r < 0) {
                                df_vars_free(scope);
                                return r;
                        }
                }
        }
        *ret = scope;
        return 0;
}

int df_arg_apply(const struct df_file *f, const struct df_instr *arg, const struct df_vars *build_args,
                 const struct df_vars *meta, struct df_vars *scope, struct cb_err *err)
{
        if (arg->kind != DF_INSTR_ARG)
                return cb_failc(err, -EINVAL, "%s:%u: not an ARG instruction", f->name, arg->start_line);
        for (size_t k = 0; k < arg->nkvs; k++) {
                const char *fallback = df_vars_get(meta, arg->kvs[k].key);
                int r = apply_pair(f, arg, &arg->kvs[k], build_args, fallback, scope, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

bool df_file_arg_declared(const struct df_file *f, const char *name)
{
        for (size_t i = 0; f && name && i < f->ninstr; i++) {
                const struct df_instr *in = f->instrs[i];
                for (size_t k = 0; in->kind == DF_INSTR_ARG && k < in->nkvs; k++)
                        if (strcmp(in->kvs[k].key, name) == 0)
                                return true;
        }
        return false;
}

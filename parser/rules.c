/* BuildKit's Dockerfile checks (frontend/dockerfile/linter), re-derived from their documentation:
 * same names, so "# check=skip=JSONArgsRecommended" written for docker build works here too. */
#include "parser/df.h"
#include "parser/internal.h"
#include "parser/lint.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const struct df_lint_rule df_lint_rules[] = {
    {"StageNameCasing", DF_SEV_WARNING, "stage names should be lowercase", df_rule_stage_name_casing},
    {"FromAsCasing", DF_SEV_WARNING, "the 'AS' keyword should match the casing of 'FROM'",
     df_rule_from_as_casing},
    {"ConsistentInstructionCasing", DF_SEV_WARNING,
     "instruction keywords should all be upper- or all lowercase", df_rule_consistent_casing},
    {"JSONArgsRecommended", DF_SEV_WARNING,
     "CMD and ENTRYPOINT should use the JSON (exec) form so signals reach the process", df_rule_json_args},
    {"UndefinedArgInFrom", DF_SEV_WARNING, "FROM uses a variable that no ARG before the first FROM declares",
     df_rule_undefined_arg_in_from},
    {"InvalidDefaultArgInFrom", DF_SEV_WARNING,
     "FROM must name a valid image with the ARG defaults alone (no --build-arg)",
     df_rule_invalid_default_arg_in_from},
    {"DuplicateStageName", DF_SEV_ERROR, "stage names must be unique", df_rule_duplicate_stage},
    {"ReservedStageName", DF_SEV_ERROR, "'scratch' and 'context' can not be stage names",
     df_rule_reserved_stage},
    {"MultipleInstructionsDisallowed", DF_SEV_WARNING,
     "only the last CMD, ENTRYPOINT or HEALTHCHECK of a stage takes effect", df_rule_multiple_instructions},
    {"MaintainerDeprecated", DF_SEV_WARNING, "MAINTAINER is deprecated: use LABEL maintainer=...",
     df_rule_maintainer},
    {"WorkdirRelativePath", DF_SEV_WARNING,
     "a relative WORKDIR depends on the base image's working directory: use an absolute path",
     df_rule_workdir_relative},
    {"LegacyKeyValueFormat", DF_SEV_WARNING, "use ENV/LABEL key=value, not the legacy 'key value' form",
     df_rule_legacy_kv},
    {"SecretsUsedInArgOrEnv", DF_SEV_WARNING,
     "ARG and ENV values are kept in the image: pass secrets with RUN --mount=type=secret", df_rule_secrets},
    {"FromPlatformFlagConstDisallowed", DF_SEV_WARNING,
     "FROM --platform should not be a constant: it pins the build to one architecture",
     df_rule_platform_const},
    {"RedundantTargetPlatform", DF_SEV_INFO,
     "FROM --platform=$TARGETPLATFORM is the default and can be dropped", df_rule_redundant_platform},
    {"UndefinedVar", DF_SEV_WARNING,
     "a variable used in an expanded instruction is set by no ARG, ENV or the base image",
     df_rule_undefined_var},
    {"NoEmptyContinuation", DF_SEV_WARNING, "an empty line inside a continued instruction is deprecated",
     df_rule_empty_continuation},
    {"ExposeProtoCasing", DF_SEV_WARNING, "EXPOSE protocols should be lowercase (80/tcp)",
     df_rule_expose_proto_casing},
    {"ExposeInvalidFormat", DF_SEV_WARNING,
     "EXPOSE takes port[/proto] or a range, not an IP or a host mapping", df_rule_expose_format},
    {"CudaTorchMismatch", DF_SEV_ERROR,
     "torch wheels (+cuNNN, --index-url .../cuNNN) must match the base image's CUDA version",
     df_rule_cuda_torch_mismatch},
    {"CudaTagInvalid", DF_SEV_ERROR,
     "nvidia/cuda tags carry the full version (11.8.0-runtime-..., not 11.8-)", df_rule_cuda_tag_invalid},
    {"BaseImageUnpinned", DF_SEV_WARNING, "base images should be pinned to a tag or digest, never 'latest'",
     df_rule_base_unpinned},
    {"AptNoInstallRecommends", DF_SEV_WARNING, "apt-get install should use --no-install-recommends",
     df_rule_apt_recommends},
    {"AptListsNotCleaned", DF_SEV_WARNING,
     "a RUN with apt-get install should end with rm -rf /var/lib/apt/lists/*", df_rule_apt_lists},
    {"AptUpgrade", DF_SEV_WARNING, "apt-get upgrade in an image: refresh the base image instead",
     df_rule_apt_upgrade},
    {"PipNoCacheDir", DF_SEV_WARNING, "pip install should use --no-cache-dir (or a cache mount)",
     df_rule_pip_cache},
    {"PipUnpinned", DF_SEV_WARNING, "pip install should pin versions (pkg==1.2.3) or use a requirements file",
     df_rule_pip_unpinned},
    {"DevelBaseInFinalStage", DF_SEV_WARNING,
     "the final stage builds on a -devel image: ship a -runtime one and build in an earlier stage",
     df_rule_devel_final},
    {"RootUser", DF_SEV_WARNING, "the final stage sets no non-root USER: the container runs as root",
     df_rule_root_user},
    /* Image rules: found in the built image's files by the static CUDA report (kernels/compat.c,
     * `cubuild compat`, the end of every build), not in the Dockerfile; listed here so that both share
     * one list of names. */
    {"CudaRuntimeMultipleMajors", DF_SEV_WARNING,
     "(image) two CUDA runtimes of different major versions in one image", NULL},
    {"CudaLibraryMissing", DF_SEV_ERROR,
     "(image) a CUDA library the image's CUDA code links (cuDNN, NCCL, ...) is not in the image", NULL},
    {"CudaRequireMismatch", DF_SEV_WARNING,
     "(image) NVIDIA_REQUIRE_CUDA asks for another CUDA than the image's runtime", NULL},
};
const size_t df_lint_nrules = CB_ARRAY_SIZE(df_lint_rules);

unsigned df_lint_check_line(const struct df_file *f)
{
        return f->directive_check_line;
}

size_t df_lint_nempty_continuations(const struct df_file *f)
{
        return f->nempty_cont;
}

unsigned df_lint_empty_continuation(const struct df_file *f, size_t i)
{
        return i < f->nempty_cont ? f->empty_cont[i] : 0;
}

const char *df_lint_stage_image(struct df_lint *l, size_t stage)
{
        const struct df_file *f = l->f;
        size_t hops = 0, s = stage;
        const struct df_stage *st = df_file_stage(f, stage);
        while (st && st->base_stage >= 0 && hops++ <= df_file_nstages(f)) {
                s = (size_t) st->base_stage;
                st = df_file_stage(f, s);
        }
        if (!st)
                return NULL;
        if (l->stage_img_done[s])
                return l->stage_img[s];
        l->stage_img_done[s] = true;
        if (!strchr(st->base, '$'))
                return l->stage_img[s] = cb_xstrdup(st->base);
        /* a $VAR base: what the ARG defaults give, as a build without --build-arg would see it */
        struct cb_err err;
        cb_err_init(&err);
        if (!l->meta_done) {
                l->meta_done = true;
                if (df_file_meta_scope(f, NULL, NULL, &l->meta, &err) < 0)
                        l->meta = NULL;
                cb_err_reset(&err);
        }
        char *img = NULL;
        if (l->meta && df_expand_word(l->meta, st->base, df_file_escape(f), &img, &err) >= 0 && !*img) {
                free(img);
                img = NULL;
        }
        cb_err_release(&err);
        return l->stage_img[s] = img;
}

void df_lint_split_ref(const char *ref, char **ret_repo, char **ret_tag, bool *ret_digest)
{
        _cleanup_free_ char *r = cb_xstrdup(ref);
        char *at = strchr(r, '@');
        *ret_digest = at != NULL;
        if (at)
                *at = '\0';
        char *slash = strrchr(r, '/');
        char *colon = strrchr(slash ? slash : r, ':');
        *ret_tag = NULL;
        if (colon) {
                *colon = '\0';
                *ret_tag = cb_xstrdup(colon + 1);
        }
        for (char *p = r; *p; p++)
                *p = (char) tolower((unsigned char) *p);
        const char *repo = r;
        if (strncmp(repo, "docker.io/", 10) == 0)
                repo += 10;
        else if (strncmp(repo, "index.docker.io/", 16) == 0)
                repo += 16;
        if (strncmp(repo, "library/", 8) == 0)
                repo += 8;
        *ret_repo = cb_xstrdup(repo);
}

char *df_lint_run_text(const struct df_instr *in)
{
        struct cb_buf b;
        cb_buf_init(&b, CB_BUF_UNLIMITED);
        for (size_t i = 0; i < in->nargs; i++) {
                if (i)
                        (void) cb_buf_addc(&b, ' ');
                (void) cb_buf_adds(&b, in->args[i]);
        }
        for (size_t i = 0; i < in->nheredocs; i++) {
                (void) cb_buf_addc(&b, '\n');
                (void) cb_buf_adds(&b, in->heredocs[i].body);
        }
        return cb_buf_take(&b, NULL);
}

static bool has_upper(const char *s)
{
        for (; *s; s++)
                if (isupper((unsigned char) *s))
                        return true;
        return false;
}

static bool has_lower(const char *s)
{
        for (; *s; s++)
                if (islower((unsigned char) *s))
                        return true;
        return false;
}

void df_rule_stage_name_casing(struct df_lint *l)
{
        for (size_t i = 0; i < df_file_ninstr(l->f); i++) {
                const struct df_instr *in = df_file_instr(l->f, i);
                if (in->kind == DF_INSTR_FROM && in->nargs == 3 && has_upper(in->args[2]))
                        df_lint_report(l, in->start_line, -1, "stage name '%s' should be lowercase",
                                       in->args[2]);
        }
}

void df_rule_from_as_casing(struct df_lint *l)
{
        for (size_t i = 0; i < df_file_ninstr(l->f); i++) {
                const struct df_instr *in = df_file_instr(l->f, i);
                if (in->kind != DF_INSTR_FROM || in->nargs != 3)
                        continue;
                bool from_upper = !has_lower(in->keyword), as_upper = !has_lower(in->args[1]);
                if (from_upper != as_upper)
                        df_lint_report(l, in->start_line, -1, "'%s' and '%s' keywords' casing do not match",
                                       in->args[1], in->keyword);
        }
}

void df_rule_consistent_casing(struct df_lint *l)
{
        size_t upper = 0, lower = 0;
        for (size_t i = 0; i < df_file_ninstr(l->f); i++) {
                const char *kw = df_file_instr(l->f, i)->keyword;
                if (!has_lower(kw))
                        upper++;
                else if (!has_upper(kw))
                        lower++;
        }
        bool want_upper = upper >= lower;
        for (size_t i = 0; i < df_file_ninstr(l->f); i++) {
                const struct df_instr *in = df_file_instr(l->f, i);
                bool is_upper = !has_lower(in->keyword), is_lower = !has_upper(in->keyword);
                if (want_upper ? !is_upper : !is_lower)
                        df_lint_report(l, in->start_line, -1,
                                       "command '%s' should match the case of the command majority (%s)",
                                       in->keyword, want_upper ? "uppercase" : "lowercase");
        }
}

void df_rule_json_args(struct df_lint *l)
{
        for (size_t i = 0; i < df_file_ninstr(l->f); i++) {
                const struct df_instr *in = df_file_instr(l->f, i);
                if ((in->kind == DF_INSTR_CMD || in->kind == DF_INSTR_ENTRYPOINT) && !in->json)
                        df_lint_report(l, in->start_line, -1,
                                       "JSON arguments recommended for %s to prevent unintended behavior "
                                       "related to OS signals",
                                       df_instr_kind_name(in->kind));
        }
}

/* Calls fn for each variable name referenced in raw ($V, ${V...}); nested words are scanned too. */
static void each_var(const char *raw, void (*fn)(void *ctx, const char *name, size_t len), void *ctx)
{
        for (const char *p = raw; *p; p++) {
                if (*p == '\\' && p[1]) {
                        p++;
                        continue;
                }
                if (*p != '$')
                        continue;
                const char *s = p + 1;
                if (*s == '{')
                        s++;
                const char *e = s;
                while (*e && (isalnum((unsigned char) *e) || *e == '_'))
                        e++;
                if (e > s)
                        fn(ctx, s, (size_t) (e - s));
        }
}

struct undef_ctx {
        struct df_lint *l;
        const struct df_instr *in;
        struct df_vars *known;
};

static void undef_cb(void *ctx, const char *name, size_t len)
{
        struct undef_ctx *c = ctx;
        _cleanup_free_ char *n = cb_xstrndup(name, len);
        if (df_vars_get(c->known, n) || df_arg_is_platform(n) || df_arg_is_predefined(n))
                return;
        df_lint_report(c->l, c->in->start_line, -1, "FROM argument '%s' is not declared", n);
}

void df_rule_undefined_arg_in_from(struct df_lint *l)
{
        struct undef_ctx c = {.l = l, .known = df_vars_new()};
        for (size_t i = 0; i < df_file_nmeta_args(l->f); i++)
                df_vars_set(c.known, df_file_meta_arg(l->f, i)->key, "");
        for (size_t s = 0; s < df_file_nstages(l->f); s++) {
                const struct df_stage *st = df_file_stage(l->f, s);
                c.in = df_file_instr(l->f, st->from);
                each_var(st->base, undef_cb, &c);
                if (st->platform)
                        each_var(st->platform, undef_cb, &c);
        }
        df_vars_free(c.known);
}

void df_rule_invalid_default_arg_in_from(struct df_lint *l)
{
        struct df_vars *scope = NULL;
        struct cb_err err;
        cb_err_init(&err);
        if (df_file_meta_scope(l->f, NULL, NULL, &scope, &err) < 0) {
                cb_err_release(&err);
                return;
        }
        for (size_t s = 0; s < df_file_nstages(l->f); s++) {
                const struct df_stage *st = df_file_stage(l->f, s);
                if (!strchr(st->base, '$'))
                        continue;
                _cleanup_free_ char *img = NULL;
                cb_err_reset(&err);
                if (df_expand_word(scope, st->base, df_file_escape(l->f), &img, &err) < 0) {
                        df_lint_report(l, st->line, -1, "default value for FROM '%s' does not expand: %s",
                                       st->base, cb_err_msg(&err));
                        continue;
                }
                size_t n = strlen(img);
                if (n == 0 || img[n - 1] == ':' || img[n - 1] == '@' || img[n - 1] == '/' || img[0] == ':' ||
                    strstr(img, ":@") || strstr(img, "//"))
                        df_lint_report(
                            l, st->line, -1,
                            "default value for ARG %s results in empty or invalid base image name '%s'",
                            st->base, img);
        }
        df_vars_free(scope);
        cb_err_release(&err);
}

void df_rule_duplicate_stage(struct df_lint *l)
{
        for (size_t s = 0; s < df_file_nstages(l->f); s++) {
                const struct df_stage *st = df_file_stage(l->f, s);
                long first = st->name ? df_stage_lookup(l->f, st->name) : -1;
                if (first >= 0 && (size_t) first != s)
                        df_lint_report(l, st->line, -1, "duplicate stage name '%s' (first on line %u)",
                                       st->name, df_file_stage(l->f, (size_t) first)->line);
        }
}

void df_rule_reserved_stage(struct df_lint *l)
{
        for (size_t s = 0; s < df_file_nstages(l->f); s++) {
                const struct df_stage *st = df_file_stage(l->f, s);
                if (st->name && (strcmp(st->name, "scratch") == 0 || strcmp(st->name, "context") == 0))
                        df_lint_report(l, st->line, -1, "'%s' is reserved and can not be a stage name",
                                       st->name);
        }
}

void df_rule_multiple_instructions(struct df_lint *l)
{
        static const enum df_instr_kind kinds[] = {DF_INSTR_CMD, DF_INSTR_ENTRYPOINT, DF_INSTR_HEALTHCHECK};
        for (size_t s = 0; s < df_file_nstages(l->f); s++) {
                const struct df_stage *st = df_file_stage(l->f, s);
                for (size_t k = 0; k < CB_ARRAY_SIZE(kinds); k++) {
                        const struct df_instr *last = NULL;
                        for (size_t i = st->first; i < st->first + st->n; i++) {
                                const struct df_instr *in = df_file_instr(l->f, i);
                                if (in->kind != kinds[k])
                                        continue;
                                if (last)
                                        df_lint_report(l, last->start_line, -1,
                                                       "multiple %s instructions in one stage: only the last "
                                                       "one (line %u) takes effect",
                                                       df_instr_kind_name(kinds[k]), in->start_line);
                                last = in;
                        }
                }
        }
}

void df_rule_maintainer(struct df_lint *l)
{
        for (size_t i = 0; i < df_file_ninstr(l->f); i++) {
                const struct df_instr *in = df_file_instr(l->f, i);
                if (in->kind == DF_INSTR_MAINTAINER)
                        df_lint_report(
                            l, in->start_line, -1,
                            "MAINTAINER is deprecated: use LABEL org.opencontainers.image.authors=...");
        }
}

void df_rule_workdir_relative(struct df_lint *l)
{
        for (size_t s = 0; s < df_file_nstages(l->f); s++) {
                const struct df_stage *st = df_file_stage(l->f, s);
                bool abs = false;
                for (size_t i = st->first; i < st->first + st->n; i++) {
                        const struct df_instr *in = df_file_instr(l->f, i);
                        if (in->kind != DF_INSTR_WORKDIR || !in->nargs)
                                continue;
                        const char *p = in->args[0];
                        if (*p == '"' || *p == '\'')
                                p++;
                        /* a Windows drive path ("C:\\app", "c:/app") is absolute too */
                        bool drive = ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')) && p[1] == ':' &&
                                     (p[2] == '\\' || p[2] == '/');
                        if (*p == '/' || *p == '$' || *p == '\\' || drive)
                                abs = true;
                        else if (!abs)
                                df_lint_report(l, in->start_line, -1,
                                               "relative WORKDIR '%s' without an absolute WORKDIR before it "
                                               "in the stage",
                                               in->args[0]);
                }
        }
}

void df_rule_legacy_kv(struct df_lint *l)
{
        for (size_t i = 0; i < df_file_ninstr(l->f); i++) {
                const struct df_instr *in = df_file_instr(l->f, i);
                const struct df_instr *x = in->kind == DF_INSTR_ONBUILD && in->onbuild ? in->onbuild : in;
                if ((x->kind != DF_INSTR_ENV && x->kind != DF_INSTR_LABEL) || x->nkvs != 1)
                        continue;
                /* the legacy form is the one whose first word has no '=' */
                const char *t = x->text + strlen(x->keyword);
                while (df_isspace(*t))
                        t++;
                const char *e = t;
                while (*e && !df_isspace(*e) && *e != '=')
                        e++;
                if (*e != '=')
                        df_lint_report(
                            l, in->start_line, -1,
                            "\"%s key=value\" should be used instead of legacy \"%s key value\" format",
                            df_instr_kind_name(x->kind), df_instr_kind_name(x->kind));
        }
}

static bool secret_name(const char *key)
{
        static const char *const words[] = {"apikey",   "auth",  "credential", "credentials", "key",
                                            "password", "pword", "passwd",     "secret",      "token"};
        bool hit = false, public = false;
        const char *p = key;
        /* BuildKit splits the name on '_' '-' '.' and matches whole parts, so KEYBOARD is fine */
        while (*p) {
                size_t n = strcspn(p, "_-.");
                if (n == 6 && strncasecmp(p, "public", 6) == 0)
                public = true;
                for (size_t i = 0; i < CB_ARRAY_SIZE(words); i++)
                        if (strlen(words[i]) == n && strncasecmp(p, words[i], n) == 0)
                                hit = true;
                p += n;
                if (*p)
                        p++;
        }
        return hit && !public;
}

void df_rule_secrets(struct df_lint *l)
{
        for (size_t i = 0; i < df_file_ninstr(l->f); i++) {
                const struct df_instr *in = df_file_instr(l->f, i);
                if (in->kind != DF_INSTR_ARG && in->kind != DF_INSTR_ENV)
                        continue;
                for (size_t k = 0; k < in->nkvs; k++)
                        if (secret_name(in->kvs[k].key))
                                df_lint_report(l, in->start_line, -1,
                                               "do not use ARG or ENV for sensitive data (%s \"%s\"): use "
                                               "RUN --mount=type=secret",
                                               df_instr_kind_name(in->kind), in->kvs[k].key);
        }
}

void df_rule_platform_const(struct df_lint *l)
{
        for (size_t s = 0; s < df_file_nstages(l->f); s++) {
                const struct df_stage *st = df_file_stage(l->f, s);
                if (!st->platform || strchr(st->platform, '$'))
                        continue;
                /* BuildKit lets a stage named for its platform ("build-amd64") pin it */
                const char *arch = strrchr(st->platform, '/');
                arch = arch ? arch + 1 : st->platform;
                if (st->name && *arch && strstr(st->name, arch))
                        continue;
                df_lint_report(l, st->line, -1, "FROM --platform flag should not use a constant value ('%s')",
                               st->platform);
        }
}

void df_rule_redundant_platform(struct df_lint *l)
{
        for (size_t s = 0; s < df_file_nstages(l->f); s++) {
                const struct df_stage *st = df_file_stage(l->f, s);
                if (st->platform && (strcmp(st->platform, "$TARGETPLATFORM") == 0 ||
                                     strcmp(st->platform, "${TARGETPLATFORM}") == 0))
                        df_lint_report(l, st->line, -1,
                                       "setting platform to predefined $TARGETPLATFORM in FROM is redundant "
                                       "as this is the default behavior");
        }
}

void df_rule_empty_continuation(struct df_lint *l)
{
        for (size_t i = 0; i < df_lint_nempty_continuations(l->f); i++)
                df_lint_report(
                    l, df_lint_empty_continuation(l->f, i), -1,
                    "empty continuation line (deprecated; a future version may end the instruction here)");
}

void df_rule_expose_proto_casing(struct df_lint *l)
{
        for (size_t i = 0; i < df_file_ninstr(l->f); i++) {
                const struct df_instr *in = df_file_instr(l->f, i);
                if (in->kind != DF_INSTR_EXPOSE)
                        continue;
                for (size_t a = 0; a < in->nargs; a++) {
                        const char *slash = strchr(in->args[a], '/');
                        if (slash && has_upper(slash + 1))
                                df_lint_report(l, in->start_line, -1,
                                               "defined protocol '%s' in EXPOSE should be lowercase",
                                               slash + 1);
                }
        }
}

void df_rule_expose_format(struct df_lint *l)
{
        for (size_t i = 0; i < df_file_ninstr(l->f); i++) {
                const struct df_instr *in = df_file_instr(l->f, i);
                if (in->kind != DF_INSTR_EXPOSE)
                        continue;
                for (size_t a = 0; a < in->nargs; a++)
                        if (strchr(in->args[a], ':') && !strchr(in->args[a], '$'))
                                df_lint_report(
                                    l, in->start_line, -1,
                                    "EXPOSE '%s': IP address and host-port mapping should not be used",
                                    in->args[a]);
        }
}

/* Variable references a word makes, as expansion would read them: not inside single quotes, not
 * escaped; ${V-x} ${V:-x} ${V+x} ${V:+x} ${V?x} ${V:?x} handle an unset V themselves and are skipped. */
static void each_plain_ref(const char *raw, char esc, void (*fn)(void *ctx, const char *name, size_t len),
                           void *ctx)
{
        bool dq = false;
        for (const char *p = raw; *p; p++) {
                if (*p == esc && p[1]) {
                        p++;
                        continue;
                }
                if (*p == '"') {
                        dq = !dq;
                        continue;
                }
                if (*p == '\'' && !dq) {
                        const char *e = strchr(p + 1, '\'');
                        if (!e)
                                return;
                        p = e;
                        continue;
                }
                if (*p != '$')
                        continue;
                bool braced = p[1] == '{';
                const char *s = p + 1 + braced, *e = s;
                while (isalnum((unsigned char) *e) || *e == '_')
                        e++;
                if (e == s || isdigit((unsigned char) *s))
                        continue;
                if (braced) {
                        const char *m = *e == ':' ? e + 1 : e;
                        if (*m == '-' || *m == '+' || *m == '?')
                                continue;
                }
                fn(ctx, s, (size_t) (e - s));
        }
}

struct undef_var_ctx {
        struct df_lint *l;
        const struct df_instr *in;
        struct df_vars *known;
};

static void undef_var_cb(void *ctx, const char *name, size_t len)
{
        struct undef_var_ctx *c = ctx;
        _cleanup_free_ char *n = cb_xstrndup(name, len);
        if (df_vars_get(c->known, n) || df_arg_is_predefined(n))
                return;
        /* suggest the closest known name, as BuildKit does */
        const char *best = NULL;
        size_t bl = (size_t) -1;
        for (size_t i = 0; i < df_vars_count(c->known); i++) {
                const char *k = df_vars_key(c->known, i);
                if (strcasecmp(k, n) == 0) {
                        best = k;
                        break;
                }
                size_t kl = strlen(k), d = kl > len ? kl - len : len - kl;
                if (d <= 2 && strncasecmp(k, n, len < kl ? len : kl) == 0 && d < bl) {
                        bl = d;
                        best = k;
                }
        }
        if (best)
                df_lint_report(c->l, c->in->start_line, -1,
                               "usage of undefined variable '$%s' (did you mean $%s?)", n, best);
        else
                df_lint_report(c->l, c->in->start_line, -1, "usage of undefined variable '$%s'", n);
}

/* Names a stage's instructions up to (not including) instruction `upto` define: its ARGs and ENVs,
 * and the ENVs of the stages it builds on. */
static void stage_names(struct df_lint *l, size_t stage, size_t upto, struct df_vars *known, size_t depth)
{
        const struct df_stage *st = df_file_stage(l->f, stage);
        if (st->base_stage >= 0 && depth < df_file_nstages(l->f)) {
                const struct df_stage *pt = df_file_stage(l->f, (size_t) st->base_stage);
                struct df_vars *parent = df_vars_new();
                stage_names(l, (size_t) st->base_stage, pt->first + pt->n, parent, depth + 1);
                for (size_t i = 0; i < df_vars_count(parent); i++)
                        if (strcmp(df_vars_value(parent, i), "env") == 0)
                                df_vars_set(known, df_vars_key(parent, i), "env");
                df_vars_free(parent);
        }
        for (size_t i = st->first; i < upto; i++) {
                const struct df_instr *in = df_file_instr(l->f, i);
                if (in->kind == DF_INSTR_ARG || in->kind == DF_INSTR_ENV)
                        for (size_t k = 0; k < in->nkvs; k++)
                                df_vars_set(known, in->kvs[k].key, in->kind == DF_INSTR_ENV ? "env" : "arg");
        }
}

void df_rule_undefined_var(struct df_lint *l)
{
        char esc = df_file_escape(l->f);
        for (size_t s = 0; s < df_file_nstages(l->f); s++) {
                const struct df_stage *st = df_file_stage(l->f, s);
                size_t root = s, hops = 0;
                while (df_file_stage(l->f, root)->base_stage >= 0 && hops++ < df_file_nstages(l->f))
                        root = (size_t) df_file_stage(l->f, root)->base_stage;
                const char *rb = df_file_stage(l->f, root)->base;
                bool scratch = strcasecmp(rb, "scratch") == 0;
                if (!scratch && !l->o->base_env)
                        continue; /* the base image may define anything */
                struct undef_var_ctx c = {.l = l, .known = df_vars_new()};
                if (!scratch)
                        for (const char *const *e = l->o->base_env; *e; e++) {
                                size_t kl = strcspn(*e, "=");
                                _cleanup_free_ char *k = cb_xstrndup(*e, kl);
                                df_vars_set(c.known, k, "env");
                        }
                /* walk the stage in order, growing the known set as ARG/ENV appear */
                struct df_vars *inherited = df_vars_new();
                if (st->base_stage >= 0) {
                        const struct df_stage *pt = df_file_stage(l->f, (size_t) st->base_stage);
                        stage_names(l, (size_t) st->base_stage, pt->first + pt->n, inherited, 0);
                        for (size_t i = 0; i < df_vars_count(inherited); i++)
                                if (strcmp(df_vars_value(inherited, i), "env") == 0)
                                        df_vars_set(c.known, df_vars_key(inherited, i), "env");
                }
                df_vars_free(inherited);
                for (size_t i = st->first; i < st->first + st->n; i++) {
                        const struct df_instr *in = df_file_instr(l->f, i);
                        c.in = in;
                        if (df_instr_kind_expands(in->kind)) {
                                for (size_t a = 0; a < in->nargs; a++)
                                        each_plain_ref(in->args[a], esc, undef_var_cb, &c);
                                for (size_t k = 0; k < in->nkvs; k++)
                                        if (in->kvs[k].value)
                                                each_plain_ref(in->kvs[k].value, esc, undef_var_cb, &c);
                        }
                        for (size_t k = 0; k < in->nflags; k++)
                                if (in->flags[k].value)
                                        each_plain_ref(in->flags[k].value, esc, undef_var_cb, &c);
                        if (in->kind == DF_INSTR_ARG || in->kind == DF_INSTR_ENV)
                                for (size_t k = 0; k < in->nkvs; k++)
                                        df_vars_set(c.known, in->kvs[k].key, "");
                }
                df_vars_free(c.known);
        }
}

/* parser/: the Dockerfile language (BuildKit's frontend semantics), word expansion, ARG scoping,
 * .dockerignore patterns and lint checks. Pure functions: text in, structs out, no I/O.
 *
 * Ownership in one place: a struct df_file owns every instruction, stage, flag, pair, heredoc and
 * string reachable from it. The structs df_instr, df_stage, df_kv, df_flag and df_heredoc are
 * transparent READ-ONLY views: read their fields, never write or free them; they stay valid until
 * df_file_free() on the file they came from. struct df_mount, df_port and df_finding are values the
 * caller receives (see their functions). struct df_file, df_vars and df_ignore are opaque.
 *
 * What the parser leaves to the builder: expanding words (df_expand_word/words with the stage's
 * scope, for the kinds df_instr_kind_expands() names; an ENV's pairs all see the scope as it was
 * before that ENV, as in BuildKit), resolving a $VAR FROM or --from after expansion
 * (df_file_stage_by_name), and base-image facts (its ENV, USER, CUDA_VERSION). */
#ifndef DF_H
#define DF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/cb.h"

/* Limits on hostile input. Past them df_parse() fails with -E2BIG and a FILE:LINE message. */
#define DF_MAX_INPUT (64u * 1024u * 1024u)        /* bytes of Dockerfile text */
#define DF_MAX_INSTRUCTIONS 1000000u              /* instructions in one file */
#define DF_MAX_HEREDOCS 64u                       /* heredocs on one instruction */
#define DF_EXPAND_MAX_DEPTH 64u                   /* ${a:-${b:-...}} nesting in one word */
#define DF_EXPAND_MAX_OUTPUT (4u * 1024u * 1024u) /* bytes one expansion may produce */

enum df_instr_kind {
        DF_INSTR_FROM,
        DF_INSTR_RUN,
        DF_INSTR_CMD,
        DF_INSTR_LABEL,
        DF_INSTR_MAINTAINER,
        DF_INSTR_EXPOSE,
        DF_INSTR_ENV,
        DF_INSTR_ADD,
        DF_INSTR_COPY,
        DF_INSTR_ENTRYPOINT,
        DF_INSTR_VOLUME,
        DF_INSTR_USER,
        DF_INSTR_WORKDIR,
        DF_INSTR_ARG,
        DF_INSTR_ONBUILD,
        DF_INSTR_STOPSIGNAL,
        DF_INSTR_HEALTHCHECK,
        DF_INSTR_SHELL,
};
#define DF_INSTR_KIND_COUNT (DF_INSTR_SHELL + 1)

/* Borrowed, static: the upper-case keyword ("RUN"); "?" for a value out of range. */
const char *df_instr_kind_name(enum df_instr_kind k);
/* Whether BuildKit expands variables in this instruction's args and pairs (keys and values): ADD
 * COPY ENV EXPOSE FROM LABEL STOPSIGNAL USER VOLUME WORKDIR ARG. RUN, CMD, ENTRYPOINT, SHELL and
 * HEALTHCHECK commands are left to the shell at run time (heredoc bodies likewise, when expand).
 * Flag values are expanded for every kind (--platform, --from, --chown, --chmod, --mount, ...). */
bool df_instr_kind_expands(enum df_instr_kind k);

/* --mount=type=cache,target=/x -> name "mount", value "type=cache,target=/x"; a bare --link has
 * value NULL. Raw text, unexpanded (quotes kept). Names are lower-case as written ("--from"). */
struct df_flag {
        char *name;
        char *value;
};

/* ENV/LABEL/ARG pairs, raw (quotes kept, unexpanded). ARG without default: value NULL. Legacy
 * `ENV k v w` gives key "k", value "v w" (the rest of the line, as BuildKit does). */
struct df_kv {
        char *key;
        char *value;
};

/* One heredoc of RUN/COPY/ADD, in the order its marker appears on the line. body holds each line
 * with its "\n" (tabs already stripped for <<-); expand is false when the delimiter was quoted. */
struct df_heredoc {
        char *delim;
        char *body;
        bool expand;
        bool strip_tabs;
};

struct df_instr {
        enum df_instr_kind kind;
        unsigned start_line, end_line; /* 1-based; end_line includes continuations and heredoc ends */
        /* The instruction as written, keyword included, continuation lines joined (escape char and
         * newline removed, as BuildKit's "Original"), heredoc bodies not included (see heredocs). */
        const char *text;
        const char *keyword; /* the keyword as the user wrote it ("run"), for casing checks */
        struct df_flag *flags;
        size_t nflags;
        bool json; /* exec form: RUN/CMD/ENTRYPOINT/SHELL/VOLUME/COPY/ADD/HEALTHCHECK CMD JSON array */
        /* json: the array's elements, decoded. Shell form RUN/CMD/ENTRYPOINT (and HEALTHCHECK CMD):
         * exactly one arg, the command text after the keyword and flags, unexpanded, heredoc markers
         * kept. MAINTAINER, USER, WORKDIR, STOPSIGNAL: one arg, the rest of the line (BuildKit's
         * parseString). COPY/ADD/VOLUME/EXPOSE: whitespace-split words, quotes kept and not
         * honoured in the split (BuildKit's parseStringsWhitespaceDelimited). FROM: image [AS name] words
         * (prefer df_stage). ENV/LABEL/ARG: none. */
        char **args;
        size_t nargs;
        struct df_kv *kvs; /* ENV, LABEL, ARG */
        size_t nkvs;
        struct df_heredoc *heredocs;
        size_t nheredocs;
        const struct df_instr *onbuild; /* ONBUILD's inner instruction, else NULL */
        /* HEALTHCHECK: flags hold --interval etc.; json/args hold the CMD part; HEALTHCHECK NONE has
         * nargs 0 and none true. */
        bool none;
};

/* For COPY/ADD: the heredoc that args[i] stands for ("<<EOF", "<<-'EOF'", "3<<EOF"), or NULL when
 * args[i] is a plain source. Borrowed, as the instruction. */
const struct df_heredoc *df_instr_heredoc_arg(const struct df_instr *in, size_t i);

/* Borrowed: the value of the last flag called name (without "--"), NULL when absent or bare.
 * *ret_present (may be NULL) says whether the flag was given at all. */
const char *df_instr_flag(const struct df_instr *in, const char *name, bool *ret_present);

struct df_stage {
        const char *base;     /* FROM's image text raw (may contain $VARS) */
        const char *name;     /* AS name lower-cased, or NULL */
        const char *platform; /* --platform value raw, or NULL */
        unsigned line;        /* the FROM's line */
        size_t from;          /* index of the FROM instruction in df_file_instr() */
        size_t first, n;      /* the stage's instructions first..first+n-1, the FROM excluded */
        /* Index of the earlier stage whose name equals base (case-insensitively), or -1 when base
         * names an image. Only literal names resolve here; a base with $VARS is -1 (resolve it after
         * expansion with df_file_stage_by_name()). */
        long base_stage;
};

struct df_file;

/* Parses a whole Dockerfile. name is the file name used in errors: "Dockerfile:14: ...". On
 * success *ret is owned by the caller (df_file_free()). Errors: -EINVAL with "NAME:LINE: message"
 * (unknown instruction with a did-you-mean, unterminated heredoc, bad JSON array, no FROM, COPY
 * --from naming a later stage or itself, ...), -E2BIG past the limits above. */
int df_parse(struct cb_str text, const char *name, struct df_file **ret, struct cb_err *err);
/* NULL-safe; returns NULL. */
struct df_file *df_file_free(struct df_file *f);

/* Borrowed: valid until df_file_free(f). The name given to df_parse(). */
const char *df_file_name(const struct df_file *f);
size_t df_file_ninstr(const struct df_file *f);
/* Borrowed: valid until df_file_free(f). i < df_file_ninstr(f). Includes the meta ARGs and FROMs. */
const struct df_instr *df_file_instr(const struct df_file *f, size_t i);
size_t df_file_nstages(const struct df_file *f);
/* Borrowed: valid until df_file_free(f). */
const struct df_stage *df_file_stage(const struct df_file *f, size_t i);
/* Index of the stage named name (case-insensitive) or a decimal index "0".."n-1", or -1. */
long df_file_stage_by_name(const struct df_file *f, const char *name);
/* ARGs before the first FROM, one df_kv per declared name, in order. Borrowed. */
size_t df_file_nmeta_args(const struct df_file *f);
const struct df_kv *df_file_meta_arg(const struct df_file *f, size_t i);
/* Borrowed: a leading parser directive's value ("syntax", "escape", "check"; lower-case names),
 * trimmed, or NULL. */
const char *df_file_directive(const struct df_file *f, const char *name);
/* The escape character: '\\' or '`' (from "# escape=`"). */
char df_file_escape(const struct df_file *f);

/* Variables for expansion: an ordered map (insertion order; setting an existing key keeps its place
 * and replaces the value). Keys and values are copied. */
struct df_vars;
struct df_vars *df_vars_new(void);
struct df_vars *df_vars_free(struct df_vars *v); /* NULL-safe; returns NULL */
struct df_vars *df_vars_copy(const struct df_vars *v);
void df_vars_set(struct df_vars *v, const char *key, const char *value);
/* Removes key; does nothing when unset. */
void df_vars_unset(struct df_vars *v, const char *key);
/* Borrowed: valid until the next df_vars_set/unset/free on v. NULL when unset. */
const char *df_vars_get(const struct df_vars *v, const char *key);
size_t df_vars_count(const struct df_vars *v);
const char *df_vars_key(const struct df_vars *v, size_t i);   /* borrowed, as df_vars_get() */
const char *df_vars_value(const struct df_vars *v, size_t i); /* borrowed, as df_vars_get() */

/* One word with BuildKit's shell-word semantics: quote removal, escapes, $V ${V} ${V:-x} ${V-x}
 * ${V:+x} ${V+x} ${V:?msg} ${V?msg} (and ${V#p} ${V##p} ${V%p} ${V%%p} ${V/p/r} ${V//p/r}); escape is the
 * file's escape char ('\\' or '`'). v may be NULL (nothing set). Nesting deeper than
 * DF_EXPAND_MAX_DEPTH fails with -E2BIG, output past DF_EXPAND_MAX_OUTPUT with -E2BIG; an unset
 * ${V:?msg}, a missing '}' or an unknown modifier with -EINVAL. On success *ret is owned (free()). */
int df_expand_word(const struct df_vars *v, const char *raw, char escape, char **ret, struct cb_err *err);
/* Same, splitting into several words on unquoted whitespace, including whitespace that an unquoted
 * variable's value brings (for COPY/ADD/EXPOSE/VOLUME lists). On success *ret is an owned
 * NULL-terminated array of *ret_n owned strings: release with df_strv_free(). */
int df_expand_words(const struct df_vars *v, const char *raw, char escape, char ***ret, size_t *ret_n,
                    struct cb_err *err);
/* A heredoc body whose delimiter was unquoted (df_heredoc.expand), as a shell here-document: $V and
 * ${V...} expand, quotes stay as they are, the escape char escapes only '$', itself and a newline.
 * For COPY/ADD <<EOF bodies (RUN bodies go to the shell unexpanded). Bounds and errors as
 * df_expand_word(); on success *ret is owned (free()). */
int df_expand_heredoc(const struct df_vars *v, const char *body, char escape, char **ret, struct cb_err *err);
/* Frees a NULL-terminated string array; NULL-safe; returns NULL. */
char **df_strv_free(char **v);

/* ARG scoping (BuildKit's rules).
 * - ARGs before the first FROM (meta ARGs) are visible only in FROM lines (image, --platform), unless
 *   a stage redeclares them with `ARG NAME` (no default), which brings in the global value.
 * - Inside a stage an ARG is visible from its declaration to the end of that stage only.
 * - --build-arg values override defaults, both for meta ARGs and for stage ARGs; a build-arg with no
 *   matching ARG is unused (the caller may warn).
 * - Predefined ARGs (proxy family, see df_arg_is_predefined()) are usable without declaring them.
 * - The platform family (TARGETPLATFORM, TARGETOS, TARGETARCH, TARGETVARIANT, BUILDPLATFORM, BUILDOS,
 *   BUILDARCH, BUILDVARIANT) is set automatically in the global scope; inside a stage it must be
 *   declared with `ARG TARGETARCH`; the caller supplies the values in auto_args. */
/* Whether name is one of BuildKit's predefined proxy ARGs (HTTP_PROXY, http_proxy, HTTPS_PROXY,
 * https_proxy, FTP_PROXY, ftp_proxy, NO_PROXY, no_proxy, ALL_PROXY, all_proxy). */
bool df_arg_is_predefined(const char *name);
/* Whether name is one of the automatic platform ARGs listed above. */
bool df_arg_is_platform(const char *name);
/* The global scope for FROM lines: auto_args (may be NULL: the platform family the caller resolved),
 * then each meta ARG in order, valued from build_args (may be NULL) when given there, else its
 * default expanded against the scope so far, else left unset. On success *ret is owned. Errors carry
 * "NAME:LINE: ARG". */
int df_file_meta_scope(const struct df_file *f, const struct df_vars *build_args,
                       const struct df_vars *auto_args, struct df_vars **ret, struct cb_err *err);
/* Whether some ARG of the file (before FROM or in any stage) declares name: a --build-arg nothing
 * declares is unused, and BuildKit warns about it. */
bool df_file_arg_declared(const struct df_file *f, const char *name);
/* Applies one stage ARG instruction to a stage's scope: for each pair, the value is build_args[key]
 * when given, else its default expanded against scope, else (no default) the value of the same name
 * in meta (the global scope), else the key stays unset. The escape char is the file's. */
int df_arg_apply(const struct df_file *f, const struct df_instr *arg, const struct df_vars *build_args,
                 const struct df_vars *meta, struct df_vars *scope, struct cb_err *err);

/* RUN --mount options, parsed from the EXPANDED flag value ("type=cache,target=/x,sharing=locked").
 * Borrowed strings point into the struct's own storage: release with df_mount_release(). */
enum df_mount_type { DF_MOUNT_BIND, DF_MOUNT_CACHE, DF_MOUNT_TMPFS, DF_MOUNT_SECRET, DF_MOUNT_SSH };
enum df_mount_sharing { DF_SHARING_SHARED, DF_SHARING_PRIVATE, DF_SHARING_LOCKED };
struct df_mount {
        enum df_mount_type type; /* default bind */
        char *target; /* target|dst|destination; secret/ssh default under /run/secrets|/run/buildkit */
        char *source; /* source|src, or NULL */
        char *from;   /* from=stage|image, or NULL */
        char *id;     /* id= (cache/secret/ssh), or NULL */
        char *env;    /* secret env=NAME, or NULL */
        enum df_mount_sharing sharing;
        bool readonly; /* bind defaults to read-only; cache/tmpfs to read-write */
        bool required; /* secret/ssh required=true */
        bool has_mode, has_uid, has_gid;
        unsigned mode; /* octal mode= */
        unsigned uid, gid;
        uint64_t size; /* tmpfs size= in bytes, 0 when unset */
};
/* On success fills *ret (release with df_mount_release()); -EINVAL naming the bad key or value. */
int df_mount_parse(const char *value, struct df_mount *ret, struct cb_err *err);
void df_mount_release(struct df_mount *m);

/* HEALTHCHECK --interval/--timeout/--start-period/--start-interval values, as BuildKit reads them
 * (Go durations: "30s", "1m30s", "1.5h", "250ms", "0"). -EINVAL on bad syntax, -ERANGE on overflow. */
int df_duration_parse(const char *s, uint64_t *ret_ns);

/* One EXPANDED EXPOSE word: "80", "80/tcp", "8000-8010/udp" (protocol case-insensitive, tcp by
 * default). -EINVAL otherwise (an IP or a host:container mapping included). */
struct df_port {
        unsigned first, last; /* equal unless a range */
        const char *proto;    /* static: "tcp", "udp" or "sctp" */
};
int df_port_parse(const char *s, struct df_port *ret);

/* .dockerignore with BuildKit's (moby/patternmatcher) rules: one pattern a line, '#' comment lines,
 * blank lines skipped, surrounding whitespace trimmed, a leading '/' and a trailing '/' dropped, paths
 * cleaned ("a/./b" -> "a/b"), '*' '?' '[...]' within a path element, '**' across elements, '\\'
 * escapes, '!' re-includes. The last pattern that matches a path or one of its parent directories
 * decides. name is used in errors ("NAME:LINE: bad pattern"). */
struct df_ignore;
int df_ignore_parse(struct cb_str text, const char *name, struct df_ignore **ret, struct cb_err *err);
/* relpath relative to the context root, '/'-separated, no leading "./". True when excluded. */
bool df_ignore_match(const struct df_ignore *ig, const char *relpath);
/* Whether some '!' pattern could re-include something under dir (so a walker must descend into an
 * excluded directory instead of skipping it). */
bool df_ignore_may_reinclude(const struct df_ignore *ig, const char *reldir);
struct df_ignore *df_ignore_free(struct df_ignore *ig); /* NULL-safe; returns NULL */
/* Owned (free()): the ignore file a named Dockerfile brings, "<dockerfile>.dockerignore" (BuildKit
 * reads it instead of the context's .dockerignore when it exists). */
char *df_ignore_path_for(const char *dockerfile);

/* Lint. base_cuda_version is what the caller resolved from the base image config (CUDA_VERSION,
 * "11.8.0") or NULL (the rules fall back to the FROM tag text). strict is recorded for callers;
 * findings are the same either way. */
enum df_severity { DF_SEV_INFO = 0, DF_SEV_WARNING = 1, DF_SEV_ERROR = 2 };
struct df_finding {
        const char *rule; /* borrowed, static: the rule's stable name ("from-as-casing") */
        int severity;     /* enum df_severity */
        unsigned line;    /* 1-based; 0 when the finding is about the whole file */
        char *message;    /* owned by the array */
        const char *file; /* borrowed from f: df_file_name() */
};
struct df_check_opts {
        const char *base_cuda_version;
        bool strict;
        /* NULL-terminated "KEY=VALUE" (or "KEY") entries of the base image's config Env, or NULL.
         * With it, UndefinedVar checks stages built on an image; without, only stages on scratch. */
        const char *const *base_env;
};
/* Runs every rule not disabled by "# check=skip=a,b" (or "skip=all"); "# check=error=true" raises
 * warnings to errors. o may be NULL. On success *ret (may be NULL when *ret_n is 0) is owned:
 * release with df_findings_free(). Findings are sorted by line. */
int df_check(const struct df_file *f, const struct df_check_opts *o, struct df_finding **ret, size_t *ret_n,
             struct cb_err *err);
void df_findings_free(struct df_finding *v, size_t n);
/* For `cubuild check`: appends the findings to out, as "FILE:LINE: rule: message" lines (line 0:
 * "FILE: rule: message"), or with json as one array of {"file","line","rule","severity","message"}
 * objects (severity "info"|"warning"|"error") and a final newline. -E2BIG past out->max. */
int df_findings_format(const struct df_finding *v, size_t n, bool json, struct cb_buf *out);
/* The check verdict: 1 when a finding is an error (or, with strict, a warning), else 0. */
int df_findings_status(const struct df_finding *v, size_t n, bool strict);
/* Appends "NAME  severity  description" lines for --list-rules. */
int df_rules_format(bool json, struct cb_buf *out);
size_t df_rules_count(void);
const char *df_rule_name(size_t i);        /* borrowed, static */
const char *df_rule_description(size_t i); /* borrowed, static, one line */
int df_rule_severity(size_t i);            /* default severity */

#endif

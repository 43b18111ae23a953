/* parser/ internals: the arena every parsed file allocates from, the file's layout, and helpers
 * shared by the lexer, the instruction parser, expansion and lint. */
#ifndef DF_INTERNAL_H
#define DF_INTERNAL_H

#include "parser/df.h"

/* A bump allocator: everything a df_file holds lives in one arena and goes in one free. */
struct df_arena_chunk;
struct df_arena {
        struct df_arena_chunk *head;
};
void *df_arena_alloc(struct df_arena *a, size_t n);
char *df_arena_strndup(struct df_arena *a, const char *s, size_t n);
char *df_arena_strdup(struct df_arena *a, const char *s);
void df_arena_release(struct df_arena *a);

/* A growable array of fixed-size items built with realloc, then copied into the arena. */
struct df_vec {
        void *v;
        size_t n, cap, size;
};
void df_vec_init(struct df_vec *vec, size_t size);
void *df_vec_push(struct df_vec *vec);                         /* zeroed slot */
void *df_vec_to_arena(struct df_vec *vec, struct df_arena *a); /* copies, then releases vec */
void df_vec_release(struct df_vec *vec);

struct df_file {
        char *name;
        struct df_arena arena;
        struct df_instr **instrs; /* arena-allocated instructions; the array itself is malloc'd */
        size_t ninstr, instr_cap;
        struct df_stage *stages;
        size_t nstages, stage_cap;
        /* stage name -> index of the first stage so named (open addressing, lower-case keys), so
         * that name lookups stay O(1) in files with thousands of stages */
        struct df_stage_slot {
                const char *name;
                long idx;
        } * name_index;
        size_t name_cap, name_used;
        struct df_kv *meta;
        size_t nmeta, meta_cap;
        char *directive_syntax, *directive_escape, *directive_check;
        unsigned directive_check_line;
        unsigned *empty_cont; /* lines of empty continuation lines, for lint */
        size_t nempty_cont, empty_cont_cap;
        char escape;
};

/* Index of the first stage named name (case-insensitive), or -1. */
long df_stage_lookup(const struct df_file *f, const char *name);
void df_stage_index_add(struct df_file *f, const char *name, long idx);

/* Flag allowlist: whether kind accepts --name. */
bool df_flag_allowed(enum df_instr_kind kind, const char *name);
/* Case-insensitive keyword lookup; -1 when unknown. */
int df_kind_from_keyword(const char *p, size_t len);
/* Closest instruction keyword to an unknown one (edit distance <= 2), or NULL. */
const char *df_kind_suggest(const char *p, size_t len);

/* Splits s into whitespace-separated words, quotes and escapes kept inside a word ('...' and "..."
 * group). Each word is an arena copy. */
void df_split_words(struct df_arena *a, const char *s, size_t len, char escape, struct df_vec *ret_words);

static inline bool df_isspace(char c)
{
        return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

#endif

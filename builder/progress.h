/* Build progress: one event stream (steps starting, coming from the cache, finishing, failing; byte
 * counters of pulls, pushes and layer writes; RUN output; info lines) feeding one renderer:
 *   plain    CI logs: "STEP 2/5: RUN ...", "--> using cache ...", "--> done 1.23s, layer 4.0 MiB"
 *   tty      a live line per active step (elapsed time, byte counters and rates) redrawn in place;
 *            each finished step leaves one line with its time
 *   rawjson  one JSON object per line, keys step, total, instr, status, bytes, ts (STYLE.md §9)
 *   quiet    nothing
 * auto is tty when the output fd is a terminal, plain otherwise. Single-threaded: call from the
 * thread that builds. */
#ifndef BLD_PROGRESS_H
#define BLD_PROGRESS_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum bld_progress_mode {
        BLD_PROGRESS_AUTO,
        BLD_PROGRESS_PLAIN,
        BLD_PROGRESS_TTY,
        BLD_PROGRESS_RAWJSON,
        BLD_PROGRESS_QUIET,
};

/* "auto", "plain", "tty", "rawjson", "quiet" → *ret; -EINVAL for anything else. */
int bld_progress_mode_parse(const char *s, enum bld_progress_mode *ret);

enum bld_progress_status {
        BLD_PG_START,  /* a step begins */
        BLD_PG_CACHED, /* the step's layer came from the cache (ends the step) */
        BLD_PG_DONE,   /* the step ran (ends the step) */
        BLD_PG_ERROR,  /* the step failed (ends the step) */
        BLD_PG_BYTES,  /* a byte counter moved: what, id, bytes, bytes_total */
        BLD_PG_LOG,    /* RUN output: text, len (any bytes, not split at lines) */
        BLD_PG_INFO,   /* a message for humans: text */
};

/* One event. Strings are borrowed for the call. */
struct bld_progress_event {
        enum bld_progress_status status;
        size_t step;          /* 1-based; 0: not tied to a step (a push after the build) */
        size_t total;         /* steps in the build */
        const char *instr;    /* the instruction text; START only (later events reuse the step's) */
        uint64_t bytes;       /* DONE: the layer's size (0: no layer); BYTES: bytes so far */
        uint64_t bytes_total; /* BYTES: expected size, 0 when unknown */
        const char *what;     /* BYTES: "pull", "push" or "layer" */
        const char *id;       /* BYTES: the blob digest; CACHED: the layer digest */
        const char *text;     /* LOG: output bytes; INFO, ERROR: a message */
        size_t len;           /* LOG: length of text */
        bool layer;           /* DONE: the step made a layer (RUN, COPY, ADD) */
};

struct bld_progress;

/* Owned: bld_progress_free(). fd is borrowed (stderr in cubuild); auto is resolved here. */
struct bld_progress *bld_progress_new(enum bld_progress_mode mode, int fd);
/* Ends any live display. NULL is fine; returns NULL. */
struct bld_progress *bld_progress_free(struct bld_progress *p);
/* The resolved mode (never AUTO). */
enum bld_progress_mode bld_progress_mode(const struct bld_progress *p);

/* Renders one event; the time stamp is taken here. NULL p does nothing. */
void bld_progress_emit(struct bld_progress *p, const struct bld_progress_event *ev);
/* Takes the live lines off the terminal until the next event, for something else to use it (the
 * --on-error shell). */
void bld_progress_suspend(struct bld_progress *p);
/* Redraws time-dependent output (the tty's elapsed times and rates), at most ~10 times a second. */
void bld_progress_tick(struct bld_progress *p);

/* Shorthands over bld_progress_emit(). */
void bld_progress_start(struct bld_progress *p, size_t step, size_t total, const char *instr);
void bld_progress_cached(struct bld_progress *p, size_t step, const char *layer_digest);
void bld_progress_done(struct bld_progress *p, size_t step, bool layer, uint64_t layer_size);
void bld_progress_error(struct bld_progress *p, size_t step, const char *msg);
void bld_progress_bytes(struct bld_progress *p, size_t step, const char *what, const char *id, uint64_t done,
                        uint64_t total);
void bld_progress_log(struct bld_progress *p, size_t step, const char *text, size_t len);
void bld_progress_info(struct bld_progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The step the byte counters of a pull or push belong to (0: none); set by the builder around them. */
void bld_progress_set_step(struct bld_progress *p, size_t step);
size_t bld_progress_step(const struct bld_progress *p);

#endif

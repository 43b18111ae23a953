/* Build progress: events in, one renderer out (see progress.h). */
#include "builder/progress.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "common/cb.h"

#define REDRAW_EVERY 0.1      /* seconds between tty redraws of the live lines */
#define PLAIN_BYTES_EVERY 2.0 /* seconds between plain byte-counter lines of one step */
#define JSON_BYTES_EVERY 0.2  /* seconds between rawjson progress objects of one step */
#define PARTIAL_MAX 4096      /* a tty log line longer than this is written without waiting for its end */

enum { K_PULL, K_PUSH, K_LAYER, K_N };
static const char *const kind_names[K_N] = { "pull", "push", "layer" };

struct counter {
        uint64_t done, total;
        double first; /* monotonic time of the first update, for the rate */
        bool seen;
};

struct active {
        size_t step, total;
        char *instr; /* owned */
        char *id;     /* owned: the blob of a transfer outside any step (step 0), else NULL */
        double start; /* monotonic */
        struct counter c[K_N];
        double last_plain, last_json; /* when byte counters were last written */
};

struct bld_progress {
        enum bld_progress_mode mode;
        int fd;
        struct active *act;
        size_t nact, cap;
        size_t nlive;   /* tty: live lines on screen below the log */
        double last_draw;
        size_t cur_step;
        size_t total; /* the build's step count, from the last START */
        struct cb_buf partial; /* tty: a log line not ended yet */
        bool mid_line;         /* plain: the last output was a log chunk without its newline */
        pid_t owner;           /* the process that made it: a forked stage (--jobs) draws no live lines */
};

static double mono_now(void)
{
        struct timespec ts;
        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

int bld_progress_mode_parse(const char *s, enum bld_progress_mode *ret)
{
        static const struct {
                const char *name;
                enum bld_progress_mode mode;
        } modes[] = {
                { "auto", BLD_PROGRESS_AUTO },       { "plain", BLD_PROGRESS_PLAIN }, { "tty", BLD_PROGRESS_TTY },
                { "rawjson", BLD_PROGRESS_RAWJSON }, { "quiet", BLD_PROGRESS_QUIET },
        };
        for (size_t i = 0; i < CB_ARRAY_SIZE(modes); i++) {
                if (strcmp(s, modes[i].name) == 0) {
                        *ret = modes[i].mode;
                        return 0;
                }
        }
        return -EINVAL;
}

struct bld_progress *bld_progress_new(enum bld_progress_mode mode, int fd)
{
        struct bld_progress *p = cb_xcalloc(1, sizeof(*p));
        if (mode == BLD_PROGRESS_AUTO)
                mode = isatty(fd) ? BLD_PROGRESS_TTY : BLD_PROGRESS_PLAIN;
        p->mode = mode;
        p->fd = fd;
        p->owner = getpid();
        cb_buf_init(&p->partial, CB_BUF_UNLIMITED);
        return p;
}

enum bld_progress_mode bld_progress_mode(const struct bld_progress *p)
{
        return p ? p->mode : BLD_PROGRESS_QUIET;
}

void bld_progress_set_step(struct bld_progress *p, size_t step)
{
        if (p)
                p->cur_step = step;
}

size_t bld_progress_step(const struct bld_progress *p)
{
        return p ? p->cur_step : 0;
}

static void out(struct bld_progress *p, const struct cb_buf *b)
{
        if (b->len)
                (void) cb_write_all(p->fd, b->p, b->len);
}

static struct active *find(struct bld_progress *p, size_t step)
{
        for (size_t i = 0; i < p->nact; i++)
                if (p->act[i].step == step)
                        return &p->act[i];
        return NULL;
}

static struct active *add_active(struct bld_progress *p, size_t step, size_t total, const char *instr, double now)
{
        if (p->nact == p->cap) {
                p->cap = p->cap ? p->cap * 2 : 4;
                p->act = cb_xrealloc(p->act, p->cap * sizeof(*p->act));
        }
        struct active *a = &p->act[p->nact++];
        memset(a, 0, sizeof(*a));
        a->step = step;
        a->total = total;
        a->instr = cb_xstrdup(instr ? instr : "");
        a->start = now;
        a->last_plain = a->last_json = -1e9;
        return a;
}

static struct active *find_detached(struct bld_progress *p, const char *id)
{
        for (size_t i = 0; i < p->nact; i++)
                if (p->act[i].id && strcmp(p->act[i].id, id) == 0)
                        return &p->act[i];
        return NULL;
}

static void drop(struct bld_progress *p, struct active *a)
{
        free(a->instr);
        free(a->id);
        size_t i = (size_t) (a - p->act);
        memmove(&p->act[i], &p->act[i + 1], (p->nact - i - 1) * sizeof(*p->act));
        p->nact--;
}

static void human(struct cb_buf *b, uint64_t n)
{
        static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
        double v = (double) n;
        size_t u = 0;
        while (v >= 1024 && u + 1 < CB_ARRAY_SIZE(units)) {
                v /= 1024;
                u++;
        }
        if (u == 0)
                (void) cb_buf_addf(b, "%llu B", (unsigned long long) n);
        else
                (void) cb_buf_addf(b, "%.1f %s", v, units[u]);
}

/* "pull 12.0 MiB / 40.0 MiB 6.0 MiB/s" for each counter that moved */
static void counters(struct cb_buf *b, const struct active *a, double now, bool rates)
{
        for (size_t k = 0; k < K_N; k++) {
                const struct counter *c = &a->c[k];
                if (!c->seen)
                        continue;
                (void) cb_buf_addf(b, "  %s ", kind_names[k]);
                human(b, c->done);
                if (c->total) {
                        (void) cb_buf_adds(b, " / ");
                        human(b, c->total);
                }
                if (rates && now - c->first > 0.5) {
                        (void) cb_buf_adds(b, " ");
                        human(b, (uint64_t) ((double) c->done / (now - c->first)));
                        (void) cb_buf_adds(b, "/s");
                }
        }
}

/* --- tty --- */

static unsigned term_width(int fd)
{
        struct winsize ws;
        if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
                return ws.ws_col;
        return 80;
}

/* Appends s cut to at most cols columns (UTF-8 aware: continuation bytes take no column). */
static void add_cols(struct cb_buf *b, const char *s, size_t len, size_t cols)
{
        size_t used = 0, i = 0;
        for (; i < len; i++) {
                unsigned char ch = (unsigned char) s[i];
                if ((ch & 0xc0) == 0x80)
                        continue;
                if (used == cols)
                        break;
                used++;
        }
        /* control characters would move the cursor under us */
        for (size_t k = 0; k < i; k++)
                (void) cb_buf_addc(b, (unsigned char) s[k] < 0x20 ? ' ' : s[k]);
}

static void tty_clear(struct bld_progress *p, struct cb_buf *b)
{
        if (p->nlive)
                (void) cb_buf_addf(b, "\x1b[%zuA", p->nlive);
        (void) cb_buf_adds(b, "\r\x1b[J");
        p->nlive = 0;
}

static void tty_draw(struct bld_progress *p, struct cb_buf *b, double now)
{
        size_t width = term_width(p->fd) - 1;
        for (size_t i = 0; i < p->nact; i++) {
                const struct active *a = &p->act[i];
                struct cb_buf head, tail;
                cb_buf_init(&head, CB_BUF_UNLIMITED);
                cb_buf_init(&tail, CB_BUF_UNLIMITED);
                if (a->step)
                        (void) cb_buf_addf(&head, "[%zu/%zu] ", a->step, a->total);
                (void) cb_buf_addf(&tail, "  %.1fs", now - a->start);
                counters(&tail, a, now, true);
                size_t room = head.len + tail.len < width ? width - head.len - tail.len : 0;
                add_cols(b, head.p, head.len, width);
                add_cols(b, a->instr, strlen(a->instr), room);
                add_cols(b, tail.p, tail.len, width > head.len + room ? width - head.len - room : 0);
                (void) cb_buf_adds(b, "\n");
                p->nlive++;
                cb_buf_release(&head);
                cb_buf_release(&tail);
        }
        p->last_draw = now;
}

static void tty_log(struct bld_progress *p, struct cb_buf *b, const char *text, size_t len)
{
        (void) cb_buf_add(&p->partial, text, len);
        const char *nl = memrchr(p->partial.p, '\n', p->partial.len);
        size_t upto = nl ? (size_t) (nl - p->partial.p) + 1 : 0;
        if (!upto && p->partial.len > PARTIAL_MAX) {
                (void) cb_buf_adds(&p->partial, "\n");
                upto = p->partial.len;
        }
        (void) cb_buf_add(b, p->partial.p, upto);
        memmove(p->partial.p, p->partial.p + upto, p->partial.len - upto);
        cb_buf_truncate(&p->partial, p->partial.len - upto);
}

static void tty_flush_partial(struct bld_progress *p, struct cb_buf *b)
{
        if (!p->partial.len)
                return;
        (void) cb_buf_add(b, p->partial.p, p->partial.len);
        (void) cb_buf_adds(b, "\n");
        cb_buf_reset(&p->partial);
}

static void tty_finished(struct bld_progress *p, struct cb_buf *b, const struct active *a,
                         const struct bld_progress_event *ev, double now)
{
        size_t width = term_width(p->fd) - 1;
        struct cb_buf tail;
        cb_buf_init(&tail, CB_BUF_UNLIMITED);
        if (ev->status == BLD_PG_CACHED)
                (void) cb_buf_adds(&tail, "  CACHED");
        else if (ev->status == BLD_PG_ERROR)
                (void) cb_buf_addf(&tail, "  ERROR %.1fs", now - a->start);
        else
                (void) cb_buf_addf(&tail, "  %.1fs", now - a->start);
        if (ev->status == BLD_PG_DONE && ev->layer) {
                (void) cb_buf_adds(&tail, "  layer ");
                human(&tail, ev->bytes);
        }
        counters(&tail, a, now, false);
        struct cb_buf head;
        cb_buf_init(&head, CB_BUF_UNLIMITED);
        if (a->step)
                (void) cb_buf_addf(&head, "[%zu/%zu] ", a->step, a->total);
        size_t room = head.len + tail.len < width ? width - head.len - tail.len : 0;
        add_cols(b, head.p, head.len, width);
        add_cols(b, a->instr, strlen(a->instr), room);
        add_cols(b, tail.p, tail.len, width > head.len + room ? width - head.len - room : 0);
        (void) cb_buf_adds(b, "\n");
        cb_buf_release(&head);
        cb_buf_release(&tail);
}

/* --- rawjson --- */

/* A JSON string of arbitrary bytes: invalid UTF-8 becomes U+FFFD, so the line always parses. */
static json_t *json_text(const char *s, size_t len)
{
        json_t *j = json_stringn(s, len);
        if (j)
                return j;
        struct cb_buf b;
        cb_buf_init(&b, CB_BUF_UNLIMITED);
        for (size_t i = 0; i < len;) {
                unsigned char c = (unsigned char) s[i];
                size_t n = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
                bool ok = n > 0 && i + n <= len && !(n == 1 && c == 0);
                for (size_t k = 1; ok && k < n; k++)
                        ok = ((unsigned char) s[i + k] & 0xc0) == 0x80;
                if (ok && n > 1 && json_stringn(s + i, n) == NULL)
                        ok = false; /* overlong or surrogate: jansson's own check decides */
                if (ok) {
                        (void) cb_buf_add(&b, s + i, n);
                        i += n;
                } else {
                        (void) cb_buf_adds(&b, "\xef\xbf\xbd");
                        i++;
                }
        }
        j = json_stringn(b.p, b.len);
        cb_buf_release(&b);
        return j ? j : json_string("");
}

static const char *status_name(enum bld_progress_status s)
{
        switch (s) {
        case BLD_PG_START:
                return "start";
        case BLD_PG_CACHED:
                return "cached";
        case BLD_PG_DONE:
                return "done";
        case BLD_PG_ERROR:
                return "error";
        case BLD_PG_BYTES:
                return "progress";
        case BLD_PG_LOG:
                return "log";
        case BLD_PG_INFO:
                return "info";
        }
        return "info";
}

static void json_event(struct bld_progress *p, const struct bld_progress_event *ev, const struct active *a, double now)
{
        struct timespec ts;
        (void) clock_gettime(CLOCK_REALTIME, &ts);
        struct tm tm;
        (void) gmtime_r(&ts.tv_sec, &tm);
        char tbuf[64];
        size_t n = strftime(tbuf, sizeof(tbuf), "%Y-%m-%dT%H:%M:%S", &tm);
        (void) snprintf(tbuf + n, sizeof(tbuf) - n, ".%03ldZ", ts.tv_nsec / 1000000);

        const char *instr = ev->instr ? ev->instr : a ? a->instr : NULL;
        size_t total = ev->total ? ev->total : a ? a->total : p->total;
        json_t *o = json_object();
        json_object_set_new(o, "step", json_integer((json_int_t) ev->step));
        json_object_set_new(o, "total", json_integer((json_int_t) total));
        json_object_set_new(o, "instr", instr ? json_text(instr, strlen(instr)) : json_null());
        json_object_set_new(o, "status", json_string(status_name(ev->status)));
        json_object_set_new(o, "bytes", json_integer((json_int_t) ev->bytes));
        json_object_set_new(o, "ts", json_string(tbuf));
        if (a && (ev->status == BLD_PG_DONE || ev->status == BLD_PG_CACHED || ev->status == BLD_PG_ERROR))
                json_object_set_new(o, "duration", json_real((double) (int64_t) ((now - a->start) * 1000) / 1000));
        if (ev->status == BLD_PG_BYTES) {
                json_object_set_new(o, "what", json_string(ev->what ? ev->what : ""));
                json_object_set_new(o, "bytes_total", json_integer((json_int_t) ev->bytes_total));
        }
        if (ev->id)
                json_object_set_new(o, "id", json_text(ev->id, strlen(ev->id)));
        if (ev->status == BLD_PG_LOG)
                json_object_set_new(o, "log", json_text(ev->text ? ev->text : "", ev->len));
        else if (ev->text)
                json_object_set_new(o, "msg", json_text(ev->text, strlen(ev->text)));
        char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
        json_decref(o);
        if (!s)
                return;
        struct cb_buf b;
        cb_buf_init(&b, CB_BUF_UNLIMITED);
        (void) cb_buf_adds(&b, s);
        (void) cb_buf_addc(&b, '\n');
        free(s);
        out(p, &b);
        cb_buf_release(&b);
}

/* --- the one entry point --- */

static int kind_of(const char *what)
{
        for (int k = 0; k < K_N; k++)
                if (what && strcmp(what, kind_names[k]) == 0)
                        return k;
        return -1;
}

void bld_progress_emit(struct bld_progress *p, const struct bld_progress_event *ev)
{
        if (!p || p->mode == BLD_PROGRESS_QUIET)
                return;
        if (p->mode == BLD_PROGRESS_TTY && getpid() != p->owner) {
                /* a stage built in a forked child (--jobs) shares the terminal with its siblings:
                 * cursor movements would erase their lines, so it writes plain lines instead. The
                 * parent has no live lines then (it forks between stages only). */
                p->mode = BLD_PROGRESS_PLAIN;
                p->nlive = 0;
        }
        double now = mono_now();
        struct active *a = ev->step ? find(p, ev->step) : NULL;
        if (ev->status == BLD_PG_START && !a)
                a = add_active(p, ev->step, ev->total, ev->instr, now);
        if (ev->status == BLD_PG_START && ev->total)
                p->total = ev->total;
        bool ends = ev->status == BLD_PG_CACHED || ev->status == BLD_PG_DONE || ev->status == BLD_PG_ERROR;
        if (ev->status == BLD_PG_BYTES && !ev->step && ev->id && p->mode == BLD_PROGRESS_TTY) {
                /* a transfer outside any step (a push after the build): a line of its own per blob */
                a = find_detached(p, ev->id);
                if (!a) {
                        _cleanup_free_ char *label = cb_xasprintf("%s %.19s", ev->what ? ev->what : "",
                                                                   strlen(ev->id) > 7 ? ev->id + 7 : ev->id);
                        a = add_active(p, 0, p->total, label, now);
                        a->id = cb_xstrdup(ev->id);
                }
                ends = ev->bytes_total && ev->bytes >= ev->bytes_total;
        }
        bool throttled = false;
        if (ev->status == BLD_PG_BYTES && a) {
                int k = kind_of(ev->what);
                if (k >= 0) {
                        struct counter *c = &a->c[k];
                        if (!c->seen) {
                                c->seen = true;
                                c->first = now;
                        }
                        c->done = ev->bytes;
                        c->total = ev->bytes_total;
                }
                bool final = ev->bytes_total && ev->bytes >= ev->bytes_total;
                if (p->mode == BLD_PROGRESS_PLAIN) {
                        throttled = !final && now - a->last_plain < PLAIN_BYTES_EVERY;
                        if (!throttled)
                                a->last_plain = now;
                } else if (p->mode == BLD_PROGRESS_RAWJSON) {
                        throttled = !final && now - a->last_json < JSON_BYTES_EVERY;
                        if (!throttled)
                                a->last_json = now;
                }
        }

        struct cb_buf b;
        cb_buf_init(&b, CB_BUF_UNLIMITED);
        switch (p->mode) {
        case BLD_PROGRESS_PLAIN:
                if (p->mid_line && ev->status != BLD_PG_LOG && !(ev->status == BLD_PG_BYTES && throttled)) {
                        (void) cb_buf_addc(&b, '\n');
                        p->mid_line = false;
                }
                switch (ev->status) {
                case BLD_PG_START:
                        (void) cb_buf_addf(&b, "STEP %zu/%zu: %s\n", ev->step, ev->total, ev->instr ? ev->instr : "");
                        break;
                case BLD_PG_CACHED:
                        (void) cb_buf_addf(&b, "--> using cache %.19s\n",
                                           ev->id && strlen(ev->id) > 7 ? ev->id + 7 : "");
                        break;
                case BLD_PG_DONE:
                        if (ev->layer && a) {
                                (void) cb_buf_addf(&b, "--> done %.2fs, layer ", now - a->start);
                                human(&b, ev->bytes);
                                (void) cb_buf_adds(&b, "\n");
                        }
                        break;
                case BLD_PG_ERROR:
                        break; /* the error itself is printed once, by the command */
                case BLD_PG_BYTES:
                        if (!throttled && ev->what) {
                                if (ev->id && strlen(ev->id) > 7)
                                        (void) cb_buf_addf(&b, "--> %s %.19s ", ev->what, ev->id + 7);
                                else
                                        (void) cb_buf_addf(&b, "--> %s ", ev->what);
                                human(&b, ev->bytes);
                                if (ev->bytes_total) {
                                        (void) cb_buf_adds(&b, " / ");
                                        human(&b, ev->bytes_total);
                                }
                                (void) cb_buf_adds(&b, "\n");
                        }
                        break;
                case BLD_PG_LOG:
                        (void) cb_buf_add(&b, ev->text, ev->len);
                        if (ev->len)
                                p->mid_line = ev->text[ev->len - 1] != '\n';
                        break;
                case BLD_PG_INFO:
                        (void) cb_buf_addf(&b, "%s\n", ev->text ? ev->text : "");
                        break;
                }
                break;
        case BLD_PROGRESS_TTY:
                if (ev->status == BLD_PG_BYTES && !ends && now - p->last_draw < REDRAW_EVERY)
                        break;
                tty_clear(p, &b);
                if (ev->status == BLD_PG_LOG)
                        tty_log(p, &b, ev->text, ev->len);
                if (ev->status == BLD_PG_INFO)
                        (void) cb_buf_addf(&b, "%s\n", ev->text ? ev->text : "");
                if (ends && a) {
                        tty_flush_partial(p, &b);
                        tty_finished(p, &b, a, ev, now);
                        drop(p, a);
                        a = NULL;
                }
                tty_draw(p, &b, now);
                break;
        case BLD_PROGRESS_RAWJSON:
                if (!throttled)
                        json_event(p, ev, a, now);
                break;
        case BLD_PROGRESS_AUTO:
        case BLD_PROGRESS_QUIET:
                break;
        }
        out(p, &b);
        cb_buf_release(&b);
        if (ends && a)
                drop(p, a);
}

void bld_progress_suspend(struct bld_progress *p)
{
        if (!p || p->mode != BLD_PROGRESS_TTY || getpid() != p->owner)
                return;
        struct cb_buf b;
        cb_buf_init(&b, CB_BUF_UNLIMITED);
        tty_clear(p, &b);
        tty_flush_partial(p, &b);
        out(p, &b);
        cb_buf_release(&b);
}

void bld_progress_tick(struct bld_progress *p)
{
        if (!p || p->mode != BLD_PROGRESS_TTY || !p->nact || getpid() != p->owner)
                return;
        double now = mono_now();
        if (now - p->last_draw < REDRAW_EVERY)
                return;
        struct cb_buf b;
        cb_buf_init(&b, CB_BUF_UNLIMITED);
        tty_clear(p, &b);
        tty_draw(p, &b, now);
        out(p, &b);
        cb_buf_release(&b);
}

struct bld_progress *bld_progress_free(struct bld_progress *p)
{
        if (!p)
                return NULL;
        if (p->mode == BLD_PROGRESS_PLAIN && p->mid_line)
                (void) cb_write_all(p->fd, "\n", 1);
        if (p->mode == BLD_PROGRESS_TTY) {
                struct cb_buf b;
                cb_buf_init(&b, CB_BUF_UNLIMITED);
                tty_clear(p, &b);
                tty_flush_partial(p, &b);
                out(p, &b);
                cb_buf_release(&b);
        }
        for (size_t i = 0; i < p->nact; i++) {
                free(p->act[i].instr);
                free(p->act[i].id);
        }
        free(p->act);
        cb_buf_release(&p->partial);
        free(p);
        return NULL;
}

void bld_progress_start(struct bld_progress *p, size_t step, size_t total, const char *instr)
{
        struct bld_progress_event ev = { .status = BLD_PG_START, .step = step, .total = total, .instr = instr };
        bld_progress_set_step(p, step);
        bld_progress_emit(p, &ev);
}

void bld_progress_cached(struct bld_progress *p, size_t step, const char *layer_digest)
{
        struct bld_progress_event ev = { .status = BLD_PG_CACHED, .step = step, .id = layer_digest };
        bld_progress_emit(p, &ev);
}

void bld_progress_done(struct bld_progress *p, size_t step, bool layer, uint64_t layer_size)
{
        struct bld_progress_event ev = { .status = BLD_PG_DONE, .step = step, .layer = layer, .bytes = layer_size };
        bld_progress_emit(p, &ev);
}

void bld_progress_error(struct bld_progress *p, size_t step, const char *msg)
{
        struct bld_progress_event ev = { .status = BLD_PG_ERROR, .step = step, .text = msg };
        bld_progress_emit(p, &ev);
}

void bld_progress_bytes(struct bld_progress *p, size_t step, const char *what, const char *id, uint64_t done,
                        uint64_t total)
{
        struct bld_progress_event ev = {
                .status = BLD_PG_BYTES, .step = step, .what = what, .id = id, .bytes = done, .bytes_total = total,
        };
        bld_progress_emit(p, &ev);
}

void bld_progress_log(struct bld_progress *p, size_t step, const char *text, size_t len)
{
        struct bld_progress_event ev = { .status = BLD_PG_LOG, .step = step, .text = text, .len = len };
        bld_progress_emit(p, &ev);
}

void bld_progress_info(struct bld_progress *p, const char *fmt, ...)
{
        if (!p || p->mode == BLD_PROGRESS_QUIET)
                return;
        struct cb_buf b;
        cb_buf_init(&b, CB_BUF_UNLIMITED);
        va_list ap;
        va_start(ap, fmt);
        (void) cb_buf_vaddf(&b, fmt, ap);
        va_end(ap);
        struct bld_progress_event ev = { .status = BLD_PG_INFO, .step = 0, .text = b.p };
        bld_progress_emit(p, &ev);
        cb_buf_release(&b);
}

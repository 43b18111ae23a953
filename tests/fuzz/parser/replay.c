/* Replay driver, built with any compiler: feeds each file of the given corpus directories to
 * LLVMFuzzerTestOneInput, then (with --mutate N) N deterministic mutations of them (byte flips,
 * insertions of Dockerfile tokens, splices), so the default test suite fuzzes briefly even without
 * clang's libFuzzer. Crashes show up as sanitizer reports and a non-zero exit. */
#include <dirent.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct input {
        char *p;
        size_t len;
};

static struct input *inputs;
static size_t ninputs;

static void load_dir(const char *dir)
{
        DIR *d = opendir(dir);
        if (!d) {
                fprintf(stderr, "replay: cannot open '%s'\n", dir);
                exit(2);
        }
        int dfd = dirfd(d);
        for (struct dirent *de; (de = readdir(d));) {
                if (de->d_name[0] == '.')
                        continue;
                struct cb_buf b;
                struct cb_err err;
                cb_buf_init(&b, CB_BUF_UNLIMITED);
                cb_err_init(&err);
                if (cb_read_file(dfd, de->d_name, 1u << 24, &b, &err) < 0) {
                        fprintf(stderr, "replay: %s\n", cb_err_msg(&err));
                        exit(2);
                }
                cb_err_release(&err);
                inputs = cb_xrealloc(inputs, (ninputs + 1) * sizeof(*inputs));
                inputs[ninputs].len = b.len;
                inputs[ninputs].p = cb_buf_take(&b, NULL);
                ninputs++;
        }
        closedir(d);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
        /* xorshift64*: deterministic, so a failure reproduces with the same N */
        rng_state ^= rng_state >> 12;
        rng_state ^= rng_state << 25;
        rng_state ^= rng_state >> 27;
        return rng_state * 0x2545f4914f6cdd1dull;
}

static const char *const tokens[] = { "\n",  "\\\n", "\r\n", "<<EOF\n", "<<-'X'\n", "\nEOF\n", "${",   "}",
                                      ":-",  "$",    "\"",   "'",       "[\"",      "\"]",     "--",    "=",
                                      "FROM ", "RUN ", "COPY --from=", "ONBUILD ", "ARG ", "HEALTHCHECK CMD ",
                                      "# escape=`\n", "`", "\t", " AS ", "**/", "!", "\xef\xbb\xbf" };

static void mutate_once(struct cb_buf *b)
{
        const struct input *in = &inputs[rnd() % ninputs];
        cb_buf_reset(b);
        (void) cb_buf_add(b, in->p, in->len);
        unsigned ops = 1 + (unsigned) (rnd() % 4);
        for (unsigned k = 0; k < ops; k++) {
                size_t pos = b->len ? (size_t) (rnd() % (b->len + 1)) : 0;
                switch (rnd() % 4) {
                case 0: /* flip a byte */
                        if (b->len)
                                b->p[pos % b->len] ^= (char) (1u << (rnd() % 8));
                        break;
                case 1: { /* insert a token */
                        const char *t = tokens[rnd() % (sizeof(tokens) / sizeof(tokens[0]))];
                        struct cb_buf nb;
                        cb_buf_init(&nb, CB_BUF_UNLIMITED);
                        (void) cb_buf_add(&nb, b->p, pos);
                        (void) cb_buf_adds(&nb, t);
                        (void) cb_buf_add(&nb, b->p + pos, b->len - pos);
                        cb_buf_release(b);
                        *b = nb;
                        break;
                }
                case 2: /* truncate */
                        cb_buf_truncate(b, pos);
                        break;
                default: { /* splice in part of another input */
                        const struct input *o = &inputs[rnd() % ninputs];
                        size_t from = o->len ? (size_t) (rnd() % o->len) : 0;
                        size_t n = o->len - from > 64 ? 64 : o->len - from;
                        struct cb_buf nb;
                        cb_buf_init(&nb, CB_BUF_UNLIMITED);
                        (void) cb_buf_add(&nb, b->p, pos);
                        (void) cb_buf_add(&nb, o->p + from, n);
                        (void) cb_buf_add(&nb, b->p + pos, b->len - pos);
                        cb_buf_release(b);
                        *b = nb;
                        break;
                }
                }
        }
}

int main(int argc, char **argv)
{
        unsigned long mutations = 0;
        int i = 1;
        if (argc > 2 && strcmp(argv[1], "--mutate") == 0) {
                uint64_t v;
                if (cb_parse_u64(cb_str_c(argv[2]), 100000000, &v) < 0) {
                        fprintf(stderr, "replay: bad --mutate count '%s'\n", argv[2]);
                        return 2;
                }
                mutations = (unsigned long) v;
                i = 3;
        }
        for (; i < argc; i++)
                load_dir(argv[i]);
        if (!ninputs) {
                fprintf(stderr, "usage: replay [--mutate N] CORPUS_DIR...\n");
                return 2;
        }
        for (size_t k = 0; k < ninputs; k++)
                (void) LLVMFuzzerTestOneInput((const uint8_t *) inputs[k].p, inputs[k].len);
        struct cb_buf b;
        cb_buf_init(&b, CB_BUF_UNLIMITED);
        for (unsigned long m = 0; m < mutations; m++) {
                mutate_once(&b);
                (void) LLVMFuzzerTestOneInput((const uint8_t *) b.p, b.len);
        }
        cb_buf_release(&b);
        printf("replayed %zu inputs and %lu mutations\n", ninputs, mutations);
        for (size_t k = 0; k < ninputs; k++)
                free(inputs[k].p);
        free(inputs);
        return 0;
}

/* Replay driver, built with any compiler: feeds LLVMFuzzerTestOneInput the seeds it generates itself
 * (tarballs built with libarchive's write API: plain, gzip, zstd, links, whiteouts, escapes; hostile
 * tarballs are never committed as blobs), then each file of the corpus directories given (inputs the
 * fuzzer found, committed small), then with --mutate N that many deterministic mutations aimed at tar
 * header fields. Crashes show up as sanitizer reports or abort() and a non-zero exit. */
#include <archive.h>
#include <archive_entry.h>
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

static void add_input(char *p, size_t len)
{
        inputs = cb_xrealloc(inputs, (ninputs + 1) * sizeof(*inputs));
        inputs[ninputs].p = p;
        inputs[ninputs].len = len;
        ninputs++;
}

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
                size_t len = b.len;
                add_input(cb_buf_take(&b, &len), len);
        }
        closedir(d);
}

/* ---- generated seeds ---- */

struct mem {
        struct cb_buf b;
};

static la_ssize_t mem_write(struct archive *a, void *ctx, const void *p, size_t n)
{
        (void) a;
        struct mem *m = ctx;
        (void) cb_buf_add(&m->b, p, n);
        return (la_ssize_t) n;
}

struct ent {
        char type; /* f d l h c */
        const char *name;
        const char *data;
        unsigned mode;
};

static void seed(const char *filter, const struct ent *v, size_t n)
{
        struct mem m;
        cb_buf_init(&m.b, CB_BUF_UNLIMITED);
        struct archive *a = archive_write_new();
        archive_write_set_format_pax(a);
        if (filter && !strcmp(filter, "gzip"))
                archive_write_add_filter_gzip(a);
        else if (filter && !strcmp(filter, "zstd"))
                archive_write_add_filter_zstd(a);
        archive_write_set_bytes_in_last_block(a, 1);
        archive_write_open2(a, &m, NULL, mem_write, NULL, NULL);
        for (size_t i = 0; i < n; i++) {
                struct archive_entry *e = archive_entry_new();
                archive_entry_set_pathname(e, v[i].name);
                archive_entry_set_perm(e, v[i].mode);
                archive_entry_set_mtime(e, 1000000000, 0);
                switch (v[i].type) {
                case 'f':
                        archive_entry_set_filetype(e, AE_IFREG);
                        archive_entry_set_size(e, (la_int64_t) strlen(v[i].data));
                        break;
                case 'd':
                        archive_entry_set_filetype(e, AE_IFDIR);
                        break;
                case 'l':
                        archive_entry_set_filetype(e, AE_IFLNK);
                        archive_entry_set_symlink(e, v[i].data);
                        break;
                case 'h':
                        archive_entry_set_filetype(e, AE_IFREG);
                        archive_entry_set_hardlink(e, v[i].data);
                        break;
                case 'c':
                        archive_entry_set_filetype(e, AE_IFCHR);
                        break;
                }
                archive_write_header(a, e);
                if (v[i].type == 'f' && v[i].data[0])
                        archive_write_data(a, v[i].data, strlen(v[i].data));
                archive_entry_free(e);
        }
        archive_write_close(a);
        archive_write_free(a);
        size_t len = m.b.len;
        add_input(cb_buf_take(&m.b, &len), len);
}

static void seeds(void)
{
        const struct ent plain[] = { { 'd', "etc/", "", 0755 },
                                     { 'f', "etc/hosts", "127.0.0.1 localhost\n", 0644 },
                                     { 'f', "usr/bin/su", "x", 04755 },
                                     { 'h', "usr/bin/su2", "usr/bin/su", 0 },
                                     { 'l', "bin", "usr/bin", 0777 } };
        seed(NULL, plain, CB_ARRAY_SIZE(plain));
        seed("gzip", plain, CB_ARRAY_SIZE(plain));
        seed("zstd", plain, CB_ARRAY_SIZE(plain));
        const struct ent wh[] = { { 'f', ".wh.gone", "", 0 },
                                  { 'd', "d", "", 0755 },
                                  { 'f', "d/.wh..wh..opq", "", 0 },
                                  { 'f', "d/new", "n", 0644 },
                                  { 'f', ".wh..wh.plnk", "", 0 } };
        seed(NULL, wh, CB_ARRAY_SIZE(wh));
        const struct ent esc[] = { { 'l', "up", "../../..", 0777 },
                                   { 'l', "abs", "/", 0777 },
                                   { 'f', "up/side/x", "x", 0644 },
                                   { 'f', "abs/side/y", "y", 0644 },
                                   { 'h', "h", "up/side/x", 0 },
                                   { 'f', "/side/z", "z", 0644 },
                                   { 'f', "a/../../side/w", "w", 0644 },
                                   { 'd', "x", "", 0755 },
                                   { 'f', "x", "file over dir", 0644 },
                                   { 'l', "x", "/side", 0777 },
                                   { 'f', "x/q", "q", 0644 },
                                   { 'c', "dev", "", 0666 } };
        seed(NULL, esc, CB_ARRAY_SIZE(esc));
}

/* ---- mutations ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
        rng_state ^= rng_state >> 12;
        rng_state ^= rng_state << 25;
        rng_state ^= rng_state >> 27;
        return rng_state * 0x2545f4914f6cdd1dull;
}

/* Offsets inside a 512-byte ustar header worth hitting: name, mode, uid, size, mtime, checksum, type,
 * linkname, magic, prefix. */
static const unsigned hdr_fields[] = { 0, 1, 99, 100, 108, 124, 130, 135, 136, 148, 156, 157, 257, 345, 400 };
static const char *const tokens[] = { "../", "/", ".wh.", ".wh..wh..opq", "\0", "7777777", "0", "5", "2", "1",
                                      "path=", "linkpath=", "size=", "GNU.sparse.", "SCHILY.xattr.trusted.overlay." };

static void mutate_once(struct cb_buf *b)
{
        const struct input *in = &inputs[rnd() % ninputs];
        cb_buf_reset(b);
        (void) cb_buf_add(b, in->p, in->len);
        unsigned ops = 1 + (unsigned) (rnd() % 3);
        for (unsigned k = 0; k < ops && b->len; k++) {
                size_t blocks = b->len / 512;
                size_t pos = blocks ? (size_t) (rnd() % blocks) * 512 + hdr_fields[rnd() % CB_ARRAY_SIZE(hdr_fields)]
                                    : (size_t) (rnd() % b->len);
                if (pos >= b->len)
                        pos = b->len - 1;
                switch (rnd() % 3) {
                case 0:
                        b->p[pos] ^= (char) (1u << (rnd() % 8));
                        break;
                case 1: {
                        const char *t = tokens[rnd() % CB_ARRAY_SIZE(tokens)];
                        size_t tl = strlen(t) ? strlen(t) : 1;
                        for (size_t i = 0; i < tl && pos + i < b->len; i++)
                                b->p[pos + i] = t[i];
                        break;
                }
                default:
                        cb_buf_truncate(b, pos); /* truncation */
                        break;
                }
        }
}

int main(int argc, char **argv)
{
        unsigned long mutations = 0;
        seeds();
        if (argc == 3 && !strcmp(argv[1], "--write-seeds")) {
                /* seeds for a libFuzzer run (run.sh): written to a scratch corpus, never committed */
                for (size_t i = 0; i < ninputs; i++) {
                        char *p = cb_xasprintf("%s/seed-%zu", argv[2], i);
                        struct cb_err err;
                        cb_err_init(&err);
                        if (cb_write_file_atomic(AT_FDCWD, p, inputs[i].p, inputs[i].len, 0644, &err) < 0) {
                                fprintf(stderr, "replay: %s\n", cb_err_msg(&err));
                                return 2;
                        }
                        cb_err_release(&err);
                        free(p);
                }
                return 0;
        }
        for (int i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--mutate") && i + 1 < argc) {
                        mutations = strtoul(argv[++i], NULL, 10);
                        continue;
                }
                load_dir(argv[i]);
        }
        for (size_t i = 0; i < ninputs; i++)
                LLVMFuzzerTestOneInput((const uint8_t *) inputs[i].p, inputs[i].len);
        struct cb_buf b;
        cb_buf_init(&b, CB_BUF_UNLIMITED);
        for (unsigned long i = 0; i < mutations; i++) {
                mutate_once(&b);
                LLVMFuzzerTestOneInput((const uint8_t *) b.p, b.len);
        }
        cb_buf_release(&b);
        printf("replay: %zu inputs, %lu mutations\n", ninputs, mutations);
        for (size_t i = 0; i < ninputs; i++)
                free(inputs[i].p);
        free(inputs);
        return 0;
}

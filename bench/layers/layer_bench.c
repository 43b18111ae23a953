/* Benchmark driver for layers/: commits a directory into a store, or extracts a blob, and prints the
 * result as one line of JSON. Built by bench/layers/run.sh against the release build's libraries. */
#include <fcntl.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "layers/layer.h"

static double now(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* layers/ test hook: worker count for gzip and zstd (the bytes do not depend on it). */
extern unsigned layer_gzip_threads_override;

int main(int argc, char **argv)
{
        const char *th = getenv("LAYER_BENCH_THREADS");
        if (th)
                layer_gzip_threads_override = (unsigned) strtoul(th, NULL, 10);
        if (argc < 5) {
                fprintf(stderr, "usage: layer_bench commit STORE DIR gzip|zstd|none [LEVEL]\n"
                                "       layer_bench tar STORE DIR gzip|zstd|none > OUT\n"
                                "       layer_bench extract STORE DIGEST DEST\n");
                return 2;
        }
        struct cb_err err;
        cb_err_init(&err);
        struct layer_store *s;
        if (layer_store_open(argv[2], &s, &err) < 0) {
                fprintf(stderr, "%s\n", cb_err_msg(&err));
                return 1;
        }
        int rc = 0;
        double t0 = now();
        if (!strcmp(argv[1], "commit")) {
                struct layer_commit_opts o;
                layer_commit_opts_init(&o);
                o.source_date_epoch = 0;
                o.compression = !strcmp(argv[4], "zstd") ? LAYER_ZSTD : !strcmp(argv[4], "none") ? LAYER_UNCOMPRESSED
                                                                                                  : LAYER_GZIP;
                if (argc > 5)
                        o.level = (int) strtol(argv[5], NULL, 10);
                int dfd = open(argv[3], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                struct layer_desc d;
                if (dfd < 0 || layer_commit_dir(s, dfd, &o, &d, &err) < 0) {
                        fprintf(stderr, "%s\n", cb_err_msg(&err));
                        rc = 1;
                } else {
                        printf("{\"op\":\"commit\",\"seconds\":%.3f,\"digest\":\"%s\",\"diff_id\":\"%s\",\"size\":%llu}\n",
                               now() - t0, d.digest, d.diff_id, (unsigned long long) d.size);
                }
        } else if (!strcmp(argv[1], "tar")) {
                /* the same stream to stdout, no store: separates compression from the blob's disk writes */
                struct layer_commit_opts o;
                layer_commit_opts_init(&o);
                o.source_date_epoch = 0;
                o.compression = !strcmp(argv[4], "zstd") ? LAYER_ZSTD : !strcmp(argv[4], "none") ? LAYER_UNCOMPRESSED
                                                                                                  : LAYER_GZIP;
                int dfd = open(argv[3], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                char diff[CB_DIGEST_STR_LEN], dig[CB_DIGEST_STR_LEN];
                uint64_t size;
                if (dfd < 0 || layer_write_tar_fd(dfd, 1, &o, diff, dig, &size, &err) < 0) {
                        fprintf(stderr, "%s\n", cb_err_msg(&err));
                        rc = 1;
                } else {
                        fprintf(stderr, "{\"op\":\"tar\",\"seconds\":%.3f,\"digest\":\"%s\"}\n", now() - t0, dig);
                }
        } else if (!strcmp(argv[1], "extract")) {
                uint64_t size;
                int bfd = layer_store_open_blob(s, argv[3], &size, &err);
                int dfd = open(argv[4], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (bfd < 0 || dfd < 0 || layer_extract_fd(dfd, bfd, LAYER_EXTRACT_APPLY, &err) < 0) {
                        fprintf(stderr, "%s\n", cb_err_msg(&err));
                        rc = 1;
                } else {
                        printf("{\"op\":\"extract\",\"seconds\":%.3f}\n", now() - t0);
                }
        }
        layer_store_free(s);
        cb_err_release(&err);
        return rc;
}

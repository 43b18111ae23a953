/* Parse-time benchmark: generates Dockerfiles of N instructions (a realistic mix: multi-line RUN
 * with continuations and comments, ENV/ARG/LABEL, COPY --from, heredocs, a new stage every 50
 * instructions), parses each several times and prints the median, per size, to show the 5,000
 * instruction target and linear growth. Also times df_check on the same files.
 * Usage: bench_parse [REPEATS] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "parser/df.h"

static double clock_s(clockid_t id)
{
        struct timespec t;
        clock_gettime(id, &t);
        return (double) t.tv_sec + (double) t.tv_nsec / 1e9;
}

static double now(void)
{
        return clock_s(CLOCK_MONOTONIC);
}

/* CPU time of this thread: on a loaded shared machine wall time mostly measures the neighbours */
static double cpu(void)
{
        return clock_s(CLOCK_THREAD_CPUTIME_ID);
}

static void generate(struct cb_buf *b, size_t n)
{
        size_t i = 0, stage = 0;
        cb_buf_reset(b);
        cb_buf_adds(b, "# syntax=docker/dockerfile:1\nARG CUDA=12.4.1\nARG PY=3.11\n");
        i = 2;
        while (i < n) {
                if (i % 50 == 2) {
                        cb_buf_addf(b, "FROM nvidia/cuda:${CUDA}-devel-ubuntu22.04 AS s%zu\n", stage++);
                        i++;
                        continue;
                }
                switch (i % 10) {
                case 0:
                        cb_buf_adds(b, "RUN apt-get update && apt-get install -y --no-install-recommends \\\n"
                                       "    # toolchain\n    build-essential cmake git \\\n"
                                       "    && rm -rf /var/lib/apt/lists/*\n");
                        break;
                case 1:
                        cb_buf_addf(b,
                                    "ENV PATH=/opt/conda/bin:$PATH LD_LIBRARY_PATH=/usr/local/cuda/lib64 "
                                    "V%zu=\"x y\"\n",
                                    i);
                        break;
                case 2:
                        cb_buf_addf(b, "ARG BUILD_%zu=${PY}\n", i);
                        break;
                case 3:
                        cb_buf_adds(
                            b,
                            "RUN --mount=type=cache,target=/root/.cache/pip pip install torch==2.3.0+cu121 "
                            "--index-url https://download.pytorch.org/whl/cu121\n");
                        break;
                case 4:
                        if (stage > 1)
                                cb_buf_addf(b, "COPY --from=s%zu --chown=1000:1000 /opt/conda /opt/conda\n",
                                            stage - 2);
                        else
                                cb_buf_adds(b, "COPY --chmod=0755 entry.sh /usr/local/bin/\n");
                        break;
                case 5:
                        cb_buf_adds(b, "RUN <<EOF\nset -eux\npython3 -c 'import torch'\nEOF\n");
                        break;
                case 6:
                        cb_buf_adds(b, "LABEL org.opencontainers.image.version=\"1.0\" team=ml\n");
                        break;
                case 7:
                        cb_buf_adds(b, "WORKDIR /workspace/app\n");
                        break;
                case 8:
                        cb_buf_adds(b, "CMD [\"python3\", \"-m\", \"app\", \"--port\", \"8000\"]\n");
                        break;
                default:
                        cb_buf_adds(b, "USER 1000:1000\n");
                        break;
                }
                i++;
        }
}

static int cmp(const void *a, const void *b)
{
        double x = *(const double *) a, y = *(const double *) b;
        return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
        static const size_t sizes[] = {5000, 10000, 20000, 40000, 80000};
        uint64_t n = 21;
        if (argc > 1 && cb_parse_u64(cb_str_c(argv[1]), 1000, &n) < 0)
                n = 21;
        int reps = (int) n;
        struct cb_buf b;
        struct cb_err err;

        if (reps < 1 || reps > 1000)
                reps = 21;
        cb_buf_init(&b, CB_BUF_UNLIMITED);
        cb_err_init(&err);
        double *t = calloc((size_t) reps, sizeof(double)), *c = calloc((size_t) reps, sizeof(double));
        double *u = calloc((size_t) reps, sizeof(double));
        printf("%12s %10s %13s %13s %10s %14s\n", "instructions", "bytes", "parse_cpu_ms", "parse_wall_ms",
               "cpu_ns/B", "check_cpu_ms");
        printf("%12s %10s %13s %13s %10s %14s\n", "", "", "(median)", "(median)", "", "(median)");
        for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
                generate(&b, sizes[s]);
                size_t ninstr = 0;
                for (int r = 0; r < reps; r++) {
                        struct df_file *f = NULL;
                        double u0 = cpu(), t0 = now();
                        if (df_parse(cb_buf_str(&b), "Dockerfile", &f, &err) < 0) {
                                fprintf(stderr, "bench: %s\n", cb_err_msg(&err));
                                return 1;
                        }
                        double t1 = now(), u1 = cpu();
                        struct df_finding *v = NULL;
                        size_t nv = 0;
                        if (df_check(f, NULL, &v, &nv, &err) < 0) {
                                fprintf(stderr, "bench: %s\n", cb_err_msg(&err));
                                return 1;
                        }
                        double u2 = cpu();
                        df_findings_free(v, nv);
                        ninstr = df_file_ninstr(f);
                        df_file_free(f);
                        t[r] = (t1 - t0) * 1e3;
                        u[r] = (u1 - u0) * 1e3;
                        c[r] = (u2 - u1) * 1e3;
                }
                qsort(t, (size_t) reps, sizeof(double), cmp);
                qsort(c, (size_t) reps, sizeof(double), cmp);
                qsort(u, (size_t) reps, sizeof(double), cmp);
                printf("%12zu %10zu %13.3f %13.3f %10.2f %14.3f\n", ninstr, b.len, u[reps / 2], t[reps / 2],
                       u[reps / 2] * 1e6 / (double) b.len, c[reps / 2]);
        }
        free(t);
        free(c);
        free(u);
        cb_buf_release(&b);
        cb_err_release(&err);
        return 0;
}

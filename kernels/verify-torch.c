/* The verifier's torch check: runs python3 -c "import torch; ..." in the image, as the image's own
 * programs would, and reads back key=value lines. */
#include "verify.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define TORCH_OUT_MAX (256u << 10)

/* Prints "kv:key=value" lines; every exception is caught and printed, so the exit status matters
 * only when Python itself could not start. torch.mm of x and x.t() is the check the image articles
 * use; it allocates device memory, launches a kernel and calls cuBLAS through torch. */
static const char torch_script[] =
    "import sys\n"
    "def out(k, v): print('kv:%s=%s' % (k, str(v).replace('\\n', ' ')), flush=True)\n"
    "try:\n"
    "    import torch\n"
    "except ModuleNotFoundError as e:\n"
    "    out('import', 'missing' if e.name == 'torch' else 'error: %s' % e)\n"
    "    sys.exit(0)\n"
    "except Exception as e:\n"
    "    out('import', 'error: %s: %s' % (type(e).__name__, e))\n"
    "    sys.exit(0)\n"
    "out('import', 'ok')\n"
    "out('version', torch.__version__)\n"
    "out('cuda', torch.version.cuda)\n"
    "try:\n"
    "    out('available', int(torch.cuda.is_available()))\n"
    "except Exception as e:\n"
    "    out('available', 0); out('available_error', e)\n"
    "if torch.cuda.is_available():\n"
    "    try:\n"
    "        out('arch_list', ','.join(torch.cuda.get_arch_list()))\n"
    "        out('capability', '%d.%d' % torch.cuda.get_device_capability(0))\n"
    "        out('device', torch.cuda.get_device_name(0))\n"
    "        g = torch.Generator(device='cpu').manual_seed(0)\n"
    "        x = torch.randn(1000, 1000, generator=g).to('cuda')\n"
    "        y = torch.mm(x, x.t())\n"
    "        torch.cuda.synchronize()\n"
    "        ref = x.double().cpu() @ x.double().cpu().t()\n"
    "        out('matmul_err', (y.double().cpu() - ref).abs().max().item())\n"
    "    except Exception as e:\n"
    "        out('matmul_error', '%s: %s' % (type(e).__name__, e))\n";

/* torch.mm in float32 of 1000-long dot products of N(0,1) values: worst-case bound
 * k * eps * sum|a*b| is about 1000 * 1.2e-7 * 1000 = 0.12; a TF32 path (10-bit mantissa) could reach
 * ~1, a wrong result is O(10..100). */
#define TORCH_MATMUL_TOL 0.5

static bool is_exec(const char *p)
{
        return access(p, X_OK) == 0;
}

static char *find_python(struct verify *v)
{
        static const char *const extra[] = {"/opt/conda/bin", "/usr/local/bin", "/usr/bin", "/bin"};

        if (v->python)
                return strcmp(v->python, "none") == 0 ? NULL : strdup(v->python);
        for (const char *d = getenv("PATH"); d && *d;) {
                const char *colon = strchr(d, ':');
                size_t len = colon ? (size_t) (colon - d) : strlen(d);
                char *p = kv_asprintf("%.*s/python3", (int) len, d);

                if (p && len && d[0] == '/' && is_exec(p))
                        return p;
                free(p);
                d = colon ? colon + 1 : NULL;
        }
        for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++) {
                char *p = kv_asprintf("%s/python3", extra[i]);

                if (p && is_exec(p))
                        return p;
                free(p);
        }
        return NULL;
}

/* Runs python -c script, collecting stdout and stderr together; returns the wait status, or -1
 * with *ret_err set (timeout, fork failure). */
static int run_python(const char *python, const char *ld_dir, unsigned timeout_s, struct kv_sb *out,
                      const char **ret_err)
{
        int pfd[2], status = 0;
        pid_t pid;
        double deadline = now_ms() + timeout_s * 1000.0;
        bool timed_out = false;

        if (pipe2(pfd, O_CLOEXEC) < 0) {
                *ret_err = "pipe failed";
                return -1;
        }
        pid = fork();
        if (pid < 0) {
                close(pfd[0]);
                close(pfd[1]);
                *ret_err = "fork failed";
                return -1;
        }
        if (pid == 0) {
                dup2(pfd[1], 1);
                dup2(pfd[1], 2);
                if (ld_dir) {
                        const char *old = getenv("LD_LIBRARY_PATH");
                        char *val = kv_asprintf("%s%s%s", ld_dir, old && *old ? ":" : "", old ? old : "");

                        if (val)
                                setenv("LD_LIBRARY_PATH", val, 1);
                }
                execl(python, python, "-c", torch_script, (char *) NULL);
                _exit(127);
        }
        close(pfd[1]);
        for (;;) {
                struct pollfd p = {.fd = pfd[0], .events = POLLIN};
                double left = deadline - now_ms();
                char buf[4096];
                ssize_t n;

                if (left <= 0) {
                        timed_out = true;
                        kill(pid, SIGKILL);
                        break;
                }
                if (poll(&p, 1, left > 1000 ? 1000 : (int) left) <= 0)
                        continue;
                n = read(pfd[0], buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                if (out->len < TORCH_OUT_MAX)
                        kv_sb_add(out, buf, (size_t) n);
        }
        close(pfd[0]);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        if (timed_out) {
                *ret_err = "timed out";
                return -1;
        }
        return status;
}

/* The value of "kv:key=" in out, malloc'd, or NULL. */
static char *value(const char *out, const char *key)
{
        size_t klen = strlen(key);

        for (const char *p = out; p && *p;) {
                const char *eol = strchr(p, '\n');
                size_t len = eol ? (size_t) (eol - p) : strlen(p);

                if (len > 3 + klen && memcmp(p, "kv:", 3) == 0 && memcmp(p + 3, key, klen) == 0 &&
                    p[3 + klen] == '=')
                        return strndup(p + 4 + klen, len - 4 - klen);
                p = eol ? eol + 1 : NULL;
        }
        return NULL;
}

/* The last lines of what Python printed that are not ours (warnings, tracebacks), for details. */
static char *noise(const char *out)
{
        struct kv_sb sb = {0};

        for (const char *p = out; p && *p;) {
                const char *eol = strchr(p, '\n');
                size_t len = eol ? (size_t) (eol - p) : strlen(p);

                if (len && (len < 3 || memcmp(p, "kv:", 3) != 0)) {
                        if (sb.len)
                                kv_sb_adds(&sb, " | ");
                        kv_sb_add(&sb, p, len);
                }
                p = eol ? eol + 1 : NULL;
        }
        if (sb.len > 600) { /* keep the end: that is where a traceback says what went wrong */
                char *tail = strdup(sb.p + sb.len - 600);

                kv_sb_release(&sb);
                return tail;
        }
        return kv_sb_take(&sb);
}

void verify_torch(struct verify *v)
{
        char *python = find_python(v);
        struct kv_sb out = {0};
        char *imp = NULL, *avail = NULL, *arch = NULL, *cap = NULL, *err = NULL, *merr = NULL;
        char *aerr = NULL, *extra = NULL, *ld_dir = NULL;
        const char *why = NULL;
        double t0 = now_ms();
        int status;

        if (!python) {
                check_add(v, "torch", CHECK_SKIP, 0,
                          v->python ? "disabled by --python none" : "the image has no python3");
                return;
        }
        /* torch loads libcuda.so.1 by name: give it the directory we found the driver in */
        if (v->libcuda_off_path && v->libcuda_path) {
                const char *slash = strrchr(v->libcuda_path, '/');

                if (slash && slash != v->libcuda_path)
                        ld_dir = strndup(v->libcuda_path, (size_t) (slash - v->libcuda_path));
        }
        status = run_python(python, ld_dir, v->torch_timeout_s, &out, &why);
        if (status == -1) {
                check_add(v, "torch", CHECK_FAIL, now_ms() - t0, "%s -c 'import torch ...' %s after %u s",
                          python, why, v->torch_timeout_s);
                goto out;
        }
        imp = value(out.p ? out.p : "", "import");
        extra = noise(out.p ? out.p : "");
        if (!imp) {
                check_add(v, "torch", CHECK_FAIL, now_ms() - t0, "%s did not run (exit status %d): %s",
                          python, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
                          extra ? extra : "");
                goto out;
        }
        if (strcmp(imp, "missing") == 0) {
                check_add(v, "torch", CHECK_SKIP, now_ms() - t0, "%s has no torch module", python);
                goto out;
        }
        if (strcmp(imp, "ok") != 0) {
                check_add(v, "torch", CHECK_FAIL, now_ms() - t0, "import torch failed: %s",
                          imp + (strncmp(imp, "error: ", 7) == 0 ? 7 : 0));
                goto out;
        }
        v->torch_version = value(out.p, "version");
        v->torch_cuda = value(out.p, "cuda");
        avail = value(out.p, "available");
        aerr = value(out.p, "available_error");
        if (!avail || strcmp(avail, "1") != 0) {
                if (!v->torch_cuda || strcmp(v->torch_cuda, "None") == 0)
                        check_add(v, "torch", CHECK_FAIL, now_ms() - t0,
                                  "torch %s is a CPU-only build (torch.version.cuda is None): "
                                  "torch.cuda.is_available() is False; install a CUDA build (+cuXXX wheel)",
                                  v->torch_version ? v->torch_version : "?");
                else
                        check_add(v, "torch", CHECK_FAIL, now_ms() - t0,
                                  "torch %s (CUDA %s): torch.cuda.is_available() is False%s%s%s%s",
                                  v->torch_version ? v->torch_version : "?", v->torch_cuda, aerr ? ": " : "",
                                  aerr ? aerr : "", extra && *extra ? "; python said: " : "",
                                  extra ? extra : "");
                goto out;
        }
        arch = value(out.p, "arch_list");
        cap = value(out.p, "capability");
        if (arch && kv_arch_list_supports(arch, (unsigned) v->cc_major, (unsigned) v->cc_minor) == 0) {
                check_add(
                    v, "torch", CHECK_FAIL, now_ms() - t0,
                    "torch %s (CUDA %s) was built for %s and has no kernels for this GPU's sm_%d%d (%s)",
                    v->torch_version ? v->torch_version : "?", v->torch_cuda ? v->torch_cuda : "?", arch,
                    v->cc_major, v->cc_minor, v->gpu_name);
                goto out;
        }
        merr = value(out.p, "matmul_error");
        err = value(out.p, "matmul_err");
        if (merr || !err) {
                check_add(v, "torch", CHECK_FAIL, now_ms() - t0, "torch %s: torch.mm on the GPU failed: %s",
                          v->torch_version ? v->torch_version : "?",
                          merr ? merr : (extra ? extra : "no result"));
                goto out;
        }
        if (!(strtod(err, NULL) <= TORCH_MATMUL_TOL)) {
                check_add(v, "torch", CHECK_FAIL, now_ms() - t0,
                          "torch %s: 1000x1000 torch.mm(x, x.t()) on the GPU differs from float64 on the CPU "
                          "by %s (tolerance %g)",
                          v->torch_version ? v->torch_version : "?", err, TORCH_MATMUL_TOL);
                goto out;
        }
        check_add(v, "torch", CHECK_PASS, now_ms() - t0,
                  "torch %s (CUDA %s, %s): is_available, sm_%d%d in arch list %s, 1000x1000 torch.mm max "
                  "|err| %s vs float64 (tolerance %g)",
                  v->torch_version ? v->torch_version : "?", v->torch_cuda ? v->torch_cuda : "?", python,
                  v->cc_major, v->cc_minor, arch ? arch : "?", err, TORCH_MATMUL_TOL);
        (void) cap;
out:
        free(ld_dir);
        free(python);
        free(imp);
        free(avail);
        free(aerr);
        free(arch);
        free(cap);
        free(err);
        free(merr);
        free(extra);
        kv_sb_release(&out);
}

/* The static CUDA compatibility report: the walk over a rootfs, what it finds, and the verdicts. */
#include "compat.h"
#include "compat-internal.h"
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_DEPTH 64
#define MAX_ARCHS 32
#define MIN_ELF_SIZE 1024       /* smaller files are no shared library worth opening */
#define TORCH_VERSION_MAX 65536 /* torch/version.py is a few hundred bytes */

/* The GPU architectures every report judges (the ones users buy and clusters run), in order. */
static const unsigned report_archs[] = {50, 52, 60, 61, 70, 75, 80, 86, 89, 90, 100, 103, 120};

/* The CUDA libraries the report names when a file needs one the image lacks. */
static const char *const cuda_libs[] = {"libcudart.so", "libcublas.so", "libcublasLt.so", "libcudnn",
                                        "libnccl.so",   "libcufft.so",  "libcurand.so",   "libcusparse.so",
                                        "libcusolver.so", "libnvrtc.so", "libnvJitLink.so", "libcupti.so"};

/* NVIDIA libraries that keep most of their kernels outside .nv_fatbin (cuFFT loads them from its own
 * store at run time): their fatbinaries say too little to judge them, so they are listed, not judged.
 * cuFFT 11 (CUDA 12) and 12 (CUDA 13) show one stub cubin (sm_52, sm_75) in .nv_fatbin. */
static const char *const opaque_libs[] = {"libcufft.so", "libcufftw.so"};

/* Library file names that carry a component's version: libcudart.so.11.8.89. */
static const struct {
        const char *prefix;
        const char *what;
} lib_versions[] = {
    {"libcudart.so.", "cudart"}, {"libcublas.so.", "cublas"}, {"libcublasLt.so.", "cublasLt"},
    {"libcudnn.so.", "cudnn"},   {"libnccl.so.", "nccl"},
};

/* pip's installed-package directories: nvidia_cuda_runtime_cu12-12.4.127.dist-info. */
static const struct {
        const char *prefix;
        const char *what;
} dist_versions[] = {
    {"nvidia_cuda_runtime", "cudart"}, {"nvidia_cublas", "cublas"}, {"nvidia_cudnn", "cudnn"},
    {"nvidia_nccl", "nccl"},           {"torch-", "torch"},
};

struct cfile {
        char *path;
        unsigned nfatbins, nentries, ncompressed;
        struct kv_fatbin_entry *kinds; /* distinct (kind, sm, variant, PTX version) */
        size_t nkinds;
        uint8_t run[MAX_ARCHS];  /* enum kv_run, the best over the file's fatbinaries */
        unsigned gaps[MAX_ARCHS]; /* fatbinaries without code for the architecture */
        uint8_t jit[MAX_ARCHS];  /* 10*major+minor: the PTX ISA the JIT needs at least, 0: none */
        char **needed;           /* CUDA sonames in DT_NEEDED */
        size_t nneeded;
        bool opaque;             /* kernels outside .nv_fatbin (opaque_libs): not judged */
};

struct comp {
        const char *what; /* "cudart", "cublas", ... */
        char *version;    /* "11.8.89", or the soname's "12" */
        char *path;
        int major, minor; /* minor -1: unknown (a soname) */
        bool full;        /* three or more components: a real version, not a soname */
};

struct finding {
        const char *name;
        const char *severity;
        char *msg;
};

struct kv_compat {
        char *cuda_version_env;
        char *require_cuda;
        unsigned archs[MAX_ARCHS];
        size_t narchs, nreport_archs;
        unsigned required[MAX_ARCHS];
        size_t nrequired;
        uint64_t require_driver;
        char *require_driver_text;

        struct cfile *files;
        size_t nfiles;
        struct comp *comps;
        size_t ncomps;
        char **names; /* basenames of every lib*.so* file or symlink */
        size_t nnames;
        char *torch_version, *torch_cuda, *torch_path;
        bool torch;
        char *nvcc;

        uint64_t bytes_read, image_bytes, regular_files, elf_files, unreadable;

        /* derived */
        int rt_major, rt_minor; /* the runtime the image needs most of, -1 unknown */
        char *rt_source;
        const char *min_driver, *min_driver_full;
        char require_cuda_version[16];     /* "11.8" from NVIDIA_REQUIRE_CUDA's cuda>=, "" when none */
        const char *require_cuda_driver;   /* the driver that release needs, as the container runtime checks */
        struct finding *findings;
        size_t nfindings;
};

/* ---- small helpers ---- */

static char *xstrdup(const char *s)
{
        return s ? strdup(s) : NULL;
}

static bool has_prefix(const char *s, const char *p)
{
        return strncmp(s, p, strlen(p)) == 0;
}

bool kv_compat_is_cuda_lib(const char *soname)
{
        for (size_t i = 0; i < sizeof(cuda_libs) / sizeof(cuda_libs[0]); i++)
                if (has_prefix(soname, cuda_libs[i]))
                        return true;
        return false;
}

/* "11.8.89" -> 11, 8, 3 components. Returns the component count, 0 when not a version. */
static int parse_version(const char *s, int *ret_major, int *ret_minor)
{
        int n = 0, v[2] = {-1, -1};
        const char *p = s;

        while (*p) {
                int x = 0, digits = 0;

                while (*p >= '0' && *p <= '9' && digits < 9) {
                        x = x * 10 + (*p - '0');
                        p++;
                        digits++;
                }
                if (!digits)
                        return 0;
                if (n < 2)
                        v[n] = x;
                n++;
                if (*p == '.')
                        p++;
                else if (*p)
                        return 0;
        }
        *ret_major = v[0];
        *ret_minor = v[1];
        return n;
}

__attribute__((format(printf, 4, 5))) static void add_finding(struct kv_compat *c, const char *name,
                                                               const char *severity, const char *fmt, ...)
{
        struct kv_sb sb = {0};
        struct finding *grown;
        va_list ap;

        va_start(ap, fmt);
        kv_sb_vaddf(&sb, fmt, ap);
        va_end(ap);
        grown = realloc(c->findings, (c->nfindings + 1) * sizeof(*grown));
        if (!grown) {
                kv_sb_release(&sb);
                return;
        }
        c->findings = grown;
        c->findings[c->nfindings].name = name;
        c->findings[c->nfindings].severity = severity;
        c->findings[c->nfindings].msg = kv_sb_take(&sb);
        c->nfindings++;
}

static void add_comp(struct kv_compat *c, const char *what, const char *version, const char *path)
{
        int major, minor, n = parse_version(version, &major, &minor);
        struct comp *grown;

        if (n == 0)
                return;
        for (size_t i = 0; i < c->ncomps; i++)
                if (c->comps[i].what == what && strcmp(c->comps[i].version, version) == 0 &&
                    strcmp(c->comps[i].path, path) == 0)
                        return;
        grown = realloc(c->comps, (c->ncomps + 1) * sizeof(*grown));
        if (!grown)
                return;
        c->comps = grown;
        c->comps[c->ncomps] = (struct comp){
            .what = what,
            .version = strdup(version),
            .path = strdup(path),
            .major = major,
            .minor = n >= 2 ? minor : -1,
            .full = n >= 3,
        };
        if (!c->comps[c->ncomps].version || !c->comps[c->ncomps].path) {
                free(c->comps[c->ncomps].version);
                free(c->comps[c->ncomps].path);
                return;
        }
        /* a CUDA 11 soname says 11.0 whatever the minor */
        if (!c->comps[c->ncomps].full)
                c->comps[c->ncomps].minor = -1;
        c->ncomps++;
}

static void add_name(struct kv_compat *c, const char *name)
{
        char **grown;

        for (size_t i = 0; i < c->nnames; i++)
                if (strcmp(c->names[i], name) == 0)
                        return;
        grown = realloc(c->names, (c->nnames + 1) * sizeof(*grown));
        if (!grown)
                return;
        c->names = grown;
        c->names[c->nnames] = strdup(name);
        if (c->names[c->nnames])
                c->nnames++;
}

static bool has_name(const struct kv_compat *c, const char *name)
{
        for (size_t i = 0; i < c->nnames; i++)
                if (strcmp(c->names[i], name) == 0)
                        return true;
        return false;
}

static int arch_index(const struct kv_compat *c, unsigned sm)
{
        for (size_t i = 0; i < c->narchs; i++)
                if (c->archs[i] == sm)
                        return (int) i;
        return -1;
}

/* ---- what the walk notes ---- */

/* A file or symlink name: library versions, the inventory of library names. */
static void note_name(struct kv_compat *c, const char *name, const char *path)
{
        if (has_prefix(name, "lib") && strstr(name, ".so"))
                add_name(c, name);
        for (size_t i = 0; i < sizeof(lib_versions) / sizeof(lib_versions[0]); i++)
                if (has_prefix(name, lib_versions[i].prefix))
                        add_comp(c, lib_versions[i].what, name + strlen(lib_versions[i].prefix), path);
}

/* A *.dist-info directory name: "nvidia_cudnn_cu12-9.1.0.70.dist-info", "torch-2.0.1+cu118.dist-info". */
static void note_dist(struct kv_compat *c, const char *name, const char *path)
{
        size_t len = strlen(name);
        const char *dash = strchr(name, '-');
        char version[64];
        size_t vlen;

        if (len < 11 || strcmp(name + len - 10, ".dist-info") != 0 || !dash)
                return;
        vlen = (size_t) (name + len - 10 - (dash + 1));
        if (vlen == 0 || vlen >= sizeof(version))
                return;
        memcpy(version, dash + 1, vlen);
        version[vlen] = '\0';
        for (size_t i = 0; i < sizeof(dist_versions) / sizeof(dist_versions[0]); i++) {
                if (!has_prefix(name, dist_versions[i].prefix))
                        continue;
                if (strcmp(dist_versions[i].what, "torch") == 0) {
                        if (!c->torch_version)
                                c->torch_version = strdup(version);
                        continue;
                }
                {
                        char *plus = strchr(version, '+');

                        if (plus)
                                *plus = '\0';
                        add_comp(c, dist_versions[i].what, version, path);
                }
        }
}

/* The value of `NAME = '...'` or `NAME: Optional[str] = '...'` in version.py; NULL for None. */
static char *py_str(const char *text, const char *var, bool *ret_found)
{
        size_t vl = strlen(var);

        for (const char *line = text; line && *line;) {
                const char *eol = strchr(line, '\n');
                const char *end = eol ? eol : line + strlen(line);

                if ((size_t) (end - line) > vl && memcmp(line, var, vl) == 0 &&
                    (line[vl] == ' ' || line[vl] == '=' || line[vl] == ':')) {
                        const char *eq = memchr(line, '=', (size_t) (end - line));
                        const char *q;

                        if (eq) {
                                *ret_found = true;
                                q = eq + 1;
                                while (q < end && *q == ' ')
                                        q++;
                                if (q < end && (*q == '\'' || *q == '"')) {
                                        const char *close = memchr(q + 1, *q, (size_t) (end - q - 1));

                                        if (close)
                                                return strndup(q + 1, (size_t) (close - q - 1));
                                }
                                return NULL;
                        }
                }
                line = eol ? eol + 1 : NULL;
        }
        return NULL;
}

static void note_torch(struct kv_compat *c, int dfd, const char *name, const char *path, uint64_t size)
{
        char *text = NULL;
        bool found = false;
        long n;
        int fd;

        if (c->torch || size > TORCH_VERSION_MAX)
                return;
        fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return;
        n = kv_read_file(fd, NULL, TORCH_VERSION_MAX, &text);
        close(fd);
        if (n < 0)
                return;
        c->bytes_read += (uint64_t) n;
        {
                char *v = py_str(text, "__version__", &found);

                if (found) {
                        c->torch = true;
                        free(c->torch_version);
                        c->torch_version = v;
                        c->torch_cuda = py_str(text, "cuda", &found);
                        c->torch_path = strdup(path);
                } else {
                        free(v);
                }
        }
        free(text);
}

struct fb_ctx {
        struct kv_compat *c;
        struct cfile *f;
};

static void on_fatbin(void *ud, const struct kv_fatbin_entry *entries, size_t n)
{
        struct fb_ctx *x = ud;
        struct cfile *f = x->f;

        f->nfatbins++;
        for (size_t i = 0; i < n; i++) {
                bool seen = false;

                f->nentries++;
                if (entries[i].compressed)
                        f->ncompressed++;
                for (size_t k = 0; k < f->nkinds && !seen; k++)
                        seen = f->kinds[k].kind == entries[i].kind && f->kinds[k].sm == entries[i].sm &&
                               f->kinds[k].variant == entries[i].variant &&
                               f->kinds[k].ptx_major == entries[i].ptx_major &&
                               f->kinds[k].ptx_minor == entries[i].ptx_minor;
                if (!seen) {
                        struct kv_fatbin_entry *grown = realloc(f->kinds, (f->nkinds + 1) * sizeof(*grown));

                        if (grown) {
                                f->kinds = grown;
                                f->kinds[f->nkinds] = entries[i];
                                f->kinds[f->nkinds].compressed = false;
                                f->nkinds++;
                        }
                }
        }
        for (size_t a = 0; a < x->c->narchs; a++) {
                enum kv_run best = KV_RUN_NONE;
                unsigned min_isa = 0;

                for (size_t i = 0; i < n; i++) {
                        enum kv_run r = kv_fatbin_entry_runs(&entries[i], x->c->archs[a]);

                        if (r > best)
                                best = r;
                        if (r == KV_RUN_JIT) {
                                unsigned isa = entries[i].ptx_major * 10 + entries[i].ptx_minor;

                                if (!min_isa || isa < min_isa)
                                        min_isa = isa;
                        }
                }
                /* a library's code for one architecture may live in a few translation units only
                 * (cuBLAS selects kernels per GPU at run time): the file runs where any of its
                 * fatbinaries does; the others count as gaps */
                if (best > f->run[a])
                        f->run[a] = (uint8_t) best;
                if (best == KV_RUN_NONE)
                        f->gaps[a]++;
                if (best == KV_RUN_JIT && min_isa > f->jit[a])
                        f->jit[a] = (uint8_t) min_isa;
        }
}

static void note_elf(struct kv_compat *c, int dfd, const char *name, const char *path, uint64_t size)
{
        struct kv_elf e;
        struct cfile f;
        struct fb_ctx x = {c, &f};
        int fd, r;

        fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                c->unreadable++;
                return;
        }
        memset(&f, 0, sizeof(f));
        r = kv_elf_open(&e, fd, size);
        if (r >= 0 && e.sh) {
                c->elf_files++;
                r = kv_elf_fatbins(&e, on_fatbin, &x);
                if (r > 0) {
                        struct cfile *grown;

                        (void) kv_elf_needed_cuda(&e, &f.needed, &f.nneeded);
                        f.path = strdup(path);
                        for (size_t i = 0; i < sizeof(opaque_libs) / sizeof(opaque_libs[0]); i++)
                                f.opaque |= has_prefix(name, opaque_libs[i]);
                        /* NVIDIA's libraries without kernels of their own (libnppc, libnppisu) carry
                         * one stub cubin for the toolkit's oldest architecture: not judged either */
                        if ((has_prefix(name, "libnpp") || has_prefix(name, "libcu") || has_prefix(name, "libnv")) &&
                            f.nfatbins == 1 && f.nentries == 1 && f.nkinds == 1 && f.kinds[0].kind == KV_FATBIN_SASS)
                                f.opaque = true;
                        grown = realloc(c->files, (c->nfiles + 1) * sizeof(*grown));
                        if (grown && f.path) {
                                c->files = grown;
                                c->files[c->nfiles++] = f;
                                memset(&f, 0, sizeof(f));
                        }
                }
        } else if (r == 0) {
                c->elf_files++;
        }
        c->bytes_read += e.bytes_read;
        kv_elf_release(&e);
        for (size_t i = 0; i < f.nneeded; i++)
                free(f.needed[i]);
        free(f.needed);
        free(f.kinds);
        free(f.path);
        close(fd);
}

/* Which entries walk() only counts (regular_files, image_bytes) and otherwise ignores: each test below
 * mirrors one branch of walk(), note_name(), note_dist(), note_torch(), note_elf() and the nvcc check,
 * leaning to "not inert" wherever a branch is only partly mirrored. */
bool kv_compat_entry_inert(const char *path, unsigned mode, uint64_t size)
{
        const char *name = path, *parent = NULL, *p = path;
        size_t parent_len = 0, components = 0;

        if (!path || !*path || *path == '/')
                return false;
        for (;;) {
                size_t len = strcspn(p, "/");

                if (len == 0 || (len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
                        return false;
                /* the walk skips the root's proc and sys, and goes no deeper than MAX_DEPTH */
                if (components == 0 && ((len == 4 && memcmp(p, "proc", 4) == 0) || (len == 3 && memcmp(p, "sys", 3) == 0)))
                        return false;
                if (++components > MAX_DEPTH)
                        return false;
                if (!p[len])
                        break;
                parent = p;
                parent_len = len;
                p += len + 1;
        }
        name = p;
        if (S_ISDIR(mode)) {
                size_t len = strlen(name);

                return !(len >= 10 && strcmp(name + len - 10, ".dist-info") == 0);
        }
        if (!S_ISLNK(mode) && !S_ISREG(mode))
                return false; /* devices, fifos: the walk ignores them, but an overlay whiteout is one */
        if (has_prefix(name, "lib") && strstr(name, ".so"))
                return false; /* note_name(): the library inventory and versions */
        if (S_ISLNK(mode))
                return true;
        if (strcmp(name, "version.py") == 0 && parent && parent_len == 5 && memcmp(parent, "torch", 5) == 0)
                return false;
        if (strcmp(name, "nvcc") == 0)
                return false;
        if (size >= MIN_ELF_SIZE && (strstr(name, ".so") || (mode & 0111)))
                return false;
        return true;
}

char *kv_compat_counts_line(const char *prefix, size_t cuda_files, uint64_t bytes_read, uint64_t image_bytes)
{
        struct kv_sb sb = {0};

        kv_sb_addf(&sb, "%s%zu file%s with CUDA code; read %.1f MB of %.1f MB (%.2f%%)\n", prefix, cuda_files,
                   cuda_files == 1 ? "" : "s", (double) bytes_read / 1e6, (double) image_bytes / 1e6,
                   image_bytes ? 100.0 * (double) bytes_read / (double) image_bytes : 0.0);
        if (sb.oom) {
                kv_sb_release(&sb);
                return NULL;
        }
        return kv_sb_take(&sb);
}

static void walk(struct kv_compat *c, int dfd, struct kv_sb *path, int depth)
{
        DIR *d = fdopendir(dfd);
        struct dirent *de;
        size_t base = path->len;

        if (!d) {
                close(dfd);
                c->unreadable++;
                return;
        }
        while ((de = readdir(d))) {
                const char *name = de->d_name;
                struct stat st;

                if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
                        continue;
                if (depth == 0 && (strcmp(name, "proc") == 0 || strcmp(name, "sys") == 0))
                        continue;
                if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        c->unreadable++;
                        continue;
                }
                kv_sb_adds(path, "/");
                kv_sb_adds(path, name);
                if (path->oom)
                        break;
                if (S_ISDIR(st.st_mode)) {
                        note_dist(c, name, path->p);
                        if (depth < MAX_DEPTH) {
                                int sub = openat(dirfd(d), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

                                if (sub >= 0)
                                        walk(c, sub, path, depth + 1);
                                else
                                        c->unreadable++;
                        }
                } else if (S_ISLNK(st.st_mode)) {
                        note_name(c, name, path->p);
                } else if (S_ISREG(st.st_mode)) {
                        uint64_t size = (uint64_t) st.st_size;

                        c->regular_files++;
                        c->image_bytes += size;
                        note_name(c, name, path->p);
                        if (strcmp(name, "version.py") == 0 && base >= 6 &&
                            memcmp(path->p + base - 6, "/torch", 6) == 0)
                                note_torch(c, dirfd(d), name, path->p, size);
                        if (strcmp(name, "nvcc") == 0 && (st.st_mode & 0111) && !c->nvcc && strstr(path->p, "cuda"))
                                c->nvcc = strdup(path->p);
                        if (size >= MIN_ELF_SIZE && (strstr(name, ".so") || (st.st_mode & 0111)))
                                note_elf(c, dirfd(d), name, path->p, size);
                }
                path->len = base;
                path->p[base] = '\0';
        }
        closedir(d);
}

/* ---- verdicts ---- */

static bool in_site_packages(const char *path)
{
        return strstr(path, "-packages/") != NULL;
}

static void derive(struct kv_compat *c)
{
        const struct comp *best = NULL;
        int env_major = -1, env_minor = -1, majors[8], nmajors = 0;

        c->rt_major = c->rt_minor = -1;
        if (c->cuda_version_env && parse_version(c->cuda_version_env, &env_major, &env_minor) < 2)
                env_major = env_minor = -1;
        for (size_t i = 0; i < c->ncomps; i++) {
                const struct comp *p = &c->comps[i];
                bool dup = false;

                if (strcmp(p->what, "cudart") != 0)
                        continue;
                for (int k = 0; k < nmajors; k++)
                        dup |= majors[k] == p->major;
                if (!dup && nmajors < 8)
                        majors[nmajors++] = p->major;
                if (!best || p->major > best->major ||
                    (p->major == best->major && (p->minor > best->minor || (p->full && !best->full))))
                        best = p;
        }
        if (best) {
                c->rt_major = best->major;
                c->rt_minor = best->minor;
                c->rt_source = strdup(best->path);
                if (c->rt_minor < 0 && env_major == best->major)
                        c->rt_minor = env_minor;
        } else if (env_major > 0) {
                c->rt_major = env_major;
                c->rt_minor = env_minor;
        }
        if (c->rt_major > 0) {
                c->min_driver = kv_cuda_min_driver_compat(c->rt_major);
                if (c->rt_minor >= 0)
                        c->min_driver_full = kv_cuda_min_driver(c->rt_major * 1000 + c->rt_minor * 10);
        }

        /* findings */
        if (nmajors > 1) {
                struct kv_sb sb = {0};

                for (size_t i = 0; i < c->ncomps; i++)
                        if (strcmp(c->comps[i].what, "cudart") == 0)
                                kv_sb_addf(&sb, "%s%s", sb.len ? ", " : "", c->comps[i].path);
                add_finding(c, "CudaRuntimeMultipleMajors", "warning",
                            "CUDA runtimes of %d different majors in one image: %s", nmajors, sb.p ? sb.p : "");
                kv_sb_release(&sb);
        }
        if (c->torch) {
                int tmaj = -1, tmin = -1, sys_major = -1;

                for (size_t i = 0; i < c->ncomps; i++)
                        if (strcmp(c->comps[i].what, "cudart") == 0 && !in_site_packages(c->comps[i].path))
                                sys_major = c->comps[i].major;
                if (c->torch_cuda)
                        (void) parse_version(c->torch_cuda, &tmaj, &tmin);
                if (!c->torch_cuda && (env_major > 0 || sys_major > 0)) {
                        add_finding(c, "CudaTorchMismatch", "error",
                                    "torch %s (%s) is a build without CUDA in a CUDA %s image: "
                                    "torch.cuda.is_available() will be False",
                                    c->torch_version ? c->torch_version : "?", c->torch_path,
                                    c->cuda_version_env ? c->cuda_version_env : "runtime");
                } else if (c->torch_cuda && env_major > 0 && tmaj != env_major) {
                        add_finding(c, "CudaTorchMismatch", "error",
                                    "torch %s is built for CUDA %s, the image's CUDA_VERSION is %s",
                                    c->torch_version ? c->torch_version : "?", c->torch_cuda, c->cuda_version_env);
                } else if (c->torch_cuda && env_major < 0 && sys_major > 0 && tmaj != sys_major) {
                        add_finding(c, "CudaTorchMismatch", "error",
                                    "torch %s is built for CUDA %s, the image's CUDA runtime is %d.x",
                                    c->torch_version ? c->torch_version : "?", c->torch_cuda, sys_major);
                }
        }
        for (size_t i = 0; i < c->nfiles; i++) {
                const struct cfile *f = &c->files[i];

                for (size_t k = 0; k < f->nneeded; k++)
                        if (!has_name(c, f->needed[k]))
                                add_finding(c, "CudaLibraryMissing", "error", "%s needs %s, which the image does not have",
                                            f->path, f->needed[k]);
        }
        if (c->nvcc)
                add_finding(c, "DevelBaseInFinalStage", "warning",
                            "the image holds the CUDA compiler (%s): a -devel toolkit in the final stage", c->nvcc);
        if (c->require_cuda) {
                const char *p = strstr(c->require_cuda, "cuda>=");
                int rmaj, rmin;

                if (p) {
                        char *v = c->require_cuda_version;
                        size_t n = strspn(p + 6, "0123456789.");

                        if (n < sizeof(c->require_cuda_version) && n > 0) {
                                memcpy(v, p + 6, n);
                                v[n] = '\0';
                                if (parse_version(v, &rmaj, &rmin) >= 1)
                                        c->require_cuda_driver = kv_cuda_min_driver(rmaj * 1000 + (rmin > 0 ? rmin : 0) * 10);
                                if (c->rt_major > 0 && parse_version(v, &rmaj, &rmin) >= 1 && rmaj < c->rt_major)
                                        add_finding(c, "CudaRequireMismatch", "warning",
                                                    "NVIDIA_REQUIRE_CUDA says cuda>=%s, but the image's CUDA runtime is "
                                                    "%d.x: the container runtime would admit drivers that cannot run it",
                                                    v, c->rt_major);
                        }
                }
        }
}

/* ---- the public functions ---- */

static int fail(struct kv_err *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(struct kv_err *err, int code, const char *fmt, ...)
{
        struct kv_sb sb = {0};
        va_list ap;

        if (err) {
                va_start(ap, fmt);
                kv_sb_vaddf(&sb, fmt, ap);
                va_end(ap);
                free(err->msg);
                err->msg = kv_sb_take(&sb);
                err->errnum = -code;
        }
        return code;
}

int kv_compat_scan(int root_fd, const struct kv_compat_opts *opts, struct kv_compat **ret, struct kv_err *err)
{
        struct kv_compat *c = calloc(1, sizeof(*c));
        struct kv_sb path = {0};
        int fd;

        if (!c)
                return fail(err, -ENOMEM, "out of memory");
        for (size_t i = 0; i < sizeof(report_archs) / sizeof(report_archs[0]); i++)
                c->archs[c->narchs++] = report_archs[i];
        c->nreport_archs = c->narchs;
        if (opts && opts->require_arch && *opts->require_arch) {
                const char *p = opts->require_arch;

                while (*p) {
                        size_t len = strcspn(p, ", ");
                        unsigned sm = kv_arch_parse(p, len);

                        if (len > 0) {
                                if (!sm || c->nrequired == MAX_ARCHS / 2) {
                                        fail(err, -EINVAL, "--require-arch: '%.*s' is no GPU architecture (sm_80, 8.6)",
                                             (int) len, p);
                                        kv_compat_free(c);
                                        return -EINVAL;
                                }
                                c->required[c->nrequired++] = sm;
                                if (arch_index(c, sm) < 0)
                                        c->archs[c->narchs++] = sm;
                        }
                        p += len;
                        p += strspn(p, ", ");
                }
        }
        if (opts && opts->require_driver && *opts->require_driver) {
                c->require_driver = kv_driver_parse(opts->require_driver);
                if (!c->require_driver) {
                        fail(err, -EINVAL, "--require-driver: '%s' is no driver version (535, 535.104.05)",
                             opts->require_driver);
                        kv_compat_free(c);
                        return -EINVAL;
                }
                c->require_driver_text = strdup(opts->require_driver);
        }
        if (opts) {
                c->cuda_version_env = xstrdup(opts->cuda_version);
                c->require_cuda = xstrdup(opts->nvidia_require_cuda);
        }
        fd = openat(root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
                int e = errno;

                kv_compat_free(c);
                return fail(err, -e, "open the root: %s", strerror(e));
        }
        kv_sb_adds(&path, "");
        walk(c, fd, &path, 0);
        kv_sb_release(&path);
        if (opts && opts->extra_path && *opts->extra_path) {
                /* the extra tree's entries at their place in the image, counted as the walk of an image
                 * holding them would count them (walk() closes fd) */
                const char *p = opts->extra_path;
                int depth = 0;

                /* as deep as walk() is in the image's tree when it lists that directory: one per component */
                for (const char *q = p; *q; q++)
                        depth += *q != '/' && (q == p || q[-1] == '/');
                fd = openat(opts->extra_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (fd < 0) {
                        int e = errno;

                        kv_compat_free(c);
                        return fail(err, -e, "open the tree for %s: %s", p, strerror(e));
                }
                kv_sb_adds(&path, p[0] == '/' ? "" : "/");
                kv_sb_adds(&path, p);
                while (path.len > 1 && path.p[path.len - 1] == '/')
                        path.p[--path.len] = '\0';
                walk(c, fd, &path, depth);
                kv_sb_release(&path);
        }
        derive(c);
        *ret = c;
        return 0;
}

struct kv_compat *kv_compat_free(struct kv_compat *c)
{
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->nfiles; i++) {
                free(c->files[i].path);
                free(c->files[i].kinds);
                for (size_t k = 0; k < c->files[i].nneeded; k++)
                        free(c->files[i].needed[k]);
                free(c->files[i].needed);
        }
        free(c->files);
        for (size_t i = 0; i < c->ncomps; i++) {
                free(c->comps[i].version);
                free(c->comps[i].path);
        }
        free(c->comps);
        for (size_t i = 0; i < c->nnames; i++)
                free(c->names[i]);
        free(c->names);
        for (size_t i = 0; i < c->nfindings; i++)
                free(c->findings[i].msg);
        free(c->findings);
        free(c->torch_version);
        free(c->torch_cuda);
        free(c->torch_path);
        free(c->nvcc);
        free(c->cuda_version_env);
        free(c->require_cuda);
        free(c->require_driver_text);
        free(c->rt_source);
        free(c);
        return NULL;
}

uint64_t kv_compat_bytes_read(const struct kv_compat *c)
{
        return c->bytes_read;
}

uint64_t kv_compat_image_bytes(const struct kv_compat *c)
{
        return c->image_bytes;
}

size_t kv_compat_cuda_files(const struct kv_compat *c)
{
        return c->nfiles;
}

/* The verdict over all files for archs[a], and the file that decides it (NULL when none has code). */
static enum kv_run verdict_at(const struct kv_compat *c, size_t a, const struct cfile **ret_worst,
                              unsigned *ret_jit_isa)
{
        enum kv_run v = KV_RUN_NATIVE;
        unsigned isa = 0;

        *ret_worst = NULL;
        for (size_t i = 0; i < c->nfiles; i++) {
                const struct cfile *f = &c->files[i];

                if (f->opaque)
                        continue;
                if (f->run[a] < v || (!*ret_worst && f->run[a] == v && v != KV_RUN_NATIVE)) {
                        v = (enum kv_run) f->run[a];
                        *ret_worst = f;
                }
                /* the PTX the JIT must take: files that have no SASS for it */
                if (f->run[a] == KV_RUN_JIT && f->jit[a] > isa)
                        isa = f->jit[a];
        }
        if (ret_jit_isa)
                *ret_jit_isa = v == KV_RUN_JIT ? isa : 0;
        return v;
}

int kv_compat_verdict(const struct kv_compat *c, unsigned dev_sm)
{
        const struct cfile *w;
        int a = arch_index(c, dev_sm);

        if (a < 0)
                return -1;
        return (int) verdict_at(c, (size_t) a, &w, NULL);
}

static const char *base_name(const char *path)
{
        const char *s = strrchr(path, '/');

        return s ? s + 1 : path;
}

static void arch_name(struct kv_sb *sb, const struct kv_fatbin_entry *k)
{
        kv_sb_addf(sb, "%s_%u", k->kind == KV_FATBIN_SASS ? "sm" : "compute", k->sm);
        if (k->variant)
                kv_sb_addf(sb, "%c", (char) k->variant);
}

/* "sm_75, sm_90, compute_90 (PTX 9.0)" */
static void file_code(struct kv_sb *sb, const struct cfile *f)
{
        bool first = true;

        for (int kind = KV_FATBIN_SASS; kind >= KV_FATBIN_PTX; kind--) {
                for (unsigned sm = 0; sm < 1000; sm++) {
                        for (size_t i = 0; i < f->nkinds; i++) {
                                const struct kv_fatbin_entry *k = &f->kinds[i];

                                if ((int) k->kind != kind || k->sm != sm)
                                        continue;
                                kv_sb_adds(sb, first ? "" : ", ");
                                first = false;
                                arch_name(sb, k);
                                if (kind == KV_FATBIN_PTX)
                                        kv_sb_addf(sb, " (PTX %u.%u)", k->ptx_major, k->ptx_minor);
                        }
                }
        }
}

static const char *isa_driver(unsigned isa)
{
        int cuda = isa ? kv_ptx_isa_cuda(isa / 10, isa % 10) : 0;

        return cuda ? kv_cuda_min_driver(cuda) : NULL;
}

/* Why archs[a] cannot run f (or runs it only through the JIT). */
static void reason(struct kv_sb *sb, const struct kv_compat *c, size_t a, const struct cfile *f)
{
        unsigned sm = c->archs[a];

        if (f->run[a] == KV_RUN_NONE)
                kv_sb_addf(sb, "%s has no sm_%u code and no PTX for it (it has ", base_name(f->path), sm);
        else
                kv_sb_addf(sb, "%s has no SASS for sm_%u, only PTX (it has ", base_name(f->path), sm);
        file_code(sb, f);
        kv_sb_adds(sb, ")");
}

char *kv_compat_json(const struct kv_compat *c)
{
        struct kv_json j = {0};
        char *summary = kv_compat_summary(c, "");

        kv_json_open(&j, NULL, '{');
        kv_json_str(&j, "schema", KV_COMPAT_SCHEMA);
        kv_json_open(&j, "cuda", '{');
        if (c->rt_major > 0) {
                char v[32];

                if (c->rt_minor >= 0)
                        snprintf(v, sizeof(v), "%d.%d", c->rt_major, c->rt_minor);
                else
                        snprintf(v, sizeof(v), "%d", c->rt_major);
                kv_json_str(&j, "runtime", v);
        } else {
                kv_json_null(&j, "runtime");
        }
        kv_json_str(&j, "runtime_source", c->rt_source ? c->rt_source : c->cuda_version_env ? "CUDA_VERSION" : NULL);
        kv_json_str(&j, "cuda_version_env", c->cuda_version_env);
        kv_json_str(&j, "nvidia_require_cuda", c->require_cuda);
        kv_json_str(&j, "require_cuda", c->require_cuda_version[0] ? c->require_cuda_version : NULL);
        /* the driver NVIDIA_REQUIRE_CUDA's cuda>= asks of the host (the container runtime's check) */
        kv_json_str(&j, "require_cuda_min_driver", c->require_cuda_driver);
        kv_json_close(&j, '}');

        kv_json_open(&j, "libraries", '[');
        for (size_t i = 0; i < c->ncomps; i++) {
                kv_json_open(&j, NULL, '{');
                kv_json_str(&j, "name", c->comps[i].what);
                kv_json_str(&j, "version", c->comps[i].version);
                kv_json_bool(&j, "soname_only", !c->comps[i].full);
                kv_json_str(&j, "path", c->comps[i].path);
                kv_json_close(&j, '}');
        }
        kv_json_close(&j, ']');

        if (c->torch) {
                kv_json_open(&j, "torch", '{');
                kv_json_str(&j, "version", c->torch_version);
                kv_json_str(&j, "cuda", c->torch_cuda);
                kv_json_str(&j, "path", c->torch_path);
                kv_json_close(&j, '}');
        } else {
                kv_json_null(&j, "torch");
        }

        kv_json_open(&j, "driver", '{');
        kv_json_str(&j, "min", c->min_driver);
        kv_json_str(&j, "min_all_features", c->min_driver_full);
        kv_json_str(&j, "source", "NVIDIA CUDA Toolkit release notes (toolkit drivers, minor-version compatibility)");
        kv_json_close(&j, '}');

        kv_json_open(&j, "gpus", '[');
        for (size_t a = 0; a < c->narchs; a++) {
                const struct cfile *w;
                unsigned isa;
                enum kv_run v = verdict_at(c, a, &w, &isa);
                char arch[16];

                snprintf(arch, sizeof(arch), "sm_%u", c->archs[a]);
                kv_json_open(&j, NULL, '{');
                kv_json_str(&j, "arch", arch);
                kv_json_str(&j, "family", kv_arch_family(c->archs[a]));
                kv_json_str(&j, "verdict", v == KV_RUN_NATIVE ? "native" : v == KV_RUN_JIT ? "jit" : "none");
                if (v == KV_RUN_JIT && isa) {
                        char ptx[16];

                        snprintf(ptx, sizeof(ptx), "%u.%u", isa / 10, isa % 10);
                        kv_json_str(&j, "jit_ptx", ptx);
                        kv_json_str(&j, "jit_min_driver", isa_driver(isa));
                }
                {
                        size_t partial = 0;

                        for (size_t i = 0; i < c->nfiles; i++)
                                if (!c->files[i].opaque && c->files[i].run[a] != KV_RUN_NONE && c->files[i].gaps[a])
                                        partial++;
                        /* files with code for it in some translation units but not all */
                        kv_json_int(&j, "partial_files", (long long) partial);
                }
                if (w) {
                        struct kv_sb sb = {0};

                        reason(&sb, c, a, w);
                        kv_json_str(&j, "reason", sb.p);
                        kv_json_str(&j, "file", w->path);
                        kv_sb_release(&sb);
                }
                kv_json_close(&j, '}');
        }
        kv_json_close(&j, ']');

        kv_json_open(&j, "cuda_files", '[');
        for (size_t i = 0; i < c->nfiles; i++) {
                const struct cfile *f = &c->files[i];

                kv_json_open(&j, NULL, '{');
                kv_json_str(&j, "path", f->path);
                kv_json_open(&j, "sass", '[');
                for (unsigned sm = 0; sm < 1000; sm++)
                        for (size_t k = 0; k < f->nkinds; k++)
                                if (f->kinds[k].kind == KV_FATBIN_SASS && f->kinds[k].sm == sm) {
                                        struct kv_sb sb = {0};

                                        arch_name(&sb, &f->kinds[k]);
                                        kv_json_str(&j, NULL, sb.p);
                                        kv_sb_release(&sb);
                                }
                kv_json_close(&j, ']');
                kv_json_open(&j, "ptx", '[');
                for (unsigned sm = 0; sm < 1000; sm++)
                        for (size_t k = 0; k < f->nkinds; k++)
                                if (f->kinds[k].kind == KV_FATBIN_PTX && f->kinds[k].sm == sm) {
                                        struct kv_sb sb = {0};
                                        char ver[16];

                                        arch_name(&sb, &f->kinds[k]);
                                        snprintf(ver, sizeof(ver), "%u.%u", f->kinds[k].ptx_major, f->kinds[k].ptx_minor);
                                        kv_json_open(&j, NULL, '{');
                                        kv_json_str(&j, "arch", sb.p);
                                        kv_json_str(&j, "version", ver);
                                        kv_json_close(&j, '}');
                                        kv_sb_release(&sb);
                                }
                kv_json_close(&j, ']');
                kv_json_int(&j, "fatbins", f->nfatbins);
                kv_json_int(&j, "entries", f->nentries);
                kv_json_int(&j, "compressed_entries", f->ncompressed);
                kv_json_bool(&j, "judged", !f->opaque);
                kv_json_open(&j, "needs", '[');
                for (size_t k = 0; k < f->nneeded; k++)
                        kv_json_str(&j, NULL, f->needed[k]);
                kv_json_close(&j, ']');
                kv_json_close(&j, '}');
        }
        kv_json_close(&j, ']');

        kv_json_open(&j, "findings", '[');
        for (size_t i = 0; i < c->nfindings; i++) {
                kv_json_open(&j, NULL, '{');
                kv_json_str(&j, "name", c->findings[i].name);
                kv_json_str(&j, "severity", c->findings[i].severity);
                kv_json_str(&j, "message", c->findings[i].msg);
                kv_json_close(&j, '}');
        }
        kv_json_close(&j, ']');

        kv_json_open(&j, "scan", '{');
        kv_json_int(&j, "bytes_read", (long long) c->bytes_read);
        kv_json_int(&j, "image_bytes", (long long) c->image_bytes);
        kv_json_int(&j, "regular_files", (long long) c->regular_files);
        kv_json_int(&j, "elf_files", (long long) c->elf_files);
        kv_json_int(&j, "cuda_files", (long long) c->nfiles);
        kv_json_int(&j, "unreadable", (long long) c->unreadable);
        kv_json_close(&j, '}');
        kv_json_str(&j, "summary", summary);
        kv_json_close(&j, '}');
        free(summary);
        if (j.sb.oom) {
                kv_sb_release(&j.sb);
                return NULL;
        }
        kv_sb_adds(&j.sb, "\n");
        return kv_sb_take(&j.sb);
}

/* "Turing, Ampere, Hopper": the families of archs whose verdict is v, a family named once; a family
 * only partly in it gets its architectures ("Ampere (sm_86)"). */
static void families(struct kv_sb *sb, const struct kv_compat *c, enum kv_run v)
{
        const char *last = NULL;
        bool first = true;

        for (size_t a = 0; a < c->nreport_archs; a++) {
                const struct cfile *w;
                const char *fam = kv_arch_family(c->archs[a]);
                size_t in = 0, total = 0;

                if (last && strcmp(last, fam) == 0)
                        continue;
                last = fam;
                for (size_t b = 0; b < c->nreport_archs; b++)
                        if (strcmp(kv_arch_family(c->archs[b]), fam) == 0) {
                                total++;
                                if (verdict_at(c, b, &w, NULL) == v)
                                        in++;
                        }
                if (!in)
                        continue;
                kv_sb_adds(sb, first ? "" : ", ");
                first = false;
                kv_sb_adds(sb, fam);
                if (in < total) {
                        bool f2 = true;

                        kv_sb_adds(sb, " (");
                        for (size_t b = 0; b < c->nreport_archs; b++)
                                if (strcmp(kv_arch_family(c->archs[b]), fam) == 0 &&
                                    verdict_at(c, b, &w, NULL) == v) {
                                        kv_sb_addf(sb, "%ssm_%u", f2 ? "" : ", ", c->archs[b]);
                                        f2 = false;
                                }
                        kv_sb_adds(sb, ")");
                }
        }
}

static const struct comp *best_comp(const struct kv_compat *c, const char *what)
{
        const struct comp *best = NULL;

        for (size_t i = 0; i < c->ncomps; i++) {
                const struct comp *p = &c->comps[i];

                if (strcmp(p->what, what) != 0)
                        continue;
                if (!best || (p->full && !best->full) ||
                    (p->full == best->full && (p->major > best->major ||
                                               (p->major == best->major && p->minor > best->minor))))
                        best = p;
        }
        return best;
}

char *kv_compat_summary(const struct kv_compat *c, const char *prefix)
{
        struct kv_sb sb = {0};
        static const struct {
                const char *what, *label;
        } shown[] = {{"cublas", "cuBLAS"}, {"cudnn", "cuDNN"}, {"nccl", "NCCL"}};

        kv_sb_adds(&sb, prefix);
        if (c->rt_major > 0) {
                const struct comp *rt = best_comp(c, "cudart");

                if (c->rt_minor >= 0)
                        kv_sb_addf(&sb, "CUDA runtime %d.%d", c->rt_major, c->rt_minor);
                else
                        kv_sb_addf(&sb, "CUDA runtime %d.x", c->rt_major);
                if (rt)
                        kv_sb_addf(&sb, " (%s)", base_name(rt->path));
        } else {
                kv_sb_adds(&sb, "no CUDA runtime");
        }
        if (c->cuda_version_env)
                kv_sb_addf(&sb, ", CUDA_VERSION %s", c->cuda_version_env);
        for (size_t i = 0; i < sizeof(shown) / sizeof(shown[0]); i++) {
                const struct comp *p = best_comp(c, shown[i].what);

                if (p)
                        kv_sb_addf(&sb, ", %s %s", shown[i].label, p->version);
        }
        if (c->torch)
                kv_sb_addf(&sb, ", torch %s (CUDA %s)", c->torch_version ? c->torch_version : "?",
                           c->torch_cuda ? c->torch_cuda : "none");
        kv_sb_adds(&sb, "\n");
        if (c->min_driver) {
                kv_sb_addf(&sb, "%sdriver >= %s", prefix, c->min_driver);
                if (c->rt_major >= 11)
                        kv_sb_addf(&sb, " (CUDA %d.x minor-version compatibility)", c->rt_major);
                if (c->min_driver_full && strcmp(c->min_driver_full, c->min_driver) != 0)
                        kv_sb_addf(&sb, "; >= %s for all of CUDA %d.%d", c->min_driver_full, c->rt_major, c->rt_minor);
                kv_sb_adds(&sb, "\n");
        }
        if (c->nfiles == 0) {
                kv_sb_addf(&sb, "%sno CUDA code in the image's ELF files: any GPU the driver supports\n", prefix);
        } else {
                struct kv_sb fam = {0};

                families(&fam, c, KV_RUN_NATIVE);
                kv_sb_addf(&sb, "%sruns on %s\n", prefix, fam.p ? fam.p : "no GPU natively");
                kv_sb_release(&fam);
                families(&fam, c, KV_RUN_JIT);
                if (fam.p) {
                        kv_sb_addf(&sb, "%sthrough PTX JIT: %s\n", prefix, fam.p);
                        kv_sb_release(&fam);
                }
                families(&fam, c, KV_RUN_NONE);
                if (fam.p) {
                        const struct cfile *w = NULL;

                        /* the reason of the newest architecture it misses (most users' question) */
                        for (size_t a = c->nreport_archs; a-- > 0;)
                                if (verdict_at(c, a, &w, NULL) == KV_RUN_NONE) {
                                        struct kv_sb why = {0};

                                        reason(&why, c, a, w);
                                        kv_sb_addf(&sb, "%snot on %s: %s\n", prefix, fam.p, why.p ? why.p : "");
                                        kv_sb_release(&why);
                                        break;
                                }
                        kv_sb_release(&fam);
                }
        }
        for (size_t i = 0; i < c->nfindings; i++)
                kv_sb_addf(&sb, "%s%s: %s: %s\n", prefix, c->findings[i].severity, c->findings[i].name,
                           c->findings[i].msg);
        {
                char *counts = kv_compat_counts_line(prefix, c->nfiles, c->bytes_read, c->image_bytes);

                if (counts)
                        kv_sb_adds(&sb, counts);
                else
                        sb.oom = true;
                free(counts);
        }
        if (sb.oom) {
                kv_sb_release(&sb);
                return NULL;
        }
        return kv_sb_take(&sb);
}

int kv_compat_require(const struct kv_compat *c, char **ret_msg)
{
        *ret_msg = NULL;
        for (size_t r = 0; r < c->nrequired; r++) {
                int a = arch_index(c, c->required[r]);
                const struct cfile *w;
                unsigned isa;
                enum kv_run v;

                if (a < 0)
                        continue;
                v = verdict_at(c, (size_t) a, &w, &isa);
                if (v == KV_RUN_NONE) {
                        struct kv_sb sb = {0};
                        size_t others = 0;

                        for (size_t i = 0; i < c->nfiles; i++)
                                if (!c->files[i].opaque && c->files[i].run[a] == KV_RUN_NONE && &c->files[i] != w)
                                        others++;
                        kv_sb_addf(&sb, "--require-arch sm_%u: %s: no sm_%u code and no PTX for it", c->required[r],
                                   w->path, c->required[r]);
                        if (others)
                                kv_sb_addf(&sb, " (and %zu more files)", others);
                        *ret_msg = kv_sb_take(&sb);
                        return *ret_msg ? 1 : -ENOMEM;
                }
                if (v == KV_RUN_JIT && c->require_driver && isa_driver(isa) &&
                    kv_driver_parse(isa_driver(isa)) > c->require_driver) {
                        *ret_msg = kv_asprintf("--require-arch sm_%u with --require-driver %s: %s has only PTX %u.%u "
                                               "for sm_%u, whose JIT needs driver >= %s",
                                               c->required[r], c->require_driver_text, w->path, isa / 10, isa % 10,
                                               c->required[r], isa_driver(isa));
                        return *ret_msg ? 1 : -ENOMEM;
                }
        }
        if (c->require_driver && c->min_driver && kv_driver_parse(c->min_driver) > c->require_driver) {
                *ret_msg = kv_asprintf("--require-driver %s: the image needs driver >= %s for its CUDA %d.x runtime (%s)",
                                       c->require_driver_text, c->min_driver, c->rt_major,
                                       c->rt_source ? c->rt_source : "CUDA_VERSION");
                return *ret_msg ? 1 : -ENOMEM;
        }
        return 0;
}

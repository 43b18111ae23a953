/* The GPU injection plan (gpu.h): which device nodes and driver files a rootfs needs for CUDA, the
 * way nvidia-container-toolkit (libnvidia-container's nvc_info.c tables and its CDI spec
 * generator) decides it. Host code in kernels/: plain C, label cleanup. */
#include "gpu.h"
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void kv_err_release(struct kv_err *err)
{
        if (!err)
                return;
        free(err->msg);
        err->msg = NULL;
        err->errnum = 0;
}

__attribute__((format(printf, 3, 4))) static int fail(struct kv_err *err, int code, const char *fmt, ...)
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

static const struct {
        const char *name;
        unsigned bit;
} cap_names[] = {
    {"compute", KV_CAP_COMPUTE},   {"utility", KV_CAP_UTILITY}, {"video", KV_CAP_VIDEO},
    {"graphics", KV_CAP_GRAPHICS}, {"display", KV_CAP_DISPLAY}, {"compat32", KV_CAP_COMPAT32},
    {"ngx", KV_CAP_NGX},
};

int kv_caps_parse(const char *s, unsigned *ret, struct kv_err *err)
{
        unsigned caps = 0;

        if (!s || !*s) {
                *ret = KV_CAP_DEFAULT;
                return 0;
        }
        for (const char *p = s; p;) {
                const char *comma = strchr(p, ',');
                size_t len = comma ? (size_t) (comma - p) : strlen(p);
                bool known = false;

                while (len && *p == ' ') {
                        p++;
                        len--;
                }
                while (len && p[len - 1] == ' ')
                        len--;
                if (len == 3 && memcmp(p, "all", 3) == 0) {
                        caps |= KV_CAP_ALL;
                        known = true;
                }
                for (size_t i = 0; i < sizeof(cap_names) / sizeof(cap_names[0]) && !known; i++) {
                        if (strlen(cap_names[i].name) == len && memcmp(p, cap_names[i].name, len) == 0) {
                                caps |= cap_names[i].bit;
                                known = true;
                        }
                }
                if (!known && len)
                        return fail(err, -EINVAL, "NVIDIA_DRIVER_CAPABILITIES: unknown capability '%.*s'",
                                    (int) len, p);
                p = comma ? comma + 1 : NULL;
        }
        *ret = caps;
        return 0;
}

/* Driver libraries per capability. A name ending in '.' matches any version after it (the driver
 * version: libnvidia-gpucomp.so.580.95.05); others are exact sonames. From libnvidia-container's
 * src/nvc_info.c (utility_libs, compute_libs, video_libs, graphics_libs, ngx_libs). */
static const struct lib_rule {
        const char *name;
        unsigned caps;
        bool required;
} lib_rules[] = {
    {"libnvidia-ml.so.1", KV_CAP_UTILITY, true},
    {"libnvidia-cfg.so.1", KV_CAP_UTILITY, false},
    {"libcuda.so.1", KV_CAP_COMPUTE, true},
    {"libcudadebugger.so.1", KV_CAP_COMPUTE, false},
    {"libnvidia-ptxjitcompiler.so.1", KV_CAP_COMPUTE, false},
    {"libnvidia-nvvm.so.4", KV_CAP_COMPUTE, false},
    {"libnvidia-gpucomp.so.", KV_CAP_COMPUTE, false},
    {"libnvidia-opencl.so.1", KV_CAP_COMPUTE, false},
    {"libnvidia-allocator.so.1", KV_CAP_COMPUTE, false},
    {"libnvidia-pkcs11-openssl3.so.", KV_CAP_COMPUTE, false},
    {"libnvcuvid.so.1", KV_CAP_VIDEO, false},
    {"libnvidia-encode.so.1", KV_CAP_VIDEO, false},
    {"libnvidia-opticalflow.so.1", KV_CAP_VIDEO, false},
    {"libvdpau_nvidia.so.1", KV_CAP_VIDEO, false},
    {"libnvidia-eglcore.so.", KV_CAP_GRAPHICS, false},
    {"libnvidia-glcore.so.", KV_CAP_GRAPHICS, false},
    {"libnvidia-tls.so.", KV_CAP_GRAPHICS, false},
    {"libnvidia-glsi.so.", KV_CAP_GRAPHICS, false},
    {"libnvidia-fbc.so.1", KV_CAP_GRAPHICS, false},
    {"libnvidia-rtcore.so.", KV_CAP_GRAPHICS, false},
    {"libnvoptix.so.1", KV_CAP_GRAPHICS, false},
    {"libGLX_nvidia.so.0", KV_CAP_GRAPHICS, false},
    {"libEGL_nvidia.so.0", KV_CAP_GRAPHICS, false},
    {"libGLESv2_nvidia.so.2", KV_CAP_GRAPHICS, false},
    {"libGLESv1_CM_nvidia.so.1", KV_CAP_GRAPHICS, false},
    {"libnvidia-glvkspirv.so.", KV_CAP_GRAPHICS, false},
    {"libnvidia-ngx.so.1", KV_CAP_NGX, false},
};

static const struct {
        const char *name;
        unsigned caps;
} bin_rules[] = {
    {"nvidia-smi", KV_CAP_UTILITY},
    {"nvidia-debugdump", KV_CAP_UTILITY},
    {"nvidia-persistenced", KV_CAP_COMPUTE},
    {"nvidia-cuda-mps-control", KV_CAP_COMPUTE},
    {"nvidia-cuda-mps-server", KV_CAP_COMPUTE},
};

/* Where libraries live when the driver root has no ld.so.cache (a driver container's root). */
static const char *const fallback_lib_dirs[] = {
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib64",
    "/usr/lib",
    "/lib/x86_64-linux-gnu",
    "/lib64",
    "/lib",
};
static const char *const bin_dirs[] = {"/usr/bin", "/usr/sbin", "/bin", "/sbin", "/usr/local/bin"};

struct gpu {
        char *pci;  /* "0000:3b:00.0" from /proc/driver/nvidia/gpus, or NULL */
        char *uuid; /* "GPU-8c7b..." or NULL */
        unsigned minor;
};

struct kv_plan {
        struct kv_mount *mounts;
        size_t n, cap;
        char *lib_dir;
        char *driver_root;
        char *driver_version;
        unsigned *gpus;
        size_t n_gpus;
        unsigned caps;
        char *visible;
};

static char *join(const char *root, const char *path)
{
        size_t rl = strlen(root);

        while (rl > 0 && root[rl - 1] == '/')
                rl--;
        return kv_asprintf("%.*s%s%s", (int) rl, root, path[0] == '/' ? "" : "/", path);
}

static void plan_release_mounts(struct kv_plan *p)
{
        for (size_t i = 0; i < p->n; i++) {
                free((char *) p->mounts[i].host_path);
                free((char *) p->mounts[i].container_path);
        }
        free(p->mounts);
}

struct kv_plan *kv_plan_free(struct kv_plan *p)
{
        if (!p)
                return NULL;
        plan_release_mounts(p);
        free(p->lib_dir);
        free(p->driver_root);
        free(p->driver_version);
        free(p->gpus);
        free(p->visible);
        free(p);
        return NULL;
}

static bool has_container_path(const struct kv_plan *p, const char *c)
{
        for (size_t i = 0; i < p->n; i++)
                if (strcmp(p->mounts[i].container_path, c) == 0)
                        return true;
        return false;
}

/* Adds a mount, taking host and container (freed on failure or duplicate). */
static int add_mount(struct kv_plan *p, enum kv_mount_kind kind, char *host, char *container)
{
        if (!container || (kind != KV_MOUNT_DIR && !host)) {
                free(host);
                free(container);
                return -ENOMEM;
        }
        if (has_container_path(p, container)) {
                free(host);
                free(container);
                return 0;
        }
        if (p->n == p->cap) {
                size_t cap = p->cap ? p->cap * 2 : 16;
                struct kv_mount *m = realloc(p->mounts, cap * sizeof(*m));

                if (!m) {
                        free(host);
                        free(container);
                        return -ENOMEM;
                }
                p->mounts = m;
                p->cap = cap;
        }
        p->mounts[p->n].kind = kind;
        p->mounts[p->n].host_path = host;
        p->mounts[p->n].container_path = container;
        p->n++;
        return 0;
}

static void gpus_free(struct gpu *g, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                free(g[i].pci);
                free(g[i].uuid);
        }
        free(g);
}

static int cmp_gpu_pci(const void *a, const void *b)
{
        const struct gpu *x = a, *y = b;

        if (x->pci && y->pci)
                return strcmp(x->pci, y->pci);
        return x->minor < y->minor ? -1 : x->minor > y->minor;
}

/* A "Key:   value" line of /proc/driver/nvidia/gpus/<pci>/information, malloc'd. */
static char *info_field(const char *text, const char *key)
{
        size_t klen = strlen(key);

        for (const char *p = text; p && *p;) {
                const char *eol = strchr(p, '\n');
                size_t len = eol ? (size_t) (eol - p) : strlen(p);

                if (len > klen && memcmp(p, key, klen) == 0 && p[klen] == ':') {
                        const char *v = p + klen + 1;
                        const char *end = p + len;

                        while (v < end && (*v == ' ' || *v == '\t'))
                                v++;
                        while (end > v && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
                                end--;
                        return strndup(v, (size_t) (end - v));
                }
                p = eol ? eol + 1 : NULL;
        }
        return NULL;
}

static bool parse_uint(const char *s, unsigned *ret)
{
        unsigned long v = 0;

        if (!s || !*s)
                return false;
        for (; *s; s++) {
                if (*s < '0' || *s > '9')
                        return false;
                v = v * 10 + (unsigned long) (*s - '0');
                if (v > 1000000)
                        return false;
        }
        *ret = (unsigned) v;
        return true;
}

/* The host's GPUs in NVML's order (PCI bus order), from /proc/driver/nvidia/gpus; when that is
 * absent, from the /dev/nvidiaN nodes, minor order. */
static int list_gpus(const char *proc_root, const char *dev_root, struct gpu **ret, size_t *ret_n)
{
        char *dir = kv_asprintf("%s/driver/nvidia/gpus", proc_root);
        struct gpu *g = NULL;
        size_t n = 0, cap = 0;
        DIR *d;
        struct dirent *de;
        bool from_proc = true;
        int rc = 0;

        if (!dir)
                return -ENOMEM;
        d = opendir(dir);
        if (!d) {
                char *devdir = kv_asprintf("%s/dev", dev_root);

                from_proc = false;
                d = devdir ? opendir(devdir) : NULL;
                free(devdir);
                if (!d) {
                        free(dir);
                        *ret = NULL;
                        *ret_n = 0;
                        return 0;
                }
        }
        while ((de = readdir(d))) {
                struct gpu one = {0};

                if (de->d_name[0] == '.')
                        continue;
                if (from_proc) {
                        char *path = kv_asprintf("%s/%s/information", dir, de->d_name);
                        char *text = NULL, *minor;

                        if (!path || kv_read_file(AT_FDCWD, path, 1 << 16, &text) < 0) {
                                free(path);
                                continue;
                        }
                        free(path);
                        minor = info_field(text, "Device Minor");
                        if (!parse_uint(minor, &one.minor)) {
                                free(minor);
                                free(text);
                                continue;
                        }
                        free(minor);
                        one.uuid = info_field(text, "GPU UUID");
                        one.pci = strdup(de->d_name);
                        free(text);
                } else {
                        if (strncmp(de->d_name, "nvidia", 6) != 0 || !parse_uint(de->d_name + 6, &one.minor))
                                continue;
                }
                if (n == cap) {
                        struct gpu *grown;

                        cap = cap ? cap * 2 : 8;
                        grown = realloc(g, cap * sizeof(*g));
                        if (!grown) {
                                free(one.pci);
                                free(one.uuid);
                                rc = -ENOMEM;
                                break;
                        }
                        g = grown;
                }
                g[n++] = one;
        }
        closedir(d);
        free(dir);
        if (rc < 0) {
                gpus_free(g, n);
                return rc;
        }
        if (n)
                qsort(g, n, sizeof(*g), cmp_gpu_pci);
        *ret = g;
        *ret_n = n;
        return 0;
}

/* Selects GPUs per NVIDIA_VISIBLE_DEVICES ("all", indices, UUIDs) into p->gpus. */
static int select_gpus(struct kv_plan *p, const char *visible, const struct gpu *g, size_t n,
                       struct kv_err *err)
{
        if (strcmp(visible, "all") == 0) {
                p->gpus = calloc(n ? n : 1, sizeof(unsigned));
                if (!p->gpus)
                        return -ENOMEM;
                for (size_t i = 0; i < n; i++)
                        p->gpus[p->n_gpus++] = g[i].minor;
                return 0;
        }
        p->gpus = calloc(strlen(visible) + 1, sizeof(unsigned));
        if (!p->gpus)
                return -ENOMEM;
        for (const char *s = visible; s;) {
                const char *comma = strchr(s, ',');
                size_t len = comma ? (size_t) (comma - s) : strlen(s);
                char *item = strndup(s, len);
                unsigned idx;
                bool found = false, dup = false;
                unsigned minor = 0;

                if (!item)
                        return -ENOMEM;
                if (parse_uint(item, &idx)) {
                        if (idx < n) {
                                minor = g[idx].minor;
                                found = true;
                        }
                } else if (strncmp(item, "MIG-", 4) == 0) {
                        int r = fail(err, -EINVAL, "NVIDIA_VISIBLE_DEVICES: MIG device '%s' is not supported",
                                     item);

                        free(item);
                        return r;
                } else {
                        for (size_t i = 0; i < n; i++) {
                                if (g[i].uuid && strcmp(g[i].uuid, item) == 0) {
                                        minor = g[i].minor;
                                        found = true;
                                }
                        }
                }
                if (!found) {
                        int r = fail(err, -ENODEV,
                                     "NVIDIA_VISIBLE_DEVICES: no GPU '%s' on this host (%zu GPU(s) found)",
                                     item, n);

                        free(item);
                        return r;
                }
                free(item);
                for (size_t i = 0; i < p->n_gpus; i++)
                        dup = dup || p->gpus[i] == minor;
                if (!dup)
                        p->gpus[p->n_gpus++] = minor;
                s = comma ? comma + 1 : NULL;
        }
        return 0;
}

static bool exists(const char *path)
{
        struct stat st;

        return stat(path, &st) == 0;
}

static int add_dev(struct kv_plan *p, const char *dev_root, const char *name, bool required,
                   struct kv_err *err)
{
        char *c = kv_asprintf("/dev/%s", name);
        char *h = kv_asprintf("%s/dev/%s", strcmp(dev_root, "/") == 0 ? "" : dev_root, name);

        if (!c || !h) {
                free(c);
                free(h);
                return -ENOMEM;
        }
        if (!exists(h)) {
                int r =
                    required ? fail(err, -ENODEV, "no %s: no NVIDIA GPU driver loaded on this host", h) : 0;

                free(c);
                free(h);
                return r;
        }
        return add_mount(p, KV_MOUNT_DEV, h, c);
}

/* Builds a stand-in cache from the usual library directories (a driver root without ld.so.cache). */
static int scan_lib_dirs(const char *root, struct kv_ldcache_entry **ret)
{
        struct kv_ldcache_entry *e = NULL;
        size_t n = 0, cap = 0;

        for (size_t i = 0; i < sizeof(fallback_lib_dirs) / sizeof(fallback_lib_dirs[0]); i++) {
                char *dir = join(root, fallback_lib_dirs[i]);
                DIR *d = dir ? opendir(dir) : NULL;
                struct dirent *de;

                while (d && (de = readdir(d))) {
                        if (strncmp(de->d_name, "lib", 3) != 0 || !strstr(de->d_name, ".so."))
                                continue;
                        if (n == cap) {
                                struct kv_ldcache_entry *grown;

                                cap = cap ? cap * 2 : 64;
                                grown = realloc(e, cap * sizeof(*e));
                                if (!grown)
                                        break;
                                e = grown;
                        }
                        e[n].name = strdup(de->d_name);
                        e[n].path = kv_asprintf("%s/%s", fallback_lib_dirs[i], de->d_name);
                        e[n].flags = KV_LDCACHE_NATIVE;
                        if (!e[n].name || !e[n].path) {
                                free(e[n].name);
                                free(e[n].path);
                                break;
                        }
                        n++;
                }
                if (d)
                        closedir(d);
                free(dir);
        }
        *ret = e;
        return (int) n;
}

static bool rule_matches(const char *rule, const char *name)
{
        size_t len = strlen(rule);

        if (rule[len - 1] == '.')
                return strncmp(name, rule, len) == 0 && name[len] != '\0';
        return strcmp(name, rule) == 0;
}

/* Adds the library named (a soname) from the cache, then the driver libraries it needs. */
static int add_lib(struct kv_plan *p, const char *root, const struct kv_ldcache_entry *cache, size_t n_cache,
                   const char *rule, bool *ret_found, int depth)
{
        for (size_t i = 0; i < n_cache; i++) {
                const struct kv_ldcache_entry *e = &cache[i];
                char *host, *real, *container;
                char **needed = NULL;
                int fd, nn, r;

                if ((e->flags & KV_LDCACHE_TYPE_MASK) != (KV_LDCACHE_NATIVE & KV_LDCACHE_TYPE_MASK) ||
                    !rule_matches(rule, e->name))
                        continue;
                container = kv_asprintf("%s/%s", p->lib_dir, e->name);
                if (!container)
                        return -ENOMEM;
                if (has_container_path(p, container)) {
                        free(container);
                        *ret_found = true;
                        continue;
                }
                host = join(root, e->path);
                real = host ? realpath(host, NULL) : NULL;
                free(host);
                if (!real) {
                        free(container);
                        continue; /* a stale cache entry: the file is gone */
                }
                *ret_found = true;
                if (strcmp(e->name, "libcuda.so.1") == 0 && !p->driver_version) {
                        const char *base = strrchr(real, '/');

                        base = base ? base + 1 : real;
                        if (strncmp(base, "libcuda.so.", 11) == 0 && strcmp(base, "libcuda.so.1") != 0)
                                p->driver_version = strdup(base + 11);
                        /* programs that dlopen("libcuda.so") (Triton's fallback) find it too */
                        r = add_mount(p, KV_MOUNT_LIB, strdup(real),
                                      kv_asprintf("%s/libcuda.so", p->lib_dir));
                        if (r < 0) {
                                free(real);
                                free(container);
                                return r;
                        }
                }
                fd = open(real, O_RDONLY | O_CLOEXEC);
                nn = fd >= 0 ? kv_elf_needed(fd, &needed) : -errno;
                if (fd >= 0)
                        close(fd);
                if (!needed)
                        nn = 0; /* unreadable or not ELF: mount it, follow nothing */
                r = add_mount(p, KV_MOUNT_LIB, real, container);
                if (r < 0) {
                        for (int j = 0; j < nn; j++)
                                free(needed[j]);
                        free(needed);
                        return r;
                }
                /* Driver libraries load each other (libnvidia-nvvm.so.4 needs libnvidia-gpucomp);
                 * system libraries (libc, libm, libz) come from the image. */
                for (int j = 0; j < nn; j++) {
                        bool found = false;

                        if (r == 0 && depth < 4 &&
                            (strncmp(needed[j], "libnvidia-", 10) == 0 ||
                             strncmp(needed[j], "libcuda", 7) == 0))
                                r = add_lib(p, root, cache, n_cache, needed[j], &found, depth + 1);
                        free(needed[j]);
                }
                free(needed);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int add_bins(struct kv_plan *p, const char *root, const char *bin_dir)
{
        for (size_t i = 0; i < sizeof(bin_rules) / sizeof(bin_rules[0]); i++) {
                if (!(bin_rules[i].caps & p->caps))
                        continue;
                for (size_t j = 0; j < sizeof(bin_dirs) / sizeof(bin_dirs[0]); j++) {
                        char *rel = kv_asprintf("%s/%s", bin_dirs[j], bin_rules[i].name);
                        char *host = rel ? join(root, rel) : NULL;
                        char *real = host ? realpath(host, NULL) : NULL;
                        int r;

                        free(rel);
                        free(host);
                        if (!real)
                                continue;
                        r = add_mount(p, KV_MOUNT_BIN, real,
                                      kv_asprintf("%s/%s", bin_dir, bin_rules[i].name));
                        if (r < 0)
                                return r;
                        break;
                }
        }
        return 0;
}

int kv_plan_new(const struct kv_plan_opts *opts, struct kv_plan **ret, struct kv_err *err)
{
        const char *root = opts->driver_root && *opts->driver_root ? opts->driver_root : "/";
        const char *dev_root = opts->dev_root && *opts->dev_root ? opts->dev_root : "/";
        const char *proc_root = opts->proc_root && *opts->proc_root ? opts->proc_root : "/proc";
        const char *visible = opts->visible_devices ? opts->visible_devices : "all";
        const char *bin_dir = opts->bin_dir ? opts->bin_dir : KV_PLAN_BIN_DIR;
        struct kv_plan *p = calloc(1, sizeof(*p));
        struct kv_ldcache_entry *cache = NULL;
        struct gpu *gpus = NULL;
        size_t n_gpus = 0;
        int n_cache = 0, r;
        char *cache_path = NULL, *data = NULL;
        long len;

        if (!p)
                return -ENOMEM;
        p->lib_dir = strdup(opts->lib_dir ? opts->lib_dir : KV_PLAN_LIB_DIR);
        p->driver_root = strdup(root);
        p->visible = strdup(visible);
        if (!p->lib_dir || !p->driver_root || !p->visible) {
                r = -ENOMEM;
                goto out_free;
        }
        r = kv_caps_parse(opts->capabilities, &p->caps, err);
        if (r < 0)
                goto out_free;
        /* The toolkit's "void" (and an empty value) means: this container gets no GPU at all. */
        if (strcmp(visible, "void") == 0 || *visible == '\0')
                goto out_done;

        r = list_gpus(proc_root, dev_root, &gpus, &n_gpus);
        if (r < 0)
                goto out_free;
        if (strcmp(visible, "none") != 0) {
                r = select_gpus(p, visible, gpus, n_gpus, err);
                if (r < 0)
                        goto out_free;
                if (p->n_gpus == 0) {
                        r = fail(err, -ENODEV, "no NVIDIA GPU found under %s/dev",
                                 strcmp(dev_root, "/") == 0 ? "" : dev_root);
                        goto out_free;
                }
        }

        /* A tmpfs under each directory we fill, so that nothing we add lands in the image's layer. */
        if ((r = add_mount(p, KV_MOUNT_DIR, NULL, strdup(p->lib_dir))) < 0 ||
            (r = add_mount(p, KV_MOUNT_DIR, NULL, strdup(bin_dir))) < 0)
                goto out_free;

        if ((r = add_dev(p, dev_root, "nvidiactl", true, err)) < 0)
                goto out_free;
        if (p->caps & KV_CAP_COMPUTE) {
                if ((r = add_dev(p, dev_root, "nvidia-uvm", false, err)) < 0 ||
                    (r = add_dev(p, dev_root, "nvidia-uvm-tools", false, err)) < 0)
                        goto out_free;
        }
        if (p->caps & (KV_CAP_DISPLAY | KV_CAP_GRAPHICS)) {
                if ((r = add_dev(p, dev_root, "nvidia-modeset", false, err)) < 0)
                        goto out_free;
        }
        for (size_t i = 0; i < p->n_gpus; i++) {
                char name[32];

                snprintf(name, sizeof(name), "nvidia%u", p->gpus[i]);
                if ((r = add_dev(p, dev_root, name, true, err)) < 0)
                        goto out_free;
        }

        cache_path = opts->ldcache ? strdup(opts->ldcache) : join(root, "/etc/ld.so.cache");
        if (!cache_path) {
                r = -ENOMEM;
                goto out_free;
        }
        len = kv_read_file(AT_FDCWD, cache_path, 64u << 20, &data);
        if (len == -ENOENT) {
                n_cache = scan_lib_dirs(root, &cache);
        } else if (len < 0) {
                r = fail(err, (int) len, "read %s: %s", cache_path, strerror((int) -len));
                goto out_free;
        } else {
                n_cache = kv_ldcache_parse((const unsigned char *) data, (size_t) len, &cache);
                if (n_cache < 0) {
                        r = fail(err, n_cache, "%s is not an ld.so.cache", cache_path);
                        goto out_free;
                }
        }
        for (size_t i = 0; i < sizeof(lib_rules) / sizeof(lib_rules[0]); i++) {
                bool found = false;

                if (!(lib_rules[i].caps & p->caps))
                        continue;
                r = add_lib(p, root, cache, (size_t) n_cache, lib_rules[i].name, &found, 0);
                if (r < 0)
                        goto out_free;
                if (!found && lib_rules[i].required) {
                        r = fail(err, -ENOENT,
                                 "no %s in the ld.so.cache of driver root '%s' (%s): is the NVIDIA driver "
                                 "installed there?",
                                 lib_rules[i].name, root, cache_path);
                        goto out_free;
                }
        }
        r = add_bins(p, root, bin_dir);
        if (r < 0)
                goto out_free;

out_done:
        kv_ldcache_free(cache, (size_t) (n_cache > 0 ? n_cache : 0));
        gpus_free(gpus, n_gpus);
        free(cache_path);
        free(data);
        *ret = p;
        return 0;

out_free:
        if (r == -ENOMEM && err && !err->msg)
                fail(err, -ENOMEM, "out of memory");
        kv_ldcache_free(cache, (size_t) (n_cache > 0 ? n_cache : 0));
        gpus_free(gpus, n_gpus);
        free(cache_path);
        free(data);
        kv_plan_free(p);
        return r;
}

size_t kv_plan_count(const struct kv_plan *p)
{
        return p->n;
}

const struct kv_mount *kv_plan_mount(const struct kv_plan *p, size_t i)
{
        return i < p->n ? &p->mounts[i] : NULL;
}

const char *kv_plan_lib_dir(const struct kv_plan *p)
{
        return p->lib_dir;
}

const unsigned *kv_plan_gpus(const struct kv_plan *p, size_t *ret_n)
{
        *ret_n = p->n_gpus;
        return p->gpus;
}

const char *kv_plan_driver_version(const struct kv_plan *p)
{
        return p->driver_version;
}

static const char *kind_name(enum kv_mount_kind k)
{
        switch (k) {
        case KV_MOUNT_DIR:
                return "tmpfs";
        case KV_MOUNT_DEV:
                return "device";
        case KV_MOUNT_LIB:
                return "library";
        case KV_MOUNT_BIN:
                return "program";
        }
        return "?";
}

char *kv_plan_json(const struct kv_plan *p)
{
        struct kv_json j = {0};

        kv_json_open(&j, NULL, '{');
        kv_json_str(&j, "driver_root", p->driver_root);
        kv_json_str(&j, "driver_version", p->driver_version);
        kv_json_str(&j, "visible_devices", p->visible);
        kv_json_open(&j, "capabilities", '[');
        for (size_t i = 0; i < sizeof(cap_names) / sizeof(cap_names[0]); i++)
                if (p->caps & cap_names[i].bit)
                        kv_json_str(&j, NULL, cap_names[i].name);
        kv_json_close(&j, ']');
        kv_json_open(&j, "gpus", '[');
        for (size_t i = 0; i < p->n_gpus; i++)
                kv_json_int(&j, NULL, p->gpus[i]);
        kv_json_close(&j, ']');
        kv_json_str(&j, "lib_dir", p->lib_dir);
        kv_json_open(&j, "mounts", '[');
        for (size_t i = 0; i < p->n; i++) {
                kv_json_open(&j, NULL, '{');
                kv_json_str(&j, "kind", kind_name(p->mounts[i].kind));
                kv_json_str(&j, "host", p->mounts[i].host_path);
                kv_json_str(&j, "container", p->mounts[i].container_path);
                kv_json_close(&j, '}');
        }
        kv_json_close(&j, ']');
        kv_json_close(&j, '}');
        return kv_sb_take(&j.sb);
}

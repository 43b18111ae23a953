/* Store lifecycle: `cubuild system df` (what the store holds, by kind) and `cubuild fsck` (every
 * blob re-hashed against its name). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builder/bld.h"
#include "builder/cli.h"
#include "builder/exit.h"
#include "layers/layer.h"

struct usage {
        uint64_t bytes, entries;
};

/* Bytes (allocated blocks, as du counts them, hard links once per walk) and top-level entries under
 * dir_fd/path; a missing path is empty. */
static void du_walk(int dir_fd, uint64_t *bytes, unsigned depth)
{
        DIR *d = fdopendir(dir_fd);
        if (!d) {
                (void) close(dir_fd);
                return;
        }
        rewinddir(d); /* the fd may be a dup whose offset a listing moved */
        struct dirent *e;
        while ((e = readdir(d))) {
                if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                        continue;
                struct stat st;
                if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                *bytes += (uint64_t) st.st_blocks * 512u;
                if (S_ISDIR(st.st_mode) && depth < 256) {
                        int fd = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (fd >= 0)
                                du_walk(fd, bytes, depth + 1);
                }
        }
        (void) closedir(d);
}

static struct usage du(int root_fd, const char *path)
{
        struct usage u = { 0, 0 };
        int fd = openat(root_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return u;
        DIR *d = fdopendir(dup(fd));
        if (d) {
                struct dirent *e;
                while ((e = readdir(d)))
                        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                                u.entries++;
                (void) closedir(d);
        }
        du_walk(fd, &u.bytes, 0);
        return u;
}

static void human(char *buf, size_t cap, uint64_t b)
{
        const char *unit[] = { "B", "kB", "MB", "GB", "TB" };
        double v = (double) b;
        size_t i = 0;
        while (v >= 1000 && i + 1 < CB_ARRAY_SIZE(unit)) {
                v /= 1000;
                i++;
        }
        (void) snprintf(buf, cap, i ? "%.1f %s" : "%.0f %s", v, unit[i]);
}

int bld_cmd_system(const struct bld_global *g, int argc, char **argv)
{
        bool json = false;
        if (argc < 2 || strcmp(argv[1], "df") != 0) {
                (void) fputs("cubuild system: give a subcommand: df\nsee 'cubuild system --help'\n", stderr);
                return BLD_EXIT_USAGE;
        }
        for (int i = 2; i < argc; i++) {
                if (!strcmp(argv[i], "--format") && i + 1 < argc && !strcmp(argv[i + 1], "json")) {
                        json = true;
                        i++;
                } else {
                        (void) fprintf(stderr, "cubuild system df: unexpected '%s'\nsee 'cubuild system --help'\n",
                                       argv[i]);
                        return BLD_EXIT_USAGE;
                }
        }
        struct cb_err err;
        cb_err_init(&err);
        struct layer_store *s = NULL;
        int r = layer_store_open(g->root, &s, &err);
        if (r < 0) {
                int rc = bld_report(g, &err);
                cb_err_release(&err);
                return rc;
        }
        struct layer_image_entry *imgs = NULL;
        size_t nimgs = 0;
        r = layer_store_list(s, &imgs, &nimgs, &err);
        int root = layer_store_root_fd(s);
        static const struct {
                const char *name, *path, *what;
        } kinds[] = {
                { "blobs", "blobs/sha256", "layers, configs and manifests, compressed" },
                { "layers", "layers", "layers unpacked for RUN and COPY" },
                { "build-cache", "cache", "build cache records and recompression memos" },
                { "cache-mounts", "cache-mounts", "RUN --mount=type=cache directories" },
                { "logs", "logs", "logs of failed RUN steps" },
        };
        struct usage u[CB_ARRAY_SIZE(kinds)];
        uint64_t total = 0;
        for (size_t i = 0; i < CB_ARRAY_SIZE(kinds); i++) {
                u[i] = du(root, kinds[i].path);
                total += u[i].bytes;
        }
        if (r >= 0 && json) {
                json_t *o = json_pack("{s:s, s:I, s:I}", "root", layer_store_root(s), "images", (json_int_t) nimgs,
                                      "total_bytes", (json_int_t) total);
                for (size_t i = 0; i < CB_ARRAY_SIZE(kinds); i++)
                        json_object_set_new(o, kinds[i].name,
                                            json_pack("{s:I, s:I}", "bytes", (json_int_t) u[i].bytes, "entries",
                                                      (json_int_t) u[i].entries));
                char *text = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);
                (void) puts(text);
                free(text);
                json_decref(o);
        } else if (r >= 0) {
                (void) printf("%-14s %8s %12s\n", "KIND", "ENTRIES", "SIZE");
                (void) printf("%-14s %8zu %12s  %s\n", "images", nimgs, "-", "named images (their blobs are below)");
                for (size_t i = 0; i < CB_ARRAY_SIZE(kinds); i++) {
                        char h[32];
                        human(h, sizeof(h), u[i].bytes);
                        (void) printf("%-14s %8llu %12s  %s\n", kinds[i].name, (unsigned long long) u[i].entries, h,
                                      kinds[i].what);
                }
                char h[32];
                human(h, sizeof(h), total);
                (void) printf("%-14s %8s %12s  %s\n", "total", "", h, layer_store_root(s));
        }
        layer_image_entries_free(imgs, nimgs);
        layer_store_free(s);
        int rc = r < 0 ? bld_report(g, &err) : BLD_EXIT_OK;
        cb_err_release(&err);
        return rc;
}

struct fsck_tally {
        uint64_t bad, removed;
};

/* A directory-backed layer whose directory no longer makes its tar. */
static void fsck_dirlayer(void *ud, const char *digest, const char *why, bool removed)
{
        struct fsck_tally *t = ud;
        t->bad++;
        (void) printf("%s: %s\n", digest, why);
        if (removed) {
                t->removed++;
                (void) printf("%s: removed\n", digest);
        }
}

int bld_cmd_fsck(const struct bld_global *g, int argc, char **argv)
{
        bool repair = false;
        for (int i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--repair")) {
                        repair = true;
                } else {
                        (void) fprintf(stderr, "cubuild fsck: unexpected '%s'\nsee 'cubuild fsck --help'\n", argv[i]);
                        return BLD_EXIT_USAGE;
                }
        }
        struct cb_err err;
        cb_err_init(&err);
        struct layer_store *s = NULL;
        int r = layer_store_open(g->root, &s, &err);
        if (r < 0) {
                int rc = bld_report(g, &err);
                cb_err_release(&err);
                return rc;
        }
        int bfd = openat(layer_store_root_fd(s), "blobs/sha256", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d = bfd >= 0 ? fdopendir(bfd) : NULL;
        uint64_t checked = 0, bad = 0, removed = 0;
        struct dirent *e;
        while (d && (e = readdir(d))) {
                if (e->d_name[0] == '.')
                        continue;
                char want[300], got[CB_DIGEST_STR_LEN];
                (void) snprintf(want, sizeof(want), "sha256:%s", e->d_name);
                unsigned long long size = 0;
                struct cb_err e2;
                cb_err_init(&e2);
                int hr = cb_sha256_file(dirfd(d), e->d_name, got, &size, &e2);
                checked++;
                if (hr < 0 || !cb_digest_valid(want) || strcmp(want, got) != 0) {
                        bad++;
                        (void) printf("%s: %s\n", want,
                                      hr < 0 ? cb_err_msg(&e2)
                                             : !cb_digest_valid(want) ? "not a digest name" : "content does not match");
                        if (repair && unlinkat(dirfd(d), e->d_name, 0) == 0) {
                                removed++;
                                (void) printf("%s: removed\n", want);
                        }
                }
                cb_err_release(&e2);
        }
        if (d)
                (void) closedir(d);
        else if (bfd >= 0)
                (void) close(bfd);
        struct fsck_tally t = { 0 };
        int nd = layer_store_check_dirlayers(s, repair, fsck_dirlayer, &t, &err);
        if (nd < 0) {
                (void) printf("%s\n", cb_err_msg(&err));
                cb_err_reset(&err);
                t.bad++;
                nd = 0;
        }
        bad += t.bad;
        removed += t.removed;
        (void) fprintf(stderr, "fsck: %llu blobs and %d layers kept as directories checked, %llu bad%s\n",
                       (unsigned long long) checked, nd, (unsigned long long) bad,
                       repair ? (removed == bad ? ", all removed" : ", some not removed") : "");
        if (bad && repair)
                (void) fprintf(stderr, "fsck: images that used removed blobs need 'cubuild pull' or a rebuild\n");
        layer_store_free(s);
        cb_err_release(&err);
        return bad && !(repair && removed == bad) ? BLD_EXIT_FAILED : BLD_EXIT_OK;
}

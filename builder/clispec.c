/* Every command and flag of cubuild, once. See clispec.h. */
#include "builder/clispec.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "builder/cli.h"
#include "builder/exit.h"
#include "builder/optids.h"
#include "common/cb.h"

#define H_HELP { "help", 'h', NULL, "Display", "show this help", false }
#define END { NULL, 0, NULL, NULL, NULL, false }

static const struct bld_flag global_flags[] = {
        { "root", BLD_OPT_ROOT, "DIR", "Global options",
          "store root (default /var/lib/cubuild as root, $XDG_DATA_HOME/cubuild otherwise; env CUBUILD_ROOT)", false },
        { "debug", BLD_OPT_DEBUG, NULL, "Global options", "show where errors were raised", false },
        { "config", BLD_OPT_CONFIG, "FILE", "Global options",
          "configuration: registries, mirrors (default $XDG_CONFIG_HOME/cubuild/config.yaml, "
          "/etc/cubuild/config.yaml)",
          false },
        { "registry-mirror", BLD_OPT_MIRROR, "[REGISTRY=]HOST", "Global options", "pull through a mirror (repeatable)",
          false },
        { "insecure-registry", BLD_OPT_INSECURE, "HOST", "Global options",
          "plain HTTP or unverified TLS for HOST (repeatable)", false },
        { "version", BLD_OPT_VERSION, NULL, "Global options", "show the version", false },
        { "help", 'h', NULL, "Global options", "show this help", false },
        END,
};

static const struct bld_flag build_flags[] = {
        { "file", 'f', "FILE", "Input", "the Dockerfile (default CONTEXT/Dockerfile; '-' reads stdin)", false },
        { "build-arg", BLD_OPT_BUILD_ARG, "K=V", "Input", "set a build-time variable; K alone takes it from the environment (repeatable)", false },
        { "target", BLD_OPT_TARGET, "STAGE", "Input", "build up to this stage", false },
        { "build-context", BLD_OPT_BUILD_CONTEXT, "NAME=SRC", "Input",
          "SRC (docker-image://REF, oci-layout://PATH[:TAG|@DIGEST] or a directory) stands in for FROM NAME, "
          "COPY --from=NAME and bind mounts from=NAME (repeatable)", false },
        { "platform", BLD_OPT_PLATFORM, "OS/ARCH", "Input", "the target platform (the host's, linux/amd64, only)", false },
        { "secret", BLD_OPT_SECRET, "id=ID,src=PATH|env=VAR", "Input",
          "a secret for RUN --mount=type=secret; never stored in the image (repeatable)", false },
        { "pull", BLD_OPT_PULL, NULL, "Input", "pull FROM images from their registry even when the store has them",
          false },
        { "ssh", BLD_OPT_SSH, "default|ID[=PATH]", "Input", "refused: SSH agent forwarding is not supported yet", false },
        { "check", BLD_OPT_CHECK, NULL, "Input", "run the Dockerfile checks (cubuild check) instead of building", false },
        { "tag", 't', "NAME[:TAG]", "Output", "name the image (repeatable)", false },
        { "label", BLD_OPT_LABEL, "K=V", "Output", "add a label to the image (repeatable)", false },
        { "output", 'o', "type=oci|oci-archive|docker-archive,dest=PATH", "Output", "also write the image there (repeatable)", false },
        { "annotation", BLD_OPT_ANNOTATION, "K=V", "Output", "add an annotation to the image manifest (repeatable)", false },
        { "push", BLD_OPT_PUSH, NULL, "Output", "push every -t name to its registry after the build", false },
        { "load", BLD_OPT_LOAD, NULL, "Output", "accepted: the image always goes into the local store", false },
        { "provenance", BLD_OPT_PROVENANCE, "true|false", "Output",
          "SLSA v1 provenance as a referrer of the image (default true)", false },
        { "sbom", BLD_OPT_SBOM, "true|false", "Output", "SPDX 2.3 SBOM as a referrer of the image (default true)", false },
        { "iidfile", BLD_OPT_IIDFILE, "FILE", "Output", "write the image digest to FILE", false },
        { "metadata-file", BLD_OPT_METADATA, "FILE", "Output", "write the build result as JSON: digests, names, verification", false },
        { "format", BLD_OPT_FORMAT, "oci|docker", "Output", "manifest and config media types (default oci)", false },
        { "compression", BLD_OPT_COMPRESSION, "gzip|zstd|none", "Output", "layer compression of pushes and exports (default gzip; given, of the stored image too)", false },
        { "source-date-epoch", BLD_OPT_SDE, "SECONDS", "Output",
          "timestamps for reproducible images (default: env SOURCE_DATE_EPOCH)", false },
        { "no-cache", BLD_OPT_NO_CACHE, NULL, "Cache and concurrency", "run every step; don't look up the build cache", false },
        { "no-cache-filter", BLD_OPT_NO_CACHE_FILTER, "STAGE", "Cache and concurrency",
          "run every step of STAGE, a name or index (repeatable)", false },
        { "cache-from", BLD_OPT_CACHE_FROM, "type=registry,ref=REF|type=local,src=DIR", "Cache and concurrency",
          "reuse a shared build cache (repeatable)", false },
        { "cache-to", BLD_OPT_CACHE_TO, "type=registry,ref=REF[,mode=min|max]|type=local,dest=DIR",
          "Cache and concurrency", "export the build cache there", false },
        { "jobs", BLD_OPT_JOBS, "N", "Cache and concurrency", "build up to N independent stages at once (default 1)", false },
        { "cache-from", BLD_OPT_CACHE_FROM, "type=registry,ref=REF|type=local,src=DIR", "Cache and concurrency",
          "import a shared build cache; layers of hits are fetched only when needed (repeatable)", false },
        { "cache-to", BLD_OPT_CACHE_TO, "type=registry,ref=REF|type=local,dest=DIR[,mode=min|max]",
          "Cache and concurrency", "export the build cache (mode=max: every stage's steps) (repeatable)", false },
        { "network", BLD_OPT_NETWORK, "host|none", "RUN steps", "network for RUN (default host)", false },
        { "shm-size", BLD_OPT_SHM, "SIZE", "RUN steps", "size of /dev/shm in RUN (default 64m)", false },
        { "gpus", BLD_OPT_GPUS, "all|N|none", "RUN steps", "the host GPU in RUN steps (default none)", false },
        { "add-host", BLD_OPT_ADD_HOST, "HOST:IP", "RUN steps", "add a line to /etc/hosts in RUN (repeatable)", false },
        { "ulimit", BLD_OPT_ULIMIT, "TYPE=SOFT[:HARD]", "RUN steps", "a resource limit in RUN, e.g. nofile=1024:2048 (repeatable)",
          false },
        { "verify", BLD_OPT_VERIFY, "auto|require|skip", "GPU verification",
          "verify the image on the GPU (default auto: when a GPU is present)", false },
        { "verify-report", BLD_OPT_VERIFY_REPORT, "FILE", "GPU verification", "write the verification report (JSON)", false },
        { "require-arch", BLD_OPT_REQUIRE_ARCH, "sm_80,sm_90", "GPU verification",
          "fail (exit 3) unless all of the image's CUDA code runs on these GPUs (static report, no GPU needed)", false },
        { "require-driver", BLD_OPT_REQUIRE_DRIVER, "VERSION", "GPU verification",
          "fail (exit 3) if the image needs a newer NVIDIA driver than VERSION (535, 535.104.05)", false },
        { "run-timeout", BLD_OPT_RUN_TIMEOUT, "DURATION", "RUN steps",
          "kill a RUN step, its whole process tree, running longer than this (30s, 5m, 1h30m; default no limit)",
          false },
        { "on-error", BLD_OPT_ON_ERROR, "shell|fail", "RUN steps",
          "shell: when a RUN step fails, open /bin/sh in its sandbox as the step left it; the build fails when "
          "the shell exits. The failed step's whole log is kept in ROOT/logs/BUILD/STEP.log either way",
          false },
        { "progress", BLD_OPT_PROGRESS, "auto|tty|plain|rawjson|quiet", "Display",
          "progress on stderr (default auto: tty on a terminal, else plain; rawjson: one JSON object per line "
          "with step, total, instr, status, bytes, ts)",
          false },
        { "quiet", 'q', NULL, "Display", "print only the image digest", false },
        H_HELP,
        END,
};

static const struct bld_flag check_flags[] = {
        { "file", 'f', "FILE", "Options", "the Dockerfile (default CONTEXT/Dockerfile)", false },
        { "strict", BLD_OPT_STRICT, NULL, "Options", "warnings fail too", false },
        { "format", BLD_OPT_FORMAT, "text|json", "Options", "output format (default text)", false },
        { "list-rules", BLD_OPT_LIST_RULES, NULL, "Options", "list the rules and exit", false },
        H_HELP,
        END,
};

static const struct bld_flag quiet_flags[] = {
        { "quiet", 'q', NULL, "Options", "print only digests", false },
        H_HELP,
        END,
};

static const struct bld_flag help_only[] = { H_HELP, END };

static const struct bld_flag load_flags[] = {
        { "tag", 't', "NAME[:TAG]", "Options", "name the loaded image (default: the archive's own names)", false },
        H_HELP,
        END,
};

static const struct bld_flag login_flags[] = {
        { "username", 'u', "USER", "Options", "the user name", false },
        { "password", 'p', "PASSWORD", "Options", "the password (prefer --password-stdin)", false },
        { "password-stdin", BLD_OPT_PASSWORD_STDIN, NULL, "Options", "read the password from stdin", false },
        { "authfile", BLD_OPT_AUTHFILE, "FILE", "Options", "where credentials are kept (default as docker login)", false },
        H_HELP,
        END,
};

static const struct bld_flag logout_flags[] = {
        { "authfile", BLD_OPT_AUTHFILE, "FILE", "Options", "where credentials are kept", false },
        H_HELP,
        END,
};

static const struct bld_flag save_flags[] = {
        { "output", 'o', "PATH", "Options", "where to write (default: stdout for archives)", false },
        { "format", BLD_OPT_FORMAT, "docker-archive|oci-archive|oci-dir", "Options", "what to write (default docker-archive)", false },
        H_HELP,
        END,
};

static const struct bld_flag prune_flags[] = {
        { "all", 'a', NULL, "Options", "also empty the build cache, its layers and the cache mounts", false },
        { "cache", BLD_OPT_PRUNE_CACHE, NULL, "Options", "also remove build cache records and cache mounts, least recently used first", false },
        { "keep-storage", BLD_OPT_KEEP_STORAGE, "SIZE", "Options", "remove least recently used build cache and cache mounts until the store takes at most SIZE", false },
        { "filter", BLD_OPT_FILTER, "until=DURATION", "Options", "only what was not used for DURATION (with --all, --cache, --keep-storage)", false },
        H_HELP,
        END,
};

static const struct bld_flag verify_flags[] = {
        { "verify", BLD_OPT_VERIFY, "require|auto", "Options", "a GPU is required (default) or optional", false },
        { "verify-report", BLD_OPT_VERIFY_REPORT, "FILE", "Options", "write the verification report (JSON)", false },
        H_HELP,
        END,
};

static const struct bld_flag bake_flags[] = {
        { "file", 'f', "FILE", "Input",
          "the bake file (default: the first of cubuild.yaml, cubuild.yml, docker-bake.json, compose.yaml, "
          "compose.yml, docker-compose.yml, docker-compose.yaml)",
          false },
        { "set", BLD_OPT_SET, "TARGET.KEY=VALUE", "Input",
          "override a target's key after inheritance; TARGET may be a glob such as '*' (repeatable)", false },
        { "print", BLD_OPT_PRINT, NULL, "Output", "print the resolved plan as JSON and build nothing", false },
        { "push", BLD_OPT_PUSH, NULL, "Output", "push every target's tags", false },
        { "load", BLD_OPT_LOAD, NULL, "Output", "accepted: every image goes into the local store", false },
        { "metadata-file", BLD_OPT_METADATA, "FILE", "Output", "write each target's build result as JSON", false },
        { "no-cache", BLD_OPT_NO_CACHE, NULL, "Cache and concurrency", "run every step of every target", false },
        { "jobs", 'j', "N", "Cache and concurrency",
          "build at most N targets at a time (default: every target whose dependencies are built)", false },
        { "progress", BLD_OPT_PROGRESS, "auto|plain|quiet", "Display", "how much to show (quiet: only the digests)",
          false },
        H_HELP,
        END,
};

static const struct bld_flag compat_flags[] = {
        { "json", BLD_OPT_JSON, NULL, "Options", "print the report as JSON (the verification report's \"static\")", false },
        { "require-arch", BLD_OPT_REQUIRE_ARCH, "sm_80,sm_90", "Options",
          "exit 3 unless all of the image's CUDA code runs on these GPUs", false },
        { "require-driver", BLD_OPT_REQUIRE_DRIVER, "VERSION", "Options",
          "exit 3 if the image needs a newer NVIDIA driver than VERSION", false },
        H_HELP,
        END,
};

static const struct bld_flag diff_flags[] = {
        { "format", BLD_OPT_FORMAT, "text|json", "Options", "output format (default text)", false },
        { "no-files", BLD_OPT_NO_FILES, NULL, "Options", "compare manifests, configs and layer lists only", false },
        { "quiet", 'q', NULL, "Options", "print nothing; the exit status says", false },
        H_HELP,
        END,
};

static const struct bld_flag attest_flags[] = {
        { "format", BLD_OPT_FORMAT, "json", "Options", "list as JSON", false },
        { "get", BLD_OPT_GET, "provenance|sbom|verify", "Options", "print that document", false },
        H_HELP,
        END,
};

static const struct bld_flag rebuild_flags[] = {
        { "context", BLD_OPT_CONTEXT, "DIR", "Options", "the build context the image was built from", false },
        { "file", 'f', "FILE", "Options", "the Dockerfile (default DIR/Dockerfile)", false },
        { "format", BLD_OPT_FORMAT, "text|json", "Options", "output format (default text)", false },
        H_HELP,
        END,
};

static const struct bld_flag inspect_flags[] = {
        { "inputs", BLD_OPT_INPUTS, NULL, "Options",
          "print only the inputs the image records (bases, Dockerfile and context digests, args, target, epoch)",
          false },
        H_HELP,
        END,
};

static const struct bld_flag system_flags[] = {
        { "format", BLD_OPT_FORMAT, "json", "Options", "print as JSON", false },
        H_HELP,
        END,
};

static const struct bld_flag fsck_flags[] = {
        { "repair", BLD_OPT_REPAIR, NULL, "Options", "remove the blobs, and the layers kept as directories, whose content does not match their digest", false },
        H_HELP,
        END,
};

static const struct bld_cmdspec global = {
        "", "[COMMAND] [OPTIONS] [ARGS]", "a daemonless Dockerfile-to-OCI image builder for CUDA and PyTorch",
        "With no command, cubuild builds: 'cubuild -t NAME .' is 'cubuild build -t NAME .'. A known command name "
        "wins over a context directory of that name (write ./NAME). Global options come before the command.\n"
        "Exit status: 0 success, 1 the build or command failed, 2 usage error, 3 GPU verification failed, "
        "128+N killed by signal N.",
        global_flags,
};

static const struct bld_cmdspec commands[] = {
        { "build", "CONTEXT", "Build an image from a Dockerfile (the default command)",
          "Build the Dockerfile in CONTEXT (or -f FILE) into an image in the store, verify it on the GPU when there "
          "is one, and write or push it where asked.",
          build_flags },
        { "bake", "[TARGET|GROUP...]", "Build the targets of a bake file (cubuild.yaml, docker-bake.json, compose)",
          "Build several images described once in a YAML build file with the structure of docker buildx bake's "
          "JSON definition (variable, group, target, inherits, contexts, args, tags, output, cache-from, cache-to, "
          "platforms) plus verify; a docker-bake.json and a compose file's build sections read too. Targets build in "
          "dependency order, independent ones at the same time. With no names: the group or target 'default'. "
          "See docs/bake.md.",
          bake_flags },
        { "check", "[CONTEXT]", "Parse and lint a Dockerfile without building",
          "Exit 0 when clean, 1 on errors (and on warnings with --strict), 2 on usage errors.", check_flags },
        { "images", "", "List images in the store", NULL, quiet_flags },
        { "import", "ROOTFS.tar NAME[:TAG]", "Import a rootfs tarball as an image", "A one-layer image from a root "
          "filesystem tarball.", help_only },
        { "load", "OCI_LAYOUT_DIR[:REF] | ARCHIVE.tar", "Load an image from an OCI layout or an archive",
          "Load from an OCI image layout directory, a docker-archive (docker save) or an oci-archive.", load_flags },
        { "tag", "IMAGE NEW_NAME[:TAG]", "Give an image another name", NULL, help_only },
        { "rm", "NAME...", "Remove image names from the store", "Blobs stay until prune.", help_only },
        { "inspect", "IMAGE", "Show an image's manifest and config as JSON",
          "IMAGE is a store name or digest, oci:DIR[:TAG], oci-archive:FILE, docker-archive:FILE or docker://REF.",
          inspect_flags },
        { "pull", "REFERENCE", "Pull an image from a registry into the store",
          "The host's platform; every blob is verified by digest. The image's referrers (provenance, SBOM, GPU "
          "report) come with it, through the registry's referrers API or the OCI 1.1 fallback tag.",
          quiet_flags },
        { "push", "NAME [DESTINATION]", "Push a store image to a registry",
          "DESTINATION defaults to NAME; blobs the registry has are skipped, and the image's GPU verification "
          "report goes with it.",
          quiet_flags },
        { "login", "REGISTRY", "Store credentials for a registry",
          "Check the credentials with the registry and store them as docker login does (~/.docker/config.json, "
          "$DOCKER_CONFIG, $REGISTRY_AUTH_FILE or --authfile).",
          login_flags },
        { "logout", "REGISTRY", "Remove stored credentials", NULL, logout_flags },
        { "save", "IMAGE", "Write an image as a docker-archive, oci-archive or OCI layout", NULL, save_flags },
        { "prune", "", "Remove blobs and layers no image uses",
          "Layers the build cache points to stay unless --all.", prune_flags },
        { "verify", "IMAGE", "Run the GPU verification on a store image",
          "Exit status 3 when verification fails or cannot run.", verify_flags },
        { "compat", "IMAGE", "Static CUDA compatibility report of an image (no GPU needed)",
          "Print which NVIDIA drivers and GPU architectures the image runs on, from its files alone: CUDA runtime, "
          "cuBLAS, cuDNN, NCCL and torch versions, the minimum driver, and per architecture whether all of its "
          "CUDA code runs natively (SASS), through the PTX JIT, or not. Nothing in the image runs. IMAGE is a "
          "store name or digest, an OCI layout directory (DIR or DIR:REF), an oci-archive or docker-archive, or "
          "a registry reference (pulled into the store). Exit status 3 when a --require-* is not met.",
          compat_flags },
        { "diff", "IMAGE_A IMAGE_B", "Compare two images: manifests, configs, layers, files",
          "Manifests and configs field by field, layers matched by diff_id, file trees per layer and flattened "
          "(type, mode, owner, size, content sha256, link target, xattrs, mtime); one line per difference. Each "
          "image is a store name or digest, oci:DIR[:TAG], oci-archive:FILE, docker-archive:FILE or docker://REF. "
          "Exit status: 0 equal, 1 different, 2 trouble.",
          diff_flags },
        { "rebuild-check", "IMAGE", "Rebuild an image from its recorded inputs and compare",
          "Checks that the Dockerfile and context match the digests IMAGE records, rebuilds in a temporary store "
          "from the recorded bases, build args, target and SOURCE_DATE_EPOCH, and compares the digests; on a "
          "mismatch prints the differences as diff does. Exit status: 0 reproduced, 1 not, 2 trouble.",
          rebuild_flags },
        { "attestations", "IMAGE", "List or print an image's provenance, SBOM and GPU report",
          "The documents that refer to a store image, by name or digest (its referrers index, kept under "
          "sha256-<hex> and REPO:sha256-<hex>).",
          attest_flags },
        { "system", "df", "Show what the store holds: images, blobs, unpacked layers, build cache, cache mounts, logs",
          "Sizes are allocated bytes, as du counts them.", system_flags },
        { "fsck", "",
          "Re-hash every blob of the store, and every layer kept as a directory, and report the ones that "
          "do not match",
          "Exit status 1 when one is bad (0 after --repair removed them all).", fsck_flags },
        { "version", "", "Show the version", NULL, help_only },
};

const struct bld_cmdspec *bld_cmdspec_find(const char *name)
{
        if (!*name)
                return &global;
        for (size_t i = 0; i < CB_ARRAY_SIZE(commands); i++)
                if (strcmp(commands[i].name, name) == 0)
                        return &commands[i];
        return NULL;
}

const struct bld_cmdspec *const *bld_cmdspecs(size_t *ret_n)
{
        static const struct bld_cmdspec *list[CB_ARRAY_SIZE(commands)];
        for (size_t i = 0; i < CB_ARRAY_SIZE(commands); i++)
                list[i] = &commands[i];
        *ret_n = CB_ARRAY_SIZE(commands);
        return list;
}

static size_t nflags(const struct bld_cmdspec *c)
{
        size_t n = 0;
        while (c->flags[n].name)
                n++;
        return n;
}

struct option *bld_cmdspec_options(const struct bld_cmdspec *c, char **ret_shortopts)
{
        size_t n = nflags(c);
        struct option *o = cb_xcalloc(n + 1, sizeof(*o));
        struct cb_buf s;
        cb_buf_init(&s, CB_BUF_UNLIMITED);
        (void) cb_buf_addc(&s, '+');
        for (size_t i = 0; i < n; i++) {
                const struct bld_flag *f = &c->flags[i];
                o[i] = (struct option){ f->name, f->metavar ? required_argument : no_argument, NULL, f->val };
                if (f->val < 256) {
                        (void) cb_buf_addc(&s, (char) f->val);
                        if (f->metavar)
                                (void) cb_buf_addc(&s, ':');
                }
        }
        *ret_shortopts = cb_buf_take(&s, NULL);
        return o;
}

static void flag_label(char *buf, size_t cap, const struct bld_flag *f)
{
        if (f->val < 256)
                (void) snprintf(buf, cap, "-%c, --%s%s%s", (char) f->val, f->name, f->metavar ? " " : "",
                                f->metavar ? f->metavar : "");
        else
                (void) snprintf(buf, cap, "    --%s%s%s", f->name, f->metavar ? " " : "", f->metavar ? f->metavar : "");
}

/* Wraps text at width, each line after the first indented by indent; no trailing blanks. */
static void wrap(FILE *f, const char *text, size_t col, size_t indent, size_t width)
{
        const char *p = text;
        bool space = false;
        while (*p) {
                size_t w = strcspn(p, " \n");
                if (col > indent && col + (space ? 1 : 0) + w > width) {
                        (void) fprintf(f, "\n%*s", (int) indent, "");
                        col = indent;
                } else if (space) {
                        (void) fputc(' ', f);
                        col++;
                }
                space = false;
                (void) fprintf(f, "%.*s", (int) w, p);
                col += w;
                p += w;
                if (*p == '\n') {
                        (void) fprintf(f, "\n%*s", (int) indent, "");
                        col = indent;
                        p++;
                } else if (*p == ' ') {
                        space = true;
                        p++;
                }
        }
}

void bld_cmdspec_usage(FILE *f, const struct bld_cmdspec *c)
{
        bool is_global = !*c->name;
        if (is_global)
                (void) fprintf(f, "Usage: cubuild [GLOBAL OPTIONS] %s\n\n", c->args);
        else
                (void) fprintf(f, "Usage: cubuild [GLOBAL OPTIONS] %s [OPTIONS]%s%s\n\n", c->name, *c->args ? " " : "",
                               c->args);
        wrap(f, c->summary, 0, 0, 80);
        (void) fputs(is_global ? "\n" : ".\n", f);
        if (c->text) {
                (void) fputs("\n", f);
                wrap(f, c->text, 0, 0, 80);
                (void) fputs("\n", f);
        }
        if (is_global) {
                size_t n;
                const struct bld_cmdspec *const *all = bld_cmdspecs(&n);
                (void) fputs("\nCommands:\n", f);
                for (size_t i = 0; i < n; i++)
                        (void) fprintf(f, "  %-14s %s\n", all[i]->name, all[i]->summary);
        }
        const char *groups[16];
        size_t ng = 0;
        for (size_t i = 0; c->flags[i].name; i++) {
                bool seen = false;
                for (size_t k = 0; k < ng; k++)
                        seen = seen || strcmp(groups[k], c->flags[i].group) == 0;
                if (!seen && ng < CB_ARRAY_SIZE(groups))
                        groups[ng++] = c->flags[i].group;
        }
        for (size_t g = 0; g < ng; g++) {
                (void) fprintf(f, "\n%s:\n", groups[g]);
                for (size_t i = 0; c->flags[i].name; i++) {
                        const struct bld_flag *fl = &c->flags[i];
                        if (fl->hidden || strcmp(fl->group, groups[g]) != 0)
                                continue;
                        char label[128];
                        flag_label(label, sizeof(label), fl);
                        if (strlen(label) > 28)
                                (void) fprintf(f, "  %s\n%32s", label, "");
                        else
                                (void) fprintf(f, "  %-28s  ", label);
                        wrap(f, fl->help, 32, 32, 100);
                        (void) fputs("\n", f);
                }
        }
}

int bld_cmdspec_flag_error(const struct bld_cmdspec *c, const char *arg, int optopt)
{
        _cleanup_free_ char *shortopts = NULL;
        _cleanup_free_ struct option *o = bld_cmdspec_options(c, &shortopts);
        return bld_flag_error(*c->name ? c->name : "", arg, optopt, o);
}

int bld_cmdspec_check_flags(const struct bld_cmdspec *c, int argc, char **argv)
{
        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];
                if (strcmp(a, "--") == 0)
                        return 0;
                if (a[0] != '-' || a[1] == '\0')
                        continue;
                const struct bld_flag *hit = NULL;
                bool inline_value = false;
                if (a[1] == '-') {
                        size_t wl = strcspn(a + 2, "=");
                        inline_value = a[2 + wl] == '=';
                        for (size_t k = 0; c->flags[k].name && !hit; k++)
                                if (strlen(c->flags[k].name) == wl && strncmp(c->flags[k].name, a + 2, wl) == 0)
                                        hit = &c->flags[k];
                        if (!hit || (inline_value && !hit->metavar))
                                return bld_cmdspec_flag_error(c, a, 0);
                } else {
                        for (size_t k = 0; c->flags[k].name && !hit; k++)
                                if (c->flags[k].val == (unsigned char) a[1])
                                        hit = &c->flags[k];
                        if (!hit)
                                return bld_cmdspec_flag_error(c, a, (unsigned char) a[1]);
                        inline_value = a[2] != '\0';
                }
                if (hit->metavar && !inline_value) {
                        if (i + 1 >= argc)
                                return bld_cmdspec_flag_error(c, a, a[1] == '-' ? 0 : (unsigned char) a[1]);
                        i++;
                }
        }
        return 0;
}

/* --- generated documents --- */

static void md_escape(FILE *f, const char *s)
{
        for (; *s; s++) {
                if (*s == '|' || *s == '*' || *s == '_' || *s == '<' || *s == '>')
                        (void) fputc('\\', f);
                (void) fputc(*s, f);
        }
}

static void doc_markdown(FILE *f)
{
        size_t n;
        const struct bld_cmdspec *const *all = bld_cmdspecs(&n);
        (void) fputs("# cubuild command line\n\n"
                     "<!-- generated by `cubuild __doc markdown` from builder/clispec.c; do not edit -->\n\n"
                     "`cubuild [GLOBAL OPTIONS] [COMMAND] [OPTIONS] [ARGS]`\n\n",
                     f);
        (void) fprintf(f, "%s\n\n| global option | |\n|---|---|\n", global.text);
        for (size_t i = 0; global.flags[i].name; i++) {
                const struct bld_flag *fl = &global.flags[i];
                (void) fprintf(f, "| `--%s%s%s` | ", fl->name, fl->metavar ? " " : "", fl->metavar ? fl->metavar : "");
                md_escape(f, fl->help);
                (void) fputs(" |\n", f);
        }
        for (size_t c = 0; c < n; c++) {
                const struct bld_cmdspec *s = all[c];
                (void) fprintf(f, "\n## %s\n\n`cubuild %s [OPTIONS]%s%s`\n\n%s.", s->name, s->name, *s->args ? " " : "",
                               s->args, s->summary);
                if (s->text)
                        (void) fprintf(f, " %s", s->text);
                (void) fputs("\n\n| option | |\n|---|---|\n", f);
                for (size_t i = 0; s->flags[i].name; i++) {
                        const struct bld_flag *fl = &s->flags[i];
                        if (fl->hidden)
                                continue;
                        (void) fputs("| `", f);
                        if (fl->val < 256)
                                (void) fprintf(f, "-%c`, `", (char) fl->val);
                        (void) fprintf(f, "--%s%s%s` | ", fl->name, fl->metavar ? " " : "", fl->metavar ? fl->metavar : "");
                        md_escape(f, fl->help);
                        (void) fputs(" |\n", f);
                }
        }
}

static void man_text(FILE *f, const char *s)
{
        for (; *s; s++) {
                if (*s == '\\')
                        (void) fputs("\\e", f);
                else if (*s == '-')
                        (void) fputs("\\-", f);
                else if (*s == '\n')
                        (void) fputs("\n.br\n", f);
                else
                        (void) fputc(*s, f);
        }
}

static void man_flags(FILE *f, const struct bld_flag *flags)
{
        for (size_t i = 0; flags[i].name; i++) {
                const struct bld_flag *fl = &flags[i];
                if (fl->hidden)
                        continue;
                (void) fputs(".TP\n", f);
                if (fl->val < 256)
                        (void) fprintf(f, "\\fB\\-%c\\fR, ", (char) fl->val);
                (void) fputs("\\fB\\-\\-", f);
                man_text(f, fl->name);
                (void) fputs("\\fR", f);
                if (fl->metavar) {
                        (void) fputs(" \\fI", f);
                        man_text(f, fl->metavar);
                        (void) fputs("\\fR", f);
                }
                (void) fputs("\n", f);
                man_text(f, fl->help);
                (void) fputs("\n", f);
        }
}

static void doc_man(FILE *f)
{
        size_t n;
        const struct bld_cmdspec *const *all = bld_cmdspecs(&n);
        (void) fputs(".\\\" generated by `cubuild __doc man` from builder/clispec.c; do not edit\n"
                     ".TH CUBUILD 1 \"\" \"cubuild\" \"User Commands\"\n.SH NAME\ncubuild \\- ",
                     f);
        man_text(f, global.summary);
        (void) fputs("\n.SH SYNOPSIS\n\\fBcubuild\\fR [\\fIGLOBAL OPTIONS\\fR] [\\fICOMMAND\\fR] [\\fIOPTIONS\\fR] "
                     "[\\fIARGS\\fR]\n.SH DESCRIPTION\n",
                     f);
        man_text(f, global.text);
        (void) fputs("\n.SH GLOBAL OPTIONS\n", f);
        man_flags(f, global.flags);
        (void) fputs(".SH COMMANDS\n", f);
        for (size_t c = 0; c < n; c++) {
                const struct bld_cmdspec *s = all[c];
                (void) fprintf(f, ".SS \"cubuild %s [OPTIONS]%s", s->name, *s->args ? " " : "");
                man_text(f, s->args);
                (void) fputs("\"\n", f);
                man_text(f, s->summary);
                (void) fputs(".", f);
                if (s->text) {
                        (void) fputs(" ", f);
                        man_text(f, s->text);
                }
                (void) fputs("\n", f);
                man_flags(f, s->flags);
        }
        (void) fputs(".SH FILES\n\\fI~/.docker/config.json\\fR: registry credentials, as docker reads them.\n"
                     ".SH SEE ALSO\n\\fBdocker-build\\fR(1), \\fBbuildah-build\\fR(1)\n",
                     f);
}

static void doc_bash(FILE *f)
{
        size_t n;
        const struct bld_cmdspec *const *all = bld_cmdspecs(&n);
        (void) fputs("# bash completion for cubuild\n"
                     "# generated by `cubuild __doc bash` from builder/clispec.c; do not edit\n"
                     "_cubuild() {\n"
                     "\tlocal cur=${COMP_WORDS[COMP_CWORD]} cmd= i\n"
                     "\tfor ((i = 1; i < COMP_CWORD; i++)); do\n"
                     "\t\tcase ${COMP_WORDS[i]} in\n"
                     "\t\t--root|--config|--registry-mirror|--insecure-registry) ((i++)) ;;\n"
                     "\t\t-*) ;;\n"
                     "\t\t*) cmd=${COMP_WORDS[i]}; break ;;\n"
                     "\t\tesac\n"
                     "\tdone\n"
                     "\tlocal words\n"
                     "\tcase $cmd in\n",
                     f);
        for (size_t c = 0; c < n; c++) {
                (void) fprintf(f, "\t%s) words=\"", all[c]->name);
                for (size_t i = 0; all[c]->flags[i].name; i++)
                        (void) fprintf(f, "%s--%s", i ? " " : "", all[c]->flags[i].name);
                (void) fputs("\" ;;\n", f);
        }
        (void) fputs("\t*) words=\"", f);
        for (size_t i = 0; global.flags[i].name; i++)
                (void) fprintf(f, "--%s ", global.flags[i].name);
        for (size_t c = 0; c < n; c++)
                (void) fprintf(f, "%s%s", c ? " " : "", all[c]->name);
        (void) fputs("\" ;;\n\tesac\n"
                     "\tif [[ $cur == -* || -z $cmd ]]; then\n"
                     "\t\tmapfile -t COMPREPLY < <(compgen -W \"$words\" -- \"$cur\")\n"
                     "\telse\n"
                     "\t\tmapfile -t COMPREPLY < <(compgen -f -- \"$cur\")\n"
                     "\tfi\n"
                     "}\n"
                     "complete -F _cubuild cubuild\n",
                     f);
}

static void zsh_quote(FILE *f, const char *s)
{
        for (; *s; s++) {
                if (*s == '\'')
                        (void) fputs("'\\''", f);
                else if (*s == '[' || *s == ']' || *s == ':')
                        (void) fprintf(f, "\\%c", *s);
                else
                        (void) fputc(*s, f);
        }
}

static void doc_zsh(FILE *f)
{
        size_t n;
        const struct bld_cmdspec *const *all = bld_cmdspecs(&n);
        (void) fputs("#compdef cubuild\n"
                     "# zsh completion for cubuild\n"
                     "# generated by `cubuild __doc zsh` from builder/clispec.c; do not edit\n"
                     "_cubuild() {\n"
                     "\tlocal -a commands\n"
                     "\tcommands=(\n",
                     f);
        for (size_t c = 0; c < n; c++) {
                (void) fprintf(f, "\t\t'%s:", all[c]->name);
                zsh_quote(f, all[c]->summary);
                (void) fputs("'\n", f);
        }
        (void) fputs("\t)\n"
                     "\tif (( CURRENT == 2 )); then\n"
                     "\t\t_describe command commands\n"
                     "\t\treturn\n"
                     "\tfi\n"
                     "\tcase ${words[2]} in\n",
                     f);
        for (size_t c = 0; c < n; c++) {
                (void) fprintf(f, "\t%s)\n\t\t_arguments", all[c]->name);
                for (size_t i = 0; all[c]->flags[i].name; i++) {
                        const struct bld_flag *fl = &all[c]->flags[i];
                        (void) fprintf(f, " \\\n\t\t\t'--%s[", fl->name);
                        zsh_quote(f, fl->help);
                        (void) fputs("]", f);
                        if (fl->metavar) {
                                (void) fputs(":", f);
                                zsh_quote(f, fl->metavar);
                                (void) fputs(":_files", f);
                        }
                        (void) fputs("'", f);
                }
                (void) fputs(" \\\n\t\t\t'*:file:_files'\n\t\t;;\n", f);
        }
        (void) fputs("\tesac\n}\n_cubuild \"$@\"\n", f);
}

int bld_cmdspec_doc(FILE *f, const char *format)
{
        if (strcmp(format, "markdown") == 0)
                doc_markdown(f);
        else if (strcmp(format, "man") == 0)
                doc_man(f);
        else if (strcmp(format, "bash") == 0)
                doc_bash(f);
        else if (strcmp(format, "zsh") == 0)
                doc_zsh(f);
        else
                return -EINVAL;
        return 0;
}

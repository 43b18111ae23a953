/* cubuild's command line: global options first, then a command; with no command, build. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <locale.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "builder/bake.h"
#include "builder/audit.h"
#include "builder/bld.h"
#include "builder/cli.h"
#include "builder/clispec.h"
#include "builder/exit.h"
#include "builder/internal.h"

/* kill(2), signal(2) and raise(3) are async-signal-safe; the analyzer cannot see through the call */
static void on_signal(int sig)
{
        bld_sandbox_kill_current(); /* NOLINT(bugprone-signal-handler) */
        /* die by the same signal so the exit status says 128+N */
        (void) signal(sig, SIG_DFL);
        (void) raise(sig);
}

static const struct bld_command commands[] = {
        { "build", bld_cmd_build, "Build an image from a Dockerfile (the default command)" },
        { "bake", bld_cmd_bake, "Build the targets of a bake file (cubuild.yaml, docker-bake.json, compose)" },
        { "check", bld_cmd_check, "Parse and lint a Dockerfile without building" },
        { "images", bld_cmd_images, "List images in the store" },
        { "import", bld_cmd_import, "Import a rootfs tarball as an image" },
        { "load", bld_cmd_load, "Load an image from an OCI layout directory" },
        { "tag", bld_cmd_tag, "Give an image another name" },
        { "rm", bld_cmd_rm, "Remove image names from the store" },
        { "inspect", bld_cmd_inspect, "Show an image's manifest and config as JSON" },
        { "pull", bld_cmd_pull, "Pull an image from a registry into the store" },
        { "push", bld_cmd_push, "Push a store image to a registry" },
        { "login", bld_cmd_login, "Store credentials for a registry" },
        { "logout", bld_cmd_logout, "Remove stored credentials" },
        { "save", bld_cmd_save, "Write an image as an OCI layout, oci-archive or docker-archive" },
        { "prune", bld_cmd_prune, "Remove blobs and layers no image uses" },
        { "verify", bld_cmd_verify, "Run the GPU verification on a store image" },
        { "compat", bld_cmd_compat, "Static CUDA compatibility report of an image (no GPU needed)" },
        { "version", bld_cmd_version, "Show the version" },
        { "system", bld_cmd_system, "Show what the store holds (system df)" },
        { "fsck", bld_cmd_fsck, "Re-hash every blob of the store" },
        { "diff", bld_cmd_diff, "Compare two images: manifests, configs, layers, files" },
        { "attestations", bld_cmd_attestations, "List or print an image's provenance, SBOM and GPU report" },
        { "rebuild-check", bld_cmd_rebuild_check, "Rebuild an image from its recorded inputs and compare" },
};

static void usage(FILE *f)
{
        bld_cmdspec_usage(f, bld_cmdspec_find(""));
}

/* `cubuild __doc markdown|man|bash|zsh`: the documents made from the command tables (not in --help). */
static int cmd_doc(int argc, char **argv)
{
        if (argc != 2 || bld_cmdspec_doc(stdout, argv[1]) < 0) {
                (void) fputs("cubuild __doc: give markdown, man, bash or zsh\n", stderr);
                return BLD_EXIT_USAGE;
        }
        return BLD_EXIT_OK;
}

/* Help and unknown flags are handled here, from the command's table, the same way for every command. */
static int run_command(const struct bld_command *cmd, const struct bld_global *g, int argc, char **argv)
{
        const struct bld_cmdspec *spec = bld_cmdspec_find(cmd->name);
        if (spec) {
                for (int k = 1; k < argc && strcmp(argv[k], "--") != 0; k++) {
                        if (strcmp(argv[k], "-h") == 0 || strcmp(argv[k], "--help") == 0) {
                                bld_cmdspec_usage(stdout, spec);
                                return BLD_EXIT_OK;
                        }
                }
                int rc = bld_cmdspec_check_flags(spec, argc, argv);
                if (rc != 0)
                        return rc;
        }
        return cmd->fn(g, argc, argv);
}

static char *default_root(void)
{
        const char *env = getenv("CUBUILD_ROOT");
        if (env && *env)
                return cb_xstrdup(env);
        if (geteuid() == 0)
                return cb_xstrdup("/var/lib/cubuild");
        const char *xdg = getenv("XDG_DATA_HOME");
        if (xdg && *xdg)
                return cb_xasprintf("%s/cubuild", xdg);
        const char *home = getenv("HOME");
        return cb_xasprintf("%s/.local/share/cubuild", home ? home : ".");
}

int main(int argc, char **argv)
{
        struct bld_global g = { 0 };
        _cleanup_free_ char *root = NULL;
        int i = 1;

        /* registry credentials live in this process: no core dump of it may carry them */
        (void) prctl(PR_SET_DUMPABLE, 0);

        /* libarchive converts path names through the locale: image paths are UTF-8 (certificate
         * bundles carry names like "Főtanúsítvány.pem"), and the C locale cannot hold them */
        if (!setlocale(LC_CTYPE, "C.UTF-8"))
                (void) setlocale(LC_CTYPE, "");

        for (; i < argc; i++) {
                const char *a = argv[i];
                if (strcmp(a, "--root") == 0) {
                        if (i + 1 >= argc) {
                                (void) fprintf(stderr, "cubuild: --root needs a directory\nsee 'cubuild --help'\n");
                                return BLD_EXIT_USAGE;
                        }
                        g.root = argv[++i];
                } else if (strncmp(a, "--root=", 7) == 0) {
                        g.root = a + 7;
                } else if (strcmp(a, "--debug") == 0) {
                        g.debug = true;
                } else if ((strcmp(a, "--config") == 0 || strcmp(a, "--registry-mirror") == 0 ||
                            strcmp(a, "--insecure-registry") == 0) &&
                           i + 1 < argc) {
                        const char *v = argv[++i];
                        if (strcmp(a, "--config") == 0) {
                                g.config = v;
                        } else if (strcmp(a, "--registry-mirror") == 0) {
                                g.mirrors = cb_xrealloc(g.mirrors, (g.nmirrors + 1) * sizeof(char *));
                                g.mirrors[g.nmirrors++] = v;
                        } else {
                                g.insecure = cb_xrealloc(g.insecure, (g.ninsecure + 1) * sizeof(char *));
                                g.insecure[g.ninsecure++] = v;
                        }
                } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
                        usage(stdout);
                        return BLD_EXIT_OK;
                } else if (strcmp(a, "--version") == 0) {
                        bld_print_version(stdout);
                        return BLD_EXIT_OK;
                } else {
                        break;
                }
        }
        if (!g.root) {
                root = default_root();
                g.root = root;
        }
        (void) signal(SIGINT, on_signal);
        (void) signal(SIGTERM, on_signal);
        (void) signal(SIGHUP, on_signal);
        (void) signal(SIGPIPE, SIG_IGN);
        if (i >= argc) {
                usage(stderr);
                free(g.mirrors);
                free(g.insecure);
                return BLD_EXIT_USAGE;
        }
        for (size_t k = 0; k < CB_ARRAY_SIZE(commands); k++) {
                if (strcmp(argv[i], commands[k].name) == 0) {
                        int rc = run_command(&commands[k], &g, argc - i, argv + i);
                        free(g.mirrors);
                        free(g.insecure);
                        return rc;
                }
        }
        if (strcmp(argv[i], "__doc") == 0) {
                free(g.mirrors);
                free(g.insecure);
                return cmd_doc(argc - i, argv + i);
        }
        if (argv[i][0] != '-' && access(argv[i], F_OK) < 0) {
                const char *names[CB_ARRAY_SIZE(commands)];
                for (size_t k = 0; k < CB_ARRAY_SIZE(commands); k++)
                        names[k] = commands[k].name;
                const char *s = bld_suggest(argv[i], names, CB_ARRAY_SIZE(commands));
                (void) fprintf(stderr, "cubuild: unknown command '%s'%s%s%s\nsee 'cubuild --help'\n", argv[i],
                               s ? " (did you mean '" : "", s ? s : "", s ? "'?)" : "");
                free(g.mirrors);
                free(g.insecure);
                return BLD_EXIT_USAGE;
        }
        /* no command: build, with argv[i..] as build's arguments */
        char **bargv = cb_xcalloc((size_t) argc - (size_t) i + 2, sizeof(char *));
        bargv[0] = (char *) "build";
        for (int k = i; k < argc; k++)
                bargv[k - i + 1] = argv[k];
        int r = bld_cmd_build(&g, argc - i + 1, bargv);
        free(bargv);
        free(g.mirrors);
        free(g.insecure);
        return r;
}

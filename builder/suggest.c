/* "Did you mean": the closest known word to a mistyped command or flag. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builder/cli.h"
#include "builder/exit.h"

/* Optimal string alignment distance (Damerau-Levenshtein without repeated edits), capped rows. */
static size_t distance(const char *a, const char *b)
{
        size_t la = strlen(a), lb = strlen(b);
        if (la > 64 || lb > 64)
                return (size_t) -1;
        size_t d[65][65];
        for (size_t i = 0; i <= la; i++)
                d[i][0] = i;
        for (size_t j = 0; j <= lb; j++)
                d[0][j] = j;
        for (size_t i = 1; i <= la; i++) {
                for (size_t j = 1; j <= lb; j++) {
                        size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
                        size_t v = d[i - 1][j] + 1;
                        if (d[i][j - 1] + 1 < v)
                                v = d[i][j - 1] + 1;
                        if (d[i - 1][j - 1] + cost < v)
                                v = d[i - 1][j - 1] + cost;
                        if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
                                v = d[i - 2][j - 2] + 1;
                        d[i][j] = v;
                }
        }
        return d[la][lb];
}

const char *bld_suggest(const char *word, const char *const *cands, size_t n)
{
        const char *best = NULL;
        size_t best_d = (size_t) -1;
        size_t wl = strlen(word);
        for (size_t i = 0; i < n; i++) {
                if (!cands[i])
                        continue;
                /* a unique-looking prefix ("--no-cach") counts as close */
                size_t dd = strncmp(cands[i], word, wl) == 0 && wl >= 3 ? 1 : distance(word, cands[i]);
                if (dd < best_d) {
                        best_d = dd;
                        best = cands[i];
                }
        }
        /* close: at most 2 edits, and fewer than half the word */
        return best && best_d <= 2 && best_d * 2 < (wl > 1 ? wl : 2) ? best : NULL;
}

const char *bld_suggest_flag(const char *arg, const struct option *opts)
{
        if (!arg || strncmp(arg, "--", 2) != 0)
                return NULL;
        const char *name = arg + 2;
        size_t n = 0;
        while (opts[n].name)
                n++;
        const char **c = calloc(n ? n : 1, sizeof(char *));
        if (!c)
                return NULL;
        /* the name up to '=' ("--tagg=x") */
        char word[65];
        size_t wl = strcspn(name, "=");
        if (wl >= sizeof(word)) {
                free(c);
                return NULL;
        }
        memcpy(word, name, wl);
        word[wl] = '\0';
        for (size_t i = 0; i < n; i++)
                c[i] = opts[i].name;
        const char *s = bld_suggest(word, c, n);
        free(c);
        return s;
}

int bld_flag_error(const char *cmd, const char *arg, int optopt, const struct option *opts)
{
        (void) fprintf(stderr, "cubuild %s: ", cmd);
        if (arg && strncmp(arg, "--", 2) == 0) {
                size_t wl = strcspn(arg + 2, "=");
                for (size_t i = 0; opts[i].name; i++) {
                        if (strlen(opts[i].name) == wl && strncmp(opts[i].name, arg + 2, wl) == 0) {
                                (void) fprintf(stderr, "flag '--%s' %s\n", opts[i].name,
                                               opts[i].has_arg == no_argument ? "takes no value" : "needs a value");
                                goto out;
                        }
                }
                const char *s = bld_suggest_flag(arg, opts);
                if (s)
                        (void) fprintf(stderr, "unknown flag '%.*s' (did you mean '--%s'?)\n", (int) wl + 2, arg, s);
                else
                        (void) fprintf(stderr, "unknown or ambiguous flag '%.*s'\n", (int) wl + 2, arg);
        } else if (optopt > 0 && optopt < 256) {
                bool known = false;
                for (size_t i = 0; opts[i].name && !known; i++)
                        known = opts[i].val == optopt;
                if (known)
                        (void) fprintf(stderr, "flag '-%c' needs a value\n", (char) optopt);
                else
                        (void) fprintf(stderr, "unknown flag '-%c'\n", (char) optopt);
        } else {
                (void) fprintf(stderr, "unknown flag '%s'\n", arg ? arg : "");
        }
out:
        (void) fprintf(stderr, "see 'cubuild %s --help'\n", cmd);
        return BLD_EXIT_USAGE;
}

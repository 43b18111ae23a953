/* Preload library for bench/builder/run.sh: at exit of a process whose executable is $SELFRSS_EXE,
 * appends "PID MAXRSS_KIB" (getrusage(RUSAGE_SELF).ru_maxrss: this process only, not its children) to
 * $SELFRSS_FILE. Processes that end with _exit() (forked helpers) write nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
__attribute__((destructor)) static void done(void)
{
        const char *f = getenv("SELFRSS_FILE"), *exe = getenv("SELFRSS_EXE");
        char me[4096];
        ssize_t n = readlink("/proc/self/exe", me, sizeof(me) - 1);
        if (!f || !exe || n < 0)
                return;
        me[n] = 0;
        if (strcmp(me, exe) != 0)
                return;
        struct rusage ru;
        if (getrusage(RUSAGE_SELF, &ru) == 0) {
                FILE *o = fopen(f, "a");
                if (o) { fprintf(o, "%d %ld\n", (int) getpid(), ru.ru_maxrss); fclose(o); }
        }
}

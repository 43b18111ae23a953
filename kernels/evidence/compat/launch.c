/* Launches the test kernel of each library given (tests/unit/kernels/compat_kernel.cu, built by nvcc
 * for chosen targets) once on the GPU, and prints "NAME: ran" or "NAME: error N (text)". */
#include <dlfcn.h>
#include <stdio.h>

int main(int argc, char **argv)
{
        int bad = 0;

        for (int i = 1; i < argc; i++) {
                void *h = dlopen(argv[i], RTLD_NOW | RTLD_LOCAL);
                int (*run)(void);
                const char *(*name)(int);
                int e;

                if (!h) {
                        printf("%s: dlopen failed: %s\n", argv[i], dlerror());
                        bad = 1;
                        continue;
                }
                run = (int (*)(void)) dlsym(h, "compat_run");
                name = (const char *(*)(int)) dlsym(h, "compat_error");
                if (!run || !name) {
                        printf("%s: no compat_run\n", argv[i]);
                        bad = 1;
                        continue;
                }
                e = run();
                if (e == 0)
                        printf("%s: ran\n", argv[i]);
                else
                        printf("%s: error %d (%s)\n", argv[i], e, name(e));
                fflush(stdout);
        }
        return bad;
}

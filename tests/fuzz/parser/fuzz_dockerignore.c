/* libFuzzer target: .dockerignore text, then matching a fixed set of paths against it. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parser/df.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const char *const paths[] = { "a", "a/b", "a/b/c.txt", ".git/HEAD", "src/main.py", "x/y/z/w.pyc",
                                             "README.md", "node_modules/m/i.js", "a b/c", "*", "[x]" };
        struct cb_err err;
        struct df_ignore *ig = NULL;

        cb_err_init(&err);
        if (df_ignore_parse(cb_str_from((const char *) data, size), ".dockerignore", &ig, &err) == 0) {
                for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
                        (void) df_ignore_match(ig, paths[i]);
                        (void) df_ignore_may_reinclude(ig, paths[i]);
                }
                df_ignore_free(ig);
        }
        cb_err_release(&err);
        return 0;
}

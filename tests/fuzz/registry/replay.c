/* Replay driver: feeds every file under the directories named on the command line to
 * LLVMFuzzerTestOneInput, so the committed corpus runs in every ctest (with the sanitizers of the
 * build) even where libFuzzer is not available. */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv)
{
        size_t n = 0;
        for (int i = 1; i < argc; i++) {
                DIR *d = opendir(argv[i]);
                if (!d) {
                        fprintf(stderr, "replay: cannot open '%s'\n", argv[i]);
                        return 1;
                }
                struct dirent *de;
                while ((de = readdir(d))) {
                        if (de->d_name[0] == '.')
                                continue;
                        _cleanup_free_ char *p = cb_xasprintf("%s/%s", argv[i], de->d_name);
                        struct cb_buf b;
                        cb_buf_init(&b, 1u << 20);
                        struct cb_err err;
                        cb_err_init(&err);
                        if (cb_read_file(AT_FDCWD, p, 1u << 20, &b, &err) < 0) {
                                fprintf(stderr, "replay: %s\n", cb_err_msg(&err));
                                return 1;
                        }
                        /* a copy of exactly the input's size, so ASan sees reads past its end */
                        uint8_t *copy = cb_xmalloc(b.len ? b.len : 1);
                        memcpy(copy, b.p, b.len);
                        LLVMFuzzerTestOneInput(copy, b.len);
                        free(copy);
                        cb_buf_release(&b);
                        cb_err_release(&err);
                        n++;
                }
                closedir(d);
        }
        printf("replayed %zu inputs\n", n);
        return n > 0 ? 0 : 1;
}

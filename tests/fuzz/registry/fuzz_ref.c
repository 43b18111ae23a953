/* Fuzz target: image references. Whatever parses must print to a canonical string that parses back
 * to the same reference, and the familiar form must parse to it too. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "registry/reg.h"

static void same(const struct reg_ref *a, const struct reg_ref *b)
{
        if (strcmp(a->domain, b->domain) || strcmp(a->path, b->path) || (!a->tag != !b->tag) ||
            (a->tag && strcmp(a->tag, b->tag)) || (!a->digest != !b->digest) ||
            (a->digest && strcmp(a->digest, b->digest)))
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *s = cb_xstrndup((const char *) data, size);
        struct cb_err err;
        cb_err_init(&err);
        struct reg_ref r;
        if (reg_ref_parse(s, &r, &err) == 0) {
                char *canon = reg_ref_string(&r);
                char *fam = reg_ref_familiar(&r);
                struct reg_ref r2, r3;
                if (reg_ref_parse(canon, &r2, &err) != 0 || reg_ref_parse(fam, &r3, &err) != 0)
                        abort();
                same(&r, &r2);
                same(&r, &r3);
                reg_ref_release(&r2);
                reg_ref_release(&r3);
                free(canon);
                free(fam);
                reg_ref_release(&r);
        } else if (!cb_err_set(&err)) {
                abort(); /* a refusal always says why */
        }
        cb_err_release(&err);
        free(s);
        return 0;
}

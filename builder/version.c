#include "builder/bld.h"
const char *bld_version(void)
{
        return "0.1.0";
}

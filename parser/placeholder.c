#include "parser/df.h"
/* placeholder until the module lands */
int cb_parser_placeholder;

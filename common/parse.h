/* Number parsing that rejects trailing junk and overflow (atoi is banned). */
#ifndef CB_PARSE_H
#define CB_PARSE_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"

/* Parses a decimal unsigned integer <= max from the whole of s. Returns 0, -EINVAL or -ERANGE. */
int cb_parse_u64(struct cb_str s, uint64_t max, uint64_t *ret);
/* Parses an octal mode like "0755" or "755" (<= 07777). */
int cb_parse_mode(struct cb_str s, unsigned *ret);
/* Parses "512m", "8g", "1024", "1.5GiB"-free sizes: digits with an optional k/m/g/t suffix (1024-based). */
int cb_parse_size(struct cb_str s, uint64_t *ret);

#endif

/* common/: plumbing shared by every module (error chain, buffers, slices, fd and path helpers,
 * sha256 digests). Includes nothing else of ours. Prefix cb_. */
#ifndef CB_H
#define CB_H

#include "err.h"
#include "buf.h"
#include "cleanup.h"
#include "digest.h"
#include "fd.h"
#include "parse.h"

#endif

// zlib (Debian zlib1g-dev; part of every Apple SDK), for reading .gz inputs.
#pragma once
#include <zlib.h>
// inflateInit2 is a macro; Swift calls this instead.
static inline int forge_inflate_init_gzip(z_streamp s) { return inflateInit2(s, 15 + 32); }

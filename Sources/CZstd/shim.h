// Zstandard (Debian libzstd-dev), for reading .zst inputs.
#pragma once
#include <zstd.h>

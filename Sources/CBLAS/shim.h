// The BLAS we link: Accelerate on Apple platforms, OpenBLAS (Debian libopenblas-dev) elsewhere.
#pragma once
#if defined(__APPLE__)
#include <Accelerate/Accelerate.h>
#else
#include <cblas.h>
#endif

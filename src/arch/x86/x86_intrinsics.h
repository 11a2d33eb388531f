// <immintrin.h> for the per-ISA translation units. GCC 12 reports its own _mm*_undefined_*() helpers as
// uninitialized once they are inlined (a compiler false positive, fixed in later releases), so the
// warning is silenced for the intrinsics header only, never for kiln's code.
#pragma once

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

// Scalar conversion of one row between any kiln type and f32: the reference
// used by converters, get_rows and the tests.
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace kiln {

// dst[0..n) = src row of type t (n a multiple of t's block size).
void row_to_f32(dtype t, const void* src, float* dst, int64_t n);
// dst row of type t = src[0..n) (round to nearest; quantized types pick the block scale from the max |x|).
void row_from_f32(dtype t, const float* src, void* dst, int64_t n);

}  // namespace kiln

// Quantization of f32 rows into kiln's block types (the scalar reference; also
// what `kiln quantize`, `kiln convert --type` and `kiln synth` call).
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"

namespace kiln {

// Quantizes n_rows rows of k f32 values (k a multiple of t's block size) into type t in the plain
// layout (one row after another, GGUF block layout). importance: optional per-column weights (k
// values, e.g. mean squared activations from --calibrate) that the rounding minimizes the weighted
// error against; nullptr for unweighted.
void quantize_rows(dtype t, const float* src, int64_t n_rows, int64_t k, void* dst, const float* importance);

// One plain row of type t back to f32 (k values).
void dequantize_row(dtype t, const void* src, float* dst, int64_t k);

}  // namespace kiln

// Packing of quantized weight matrices into the kernels' native row-interleaved
// layout (tensor_layout::rows8, see core/dtype.h and docs/FORMAT.md). Converters
// and `kiln quantize` pack once when writing a file, so loading never repacks.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"

namespace kiln {

// Whether type t has a rows8 packing.
bool quant_has_rows8(dtype t);

// Bytes of an [n_rows, k] matrix of type t in the rows8 layout (rows padded up to a multiple of 8).
size_t quant_rows8_bytes(dtype t, int64_t n_rows, int64_t k);

// plain: n_rows rows of k elements of type t, one after another (GGUF block layout).
// out: quant_rows8_bytes(t, n_rows, k) bytes.
void quant_pack_rows8(dtype t, const void* plain, int64_t n_rows, int64_t k, void* out);

// The inverse: row r of a rows8 matrix back into its plain blocks (row_bytes(t, k) bytes).
void quant_unpack_row_rows8(dtype t, const void* packed, int64_t n_rows, int64_t k, int64_t r, void* plain_row);

}  // namespace kiln

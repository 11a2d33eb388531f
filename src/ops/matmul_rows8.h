// The rows8 branch of ops::matmul: activations quantized to int8 blocks once per call, then the
// integer kernels of the active table (arch/cpu_dispatch.h), threaded over 8-row groups.
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace kiln::ops {

// y [n_tokens, w.ne[1]] = x [n_tokens, w.ne[0]] . W^T for a rows8 tensor w (already checked by the caller).
void matmul_rows8(const tensor& w, const float* x, int64_t n_tokens, float* y);

// ys[i] = x . ws[i]^T for n_w rows8 tensors of the same row length (checked by the caller): the
// activations are quantized once and all the products are one parallel loop (q/k/v, gate/up).
void matmul_rows8_many(const tensor* const* ws, float* const* ys, int n_w, const float* x, int64_t n_tokens);

}  // namespace kiln::ops

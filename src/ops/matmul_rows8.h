// The rows8 branch of ops::matmul: activations quantized to int8 blocks once per call, then the
// integer kernels of the active table (arch/cpu_dispatch.h), threaded over 8-row groups.
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace kiln::ops {

// y [n_tokens, w.ne[1]] = x [n_tokens, w.ne[0]] . W^T for a rows8 tensor w (already checked by the caller).
void matmul_rows8(const tensor& w, const float* x, int64_t n_tokens, float* y);

}  // namespace kiln::ops

// oneDNN for f32 and bf16 weights with many tokens (prefill), where it measurably beats kiln's own
// kernels (docs/KERNELS.md has the figures). Compiled in when CMake finds libdnnl.
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace kiln::ops {

// y = x . W^T through oneDNN when it applies: at least 16 tokens, oneDNN built in and not disabled by
// KILN_DNNL=0, and f32 weights (sgemm) or bf16 weights unless matmul_bf16_exact() (activations
// rounded to bf16). False when the caller must use its own kernels.
bool matmul_dnnl(const tensor& w, const float* x, int64_t n_tokens, float* y);

}  // namespace kiln::ops

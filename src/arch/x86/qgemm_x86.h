// The x86 integer kernels of the rows8 layout, one set per ISA level, each defined in its own
// translation unit (qgemm_avx2.cpp, qgemm_avx512.cpp) and reached only through the dispatch table
// of that level (arch/cpu_dispatch.h): calling one directly on a CPU without its ISA would fault.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"

namespace kiln {

void quantize_act_avx2(const float* x, int64_t k, block_q8_act* out);
void qgemm_q8_0x8_avx2(const void* w, int64_t n_rows, int64_t k, const block_q8_act* act, int64_t n_tokens, float* y,
                       int64_t y_stride);
void qgemm_q4_0x8_avx2(const void* w, int64_t n_rows, int64_t k, const block_q8_act* act, int64_t n_tokens, float* y,
                       int64_t y_stride);
void qgemm_q4_kx8_avx2(const void* w, int64_t n_rows, int64_t k, const block_q8_act* act, int64_t n_tokens, float* y,
                       int64_t y_stride);
// q4_1 (qgemm_q4_1_avx2.cpp, qgemm_q4_1_avx512.cpp)
void qgemm_q4_1x8_avx2(const void* w, int64_t n_rows, int64_t k, const block_q8_act* act, int64_t n_tokens, float* y,
                       int64_t y_stride);
void qgemm_q4_1x8_avx512(const void* w, int64_t n_rows, int64_t k, const block_q8_act* act, int64_t n_tokens,
                         float* y, int64_t y_stride);
// q6_k (qgemm_q6_k_avx2.cpp, qgemm_q6_k_avx512.cpp)
void qgemm_q6_kx8_avx2(const void* w, int64_t n_rows, int64_t k, const block_q8_act* act, int64_t n_tokens, float* y,
                       int64_t y_stride);
void qgemm_q6_kx8_avx512(const void* w, int64_t n_rows, int64_t k, const block_q8_act* act, int64_t n_tokens,
                         float* y, int64_t y_stride);
// q5_0, q5_1 (qgemm_q5_avx2.cpp, qgemm_q5_avx512.cpp)
void qgemm_q5_0x8_avx2(const void* w, int64_t n_rows, int64_t k, const block_q8_act* act, int64_t n_tokens, float* y,
                       int64_t y_stride);
void qgemm_q5_1x8_avx2(const void* w, int64_t n_rows, int64_t k, const block_q8_act* act, int64_t n_tokens, float* y,
                       int64_t y_stride);
void qgemm_q5_0x8_avx512(const void* w, int64_t n_rows, int64_t k, const block_q8_act* act, int64_t n_tokens,
                         float* y, int64_t y_stride);
void qgemm_q5_1x8_avx512(const void* w, int64_t n_rows, int64_t k, const block_q8_act* act, int64_t n_tokens,
                         float* y, int64_t y_stride);

void quantize_act_avx512(const float* x, int64_t k, block_q8_act* out);
void qgemm_q8_0x8_avx512(const void* w, int64_t n_rows, int64_t k, const block_q8_act* act, int64_t n_tokens,
                         float* y, int64_t y_stride);
void qgemm_q4_0x8_avx512(const void* w, int64_t n_rows, int64_t k, const block_q8_act* act, int64_t n_tokens,
                         float* y, int64_t y_stride);
void qgemm_q4_kx8_avx512(const void* w, int64_t n_rows, int64_t k, const block_q8_act* act, int64_t n_tokens,
                         float* y, int64_t y_stride);

// bf16 x bf16 (vdpbf16ps), bf16dot_avx512.cpp
void round_bf16_avx512(const float* x, uint16_t* out, int64_t n);
void gemm_bf16_dot_avx512(const void* w, size_t w_stride, int64_t n_rows, const uint16_t* xb, int64_t xb_stride,
                          int64_t n_tokens, int64_t k, float* y, int64_t y_stride);

}  // namespace kiln

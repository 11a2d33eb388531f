// bf16 weights x bf16 activations with AVX-512 BF16 (vdpbf16ps): each instruction multiplies 32
// bf16 pairs exactly and adds them pairwise into 16 f32 lanes, twice the multiply-adds of an f32
// FMA and no widening of the weights. The activations are rounded to bf16 once per matmul call
// (round_bf16_avx512), which is the precision cost (docs/KERNELS.md); ops::matmul takes this
// path for two or more tokens only, where arithmetic rather than memory bounds the time.
#include "arch/x86/x86_intrinsics.h"

#include <cstddef>
#include <cstdint>

#include "arch/x86/qgemm_x86.h"

namespace kiln {

namespace {

// Register tile: k_tile_rows x k_tile_tokens accumulators of the 32 zmm registers.
constexpr int k_tile_rows = 8;
constexpr int k_tile_tokens = 3;

inline __m512bh load_bh(const uint16_t* p, __mmask32 m) {
    return reinterpret_cast<__m512bh>(_mm512_maskz_loadu_epi16(m, p));
}

// RW rows x RT tokens, 32 elements per step; the last partial step uses zero-masked loads.
template <int RW, int RT>
void tile(const char* w, size_t w_stride, const uint16_t* xb, int64_t xb_stride, int64_t k, float* y,
          int64_t y_stride) {
    __m512 acc[RW][RT];
    for (int r = 0; r < RW; ++r)
        for (int t = 0; t < RT; ++t) acc[r][t] = _mm512_setzero_ps();
    for (int64_t i = 0; i < k; i += 32) {
        const __mmask32 m = k - i >= 32 ? ~__mmask32(0) : static_cast<__mmask32>((1u << (k - i)) - 1);
        __m512bh xv[RT];
        for (int t = 0; t < RT; ++t) xv[t] = load_bh(xb + t * xb_stride + i, m);
        for (int r = 0; r < RW; ++r) {
            const __m512bh wv = load_bh(reinterpret_cast<const uint16_t*>(w + r * w_stride) + i, m);
            for (int t = 0; t < RT; ++t) acc[r][t] = _mm512_dpbf16_ps(acc[r][t], wv, xv[t]);
        }
    }
    for (int r = 0; r < RW; ++r)
        for (int t = 0; t < RT; ++t) y[t * y_stride + r] = _mm512_reduce_add_ps(acc[r][t]);
}

template <int RW, int RT>
void tile_tokens(int rt, const char* w, size_t w_stride, const uint16_t* xb, int64_t xb_stride, int64_t k, float* y,
                 int64_t y_stride) {
    if constexpr (RT == 1) {
        tile<RW, 1>(w, w_stride, xb, xb_stride, k, y, y_stride);
    } else if (rt == RT) {
        tile<RW, RT>(w, w_stride, xb, xb_stride, k, y, y_stride);
    } else {
        tile_tokens<RW, RT - 1>(rt, w, w_stride, xb, xb_stride, k, y, y_stride);
    }
}

template <int RW>
void rows_all_tokens(const char* w, size_t w_stride, const uint16_t* xb, int64_t xb_stride, int64_t n_tokens, int64_t k,
                     float* y, int64_t y_stride) {
    for (int64_t t = 0; t < n_tokens; t += k_tile_tokens) {
        const int rt = static_cast<int>(n_tokens - t < k_tile_tokens ? n_tokens - t : k_tile_tokens);
        tile_tokens<RW, k_tile_tokens>(rt, w, w_stride, xb + t * xb_stride, xb_stride, k, y + t * y_stride, y_stride);
    }
}

}  // namespace

void round_bf16_avx512(const float* x, uint16_t* out, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m256bh h = _mm512_cvtneps_pbh(_mm512_loadu_ps(x + i));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), reinterpret_cast<__m256i>(h));
    }
    if (i < n) {
        const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
        const __m256bh h = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, x + i));
        _mm256_mask_storeu_epi16(out + i, m, reinterpret_cast<__m256i>(h));
    }
}

// Rows in fours outside, tokens in fours inside: four weight rows are read once per call and
// reused from L1 for every token.
void gemm_bf16_dot_avx512(const void* w, size_t w_stride, int64_t n_rows, const uint16_t* xb, int64_t xb_stride,
                          int64_t n_tokens, int64_t k, float* y, int64_t y_stride) {
    const char* wb = static_cast<const char*>(w);
    int64_t r = 0;
    for (; r + k_tile_rows <= n_rows; r += k_tile_rows)
        rows_all_tokens<k_tile_rows>(wb + r * w_stride, w_stride, xb, xb_stride, n_tokens, k, y + r, y_stride);
    for (; r + 4 <= n_rows; r += 4) rows_all_tokens<4>(wb + r * w_stride, w_stride, xb, xb_stride, n_tokens, k, y + r, y_stride);
    for (; r < n_rows; ++r) rows_all_tokens<1>(wb + r * w_stride, w_stride, xb, xb_stride, n_tokens, k, y + r, y_stride);
}

}  // namespace kiln

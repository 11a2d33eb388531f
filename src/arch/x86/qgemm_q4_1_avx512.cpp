// AVX-512 VNNI kernels of q4_1 in the rows8 layout (block_q4_1x8; docs/KERNELS.md).
//
// The nibbles are arranged exactly as in q4_0x8, so the scheme is qgemm_avx512.cpp's: vpdpbusd of
// the unsigned codes q (0..15) against the signed int8 activations, exact in int32 per block. q4_1
// has no bias to subtract (w = d q + m); its minimum adds m dx sum(x) per row and block, one more
// FMA in f32 next to the one that scales the integer sum:
//   dot(w, x) = d dx sum(q x) + m (dx sum(x)).
// Every token count, decode included: two groups per vector (group g in lanes 0-7, g + 1 in lanes
// 8-15, a rows8 pair read as one stream), the activation chunk broadcast from memory into vpdpbusd,
// up to 16 tokens per pass over a block pair, every lane a distinct output.
#include <cstdint>

#include "arch/x86/pair_tiles_avx512.h"
#include "arch/x86/qgemm_x86.h"
#include "core/dtype.h"

namespace kiln {

namespace {

// Groups g (w0) and g + 1 (w1) against T tokens (pair_tiles_run). Weight vector c (0..3) is rows8
// chunk c's low nibbles (activation chunk c), c + 4 its high nibbles (activation chunk 4 + c).
// ds: dx sum(x) of each activation block (act_scaled_sums), so the minimum's FMA takes its
// broadcast straight from memory.
template <int T>
void q41_tile_pair(const block_q4_1x8* w0, const block_q4_1x8* w1, int64_t stride, int64_t nb, const block_q8_act* act,
                   const float* ds, int64_t n_act, float* y, int64_t y_stride, int64_t rows_left) {
    constexpr int S = T >= 4 ? 2 : 4;  // independent vpdpbusd chains per token
    const __m512i m0f = _mm512_set1_epi8(0x0f);
    __m512 acc[T];
    for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
        pair_prefetch(w0 + b * stride, stride);
        const block_q4_1x8& b0 = w0[b * stride];
        const block_q4_1x8& b1 = w1[b * stride];
        __m512i wv[8];
        for (int c = 0; c < 4; ++c) {
            const __m512i v = pair_chunk(b0.qs + 32 * c, b1.qs + 32 * c);
            wv[c] = _mm512_and_si512(v, m0f);
            wv[c + 4] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m0f);
        }
        const __m512 dw = pair_f16(b0.d, b1.d), mw = pair_f16(b0.m, b1.m);
        for (int t = 0; t < T; ++t) {
            const block_q8_act& a = act[t * n_act + b];
            __m512i s[S];
            for (int i = 0; i < S; ++i) s[i] = _mm512_setzero_si512();
            for (int c = 0; c < 8; ++c) s[c % S] = pair_dpbusd_bcast(s[c % S], wv[c], a.qs + 4 * c);
            __m512i sum = _mm512_add_epi32(s[0], s[1]);
            if constexpr (S == 4) sum = _mm512_add_epi32(sum, _mm512_add_epi32(s[2], s[3]));
            const __m512 r = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), _mm512_mul_ps(dw, _mm512_set1_ps(a.d)), acc[t]);
            acc[t] = _mm512_fmadd_ps(mw, _mm512_set1_ps(ds[t * n_act + b]), r);
        }
    }
    for (int t = 0; t < T; ++t) pair_store(y + t * y_stride, acc[t], rows_left);
}

}  // namespace

void qgemm_q4_1x8_avx512(const void* wv, int64_t n_rows, int64_t k, const block_q8_act* act, int64_t n_tokens, float* y,
                         int64_t y_stride) {
    const int64_t nb = k / qk4_1, n_act = k / qk8_act;
    const float* ds = act_scaled_sums(act, n_tokens * n_act);
    pair_tiles_run(static_cast<const block_q4_1x8*>(wv), n_rows, nb, n_tokens,
                   [&](auto tokens, const block_q4_1x8* w0, const block_q4_1x8* w1, int64_t stride, int64_t t, int64_t g) {
                       q41_tile_pair<decltype(tokens)::value>(w0, w1, stride, nb, act + t * n_act, ds + t * n_act, n_act,
                                                              y + t * y_stride + g * 8, y_stride, n_rows - g * 8);
                   });
}

}  // namespace kiln

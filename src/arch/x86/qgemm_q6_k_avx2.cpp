// AVX2 kernels of q6_k in the rows8 layout (block_q6_kx8; docs/KERNELS.md), the scheme of
// qgemm_avx2.cpp: one 32-byte load is rows8 chunk c of the 8 rows (dword lane r = row r), the
// activation chunk broadcast to every lane, vpmaddubsw of the unsigned codes u = q + 32 (0..63,
// rebuilt from the 4-bit and the 2-bit plane) by the signed activations into int16, vpmaddwd by ones
// to widen. Two chunks summed in int16 stay below 2^15 (2 * 2 * 63 * 127), so each sub-block of 16
// (4 chunks) widens twice. Per row and activation block, as in the reference:
//   I = sc_a (sum_a(u x) - 32 S_a) + sc_b (sum_b(u x) - 32 S_b), exact in int32,
//   acc += f32(I) (d dx).
#include <cstdint>

#include "arch/x86/group_tiles_avx2.h"
#include "arch/x86/qgemm_x86.h"
#include "core/dtype.h"

namespace kiln {

namespace {

// Bits 2i..2i+1 of each byte moved to bits 4-5 (the rest cleared).
template <int I>
inline __m256i q6k_high_bits(__m256i v) {
    const __m256i m30 = _mm256_set1_epi8(0x30);
    if constexpr (I == 0) return _mm256_and_si256(_mm256_slli_epi16(v, 4), m30);
    if constexpr (I == 1) return _mm256_and_si256(_mm256_slli_epi16(v, 2), m30);
    if constexpr (I == 2) return _mm256_and_si256(v, m30);
    return _mm256_and_si256(_mm256_srli_epi16(v, 2), m30);
}

// Activation block AB of one super-block against T tokens: the 8 chunks' codes rebuilt once, then
// per token two int16 pair sums per sub-block, widened, biased, scaled in int32, one f32 FMA.
template <int T, int AB>
inline void q6k_act_block(const block_q6_kx8& blk, const block_q8_act* act, const int32_t* bias, int64_t n_act,
                          __m256 dw, __m256* acc) {
    const __m256i ones = _mm256_set1_epi16(1), m0f = _mm256_set1_epi8(0x0f);
    __m256i u[8];
    for (int c = 0; c < 8; ++c) {
        const __m256i l4 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.ql + (AB / 2) * 256 + 32 * c));
        const __m256i h2 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.qh + (AB / 4) * 256 + 32 * c));
        const __m256i lo = _mm256_and_si256(AB % 2 ? _mm256_srli_epi16(l4, 4) : l4, m0f);
        u[c] = _mm256_or_si256(lo, q6k_high_bits<AB % 4>(h2));
    }
    const __m256i sca = _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(blk.scales + 16 * AB)));
    const __m256i scb = _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(blk.scales + 16 * AB + 8)));
    for (int t = 0; t < T; ++t) {
        const block_q8_act& a = act[t * n_act];
        const int32_t* bs = bias + 2 * t * n_act;
        __m256i s[4];
        for (int h = 0; h < 4; ++h) {  // chunk pairs (0,1) (2,3): sub-block a; (4,5) (6,7): b
            const __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(u[2 * h], bcast_chunk(a.qs + 8 * h)),
                                               _mm256_maddubs_epi16(u[2 * h + 1], bcast_chunk(a.qs + 8 * h + 4)));
            s[h] = _mm256_madd_epi16(p, ones);
        }
        const __m256i sa = _mm256_add_epi32(_mm256_add_epi32(s[0], s[1]), _mm256_set1_epi32(bs[0]));
        const __m256i sb = _mm256_add_epi32(_mm256_add_epi32(s[2], s[3]), _mm256_set1_epi32(bs[1]));
        const __m256i i = _mm256_add_epi32(_mm256_mullo_epi32(sa, sca), _mm256_mullo_epi32(sb, scb));
        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i), _mm256_mul_ps(dw, _mm256_set1_ps(a.d)), acc[t]);
    }
}

// One 8-row group against T tokens; block b at w[b * stride].
template <int T>
void q6k_tile(const block_q6_kx8* w, int64_t stride, int64_t nb, const block_q8_act* act, const int32_t* bias,
              int64_t n_act, float* y, int64_t y_stride, int64_t rows_left) {
    __m256 acc[T];
    for (int t = 0; t < T; ++t) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
        group_prefetch<T>(w + b * stride);
        const block_q6_kx8& blk = w[b * stride];
        const __m256 dw = group_f16(blk.d);
        const block_q8_act* a = act + b * 8;
        const int32_t* bs = bias + b * 16;
        q6k_act_block<T, 0>(blk, a + 0, bs + 0, n_act, dw, acc);
        q6k_act_block<T, 1>(blk, a + 1, bs + 2, n_act, dw, acc);
        q6k_act_block<T, 2>(blk, a + 2, bs + 4, n_act, dw, acc);
        q6k_act_block<T, 3>(blk, a + 3, bs + 6, n_act, dw, acc);
        q6k_act_block<T, 4>(blk, a + 4, bs + 8, n_act, dw, acc);
        q6k_act_block<T, 5>(blk, a + 5, bs + 10, n_act, dw, acc);
        q6k_act_block<T, 6>(blk, a + 6, bs + 12, n_act, dw, acc);
        q6k_act_block<T, 7>(blk, a + 7, bs + 14, n_act, dw, acc);
    }
    for (int t = 0; t < T; ++t) {
        group_store(y + t * y_stride, acc[t], rows_left);
    }
}

}  // namespace

void qgemm_q6_kx8_avx2(const void* wv, int64_t n_rows, int64_t k, const block_q8_act* act, int64_t n_tokens, float* y,
                       int64_t y_stride) {
    const int64_t nb = k / qk_k, n_act = k / qk8_act;
    const int32_t* bias = act_q6k_half_bias(act, n_tokens * n_act);
    group_tiles_run(static_cast<const block_q6_kx8*>(wv), n_rows, nb, n_tokens,
                    [&](auto tokens, const block_q6_kx8* wg, int64_t stride, int64_t t, int64_t g) {
                        q6k_tile<decltype(tokens)::value>(wg, stride, nb, act + t * n_act, bias + 2 * t * n_act, n_act,
                                                          y + t * y_stride + g * 8, y_stride, n_rows - g * 8);
                    });
}

}  // namespace kiln

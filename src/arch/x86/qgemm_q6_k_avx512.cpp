// AVX-512 VNNI kernels of q6_k in the rows8 layout (block_q6_kx8; docs/KERNELS.md).
//
// A weight's code u = q + 32 (0..63) is rebuilt from its 4-bit plane (the q4_kx8 nibbles) and its
// 2-bit plane (shifted into bits 4-5), then vpdpbusd multiplies the unsigned codes by the signed
// int8 activations. Each activation block of 32 covers two sub-blocks of 16 (chunks 0-3 and 4-7)
// with their own int8 scales, so per row and activation block
//   I = sc_a (sum_a(u x) - 32 S_a) + sc_b (sum_b(u x) - 32 S_b),  S_a, S_b: the halves' sums of x,
// exact in int32 (|I| < 2^26), then one conversion and one FMA: acc += f32(I) (d dx). -32 S_a and
// -32 S_b depend on the token alone: computed once per call.
// One tile shape for every token count, decode included: two groups per vector (group g in lanes
// 0-7, g + 1 in lanes 8-15; rows8 stores a pair's blocks alternately, one stream), the activation
// chunk broadcast from memory into vpdpbusd, 1 to 16 tokens per pass. For one token the codes cost
// the same unpacking per weight as in a 1-group decode tile (64-byte load of 8 rows x 2 chunks, the
// token's chunks permuted to match), and the pair tile needs no permutes or half-sums: measured
// 0.55-0.6 of that tile's time (docs/KERNELS.md). A token's outputs are the same alone as in a batch
// by construction.
#include "arch/x86/x86_intrinsics.h"

#include <cstdint>
#include <vector>

#include "arch/x86/pair_tiles_avx512.h"
#include "arch/x86/qgemm_x86.h"
#include "core/dtype.h"

namespace kiln {

namespace {

// Bits 2i..2i+1 of each byte of v moved to bits 4-5 (the rest cleared).
template <int I>
inline __m512i q6k_high_bits(__m512i v) {
    const __m512i m30 = _mm512_set1_epi8(0x30);
    if constexpr (I == 0) return _mm512_and_si512(_mm512_slli_epi16(v, 4), m30);
    if constexpr (I == 1) return _mm512_and_si512(_mm512_slli_epi16(v, 2), m30);
    if constexpr (I == 2) return _mm512_and_si512(v, m30);
    return _mm512_and_si512(_mm512_srli_epi16(v, 2), m30);
}

// The codes of activation block AB from a 4-bit-plane vector l4 and a 2-bit-plane vector h2 that
// cover the same chunks.
template <int AB>
inline __m512i q6k_codes(__m512i l4, __m512i h2) {
    const __m512i m0f = _mm512_set1_epi8(0x0f);
    const __m512i lo = _mm512_and_si512(AB % 2 ? _mm512_srli_epi16(l4, 4) : l4, m0f);
    return _mm512_or_si512(lo, q6k_high_bits<AB % 4>(h2));
}

// ---- group pairs against 1..16 tokens ----

// 8 int8 scales of group 0 and 8 of group 1 as 16 int32.
inline __m512i q6k_pair_scales(const int8_t* a, const int8_t* b) {
    const __m128i v = _mm_unpacklo_epi64(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(a)),
                                         _mm_loadl_epi64(reinterpret_cast<const __m128i*>(b)));
    return _mm512_cvtepi8_epi32(v);
}

// Activation block AB of a super-block pair against T tokens.
template <int T, int AB>
inline void q6k_pair_act_block(const block_q6_kx8& b0, const block_q6_kx8& b1, const block_q8_act* act,
                               const int32_t* bias, int64_t n_act, __m512 dw, __m512* acc) {
    __m512i wv[8];
    for (int c = 0; c < 8; ++c) {
        const __m512i l4 = pair_chunk(b0.ql + (AB / 2) * 256 + 32 * c, b1.ql + (AB / 2) * 256 + 32 * c);
        const __m512i h2 = pair_chunk(b0.qh + (AB / 4) * 256 + 32 * c, b1.qh + (AB / 4) * 256 + 32 * c);
        wv[c] = q6k_codes<AB>(l4, h2);
    }
    const __m512i sca = q6k_pair_scales(b0.scales + 16 * AB, b1.scales + 16 * AB);
    const __m512i scb = q6k_pair_scales(b0.scales + 16 * AB + 8, b1.scales + 16 * AB + 8);
    for (int t = 0; t < T; ++t) {
        const block_q8_act& x = act[t * n_act];
        const int32_t* bs = bias + 2 * t * n_act;
        // Few tokens: two chains per sub-block (vpdpbusd's latency, not its throughput, bounds one chain);
        // many tokens are independent chains already. The integer sums are the same whatever the split.
        __m512i sa, sb;
        if constexpr (T >= 4) {
            sa = _mm512_set1_epi32(bs[0]);
            sb = _mm512_set1_epi32(bs[1]);
            for (int c = 0; c < 4; ++c) {
                sa = pair_dpbusd_bcast(sa, wv[c], x.qs + 4 * c);
                sb = pair_dpbusd_bcast(sb, wv[4 + c], x.qs + 16 + 4 * c);
            }
        } else {
            __m512i sa0 = _mm512_set1_epi32(bs[0]), sa1 = _mm512_setzero_si512();
            __m512i sb0 = _mm512_set1_epi32(bs[1]), sb1 = _mm512_setzero_si512();
            for (int c = 0; c < 4; c += 2) {
                sa0 = pair_dpbusd_bcast(sa0, wv[c], x.qs + 4 * c);
                sa1 = pair_dpbusd_bcast(sa1, wv[c + 1], x.qs + 4 * c + 4);
                sb0 = pair_dpbusd_bcast(sb0, wv[4 + c], x.qs + 16 + 4 * c);
                sb1 = pair_dpbusd_bcast(sb1, wv[5 + c], x.qs + 20 + 4 * c);
            }
            sa = _mm512_add_epi32(sa0, sa1);
            sb = _mm512_add_epi32(sb0, sb1);
        }
        const __m512i i = _mm512_add_epi32(_mm512_mullo_epi32(sa, sca), _mm512_mullo_epi32(sb, scb));
        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i), _mm512_mul_ps(dw, _mm512_set1_ps(x.d)), acc[t]);
    }
}

// Groups g (w0) and g + 1 (w1; the same as w0 when g is the last group, whose copy is not stored)
// against T tokens; block b of each at [b * stride].
template <int T>
void q6k_tile_pair(const block_q6_kx8* w0, const block_q6_kx8* w1, int64_t stride, int64_t nb, const block_q8_act* act,
                   const int32_t* bias, int64_t n_act, float* y, int64_t y_stride, int64_t rows_left) {
    __m512 acc[T];
    for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
        pair_prefetch(w0 + b * stride, stride);
        const block_q6_kx8& b0 = w0[b * stride];
        const block_q6_kx8& b1 = w1[b * stride];
        const __m512 dw = pair_f16(b0.d, b1.d);
        const block_q8_act* a = act + b * 8;
        const int32_t* bs = bias + b * 16;
        q6k_pair_act_block<T, 0>(b0, b1, a + 0, bs + 0, n_act, dw, acc);
        q6k_pair_act_block<T, 1>(b0, b1, a + 1, bs + 2, n_act, dw, acc);
        q6k_pair_act_block<T, 2>(b0, b1, a + 2, bs + 4, n_act, dw, acc);
        q6k_pair_act_block<T, 3>(b0, b1, a + 3, bs + 6, n_act, dw, acc);
        q6k_pair_act_block<T, 4>(b0, b1, a + 4, bs + 8, n_act, dw, acc);
        q6k_pair_act_block<T, 5>(b0, b1, a + 5, bs + 10, n_act, dw, acc);
        q6k_pair_act_block<T, 6>(b0, b1, a + 6, bs + 12, n_act, dw, acc);
        q6k_pair_act_block<T, 7>(b0, b1, a + 7, bs + 14, n_act, dw, acc);
    }
    for (int t = 0; t < T; ++t) pair_store(y + t * y_stride, acc[t], rows_left);
}

}  // namespace

void qgemm_q6_kx8_avx512(const void* wv, int64_t n_rows, int64_t k, const block_q8_act* act, int64_t n_tokens, float* y,
                         int64_t y_stride) {
    const int64_t nb = k / qk_k, n_act = k / qk8_act;
    const int32_t* bias = act_q6k_half_bias(act, n_tokens * n_act);
    pair_tiles_run(static_cast<const block_q6_kx8*>(wv), n_rows, nb, n_tokens,
                   [&](auto tokens, const block_q6_kx8* w0, const block_q6_kx8* w1, int64_t stride, int64_t t, int64_t g) {
                       q6k_tile_pair<decltype(tokens)::value>(w0, w1, stride, nb, act + t * n_act, bias + 2 * t * n_act,
                                                              n_act, y + t * y_stride + g * 8, y_stride, n_rows - g * 8);
                   });
}

}  // namespace kiln

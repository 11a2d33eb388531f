// AVX-512 VNNI kernels of q5_0 and q5_1 in the rows8 layout (block_q5_0x8, block_q5_1x8;
// docs/KERNELS.md), the scheme of qgemm_q4_1_avx512.cpp.
//
// The low 4 bits of the codes are arranged exactly as in q4_0x8, and the 5th bits form a plane in
// the same 4-byte chunks (core/dtype.h): per block pair, each of the 8 code vectors is the nibble
// (and / shift-and, as q4_0) or-ed with one 16-bit shift and an and of the plane, built once and
// used by every token. vpdpbusd of the unsigned codes (0..31) against the signed int8 activations,
// exact in int32 per block, then in f32:
//   q5_0 (w = d (q - 16)): dot(w, x) = d dx (sum(q x) - 16 sum(x)),
//   q5_1 (w = d q + m):    dot(w, x) = d dx sum(q x) + m (dx sum(x)).
// Every token count, decode included: two groups per vector (group g in lanes 0-7, g + 1 in lanes
// 8-15, a rows8 pair read as one stream), up to 16 tokens per pass over a block pair, every lane a
// distinct output, so a token gets the same bits alone as in a batch.
#include <cstdint>

#include "arch/x86/pair_tiles_avx512.h"
#include "arch/x86/qgemm_x86.h"
#include "core/dtype.h"

namespace kiln {

namespace {

// The 8 code vectors of a block pair: c (0..3) rows8 chunk c's low nibbles with plane bit c
// (activation chunk c), c + 4 its high nibbles with plane bit 4 + c (activation chunk 4 + c).
template <class Block>
inline void q5_codes_pair(const Block& b0, const Block& b1, __m512i* wv) {
    const __m512i m0f = _mm512_set1_epi8(0x0f), m10 = _mm512_set1_epi8(0x10);
    const __m512i h = pair_chunk(b0.qh, b1.qh);
    // the shift counts must be immediates: the chunk loop is unrolled by hand
    const __m512i hl[4] = {_mm512_slli_epi16(h, 4), _mm512_slli_epi16(h, 3), _mm512_slli_epi16(h, 2),
                           _mm512_slli_epi16(h, 1)};
    const __m512i hh[4] = {h, _mm512_srli_epi16(h, 1), _mm512_srli_epi16(h, 2), _mm512_srli_epi16(h, 3)};
    for (int c = 0; c < 4; ++c) {
        const __m512i v = pair_chunk(b0.qs + 32 * c, b1.qs + 32 * c);
        // a 16-bit shift carries bits over from the neighbouring byte; they fall outside bit 4
        wv[c] = _mm512_or_si512(_mm512_and_si512(v, m0f), _mm512_and_si512(hl[c], m10));
        wv[c + 4] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(v, 4), m0f), _mm512_and_si512(hh[c], m10));
    }
}

// Groups g (w0) and g + 1 (w1) against T tokens (pair_tiles_run). ds: dx sum(x) of each activation block (laid out as act) for q5_1; unused for
// q5_0, whose bias comes off in int32.
template <class Block, int T>
void q5_tile_pair(const Block* w0, const Block* w1, int64_t stride, int64_t nb, const block_q8_act* act, const float* ds,
                  int64_t n_act, float* y, int64_t y_stride, int64_t rows_left) {
    constexpr bool has_min = sizeof(Block) == sizeof(block_q5_1x8);
    constexpr int S = T >= 4 ? 2 : 4;  // independent vpdpbusd chains per token
    __m512 acc[T];
    for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
        pair_prefetch(w0 + b * stride, stride);
        const Block& b0 = w0[b * stride];
        const Block& b1 = w1[b * stride];
        __m512i wv[8];
        q5_codes_pair(b0, b1, wv);
        const __m512 dw = pair_f16(b0.d, b1.d);
        __m512 mw = _mm512_setzero_ps();
        if constexpr (has_min) mw = pair_f16(b0.m, b1.m);
        for (int t = 0; t < T; ++t) {
            const block_q8_act& a = act[t * n_act + b];
            __m512i s[S];
            for (int i = 0; i < S; ++i) s[i] = _mm512_setzero_si512();
            for (int c = 0; c < 8; ++c) s[c % S] = pair_dpbusd_bcast(s[c % S], wv[c], a.qs + 4 * c);
            __m512i sum = _mm512_add_epi32(s[0], s[1]);
            if constexpr (S == 4) sum = _mm512_add_epi32(sum, _mm512_add_epi32(s[2], s[3]));
            if constexpr (has_min) {
                const __m512 r = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), _mm512_mul_ps(dw, _mm512_set1_ps(a.d)), acc[t]);
                acc[t] = _mm512_fmadd_ps(mw, _mm512_set1_ps(ds[t * n_act + b]), r);
            } else {
                sum = _mm512_sub_epi32(sum, _mm512_set1_epi32(16 * a.sum));
                acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), _mm512_mul_ps(dw, _mm512_set1_ps(a.d)), acc[t]);
            }
        }
    }
    for (int t = 0; t < T; ++t) pair_store(y + t * y_stride, acc[t], rows_left);
}

template <class Block>
void q5_qgemm(const void* wv, int64_t n_rows, int64_t k, const block_q8_act* act, int64_t n_tokens, float* y,
              int64_t y_stride) {
    constexpr bool has_min = sizeof(Block) == sizeof(block_q5_1x8);
    const int64_t nb = k / 32, n_act = k / qk8_act;
    const float* ds = has_min ? act_scaled_sums(act, n_tokens * n_act) : nullptr;  // q5_1's minimum term
    pair_tiles_run(static_cast<const Block*>(wv), n_rows, nb, n_tokens,
                   [&](auto tokens, const Block* w0, const Block* w1, int64_t stride, int64_t t, int64_t g) {
                       q5_tile_pair<Block, decltype(tokens)::value>(w0, w1, stride, nb, act + t * n_act,
                                                                    ds ? ds + t * n_act : nullptr, n_act,
                                                                    y + t * y_stride + g * 8, y_stride, n_rows - g * 8);
                   });
}

}  // namespace

void qgemm_q5_0x8_avx512(const void* w, int64_t n_rows, int64_t k, const block_q8_act* act, int64_t n_tokens, float* y,
                         int64_t y_stride) {
    q5_qgemm<block_q5_0x8>(w, n_rows, k, act, n_tokens, y, y_stride);
}

void qgemm_q5_1x8_avx512(const void* w, int64_t n_rows, int64_t k, const block_q8_act* act, int64_t n_tokens, float* y,
                         int64_t y_stride) {
    q5_qgemm<block_q5_1x8>(w, n_rows, k, act, n_tokens, y, y_stride);
}

}  // namespace kiln

// AVX2 kernels of q5_0 and q5_1 in the rows8 layout (block_q5_0x8, block_q5_1x8; docs/KERNELS.md),
// the scheme of qgemm_q4_1_avx2.cpp: one 32-byte load is rows8 chunk c of the 8 rows (dword lane
// r = row r), the 5th bits come from the 32-byte plane with one 16-bit shift and an and per vector
// (core/dtype.h), the activation chunk is broadcast to every lane, vpmaddubsw multiplies the
// unsigned codes (0..31) by the signed activations into int16 and vpmaddwd widens. A vpmaddubsw
// lane is at most 2 * 31 * 127 = 7874, so 4 of them (two chunks, low and high) still fit int16: two
// int16 accumulators per token and block. Then in f32 as in the reference (arch/qkernels_ref.inc):
//   q5_0 (w = d (q - 16)): dot(w, x) = d dx (sum(q x) - 16 sum(x)),
//   q5_1 (w = d q + m):    dot(w, x) = d dx sum(q x) + m (dx sum(x)).
#include <cstdint>

#include "arch/x86/group_tiles_avx2.h"
#include "arch/x86/qgemm_x86.h"
#include "core/dtype.h"

namespace kiln {

namespace {

// One 8-row group against T tokens. Chunk c (0..3): low nibbles with plane bit c pair with
// activation chunk c, high nibbles with plane bit 4 + c with chunk 4 + c. ds: dx sum(x) of each
// activation block (laid out as act) for q5_1; unused for q5_0.
template <class Block, int T>
void q5_tile(const Block* w, int64_t stride, int64_t nb, const block_q8_act* act, const float* ds, int64_t n_act, float* y,
             int64_t y_stride, int64_t rows_left) {
    constexpr bool has_min = sizeof(Block) == sizeof(block_q5_1x8);
    __m256 acc[T], acc_m[T];
    for (int t = 0; t < T; ++t) acc[t] = acc_m[t] = _mm256_setzero_ps();
    const __m256i ones = _mm256_set1_epi16(1), m0f = _mm256_set1_epi8(0x0f), m10 = _mm256_set1_epi8(0x10);
    for (int64_t b = 0; b < nb; ++b) {
        const Block& blk = w[b * stride];
        group_prefetch<T>(&blk);
        const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.qh));
        // shift counts must be immediates: the 5th bit of chunk c's low nibbles (plane bit c) and
        // high nibbles (plane bit 4 + c) moved to bit 4
        const __m256i hl[4] = {_mm256_slli_epi16(h, 4), _mm256_slli_epi16(h, 3), _mm256_slli_epi16(h, 2),
                               _mm256_slli_epi16(h, 1)};
        const __m256i hh[4] = {h, _mm256_srli_epi16(h, 1), _mm256_srli_epi16(h, 2), _mm256_srli_epi16(h, 3)};
        __m256i p16[T][2];
        for (int t = 0; t < T; ++t) p16[t][0] = p16[t][1] = _mm256_setzero_si256();
        for (int c = 0; c < 4; ++c) {
            const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.qs + 32 * c));
            const __m256i lo = _mm256_or_si256(_mm256_and_si256(v, m0f), _mm256_and_si256(hl[c], m10));
            const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v, 4), m0f), _mm256_and_si256(hh[c], m10));
            for (int t = 0; t < T; ++t) {
                const int8_t* xq = act[t * n_act + b].qs;
                p16[t][c / 2] = _mm256_add_epi16(p16[t][c / 2], _mm256_maddubs_epi16(lo, bcast_chunk(xq + 4 * c)));
                p16[t][c / 2] = _mm256_add_epi16(p16[t][c / 2], _mm256_maddubs_epi16(hi, bcast_chunk(xq + 16 + 4 * c)));
            }
        }
        const __m256 dw = group_f16(blk.d);
        __m256 mw = _mm256_setzero_ps();
        if constexpr (has_min) mw = group_f16(blk.m);
        for (int t = 0; t < T; ++t) {
            const block_q8_act& a = act[t * n_act + b];
            __m256i s = _mm256_add_epi32(_mm256_madd_epi16(p16[t][0], ones), _mm256_madd_epi16(p16[t][1], ones));
            if constexpr (!has_min) s = _mm256_sub_epi32(s, _mm256_set1_epi32(16 * a.sum));
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(dw, _mm256_set1_ps(a.d)), acc[t]);
            if constexpr (has_min) acc_m[t] = _mm256_fmadd_ps(mw, _mm256_set1_ps(ds[t * n_act + b]), acc_m[t]);
        }
    }
    for (int t = 0; t < T; ++t) {
        const __m256 v = has_min ? _mm256_add_ps(acc[t], acc_m[t]) : acc[t];
        group_store(y + t * y_stride, v, rows_left);
    }
}

template <class Block>
void q5_qgemm(const void* wv, int64_t n_rows, int64_t k, const block_q8_act* act, int64_t n_tokens, float* y,
              int64_t y_stride) {
    constexpr bool has_min = sizeof(Block) == sizeof(block_q5_1x8);
    const int64_t nb = k / 32, n_act = k / qk8_act;
    const float* ds = has_min ? act_scaled_sums(act, n_tokens * n_act) : nullptr;  // q5_1's minimum term
    group_tiles_run(static_cast<const Block*>(wv), n_rows, nb, n_tokens,
                    [&](auto tokens, const Block* wg, int64_t stride, int64_t t, int64_t g) {
                        q5_tile<Block, decltype(tokens)::value>(wg, stride, nb, act + t * n_act,
                                                                ds ? ds + t * n_act : nullptr, n_act,
                                                                y + t * y_stride + g * 8, y_stride, n_rows - g * 8);
                    });
}

}  // namespace

void qgemm_q5_0x8_avx2(const void* w, int64_t n_rows, int64_t k, const block_q8_act* act, int64_t n_tokens, float* y,
                       int64_t y_stride) {
    q5_qgemm<block_q5_0x8>(w, n_rows, k, act, n_tokens, y, y_stride);
}

void qgemm_q5_1x8_avx2(const void* w, int64_t n_rows, int64_t k, const block_q8_act* act, int64_t n_tokens, float* y,
                       int64_t y_stride) {
    q5_qgemm<block_q5_1x8>(w, n_rows, k, act, n_tokens, y, y_stride);
}

}  // namespace kiln

// AVX2 kernels of q4_1 in the rows8 layout (block_q4_1x8; docs/KERNELS.md), the scheme of
// qgemm_avx2.cpp's q4_0 tile: one 32-byte load is rows8 chunk c of the 8 rows (dword lane r = row
// r), the activation chunk broadcast to every lane, vpmaddubsw of the unsigned codes (0..15) by the
// signed activations into int16 (8 chunks of 15 * 127 * 2 stay below 2^15) and one vpmaddwd per
// block to widen. q4_1 has no bias (w = d q + m): the minimum adds m dx sum(x) per row and block,
//   dot(w, x) = d dx sum(q x) + m (dx sum(x)),
// exact int32 sums, then f32 scaling as in the reference (arch/qkernels_ref.inc).
#include <cstdint>

#include "arch/x86/group_tiles_avx2.h"
#include "arch/x86/qgemm_x86.h"
#include "core/dtype.h"

namespace kiln {

namespace {

// One 8-row group against T tokens. Chunk c (0..3): low nibbles pair with activation chunk c, high
// nibbles with chunk 4 + c. ds: dx sum(x) of each activation block (laid out as act).
template <int T>
void q41_tile(const block_q4_1x8* w, int64_t stride, int64_t nb, const block_q8_act* act, const float* ds, int64_t n_act, float* y,
              int64_t y_stride, int64_t rows_left) {
    __m256 acc[T], acc_m[T];
    for (int t = 0; t < T; ++t) acc[t] = acc_m[t] = _mm256_setzero_ps();
    const __m256i ones = _mm256_set1_epi16(1), m0f = _mm256_set1_epi8(0x0f);
    for (int64_t b = 0; b < nb; ++b) {
        group_prefetch<T>(w + b * stride);
        __m256i p16[T];
        for (int t = 0; t < T; ++t) p16[t] = _mm256_setzero_si256();
        for (int c = 0; c < 4; ++c) {
            const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b * stride].qs + 32 * c));
            const __m256i lo = _mm256_and_si256(v, m0f), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m0f);
            for (int t = 0; t < T; ++t) {
                const int8_t* xq = act[t * n_act + b].qs;
                p16[t] = _mm256_add_epi16(p16[t], _mm256_maddubs_epi16(lo, bcast_chunk(xq + 4 * c)));
                p16[t] = _mm256_add_epi16(p16[t], _mm256_maddubs_epi16(hi, bcast_chunk(xq + 16 + 4 * c)));
            }
        }
        const __m256 dw = group_f16(w[b * stride].d), mw = group_f16(w[b * stride].m);
        for (int t = 0; t < T; ++t) {
            const block_q8_act& a = act[t * n_act + b];
            const __m256i s = _mm256_madd_epi16(p16[t], ones);
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(dw, _mm256_set1_ps(a.d)), acc[t]);
            acc_m[t] = _mm256_fmadd_ps(mw, _mm256_set1_ps(ds[t * n_act + b]), acc_m[t]);
        }
    }
    for (int t = 0; t < T; ++t) {
        const __m256 v = _mm256_add_ps(acc[t], acc_m[t]);
        group_store(y + t * y_stride, v, rows_left);
    }
}

}  // namespace

void qgemm_q4_1x8_avx2(const void* wv, int64_t n_rows, int64_t k, const block_q8_act* act, int64_t n_tokens, float* y,
                       int64_t y_stride) {
    const int64_t nb = k / qk4_1, n_act = k / qk8_act;
    const float* ds = act_scaled_sums(act, n_tokens * n_act);
    group_tiles_run(static_cast<const block_q4_1x8*>(wv), n_rows, nb, n_tokens,
                    [&](auto tokens, const block_q4_1x8* wg, int64_t stride, int64_t t, int64_t g) {
                        q41_tile<decltype(tokens)::value>(wg, stride, nb, act + t * n_act, ds + t * n_act, n_act,
                                                          y + t * y_stride + g * 8, y_stride, n_rows - g * 8);
                    });
}

}  // namespace kiln

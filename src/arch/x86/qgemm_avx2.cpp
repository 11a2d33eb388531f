// AVX2 integer kernels of the rows8 layout (Haswell / Zen 1 and later; no VNNI).
//
// One 32-byte load of a group block is chunk c (4 bytes) of all 8 rows, so dword lane r is row r
// and the activation operand is the token's chunk c broadcast to every lane. vpmaddubsw multiplies
// unsigned by signed bytes into int16 pairs (saturating) and vpmaddwd by ones widens them to int32:
//   q4_0, q4_k: codes 0..15 times activations -127..127 stay below 2^15 even for 8 chunks summed in
//               int16, so one widening per block (or sub-block);
//   q8_0:       codes 0..255 would saturate, so the weight is made signed (xor 0x80 gives q) and the
//               sign moves onto the activation: |q| * (x * sign q), at most 128 * 127 * 2 < 2^15.
// Per block: exact int32 dot products, then one conversion and one FMA into f32, as in the
// reference (arch/qkernels_ref.inc).
#include "arch/x86/x86_intrinsics.h"

#include <cstdint>
#include <cstring>

#include "arch/x86/group_tiles_avx2.h"
#include "arch/x86/qgemm_x86.h"
#include "core/dtype.h"

namespace kiln {

namespace {

// One 8-row group against T tokens.
template <int T>
void tile_q8(const block_q8_0x8* w, int64_t stride, int64_t nb, const block_q8_act* act, int64_t n_act, float* y, int64_t y_stride,
             int64_t rows_left) {
    __m256 acc[T];
    for (int t = 0; t < T; ++t) acc[t] = _mm256_setzero_ps();
    const __m256i ones = _mm256_set1_epi16(1), flip = _mm256_set1_epi8(static_cast<char>(0x80));
    for (int64_t b = 0; b < nb; ++b) {
        group_prefetch<T>(w + b * stride);
        __m256i s[T];
        for (int t = 0; t < T; ++t) s[t] = _mm256_setzero_si256();
        for (int c = 0; c < 8; ++c) {
            const __m256i q = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b * stride].qs + 32 * c)), flip);
            const __m256i aq = _mm256_abs_epi8(q);
            for (int t = 0; t < T; ++t) {
                const __m256i x = _mm256_sign_epi8(bcast_chunk(act[t * n_act + b].qs + 4 * c), q);
                s[t] = _mm256_add_epi32(s[t], _mm256_madd_epi16(_mm256_maddubs_epi16(aq, x), ones));
            }
        }
        const __m256 dw = group_f16(w[b * stride].d);
        for (int t = 0; t < T; ++t) {
            const __m256 scale = _mm256_mul_ps(dw, _mm256_set1_ps(act[t * n_act + b].d));
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[t]), scale, acc[t]);
        }
    }
    for (int t = 0; t < T; ++t) group_store(y + t * y_stride, acc[t], rows_left);
}

// Chunk c (0..3): low nibbles pair with activation chunk c, high nibbles with chunk 4 + c.
template <int T>
void tile_q4(const block_q4_0x8* w, int64_t stride, int64_t nb, const block_q8_act* act, int64_t n_act, float* y, int64_t y_stride,
             int64_t rows_left) {
    __m256 acc[T];
    for (int t = 0; t < T; ++t) acc[t] = _mm256_setzero_ps();
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
        const __m256 dw = group_f16(w[b * stride].d);
        for (int t = 0; t < T; ++t) {
            const block_q8_act& a = act[t * n_act + b];
            const __m256i s = _mm256_sub_epi32(_mm256_madd_epi16(p16[t], ones), _mm256_set1_epi32(8 * a.sum));
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(dw, _mm256_set1_ps(a.d)), acc[t]);
        }
    }
    for (int t = 0; t < T; ++t) group_store(y + t * y_stride, acc[t], rows_left);
}

// q4_k: the 6-bit scales and mins of a super-block decoded to bytes (entry j * 8 + r), then per
// sub-block pair p and chunk c one load gives sub-block 2p (low nibbles) and 2p + 1 (high).
template <int T>
void tile_q4k(const block_q4_kx8* w, int64_t stride, int64_t nb, const block_q8_act* act, int64_t n_act, float* y, int64_t y_stride,
              int64_t rows_left) {
    __m256 acc[T];
    for (int t = 0; t < T; ++t) acc[t] = _mm256_setzero_ps();
    const __m256i ones = _mm256_set1_epi16(1), m0f = _mm256_set1_epi8(0x0f), m03 = _mm256_set1_epi8(0x03);
    for (int64_t b = 0; b < nb; ++b) {
        group_prefetch<T>(w + b * stride);
        const block_q4_kx8& blk = w[b * stride];
        alignas(32) uint8_t sc[64], mn[64];
        {
            const __m256i lo0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.scales));
            const __m256i lo1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.scales + 32));
            const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.scales + 64));
            const __m256i h1 = _mm256_srli_epi16(h, 4);
            auto six = [&](__m256i low4, __m256i high2) { return _mm256_or_si256(low4, _mm256_slli_epi16(high2, 4)); };
            _mm256_store_si256(reinterpret_cast<__m256i*>(sc), six(_mm256_and_si256(lo0, m0f), _mm256_and_si256(h, m03)));
            _mm256_store_si256(reinterpret_cast<__m256i*>(sc + 32), six(_mm256_and_si256(lo1, m0f), _mm256_and_si256(h1, m03)));
            _mm256_store_si256(reinterpret_cast<__m256i*>(mn),
                               six(_mm256_and_si256(_mm256_srli_epi16(lo0, 4), m0f),
                                   _mm256_and_si256(_mm256_srli_epi16(h, 2), m03)));
            _mm256_store_si256(reinterpret_cast<__m256i*>(mn + 32),
                               six(_mm256_and_si256(_mm256_srli_epi16(lo1, 4), m0f),
                                   _mm256_and_si256(_mm256_srli_epi16(h1, 2), m03)));
        }
        const __m256 d8 = group_f16(blk.d), dm8 = group_f16(blk.dmin);
        auto bytes8 = [](const uint8_t* p) {
            return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
        };
        for (int p = 0; p < 4; ++p) {
            __m256i p0[T], p1[T];
            for (int t = 0; t < T; ++t) p0[t] = p1[t] = _mm256_setzero_si256();
            for (int c = 0; c < 8; ++c) {
                const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.qs + p * 256 + 32 * c));
                const __m256i lo = _mm256_and_si256(v, m0f), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m0f);
                for (int t = 0; t < T; ++t) {
                    const block_q8_act* a = act + t * n_act + b * 8 + 2 * p;
                    p0[t] = _mm256_add_epi16(p0[t], _mm256_maddubs_epi16(lo, bcast_chunk(a[0].qs + 4 * c)));
                    p1[t] = _mm256_add_epi16(p1[t], _mm256_maddubs_epi16(hi, bcast_chunk(a[1].qs + 4 * c)));
                }
            }
            const __m256 dsc0 = _mm256_mul_ps(d8, bytes8(sc + 16 * p)), dsc1 = _mm256_mul_ps(d8, bytes8(sc + 16 * p + 8));
            const __m256 dmn0 = _mm256_mul_ps(dm8, bytes8(mn + 16 * p)), dmn1 = _mm256_mul_ps(dm8, bytes8(mn + 16 * p + 8));
            for (int t = 0; t < T; ++t) {
                const block_q8_act* a = act + t * n_act + b * 8 + 2 * p;
                __m256 r = acc[t];
                r = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(p0[t], ones)),
                                    _mm256_mul_ps(dsc0, _mm256_set1_ps(a[0].d)), r);
                r = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(p1[t], ones)),
                                    _mm256_mul_ps(dsc1, _mm256_set1_ps(a[1].d)), r);
                r = _mm256_fnmadd_ps(dmn0, _mm256_set1_ps(a[0].d * static_cast<float>(a[0].sum)), r);
                r = _mm256_fnmadd_ps(dmn1, _mm256_set1_ps(a[1].d * static_cast<float>(a[1].sum)), r);
                acc[t] = r;
            }
        }
    }
    for (int t = 0; t < T; ++t) group_store(y + t * y_stride, acc[t], rows_left);
}

template <class Block, int elems>
void qgemm(const void* wv, int64_t n_rows, int64_t k, const block_q8_act* act, int64_t n_tokens, float* y,
           int64_t y_stride) {
    const int64_t nb = k / elems, n_act = k / qk8_act;
    group_tiles_run(static_cast<const Block*>(wv), n_rows, nb, n_tokens,
                    [&](auto tokens, const Block* wg, int64_t stride, int64_t t, int64_t g) {
                        constexpr int T = decltype(tokens)::value;
                        float* yt = y + t * y_stride + g * 8;
                        const block_q8_act* at = act + t * n_act;
                        if constexpr (sizeof(Block) == sizeof(block_q8_0x8)) {
                            tile_q8<T>(wg, stride, nb, at, n_act, yt, y_stride, n_rows - g * 8);
                        } else if constexpr (sizeof(Block) == sizeof(block_q4_0x8)) {
                            tile_q4<T>(wg, stride, nb, at, n_act, yt, y_stride, n_rows - g * 8);
                        } else {
                            tile_q4k<T>(wg, stride, nb, at, n_act, yt, y_stride, n_rows - g * 8);
                        }
                    });
}

}  // namespace

// Same arithmetic as quantize_act_ref (arch/qkernels_ref.inc): identical int8 activations.
void quantize_act_avx2(const float* x, int64_t k, block_q8_act* out) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t b = 0; b < k / qk8_act; ++b) {
        __m256 v[4], m = _mm256_setzero_ps();
        for (int i = 0; i < 4; ++i) {
            v[i] = _mm256_loadu_ps(x + b * 32 + 8 * i);
            m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v[i]));
        }
        __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        h = _mm_max_ss(h, _mm_movehdup_ps(h));
        const float amax = _mm_cvtss_f32(h);
        block_q8_act& o = out[b];
        if (!(amax >= 1e-30f)) {
            o.d = 0.0f;
            o.sum = 0;
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(o.qs), _mm256_setzero_si256());
            continue;
        }
        const float d = amax / 127.0f;
        const __m256 id = _mm256_set1_ps(1.0f / d);
        __m256i q[4];
        for (int i = 0; i < 4; ++i) q[i] = _mm256_cvtps_epi32(_mm256_mul_ps(v[i], id));
        // int32 -> int16 -> int8 with saturation; packs interleave 128-bit lanes, the permute undoes it.
        const __m256i q16a = _mm256_packs_epi32(q[0], q[1]), q16b = _mm256_packs_epi32(q[2], q[3]);
        const __m256i q8 = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(q16a, q16b), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(o.qs), q8);
        __m256i s = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
        __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xb1));
        o.d = d;
        o.sum = _mm_cvtsi128_si32(s4);
    }
}

void qgemm_q8_0x8_avx2(const void* w, int64_t n_rows, int64_t k, const block_q8_act* act, int64_t n_tokens, float* y,
                       int64_t y_stride) {
    qgemm<block_q8_0x8, qk8_0>(w, n_rows, k, act, n_tokens, y, y_stride);
}

void qgemm_q4_0x8_avx2(const void* w, int64_t n_rows, int64_t k, const block_q8_act* act, int64_t n_tokens, float* y,
                       int64_t y_stride) {
    qgemm<block_q4_0x8, qk4_0>(w, n_rows, k, act, n_tokens, y, y_stride);
}

void qgemm_q4_kx8_avx2(const void* w, int64_t n_rows, int64_t k, const block_q8_act* act, int64_t n_tokens, float* y,
                       int64_t y_stride) {
    qgemm<block_q4_kx8, qk_k>(w, n_rows, k, act, n_tokens, y, y_stride);
}

}  // namespace kiln

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
#include "arch/x86/x86_intrinsics.h"

#include <cstdint>
#include <vector>

#include "arch/x86/qgemm_x86.h"
#include "core/dtype.h"

namespace kiln {

namespace {

// 8 fp16 values of group a (lanes 0-7) and of group b (lanes 8-15).
inline __m512 q5_f16x8_pair(const uint16_t* a, const uint16_t* b) {
    const __m256i h = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a))),
                                              _mm_loadu_si128(reinterpret_cast<const __m128i*>(b)), 1);
    return _mm512_cvtph_ps(h);
}

// 32 bytes of group a (low half) and of group b (high half).
inline __m512i q5_load_pair(const uint8_t* a, const uint8_t* b) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a))),
                              _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b)), 1);
}

// s += dot(w, the 4 activation bytes at qs in every lane), the broadcast embedded in vpdpbusd
// ({1to16}): GCC does not fold _mm512_set1_epi32 of a load into it.
inline __m512i q5_dpbusd_bcast(__m512i s, __m512i w, const int8_t* qs) {
#if defined(__GNUC__)
    __asm__("vpdpbusd %[x]%{1to16%}, %[w], %[s]" : [s] "+v"(s) : [w] "v"(w), [x] "m"(*reinterpret_cast<const int32_t*>(qs)));
    return s;
#else
    int32_t v;
    __builtin_memcpy(&v, qs, 4);
    return _mm512_dpbusd_epi32(s, w, _mm512_set1_epi32(v));
#endif
}

// Software prefetch of the pair's weight stream this far ahead (q4_1's distance).
constexpr int64_t k_q5_prefetch_bytes = 4096;

// The 8 code vectors of a block pair: c (0..3) rows8 chunk c's low nibbles with plane bit c
// (activation chunk c), c + 4 its high nibbles with plane bit 4 + c (activation chunk 4 + c).
template <class Block>
inline void q5_codes_pair(const Block& b0, const Block& b1, __m512i* wv) {
    const __m512i m0f = _mm512_set1_epi8(0x0f), m10 = _mm512_set1_epi8(0x10);
    const __m512i h = q5_load_pair(b0.qh, b1.qh);
    // the shift counts must be immediates: the chunk loop is unrolled by hand
    const __m512i hl[4] = {_mm512_slli_epi16(h, 4), _mm512_slli_epi16(h, 3), _mm512_slli_epi16(h, 2),
                           _mm512_slli_epi16(h, 1)};
    const __m512i hh[4] = {h, _mm512_srli_epi16(h, 1), _mm512_srli_epi16(h, 2), _mm512_srli_epi16(h, 3)};
    for (int c = 0; c < 4; ++c) {
        const __m512i v = q5_load_pair(b0.qs + 32 * c, b1.qs + 32 * c);
        // a 16-bit shift carries bits over from the neighbouring byte; they fall outside bit 4
        wv[c] = _mm512_or_si512(_mm512_and_si512(v, m0f), _mm512_and_si512(hl[c], m10));
        wv[c + 4] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(v, 4), m0f), _mm512_and_si512(hh[c], m10));
    }
}

// Groups g (w0) and g + 1 (w1; the same as w0 when g is the last group, whose copy is not stored)
// against T tokens. ds: dx sum(x) of each activation block (laid out as act) for q5_1; unused for
// q5_0, whose bias comes off in int32.
template <class Block, int T>
void q5_tile_pair(const Block* w0, const Block* w1, int64_t stride, int64_t nb, const block_q8_act* act, const float* ds,
                  int64_t n_act, float* y, int64_t y_stride, int64_t rows_left) {
    constexpr bool has_min = sizeof(Block) == sizeof(block_q5_1x8);
    constexpr int S = T >= 4 ? 2 : 4;  // independent vpdpbusd chains per token
    __m512 acc[T];
    for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
        // one stream: the pair's blocks alternate in rows8
        const char* pa = reinterpret_cast<const char*>(w0 + b * stride) + k_q5_prefetch_bytes;
        for (size_t o = 0; o < static_cast<size_t>(stride) * sizeof(Block); o += 64) _mm_prefetch(pa + o, _MM_HINT_T0);
        const Block& b0 = w0[b * stride];
        const Block& b1 = w1[b * stride];
        __m512i wv[8];
        q5_codes_pair(b0, b1, wv);
        const __m512 dw = q5_f16x8_pair(b0.d, b1.d);
        __m512 mw = _mm512_setzero_ps();
        if constexpr (has_min) mw = q5_f16x8_pair(b0.m, b1.m);
        for (int t = 0; t < T; ++t) {
            const block_q8_act& a = act[t * n_act + b];
            __m512i s[S];
            for (int i = 0; i < S; ++i) s[i] = _mm512_setzero_si512();
            for (int c = 0; c < 8; ++c) s[c % S] = q5_dpbusd_bcast(s[c % S], wv[c], a.qs + 4 * c);
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
    for (int t = 0; t < T; ++t) {
        float* yt = y + t * y_stride;
        if (rows_left >= 16) {
            _mm512_storeu_ps(yt, acc[t]);
        } else if (rows_left > 0) {
            _mm512_mask_storeu_ps(yt, static_cast<__mmask16>((1u << rows_left) - 1), acc[t]);
        }
    }
}

// A run-time token count in [1, T].
template <class Block, int T>
void q5_pair_tokens(int tokens, const Block* w0, const Block* w1, int64_t stride, int64_t nb, const block_q8_act* act,
                    const float* ds, int64_t n_act, float* y, int64_t y_stride, int64_t rows_left) {
    if constexpr (T == 1) {
        q5_tile_pair<Block, 1>(w0, w1, stride, nb, act, ds, n_act, y, y_stride, rows_left);
    } else if (tokens == T) {
        q5_tile_pair<Block, T>(w0, w1, stride, nb, act, ds, n_act, y, y_stride, rows_left);
    } else {
        q5_pair_tokens<Block, T - 1>(tokens, w0, w1, stride, nb, act, ds, n_act, y, y_stride, rows_left);
    }
}

constexpr int k_q5_pair_tokens = 16;

template <class Block>
void q5_qgemm(const void* wv, int64_t n_rows, int64_t k, const block_q8_act* act, int64_t n_tokens, float* y,
              int64_t y_stride) {
    constexpr bool has_min = sizeof(Block) == sizeof(block_q5_1x8);
    const auto* w = static_cast<const Block*>(wv);
    const int64_t nb = k / 32, n_act = k / qk8_act;
    const int64_t groups = rows8_groups(n_rows);
    // Token tiles of at most 16, the last split evenly (20 tokens: 10 + 10) so every tile amortizes
    // the weight vectors it builds.
    const int64_t n_tiles = (n_tokens + k_q5_pair_tokens - 1) / k_q5_pair_tokens;
    // q5_1: dx sum(x) per activation block, once per call instead of once per block pair
    thread_local std::vector<float> ds_storage;
    const float* ds = nullptr;
    if constexpr (has_min) {
        const size_t n_ds = static_cast<size_t>(n_tokens * n_act);
        if (ds_storage.size() < n_ds) ds_storage.resize(n_ds);
        for (size_t i = 0; i < n_ds; ++i) ds_storage[i] = act[i].d * static_cast<float>(act[i].sum);
        ds = ds_storage.data();
    }
    for (int64_t g = 0; g < groups; g += 2) {
        const Block* w0 = w + rows8_group_first(g, nb, groups);
        const int64_t stride = rows8_group_stride(g, groups);
        const Block* w1 = stride == 2 ? w0 + 1 : w0;
        for (int64_t i = 0, t = 0; i < n_tiles; ++i) {
            const int64_t nt = (n_tokens - t + (n_tiles - i) - 1) / (n_tiles - i);
            q5_pair_tokens<Block, k_q5_pair_tokens>(static_cast<int>(nt), w0, w1, stride, nb, act + t * n_act,
                                                    has_min ? ds + t * n_act : nullptr, n_act, y + t * y_stride + g * 8,
                                                    y_stride, n_rows - g * 8);
            t += nt;
        }
    }
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

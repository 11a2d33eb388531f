// What every AVX-512 rows8 kernel (qgemm_avx512.cpp, qgemm_q4_1_avx512.cpp, qgemm_q5_avx512.cpp,
// qgemm_q6_k_avx512.cpp) shares: the pair-tile scheme of docs/KERNELS.md. Chunk c of the 16 rows of a
// rows8 pair (group g in dword lanes 0-7, g + 1 in lanes 8-15) is one vector, the token's chunk is
// broadcast by vpdpbusd's own memory operand, every lane is one (row, token) output, and one driver
// walks the pairs and the token tiles for every type.
//
// Include only from translation units built with the AVX-512 flags (*_avx512.cpp). Everything here
// has internal linkage, so each of those units keeps its own copy and no AVX-512 code can be picked
// by the linker for a unit of another level.
#pragma once

#include <cstdint>

#include "arch/x86/qgemm_tables.h"
#include "arch/x86/x86_intrinsics.h"
#include "core/dtype.h"

namespace kiln {
namespace {

// s += dot(w, the 4 activation bytes at qs repeated in every lane): vpdpbusd with an embedded
// {1to16} broadcast of its memory operand (GCC does not fold _mm512_set1_epi32 of a load into it,
// and a separate vpbroadcastd costs one more uop per vpdpbusd).
inline __m512i pair_dpbusd_bcast(__m512i s, __m512i w, const int8_t* qs) {
#if defined(__GNUC__)
    __asm__("vpdpbusd %[x]%{1to16%}, %[w], %[s]" : [s] "+v"(s) : [w] "v"(w), [x] "m"(*reinterpret_cast<const int32_t*>(qs)));
    return s;
#else
    int32_t v;
    __builtin_memcpy(&v, qs, 4);
    return _mm512_dpbusd_epi32(s, w, _mm512_set1_epi32(v));
#endif
}

// 32 bytes of group 0 (lanes 0-7) and 32 of group 1 (lanes 8-15).
inline __m512i pair_chunk(const uint8_t* a, const uint8_t* b) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a))),
                              _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b)), 1);
}

// 8 fp16 values of group 0 and 8 of group 1 as 16 floats.
inline __m512 pair_f16(const uint16_t* a, const uint16_t* b) {
    const __m256i h = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a))),
                                              _mm_loadu_si128(reinterpret_cast<const __m128i*>(b)), 1);
    return _mm512_cvtph_ps(h);
}

// The 16 outputs of a pair, of which `valid` exist (the last pair may be partly padding).
inline void pair_store(float* y, __m512 acc, int64_t valid) {
    if (valid >= 16) {
        _mm512_storeu_ps(y, acc);
    } else if (valid > 0) {
        _mm512_mask_storeu_ps(y, static_cast<__mmask16>((1u << valid) - 1), acc);
    }
}

// Software prefetch this far ahead of the pair's one stream (rows8 interleaves the two groups'
// blocks, core/dtype.h). Several tokens make the kernels compute-heavy enough that the hardware
// prefetcher alone lets the DRAM reads and the arithmetic run one after the other instead of
// overlapping; 4 KiB measured best with the interleaved pairs (2 KiB: 1.1x slower; docs/KERNELS.md).
constexpr int64_t k_pair_prefetch_bytes = 4096;

// `at`: the current block of the pair's first group; the pair's blocks at this position span
// stride blocks.
template <class B>
inline void pair_prefetch(const B* at, int64_t stride) {
    const char* p = reinterpret_cast<const char*>(at) + k_pair_prefetch_bytes;
    const size_t span = static_cast<size_t>(stride) * sizeof(B);
    for (size_t o = 0; o < span; o += 64) _mm_prefetch(p + o, _MM_HINT_T0);
}

// Up to this many tokens per pass over a block pair, their accumulators in registers.
constexpr int k_pair_tokens = 16;

// Every pair of groups against the tokens in tiles of at most k_pair_tokens, the last split
// evenly (20 tokens as 10 + 10, not 16 + 4) so every tile amortizes the weight vectors it builds:
// tile(std::integral_constant<int, T>, w0, w1, stride, t0, g) for T tokens from t0 on groups g
// (w0, block b at w0[b * stride]) and g + 1 (w1; the same as w0 for a lone last group, whose
// copy is not stored). Decode is the one-token case, so a token gets the same bits alone as in a
// batch.
template <class Block, class F>
void pair_tiles_run(const Block* w, int64_t n_rows, int64_t nb, int64_t n_tokens, const F& tile) {
    const int64_t groups = rows8_groups(n_rows);
    const int64_t n_tiles = (n_tokens + k_pair_tokens - 1) / k_pair_tokens;
    for (int64_t g = 0; g < groups; g += 2) {
        const Block* w0 = w + rows8_group_first(g, nb, groups);
        const int64_t stride = rows8_group_stride(g, groups);
        const Block* w1 = stride == 2 ? w0 + 1 : w0;
        for (int64_t i = 0, t = 0; i < n_tiles; ++i) {
            const int64_t nt = (n_tokens - t + (n_tiles - i) - 1) / (n_tiles - i);
            tokens_dispatch<k_pair_tokens>(static_cast<int>(nt), tile, w0, w1, stride, t, g);
            t += nt;
        }
    }
}

}  // namespace
}  // namespace kiln

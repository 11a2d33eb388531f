// What every AVX2 rows8 kernel (qgemm_avx2.cpp, qgemm_q4_1_avx2.cpp, qgemm_q5_avx2.cpp,
// qgemm_q6_k_avx2.cpp) shares: one 32-byte load is rows8 chunk c of the 8 rows of a group (dword
// lane r = row r), the activation chunk is broadcast to every lane, and one driver walks the groups
// and the token tiles (up to 4 tokens, whose accumulators stay in registers) for every type.
//
// Include only from translation units built with the AVX2 flags (*_avx2.cpp); internal linkage,
// as in pair_tiles_avx512.h.
#pragma once

#include <cstdint>
#include <cstring>

#include "arch/x86/qgemm_tables.h"
#include "arch/x86/x86_intrinsics.h"
#include "core/dtype.h"

namespace kiln {
namespace {

// The 4 activation bytes at p in every lane.
inline __m256i bcast_chunk(const int8_t* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

// 8 fp16 values (one per row of the group) as 8 floats.
inline __m256 group_f16(const uint16_t* d) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(d))); }

// The 8 outputs of a group, of which `valid` exist (the last group may be partly padding).
inline void group_store(float* y, __m256 v, int64_t valid) {
    if (valid >= 8) {
        _mm256_storeu_ps(y, v);
        return;
    }
    alignas(32) float tmp[8];
    _mm256_store_ps(tmp, v);
    for (int64_t r = 0; r < valid; ++r) y[r] = tmp[r];
}

// Several tokens: prefetch the group's weights this far ahead. The per-block arithmetic of 2+
// tokens is long enough that, left to the hardware prefetcher, the DRAM reads and the arithmetic
// run one after the other (docs/KERNELS.md); one token keeps the plain sequential stream.
constexpr int64_t k_group_prefetch_bytes = 2048;

template <int T, class B>
inline void group_prefetch(const B* blk) {
    if constexpr (T > 1) {
        const char* p = reinterpret_cast<const char*>(blk) + k_group_prefetch_bytes;
        for (size_t o = 0; o < sizeof(B); o += 64) _mm_prefetch(p + o, _MM_HINT_T0);
    }
}

constexpr int k_group_tokens = 4;

// Groups outside, token tiles of up to k_group_tokens inside, so a group's weights are read from
// memory once: tile(std::integral_constant<int, T>, wg, stride, t0, g) for T tokens from t0 on
// group g, block b at wg[b * stride]. A group's blocks are every other block of its rows8 pair
// (core/dtype.h): the partner group, run next, finds the lines this one brought in in L1/L2.
template <class Block, class F>
void group_tiles_run(const Block* w, int64_t n_rows, int64_t nb, int64_t n_tokens, const F& tile) {
    const int64_t groups = rows8_groups(n_rows);
    for (int64_t g = 0; g < groups; ++g) {
        const Block* wg = w + rows8_group_first(g, nb, groups);
        const int64_t stride = rows8_group_stride(g, groups);
        for (int64_t t = 0; t < n_tokens; t += k_group_tokens) {
            const int nt = static_cast<int>(n_tokens - t < k_group_tokens ? n_tokens - t : k_group_tokens);
            tokens_dispatch<k_group_tokens>(nt, tile, wg, stride, t, g);
        }
    }
}

}  // namespace
}  // namespace kiln

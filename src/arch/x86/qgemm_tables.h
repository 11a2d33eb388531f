// Per-call tables and the token-count dispatch every x86 rows8 kernel file uses, whatever its level
// (plain C++: no intrinsics). Internal linkage: each kernel translation unit keeps its own copy.
#pragma once

#include <cstdint>
#include <type_traits>
#include <vector>

#include "core/dtype.h"

namespace kiln {
namespace {

// d_x * sum(x) of every activation block (laid out as act), for the types with a minimum (q4_1,
// q5_1, q4_k): computed once per call, so a tile takes it as a broadcast from memory.
inline const float* act_scaled_sums(const block_q8_act* act, int64_t n) {
    thread_local std::vector<float> storage;
    if (storage.size() < static_cast<size_t>(n)) storage.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) storage[static_cast<size_t>(i)] = act[i].d * static_cast<float>(act[i].sum);
    return storage.data();
}

// q6_k's code bias per activation block half: -32 * sum(qs[0..15]) and -32 * sum(qs[16..31])
// (2 per block, laid out as act), since each half meets another sub-block scale.
inline const int32_t* act_q6k_half_bias(const block_q8_act* act, int64_t n) {
    thread_local std::vector<int32_t> storage;
    if (storage.size() < static_cast<size_t>(2 * n)) storage.resize(static_cast<size_t>(2 * n));
    for (int64_t i = 0; i < n; ++i) {
        int32_t sa = 0;
        for (int j = 0; j < 16; ++j) sa += act[i].qs[j];
        storage[static_cast<size_t>(2 * i)] = -32 * sa;
        storage[static_cast<size_t>(2 * i + 1)] = -32 * (act[i].sum - sa);
    }
    return storage.data();
}

// tile(std::integral_constant<int, tokens>, a...) for a run-time token count in [1, T]: the tiles
// keep one accumulator per token in registers, so the count must be a compile-time constant.
template <int T, class F, class... A>
inline void tokens_dispatch(int tokens, const F& tile, A... a) {
    if constexpr (T == 1) {
        tile(std::integral_constant<int, 1>{}, a...);
    } else if (tokens == T) {
        tile(std::integral_constant<int, T>{}, a...);
    } else {
        tokens_dispatch<T - 1>(tokens, tile, a...);
    }
}

}  // namespace
}  // namespace kiln

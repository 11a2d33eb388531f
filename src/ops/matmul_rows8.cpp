// Threading of the integer matmul. Two phases in one call:
//  1. the activations are quantized to block_q8_act once (split over tokens when there are many);
//  2. work items are (token block, chunk of 8-row groups) pairs. Chunks are whole pairs of groups,
//     16 rows = 64 bytes of f32 output, so two threads never write the same cache line of y, and
//     there are about four per thread so both cores stay busy on a shared machine (claimed
//     dynamically from kiln's worker pool, ops/thread_pool.h). Inside an item the kernel reads each weight group once and applies it to every
//     token of the block, so a batch of 2..16 tokens costs about one weight read, like one token.
#include "ops/matmul_rows8.h"

#include <omp.h>

#include <algorithm>
#include <vector>

#include "arch/cpu_dispatch.h"
#include "core/error.h"
#include "ops/ops.h"
#include "ops/thread_pool.h"

namespace kiln::ops {

namespace {

// Below this many multiply-adds one thread does the whole product.
constexpr int64_t k_parallel_min_work = 1 << 16;
// Quantized activations of one token block stay in L2 (1 MiB per core here) while weights stream.
constexpr int64_t k_act_block_bytes = 384 * 1024;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

qgemm_fn qgemm_for(const cpu_kernels& k, const tensor& w) {
    switch (w.type) {
        case dtype::q8_0: return k.qgemm_q8_0x8;
        case dtype::q4_0: return k.qgemm_q4_0x8;
        case dtype::q4_1: return k.qgemm_q4_1x8;
        case dtype::q4_k: return k.qgemm_q4_kx8;
        case dtype::q6_k: return k.qgemm_q6_kx8;
        default: break;
    }
    fail("matmul: tensor {} of type {} has no rows8 kernel", w.name, dtype_name(w.type));
}

template <class F>
void parallel_items(int64_t n, int n_threads, const F& f) {
    const int nt = static_cast<int>(std::min<int64_t>(n_threads, n));
    if (nt <= 1) {
        for (int64_t i = 0; i < n; ++i) f(i);
        return;
    }
    if (pool_enabled()) {
        pool_for(n, nt, [&](int64_t i, int) { f(i); });
        return;
    }
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
    for (int64_t i = 0; i < n; ++i) f(i);
}

}  // namespace

void matmul_rows8(const tensor& w, const float* x, int64_t n_tokens, float* y) {
    const int64_t k = w.ne[0], n_out = w.ne[1];
    if (n_tokens == 0 || n_out == 0) return;
    const cpu_kernels& kern = cpu_kernels_get();
    const qgemm_fn gemm = qgemm_for(kern, w);
    const int64_t n_act = k / qk8_act;
    const int nt = n_out * k * n_tokens < k_parallel_min_work ? 1 : threads_get();

    // Reused across calls: a decode step must not allocate.
    // (Worker threads see their own thread_local, so only this pointer is shared with them.)
    thread_local std::vector<block_q8_act> act_storage;
    if (act_storage.size() < static_cast<size_t>(n_tokens * n_act)) act_storage.resize(static_cast<size_t>(n_tokens * n_act));
    block_q8_act* const act = act_storage.data();
    const quantize_act_fn quantize = kern.quantize_act;
    parallel_items(n_tokens, n_tokens * k < (1 << 16) ? 1 : nt,
                   [&](int64_t t) { quantize(x + t * k, k, act + t * n_act); });

    const int64_t tok_block =
        std::min(n_tokens, std::max<int64_t>(8, k_act_block_bytes / (n_act * static_cast<int64_t>(sizeof(block_q8_act)))));
    const int64_t n_tok_blocks = ceil_div(n_tokens, tok_block);
    const int64_t n_pairs = ceil_div(n_out, 2 * rows8_group);
    const int64_t pairs_per_chunk = nt == 1 ? n_pairs : std::max<int64_t>(1, ceil_div(n_pairs, 4 * static_cast<int64_t>(nt)));
    const int64_t n_chunks = ceil_div(n_pairs, pairs_per_chunk);
    const size_t pair_bytes = 2 * w.group_bytes();

    parallel_items(n_tok_blocks * n_chunks, nt, [&](int64_t item) {
        const int64_t t0 = (item / n_chunks) * tok_block, c = item % n_chunks;
        const int64_t r0 = c * pairs_per_chunk * 2 * rows8_group;
        const int64_t n_t = std::min(tok_block, n_tokens - t0);
        const int64_t n_r = std::min(pairs_per_chunk * 2 * rows8_group, n_out - r0);
        const char* wg = static_cast<const char*>(w.data) + static_cast<size_t>(c * pairs_per_chunk) * pair_bytes;
        gemm(wg, n_r, k, act + t0 * n_act, n_t, y + t0 * n_out + r0, n_out);
    });
}

}  // namespace kiln::ops

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
        case dtype::q5_0: return k.qgemm_q5_0x8;
        case dtype::q5_1: return k.qgemm_q5_1x8;
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
    const tensor* ws[1] = {&w};
    float* ys[1] = {y};
    matmul_rows8_many(ws, ys, 1, x, n_tokens);
}

void matmul_rows8_many(const tensor* const* ws, float* const* ys, int n_w, const float* x, int64_t n_tokens) {
    if (n_w <= 0 || n_tokens == 0) return;
    const int64_t k = ws[0]->ne[0];
    const cpu_kernels& kern = cpu_kernels_get();
    const int64_t n_act = k / qk8_act;
    int64_t n_out_all = 0, n_pairs_all = 0;
    for (int i = 0; i < n_w; ++i) {
        n_out_all += ws[i]->ne[1];
        n_pairs_all += ceil_div(ws[i]->ne[1], 2 * rows8_group);
    }
    if (n_out_all == 0) return;
    const int nt = n_out_all * k * n_tokens < k_parallel_min_work ? 1 : threads_get();

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
    // One chunk size for all the matrices (about four chunks per thread in all); chunks never span
    // two matrices. Items are (token block, matrix, chunk), token blocks outermost.
    const int64_t pairs_per_chunk = nt == 1 ? n_pairs_all : std::max<int64_t>(1, ceil_div(n_pairs_all, 4 * static_cast<int64_t>(nt)));
    struct part {
        const tensor* w;
        qgemm_fn gemm;
        float* y;
        int64_t first_chunk, n_chunks;
    };
    thread_local std::vector<part> parts;
    parts.clear();
    int64_t n_chunks_all = 0;
    for (int i = 0; i < n_w; ++i) {
        const int64_t n_chunks = ceil_div(ceil_div(ws[i]->ne[1], 2 * rows8_group), pairs_per_chunk);
        parts.push_back({ws[i], qgemm_for(kern, *ws[i]), ys[i], n_chunks_all, n_chunks});
        n_chunks_all += n_chunks;
    }
    const part* const pp = parts.data();

    parallel_items(n_tok_blocks * n_chunks_all, nt, [&](int64_t item) {
        const int64_t t0 = (item / n_chunks_all) * tok_block, c_all = item % n_chunks_all;
        int i = 0;
        while (c_all >= pp[i].first_chunk + pp[i].n_chunks) ++i;
        const part& pt = pp[i];
        const tensor& w = *pt.w;
        const int64_t n_out = w.ne[1], c = c_all - pt.first_chunk;
        const int64_t r0 = c * pairs_per_chunk * 2 * rows8_group;
        const int64_t n_t = std::min(tok_block, n_tokens - t0);
        const int64_t n_r = std::min(pairs_per_chunk * 2 * rows8_group, n_out - r0);
        const char* wg = static_cast<const char*>(w.data) + static_cast<size_t>(c * pairs_per_chunk) * 2 * w.group_bytes();
        pt.gemm(wg, n_r, k, act + t0 * n_act, n_t, pt.y + t0 * n_out + r0, n_out);
    });
}

}  // namespace kiln::ops

// The measurements of `kiln bench`: prefill of p tokens in one batch (ppP),
// p decode steps of one token (tgN), and batches of b tokens with logits for
// every position (bB, the cost of verifying b drafted tokens), each repeated
// and summarized; plus how many weight bytes a step reads.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bench/stats.h"
#include "model/model.h"

namespace kiln {

struct bench_params {
    int n_prompt = 512;              // 0: no pp test
    int n_gen = 128;                 // 0: no tg test
    int reps = 5;
    int depth = 0;                   // tokens already in the KV cache when each test starts
    std::vector<int> batches = {1, 2, 4, 8, 16};  // empty: no batch sweep
    int calls_per_rep = 4;           // batch sweep: eval calls timed per repetition
    unsigned seed = 1;               // random token ids
};

struct bench_test {
    std::string test;         // "pp512", "tg128", "b8"
    int tokens_per_call = 0;  // p, 1 or b
    int calls_per_rep = 0;
    sample_stats t_s;         // tokens per second over the repetitions
    sample_stats ms_per_call; // milliseconds per eval call
};

// What one forward pass reads: every tensor except the embedding table (one row per token),
// unless the output is tied to it. For the GB/s figures.
struct bench_weights {
    double bytes_per_step = 0;   // weight bytes read by one forward pass
    double matmul_params = 0;    // multiply-accumulates per token (for GOP/s)
    double file_bytes = 0;
    std::string types;           // "q4_0 (93%), f32 (7%)" by bytes of 2-D weights
};
bench_weights bench_weights_of(const model& m);

// Runs the tests in order pp, tg, b... on a fresh context; on_test (optional) is told each
// test's name before it runs. kiln::error for parameters the model cannot hold.
std::vector<bench_test> bench_model_run(std::shared_ptr<const model> m, const bench_params& p,
                                        const std::function<void(const std::string&)>& on_test = {});

}  // namespace kiln

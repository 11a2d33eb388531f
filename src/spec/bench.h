// Speculative decoding measured over repetitions (for `kiln bench --spec`): plain and speculative
// generations of the same prompt interleaved in one process, the fastest of each compared, and the
// efficiency = measured speedup / the speedup the measured acceptance and drafting cost predict.
#pragma once

#include <cstdint>
#include <vector>

#include "sampling/sampler.h"
#include "spec/drafter.h"
#include "spec/engine.h"

namespace kiln {

class context;

struct spec_bench_result {
    int reps = 0;
    spec_stats stats;                 // one speculative run (deterministic: the same in every repetition)
    int64_t generated = 0;            // tokens per run
    double plain_ms_per_token_best = 0, plain_ms_per_token_mean = 0;
    double spec_ms_per_token_best = 0, spec_ms_per_token_mean = 0;
    double speedup = 0;               // best plain / best speculative (interference only slows a run)
    double predicted_speedup = 0;     // spec_predicted_speedup(stats, best plain ms per token)
    double efficiency = 0;            // speedup / predicted_speedup
    double draft_cost_ratio = 0;      // drafting ms per drafted token / plain ms per token
    bool same_tokens = false;         // speculative tokens == plain tokens (always, when greedy)
};

// n_gen tokens after `prompt` (end-of-text is not a stop: every run makes n_gen tokens unless the
// context fills), reps >= 1 interleaved pairs of runs.
spec_bench_result spec_bench_run(context& target, drafter* d, const std::vector<int32_t>& prompt, int n_gen,
                                 const sampler_params& sampling, const spec_params& p, int reps);

}  // namespace kiln

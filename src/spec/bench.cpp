#include "spec/bench.h"

#include <algorithm>

#include "core/error.h"
#include "model/context.h"

namespace kiln {

spec_bench_result spec_bench_run(context& target, drafter* d, const std::vector<int32_t>& prompt, int n_gen,
                                 const sampler_params& sampling, const spec_params& p, int reps) {
    if (reps < 1) fail("spec bench: {} repetitions (need at least 1)", reps);
    if (n_gen < 1) fail("spec bench: {} tokens to generate (need at least 1)", n_gen);
    spec_bench_result r;
    r.reps = reps;
    double plain_best = 0, spec_best = 0, plain_sum = 0, spec_sum = 0;
    for (int i = 0; i < reps; ++i) {
        const spec_run_result a = spec_run(target, nullptr, prompt, n_gen, sampling, p);
        const spec_run_result b = spec_run(target, d, prompt, n_gen, sampling, p);
        const double pa = a.generated.empty() ? 0.0 : a.gen_ms / a.generated.size();
        const double pb = b.generated.empty() ? 0.0 : b.gen_ms / b.generated.size();
        plain_best = i == 0 ? pa : std::min(plain_best, pa);
        spec_best = i == 0 ? pb : std::min(spec_best, pb);
        plain_sum += pa;
        spec_sum += pb;
        if (i == 0) {
            r.stats = b.stats;
            r.generated = static_cast<int64_t>(b.generated.size());
            r.same_tokens = a.generated == b.generated;
        }
    }
    r.plain_ms_per_token_best = plain_best;
    r.spec_ms_per_token_best = spec_best;
    r.plain_ms_per_token_mean = plain_sum / reps;
    r.spec_ms_per_token_mean = spec_sum / reps;
    r.speedup = spec_best > 0 ? plain_best / spec_best : 0.0;
    r.predicted_speedup = spec_predicted_speedup(r.stats, plain_best);
    r.efficiency = r.predicted_speedup > 0 ? r.speedup / r.predicted_speedup : 0.0;
    r.draft_cost_ratio = r.stats.drafted > 0 && plain_best > 0 ? r.stats.draft_ms / r.stats.drafted / plain_best : 0.0;
    return r;
}

}  // namespace kiln

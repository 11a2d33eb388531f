// The speculation loop, independent of where drafts come from. Each step the
// drafter proposes up to k tokens; the target evaluates the pending token and
// all of them in ONE batched pass (context::eval_at, the same path as prefill)
// with logits at every position; the acceptance rule keeps a prefix and adds
// one token of the target's own; the KV cache is truncated past what was kept.
// With no drafter, or while the adaptive length has paused speculation, a step
// is exactly a plain decoding step (one token, the plain sampler's draw).
//
// State: the committed sequence `tokens()`; the target's KV cache holds all of
// it but the last token, which is evaluated first in the next step.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "sampling/sampler.h"
#include "spec/adaptive.h"
#include "spec/drafter.h"

namespace kiln {

class context;
struct model;

struct spec_params {
    int draft_max = 8;          // k_max: the most tokens drafted per step, [1, 64]
    bool adaptive = true;       // false: always draft draft_max (tests, fixed-length measurements)
    double verify_cost = 0.1;   // cost of each extra token in a verification pass, relative to a 1-token step
    double verify_overhead = 0.3;  // a verification pass's fixed cost beyond a 1-token step (other kernels)
};

// The verify_cost to expect for a target model: a decoding step streams every weight from memory
// and an extra token in the batch adds only arithmetic, so for models far larger than the caches
// an extra token costs ~0.1 step; for a cache-resident model (stories260K) nearly a whole step.
double spec_verify_cost_estimate(const model& target);
constexpr int spec_draft_max_limit = 64;

// Throws kiln::error naming the option.
void spec_params_check(const spec_params& p);

struct spec_stats {
    int64_t drafted = 0;       // draft tokens proposed and verified
    int64_t accepted = 0;      // of those, kept
    int64_t target_steps = 0;  // target forward passes during generation
    int64_t generated = 0;     // tokens committed by steps
    int64_t spec_steps = 0;    // steps that verified at least one draft token
    double draft_ms = 0.0;     // time in the drafter
    double verify_ms = 0.0;    // time in target passes (verification and plain steps)

    double acceptance() const { return drafted > 0 ? static_cast<double>(accepted) / drafted : 0.0; }
    double tokens_per_step() const { return target_steps > 0 ? static_cast<double>(generated) / target_steps : 0.0; }
    void add(const spec_stats& o);
};

class spec_engine {
public:
    // d may be nullptr (plain decoding through the same loop). The engine does not own them.
    spec_engine(context& target, sampler& smp, drafter* d, const spec_params& p);

    // Sets the committed sequence (a prompt, or a whole conversation so far; at least one token).
    // KV entries of the longest common prefix with what this engine evaluated before are reused;
    // the rest but the last token is evaluated now (the prefill). The sampler's repetition window
    // is set from `tokens`. Only this engine may evaluate into the target context in between.
    void begin(const std::vector<int32_t>& tokens);
    // The target's KV cache already holds `tokens` (restored from a file, e.g. chat's /load): the next
    // begin() reuses the common prefix instead of evaluating it again. Drafters start over and catch up
    // from the history.
    void adopt(const std::vector<int32_t>& tokens);

    // One target step: commits 1..max_new tokens and appends them to `out`; returns how many.
    // Returns 0 when the context is full (the last committed token has no position left).
    int step(int max_new, std::vector<int32_t>& out);

    // Generates up to n_predict tokens (< 0: until the context is full), calling on_token for each
    // in order; when on_token returns false generation stops and that token stays the last
    // committed one. Returns the stop reason: "limit", "stopped" or "context full".
    std::string generate(int n_predict, const std::function<bool(int32_t)>& on_token);

    // Cuts the committed sequence back to its first n tokens (1 <= n <= size).
    void rewind(int n);

    const std::vector<int32_t>& tokens() const { return tokens_; }
    const spec_stats& stats() const { return stats_; }
    // Swap the sampler (e.g. one seeded per chat reply) or the drafter (nullptr: plain) between
    // steps; the sampler's repetition window is set from the committed tokens.
    void set_sampler(sampler& smp);
    void set_drafter(drafter* d);
    void reset_stats() { stats_ = spec_stats{}; }
    const draft_length& length_controller() const { return length_; }

private:
    spec_cost cost_of(const drafter* d) const;
    void commit(int32_t t, std::vector<int32_t>& out);

    context& ctx_;
    sampler* smp_;
    drafter* drafter_;
    spec_params params_;
    draft_length length_;
    std::vector<int32_t> tokens_;
    int n_evaluated_ = 0;  // tokens_[0..n_evaluated_) are in the target's KV cache
    spec_stats stats_;
    draft draft_;
    std::vector<int32_t> batch_, pos_;
    std::vector<uint8_t> want_;
};

// One complete generation for `kiln run --spec-compare` and `kiln bench --spec`: begin(prompt),
// then up to n_predict tokens, stopping after an end-of-generation token when is_end is given
// (the end token is not included in `generated`). The context is reused from its start.
struct spec_run_result {
    std::vector<int32_t> generated;
    spec_stats stats;
    double prefill_ms = 0.0;
    double gen_ms = 0.0;
    std::string stop;
    double tokens_per_second() const { return gen_ms > 0 ? generated.size() * 1000.0 / gen_ms : 0.0; }
};
// The speedup that the measured acceptance and drafting cost predict when a verification pass costs
// what one plain decoding step costs: tokens per target step / (1 + drafting time per step in plain
// steps). `kiln bench --spec` reports efficiency = measured speedup / this.
double spec_predicted_speedup(const spec_stats& s, double plain_ms_per_token);

spec_run_result spec_run(context& target, drafter* d, const std::vector<int32_t>& prompt, int n_predict,
                         const sampler_params& sampling, const spec_params& p,
                         const std::function<bool(int32_t)>& is_end = nullptr,
                         const std::function<void(int32_t)>& on_token = nullptr);

}  // namespace kiln

// Choosing how many tokens to draft each step. Cost model, in target decoding
// steps: a verification pass of k draft tokens costs
//     1 + verify_overhead + k * verify_cost
// (overhead: a batched pass runs other kernels than a one-token step; the first
// extra token measured 0.15-0.6 of a step on the expanded TinyLlama/stories110M
// q4_0 shapes, the later ones far less), and drafting costs k * draft_cost more.
// Two ways to choose k:
//  - draft_length (drafters that only learn from their own drafts: draft model,
//    self-draft) keeps a running estimate a of the per-token acceptance and picks
//    the k maximising tokens(k)/cost(k), tokens(k) = 1 + a + ... + a^k. When no k
//    beats plain decoding by a small margin it pauses for a number of steps that
//    doubles on every failed probe, up to a cap set by what a probe costs (a cheap
//    drafter is probed more often), so a good phase later is found again.
//  - spec_confidence_cut (calibrated drafters, e.g. n-gram lookup): the drafter
//    gives each token's chance of acceptance; the draft is cut where the expected
//    tokens per cost peak, to nothing when no length pays.
// Only acceptance counts and drafter confidences drive k, never timings, so a seed
// gives the same output on every run.
#pragma once

#include <vector>

namespace kiln {

struct spec_cost {
    double draft = 0.0;       // drafting one token, relative to a target decoding step
    double verify = 0.1;      // each draft token in a verification pass
    double overhead = 0.3;    // a verification pass of >= 1 draft tokens beyond a plain step
    // Cost of a step that drafts and verifies k tokens (k = 0: a plain step, 1).
    double step(int k) const { return k > 0 ? 1.0 + overhead + k * (verify + draft) : 1.0; }
};

class draft_length {
public:
    // adaptive false: always k_max (tests, fixed-length measurements).
    draft_length(int k_max, bool adaptive, const spec_cost& cost);

    // The draft length for the next step; 0 while speculation is paused.
    int next();
    // The outcome of a step that drafted `drafted` tokens (> 0) of which `accepted` were kept.
    void update(int drafted, int accepted);

    double acceptance_estimate() const { return alpha_; }
    bool paused() const { return pause_left_ > 0; }
    int max_backoff() const { return max_backoff_; }

    static constexpr double min_gain = 1.03;    // below this expected speedup, pause
    static constexpr int first_backoff = 16;    // steps paused after the first failure
    static constexpr int backoff_limit = 256;   // the longest pause, for the most expensive probes
    static constexpr double probe_share = 0.0025;  // probes may cost this share of the paused steps

private:
    double gain(int k, int* best_k) const;
    int k_max_;
    bool adaptive_;
    spec_cost cost_;
    int max_backoff_;
    double alpha_ = 0.6;  // prior: a typical drafter's acceptance
    int observed_ = 0;    // draft tokens observed so far (early ones weigh more)
    int pause_left_ = 0;
    int backoff_ = first_backoff;
    bool probing_ = true;  // the first steps probe when the prior alone does not promise a gain
};

// The draft length (<= p.size()) maximising expected tokens per cost, where p[i] is the chance that
// draft token i is accepted when all before it are; 0 when no length promises spec_cut_min_gain (a
// margin above draft_length's: the cost model is only good to ~20%, and a drafter that drafts
// nothing loses nothing).
constexpr double spec_cut_min_gain = 1.1;
int spec_confidence_cut(const std::vector<float>& p, const spec_cost& cost);

}  // namespace kiln

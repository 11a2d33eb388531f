// Choosing how many tokens to draft each step. The controller keeps a running
// estimate a of the per-token acceptance rate and picks the k that maximises
// expected tokens per unit of cost:
//     tokens(k) = 1 + a + a^2 + ... + a^k          (accepted prefix + the target's own token)
//     cost(k)   = 1 + k * (draft_cost + verify_cost) (one target step = 1)
// When no k beats plain decoding by a small margin, speculation pauses for a
// number of steps that doubles on every failed retry (up to a cap), so a bad
// drafter costs at most an occasional probe. Only acceptance counts drive it,
// never timings, so a seed gives the same output on every run.
#pragma once

namespace kiln {

class draft_length {
public:
    // adaptive false: always k_max (tests, fixed-length measurements).
    draft_length(int k_max, bool adaptive, double draft_cost, double verify_cost);

    // The draft length for the next step; 0 while speculation is paused.
    int next();
    // The outcome of a step that drafted `drafted` tokens (> 0) of which `accepted` were kept.
    void update(int drafted, int accepted);

    double acceptance_estimate() const { return alpha_; }
    bool paused() const { return pause_left_ > 0; }

    static constexpr double min_gain = 1.03;   // below this expected speedup, pause
    static constexpr int first_backoff = 16;   // steps paused after the first failure
    static constexpr int max_backoff = 256;

private:
    double gain(int k, int* best_k) const;
    int k_max_;
    bool adaptive_;
    double cost_per_draft_;
    double alpha_ = 0.6;  // prior: a typical drafter's acceptance
    int observed_ = 0;    // draft tokens observed so far (early ones weigh more)
    int pause_left_ = 0;
    int backoff_ = first_backoff;
    bool probing_ = true;  // the first steps probe when the prior alone does not promise a gain
};

}  // namespace kiln

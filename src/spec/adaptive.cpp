#include "spec/adaptive.h"

#include <algorithm>
#include <cmath>

namespace kiln {

namespace {
constexpr double learn_rate = 0.15;  // weight of one observed draft token in the running estimate
}

draft_length::draft_length(int k_max, bool adaptive, const spec_cost& cost)
    : k_max_(std::max(k_max, 0)), adaptive_(adaptive), cost_(cost) {
    // A probe is a one-token draft: it wastes cost_.step(1) - 1 when rejected. Pausing long enough
    // that probes cost probe_share of the paused time bounds the loss to a useless drafter, while a
    // cheap drafter is retried often enough to catch a text that becomes predictable later.
    const double probe = cost_.step(1) - 1.0;
    max_backoff_ = std::clamp(static_cast<int>(std::lround(probe / probe_share)), first_backoff, backoff_limit);
}

double draft_length::gain(int k_limit, int* best_k) const {
    double best = 0.0;
    double tokens = 1.0, term = 1.0;
    for (int k = 1; k <= k_limit; ++k) {
        term *= alpha_;
        tokens += term;
        const double g = tokens / cost_.step(k);
        if (g > best) {
            best = g;
            *best_k = k;
        }
    }
    return best;
}

int draft_length::next() {
    if (k_max_ == 0) return 0;
    if (!adaptive_) return k_max_;
    if (pause_left_ > 0) {
        // The last paused step is followed by a probe.
        if (--pause_left_ == 0) probing_ = true;
        return 0;
    }
    int k = 1;
    const double g = gain(k_max_, &k);
    if (g >= min_gain) {
        probing_ = false;
        return k;
    }
    // Probing: one-token drafts, step after step while they are accepted (each success raises the
    // estimate; an expensive but good drafter is found this way), until the gain clears the bar.
    if (probing_) return 1;
    pause_left_ = backoff_;
    backoff_ = std::min(backoff_ * 2, max_backoff_);
    return next();
}

void draft_length::update(int drafted, int accepted) {
    if (!adaptive_ || drafted <= 0) return;
    // A running mean over the first observations (the prior counting as two), then a moving
    // average, so that a useless drafter is recognised within a few steps.
    const auto observe = [&](double x) {
        ++observed_;
        alpha_ += std::max(learn_rate, 1.0 / (observed_ + 2)) * (x - alpha_);
    };
    for (int i = 0; i < accepted; ++i) observe(1.0);
    if (accepted < drafted) observe(0.0);
    if (accepted == drafted) backoff_ = first_backoff;
    else if (probing_) probing_ = false;  // a failed probe: the next call pauses, for twice as long
}

int spec_confidence_cut(const std::vector<float>& p, const spec_cost& cost) {
    int best_k = 0;
    double best = spec_cut_min_gain;
    double all_right = 1.0, expected = 1.0;  // the target's own token always comes
    for (size_t i = 0; i < p.size(); ++i) {
        all_right *= std::clamp(static_cast<double>(p[i]), 0.0, 1.0);
        expected += all_right;
        const int k = static_cast<int>(i) + 1;
        const double g = expected / cost.step(k);
        if (g > best) {
            best = g;
            best_k = k;
        }
    }
    return best_k;
}

}  // namespace kiln

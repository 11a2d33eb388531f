#include "sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <unordered_set>

#include "core/error.h"

namespace kiln {

void sampler_params_check(const sampler_params& p) {
    if (!(p.temperature >= 0.0f) || p.temperature > 100.0f) fail("--temp {} is out of range [0, 100]", p.temperature);
    if (p.top_k < 0) fail("--top-k {} must be >= 0 (0 = off)", p.top_k);
    if (!(p.top_p > 0.0f && p.top_p <= 1.0f)) fail("--top-p {} is out of range (0, 1]", p.top_p);
    if (!(p.min_p >= 0.0f && p.min_p < 1.0f)) fail("--min-p {} is out of range [0, 1)", p.min_p);
    if (!(p.repeat_penalty > 0.0f) || p.repeat_penalty > 10.0f) fail("--repeat-penalty {} is out of range (0, 10]", p.repeat_penalty);
    if (p.repeat_last_n < 0) fail("--repeat-last-n {} must be >= 0", p.repeat_last_n);
}

int32_t sample_greedy(const float* logits, int n_vocab) {
    int32_t best = 0;
    for (int32_t i = 1; i < n_vocab; ++i) {
        if (logits[i] > logits[best]) best = i;
    }
    return best;
}

sampler::sampler(const sampler_params& p) : params_(p), rng_(p.seed) { sampler_params_check(p); }

void sampler::reset() {
    recent_.clear();
    rng_.reseed(params_.seed);
}

void sampler::accept(int32_t token) {
    if (params_.repeat_last_n == 0) return;
    recent_.push_back(token);
    while (static_cast<int>(recent_.size()) > params_.repeat_last_n) recent_.pop_front();
}

void sampler::set_history(const int32_t* history, size_t n) {
    recent_.clear();
    const size_t keep = std::min(n, static_cast<size_t>(params_.repeat_last_n));
    for (size_t i = n - keep; i < n; ++i) recent_.push_back(history[i]);
}

std::vector<token_prob> sampler::distribution(const float* logits, int n_vocab) const {
    std::vector<token_prob> c(static_cast<size_t>(n_vocab));
    for (int i = 0; i < n_vocab; ++i) c[static_cast<size_t>(i)] = {i, logits[i]};

    // Repetition penalty (CTRL-style, as llama.cpp): shrink logits of recently seen tokens toward "less likely".
    if (params_.repeat_penalty != 1.0f && !recent_.empty()) {
        const std::unordered_set<int32_t> seen(recent_.begin(), recent_.end());
        for (auto& t : c) {
            if (!seen.count(t.id)) continue;
            t.p = t.p > 0.0f ? t.p / params_.repeat_penalty : t.p * params_.repeat_penalty;
        }
    }
    if (params_.temperature <= 0.0f) {
        // greedy: the whole mass on the argmax
        auto best = std::max_element(c.begin(), c.end(), [](const token_prob& a, const token_prob& b) {
            return a.p < b.p || (a.p == b.p && a.id > b.id);
        });
        return {{best->id, 1.0f}};
    }
    std::sort(c.begin(), c.end(), [](const token_prob& a, const token_prob& b) {
        return a.p > b.p || (a.p == b.p && a.id < b.id);
    });
    if (params_.top_k > 0 && static_cast<size_t>(params_.top_k) < c.size()) c.resize(static_cast<size_t>(params_.top_k));

    // Softmax at temperature 1 for top-p / min-p (as llama.cpp's default chain), temperature last.
    auto softmax = [](std::vector<token_prob>& v, float temp) {
        const float mx = v.front().p;
        std::vector<double> e(v.size());
        double sum = 0.0;
        for (size_t i = 0; i < v.size(); ++i) sum += e[i] = std::exp((static_cast<double>(v[i].p) - mx) / temp);
        return std::make_pair(e, sum);
    };
    {
        auto [e, sum] = softmax(c, 1.0f);
        if (params_.top_p < 1.0f) {
            double cum = 0.0;
            size_t keep = c.size();
            for (size_t i = 0; i < c.size(); ++i) {
                cum += e[i] / sum;
                if (cum >= params_.top_p) { keep = i + 1; break; }
            }
            c.resize(keep);
            e.resize(keep);
        }
        if (params_.min_p > 0.0f) {
            const double threshold = params_.min_p * (e[0] / sum);
            size_t keep = 1;
            while (keep < c.size() && e[keep] / sum >= threshold) ++keep;
            c.resize(keep);
        }
    }
    auto [e, sum] = softmax(c, params_.temperature);
    for (size_t i = 0; i < c.size(); ++i) c[i].p = static_cast<float>(e[i] / sum);
    return c;
}

int32_t sample_from(const std::vector<token_prob>& d, double u) {
    double cum = 0.0;
    for (const auto& t : d) {
        cum += t.p;
        if (u < cum) return t.id;
    }
    return d.back().id;
}

int32_t sampler::pick_greedy(const float* logits, int n_vocab) const {
    if (params_.repeat_penalty == 1.0f || recent_.empty()) return sample_greedy(logits, n_vocab);
    sampler_params g = params_;
    g.temperature = 0.0f;
    sampler s(g);
    s.recent_ = recent_;
    return s.distribution(logits, n_vocab)[0].id;
}

int32_t sampler::sample(const float* logits, int n_vocab) {
    if (params_.temperature <= 0.0f && params_.repeat_penalty == 1.0f) return sample_greedy(logits, n_vocab);
    const std::vector<token_prob> d = distribution(logits, n_vocab);
    if (d.size() == 1) return d[0].id;
    return sample_from(d, rng_.uniform());
}

}  // namespace kiln

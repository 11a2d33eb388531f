// Turning logits into the next token: greedy (temperature 0) or sampling with
// the usual transforms, applied in llama.cpp's order: repetition penalty,
// top-k, top-p, min-p, temperature. The same seed gives the same output.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

#include "sampling/rng.h"

namespace kiln {

struct sampler_params {
    float temperature = 0.8f;    // <= 0: greedy
    int top_k = 40;              // <= 0: off
    float top_p = 0.95f;         // >= 1: off
    float min_p = 0.05f;         // <= 0: off
    float repeat_penalty = 1.0f; // 1: off
    int repeat_last_n = 64;      // how many recent tokens the penalty looks at
    uint64_t seed = 0;
};

// Checks ranges; throws kiln::error naming the flag.
void sampler_params_check(const sampler_params& p);

struct token_prob {
    int32_t id;
    float p;  // probability after the transforms
};

class sampler {
public:
    explicit sampler(const sampler_params& p);

    // Picks the next token from logits[0..n_vocab).
    int32_t sample(const float* logits, int n_vocab);
    // Records a token in the repetition window (call for prompt and generated tokens).
    void accept(int32_t token);
    // Replaces the repetition window by the last tokens of history[0..n) (after a rewind).
    void set_history(const int32_t* history, size_t n);
    void reset();

    // The transformed distribution (sorted by p, descending) that sample() draws from. Speculative
    // sampling uses it for both the target's p and a draft model's q, so all apply identical transforms.
    std::vector<token_prob> distribution(const float* logits, int n_vocab) const;
    // The token greedy decoding picks (argmax after the repetition penalty); temperature is ignored.
    int32_t pick_greedy(const float* logits, int n_vocab) const;
    // A draw from this sampler's random stream, uniform in [0, 1).
    double uniform() { return rng_.uniform(); }
    // The recent-token window the repetition penalty looks at.
    const std::deque<int32_t>& recent() const { return recent_; }
    const sampler_params& params() const { return params_; }

private:
    sampler_params params_;
    rng rng_;
    std::deque<int32_t> recent_;
};

// Index of the largest logit (the first one on ties).
int32_t sample_greedy(const float* logits, int n_vocab);

// The token at which the cumulative probability of `d` (in its order) first exceeds u in [0, 1);
// the last token when rounding leaves the sum short of u. sample() draws this way.
int32_t sample_from(const std::vector<token_prob>& d, double u);

}  // namespace kiln

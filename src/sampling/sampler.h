// Turning logits into the next token: greedy (temperature 0) or sampling with
// the usual transforms, applied in llama.cpp's order: repetition penalty,
// top-k, top-p, min-p, temperature. The same seed gives the same output.
#pragma once

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
    void reset();

    // The transformed distribution (sorted by p, descending) that sample() draws from.
    std::vector<token_prob> distribution(const float* logits, int n_vocab) const;
    const sampler_params& params() const { return params_; }

private:
    sampler_params params_;
    rng rng_;
    std::deque<int32_t> recent_;
};

// Index of the largest logit (the first one on ties).
int32_t sample_greedy(const float* logits, int n_vocab);

}  // namespace kiln

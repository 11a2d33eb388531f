// The acceptance rules of speculative decoding, one draft position at a time.
#pragma once

#include <cstdint>
#include <vector>

#include "sampling/sampler.h"

namespace kiln {

struct accept_result {
    bool accepted;
    int32_t token;  // the draft token when accepted, else the replacement
};

// Speculative sampling (Leviathan et al. 2023; Chen et al. 2023): draft token d was drawn from q
// (nullptr: a deterministic drafter, q one-hot on d). Accept with probability min(1, p(d)/q(d))
// using u_accept; otherwise draw the replacement from normalize(max(p - q, 0)) using u_resample.
// Together with a bonus draw from p after a fully accepted draft, every emitted token is
// distributed exactly as p. p and q are sampler::distribution results (any order, ids unique).
accept_result spec_accept_sampled(const std::vector<token_prob>& p, const std::vector<token_prob>* q, int32_t d,
                                  double u_accept, double u_resample);

}  // namespace kiln

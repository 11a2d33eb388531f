// Activation buffers for one forward pass, grown on demand and reused across
// calls so decoding allocates nothing per token.
#pragma once

#include <vector>

namespace kiln {

struct forward_scratch {
    std::vector<float> x;       // residual stream [n, n_embd]
    std::vector<float> xb;      // normed input [n, n_embd]
    std::vector<float> q;       // [n, q_dim]
    std::vector<float> k;       // [n, kv_dim]
    std::vector<float> v;       // [n, kv_dim]
    std::vector<float> att;     // attention output [n, q_dim]
    std::vector<float> proj;    // [n, n_embd]
    std::vector<float> gate;    // [n, n_ff]
    std::vector<float> up;      // [n, n_ff]
    std::vector<float> rows;    // normed rows whose logits are wanted [n_wanted, n_embd]

    static void fit(std::vector<float>& b, size_t n) {
        if (b.size() < n) b.resize(n);
    }
};

}  // namespace kiln

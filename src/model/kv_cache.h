// Per-layer key/value cache in f32 (matching fp32 references exactly; an f16
// cache is a later option). Row p of a layer holds position p.
#pragma once

#include <cstddef>
#include <vector>

#include "model/hparams.h"

namespace kiln {

class kv_cache {
public:
    kv_cache(const model_hparams& hp, int n_ctx);

    int n_ctx() const { return n_ctx_; }
    int kv_dim() const { return kv_dim_; }
    int n_layer() const { return n_layer_; }
    float* k(int layer) { return k_.data() + static_cast<size_t>(layer) * layer_stride(); }
    float* v(int layer) { return v_.data() + static_cast<size_t>(layer) * layer_stride(); }
    const float* k(int layer) const { return k_.data() + static_cast<size_t>(layer) * layer_stride(); }
    const float* v(int layer) const { return v_.data() + static_cast<size_t>(layer) * layer_stride(); }

    // Positions 0..n_past-1 hold valid entries.
    int n_past() const { return n_past_; }
    void set_n_past(int n) { n_past_ = n; }
    // Forgets every position >= n (speculative rejection, chat edits); later writes overwrite them.
    void truncate(int n) { if (n < n_past_) n_past_ = n < 0 ? 0 : n; }
    size_t bytes() const { return (k_.size() + v_.size()) * sizeof(float); }

private:
    size_t layer_stride() const { return static_cast<size_t>(n_ctx_) * kv_dim_; }
    int n_ctx_;
    int kv_dim_;
    int n_layer_;
    int n_past_ = 0;
    std::vector<float> k_, v_;
};

}  // namespace kiln

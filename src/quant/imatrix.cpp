#include "quant/imatrix.h"

#include <algorithm>

#include "core/error.h"
#include "model/context.h"
#include "ops/matmul_observer.h"

namespace kiln {

void imatrix::observe(const tensor& w, const float* x, int64_t n_tokens) {
    const int64_t k = w.ne[0];
    stat& s = stats_[w.name];
    if (s.sum_sq.empty()) s.sum_sq.assign(static_cast<size_t>(k), 0.0);
    if (static_cast<int64_t>(s.sum_sq.size()) != k) {
        fail("imatrix: tensor {} seen with row lengths {} and {}", w.name, s.sum_sq.size(), k);
    }
    for (int64_t t = 0; t < n_tokens; ++t) {
        const float* row = x + t * k;
        for (int64_t j = 0; j < k; ++j) s.sum_sq[j] += static_cast<double>(row[j]) * row[j];
    }
    s.n += n_tokens;
    s.mean_valid = false;
}

const std::vector<float>* imatrix::importance(const std::string& name) const {
    const auto it = stats_.find(name);
    if (it == stats_.end() || it->second.n == 0) return nullptr;
    const stat& s = it->second;
    if (!s.mean_valid) {
        s.mean.resize(s.sum_sq.size());
        for (size_t j = 0; j < s.sum_sq.size(); ++j) s.mean[j] = static_cast<float>(s.sum_sq[j] / s.n);
        s.mean_valid = true;
    }
    return &s.mean;
}

int64_t imatrix::tokens_seen(const std::string& name) const {
    const auto it = stats_.find(name);
    return it == stats_.end() ? 0 : it->second.n;
}

imatrix imatrix_collect(std::shared_ptr<const model> m, const std::vector<int32_t>& tokens, int32_t bos,
                        const imatrix_options& opt) {
    const int n_ctx = opt.n_ctx;
    if (n_ctx < 2) fail("calibration context {} is too small", n_ctx);
    // A short text still calibrates: its one chunk is the whole text.
    const int n_chunks_full = static_cast<int>(tokens.size() / static_cast<size_t>(n_ctx));
    const bool partial = n_chunks_full == 0;
    if (tokens.size() < 2) fail("the calibration text has {} tokens; at least 2 are needed", tokens.size());
    int n_chunks = partial ? 1 : n_chunks_full;
    if (opt.max_chunks > 0) n_chunks = std::min(n_chunks, opt.max_chunks);

    imatrix im;
    context ctx(m, n_ctx);
    matmul_observer_scope scope([&im](const tensor& w, const float* x, int64_t n) { im.observe(w, x, n); });
    for (int c = 0; c < n_chunks; ++c) {
        const size_t start = static_cast<size_t>(c) * n_ctx;
        const size_t len = partial ? tokens.size() : static_cast<size_t>(n_ctx);
        std::vector<int32_t> chunk(tokens.begin() + start, tokens.begin() + start + len);
        if (bos >= 0) chunk[0] = bos;
        ctx.truncate(0);
        // all logits, so the output projection sees every position too
        ctx.eval(chunk, true);
        if (opt.on_progress) opt.on_progress(c + 1, n_chunks);
    }
    return im;
}

}  // namespace kiln

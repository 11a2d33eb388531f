// The importance matrix: per weight matrix, the mean squared value of each input column over a
// calibration text (the AWQ / llama.cpp imatrix idea). Quantizing W with these as per-column
// weights minimizes E[(x . (w - w_q))^2] for the activations x the model actually sees, rather
// than the plain error of the weights.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "model/model.h"

namespace kiln {

class imatrix {
public:
    // Adds the activations x [n_tokens, w.ne[0]] that w was applied to.
    void observe(const tensor& w, const float* x, int64_t n_tokens);

    // Mean squared activation per column of tensor `name`, or nullptr if it was never observed.
    const std::vector<float>* importance(const std::string& name) const;
    // Tokens seen by tensor `name` (0 if never observed).
    int64_t tokens_seen(const std::string& name) const;
    size_t n_tensors() const { return stats_.size(); }

private:
    struct stat {
        std::vector<double> sum_sq;
        int64_t n = 0;
        mutable std::vector<float> mean;  // filled on first importance() call
        mutable bool mean_valid = false;
    };
    std::map<std::string, stat> stats_;
};

struct imatrix_options {
    int n_ctx = 256;  // tokens per chunk; each chunk starts with BOS and a fresh cache
    int max_chunks = 0;  // 0 = all
    std::function<void(int done, int total)> on_progress;
};

// Runs m over `tokens` (the calibration text, already tokenized without BOS handling: the first
// token of every chunk is replaced by bos) in chunks and collects the importance matrix.
// kiln::error when the text has fewer tokens than one chunk needs.
imatrix imatrix_collect(std::shared_ptr<const model> m, const std::vector<int32_t>& tokens, int32_t bos,
                        const imatrix_options& opt);

}  // namespace kiln

// Perplexity the way llama.cpp's llama-perplexity measures it, so the figures compare directly:
// the tokenized text (BOS first) is cut into chunks of n_ctx tokens, the first token of each chunk
// is replaced by BOS, each chunk is evaluated from an empty cache, and only the second half of each
// chunk is scored (positions n_ctx/2 .. n_ctx-2 predicting the next token), so every scored token has
// at least n_ctx/2 tokens of context. With a base model, the same positions also give the KL
// divergence KL(base || model) and how often both models agree on the most likely token.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "eval/kl_logits.h"
#include "model/model.h"

namespace kiln {

struct perplexity_options {
    int n_ctx = 256;
    std::function<void(int done, int total)> on_progress;
    // Base logits saved by an earlier run (--kl-base FILE), used instead of a base model; they must have
    // been made from the same tokens, BOS and n_ctx (checked before any evaluation).
    std::shared_ptr<const kl_logits> base_logits;
    // Also save the model's own logits for the scored positions to this file (--kl-save FILE).
    std::string kl_save;
};

struct perplexity_result {
    int n_ctx = 0;
    int n_chunks = 0;
    int64_t n_scored = 0;
    double ppl = 0, ppl_err = 0;  // err: one standard error, propagated from the mean NLL
    double nll_mean = 0;
    bool has_base = false;
    double base_ppl = 0;
    double kld_mean = 0, kld_err = 0, kld_max = 0, kld_median = 0, kld_p99 = 0;
    double same_top1_pct = 0;
};

// The tokens needed: at least 2 * n_ctx (as llama.cpp requires). base may be nullptr (and must be when
// opt.base_logits is given).
perplexity_result perplexity_run(std::shared_ptr<const model> m, std::shared_ptr<const model> base,
                                 const std::vector<int32_t>& tokens, int32_t bos, const perplexity_options& opt);

// Scoring primitives (exposed for tests): log-softmax probability of `target` in logits [n],
// and KL(p || q) of the softmaxes of two logit rows plus whether their argmaxes agree.
double perplexity_log_prob(const float* logits, int64_t n, int32_t target);
double perplexity_kld(const float* base_logits, const float* logits, int64_t n, bool* same_top1);

}  // namespace kiln

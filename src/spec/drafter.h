// Where speculative drafts come from. A drafter proposes up to k tokens to
// follow the committed sequence; the engine verifies them against the target
// in one batched pass and tells the drafter what was kept. Three kinds:
// a second (smaller) model with the same vocabulary, n-gram lookup in the
// prompt and generated text, and the target itself with layers skipped.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sampling/sampler.h"

namespace kiln {

class context;
struct model;

// A proposal: tokens[i] was drawn from q[i] (the drafter's distribution after the sampler's
// transforms). q is empty for a deterministic drafter: each q[i] is then one-hot on tokens[i].
// p (optional, from a calibrated drafter): p[i] is the drafter's estimate that tokens[i] is accepted
// when every token before it is; the engine then cuts the draft where the expected gain peaks.
struct draft {
    std::vector<int32_t> tokens;
    std::vector<std::vector<token_prob>> q;
    std::vector<float> p;
    void clear() {
        tokens.clear();
        q.clear();
        p.clear();
    }
};

class drafter {
public:
    virtual ~drafter() = default;
    virtual std::string name() const = 0;

    // Proposes up to k (>= 1) tokens to follow `history` (every committed token; the target has
    // evaluated all but the last one). Fewer (or none) when it has nothing worth proposing.
    // sampling: how the target samples; a drafter that samples uses the same transforms for q.
    virtual void propose(const std::vector<int32_t>& history, int k, draft& out) = 0;

    // After verification: n_accepted of the n_drafted tokens were kept (history has grown by
    // n_accepted + 1 tokens). Default: nothing to learn.
    virtual void feedback(int n_drafted, int n_accepted) {}

    // The committed sequence was cut back to its first n tokens (a new prompt, a chat edit, a stop
    // inside a step). Drafters that keep state about the history drop what lies beyond.
    virtual void rewind(int n) {}

    // Cost of drafting one token relative to one target decoding step (for choosing the draft
    // length); deterministic so that a seed gives the same output on every run.
    virtual double cost_per_token() const = 0;

    // A calibrated drafter attaches draft::p to every proposal and learns its accuracy from every
    // committed token (not only from what it drafted), so it notices by itself when the text starts
    // being predictable. The adaptive length then asks it for draft_max tokens and cuts each draft at
    // its confidence instead of pausing it.
    virtual bool calibrated() const { return false; }
};

// --draft MODEL: a second model with the same vocabulary (checked by the caller with
// spec_check_vocab), with its own context of n_ctx positions kept in step with the history.
// sampling: the target's parameters; greedy (temperature 0) drafts the draft's argmax.
std::unique_ptr<drafter> drafter_model_create(std::shared_ptr<const model> draft_model, int n_ctx,
                                              const sampler_params& sampling, double cost_per_token);

// --lookup: n-gram statistics over the prompt and the generated text (n = 1..n_max): the most
// frequent continuation of the longest suffix of the history seen before, with a calibrated
// confidence (match length and agreement of earlier occurrences, learned on every committed token).
// n-grams shorter than n_min are used only when their statistics are strong. Calibrated (see above).
std::unique_ptr<drafter> drafter_lookup_create(int n_min, int n_max);

// --self-draft: the target with the layers in `skip` (n_layer entries, nonzero = skipped) left
// out, evaluated in the target's own context (its KV entries at draft positions are overwritten
// by the verification pass before anything reads them).
std::unique_ptr<drafter> drafter_self_create(context& target, std::vector<uint8_t> skip,
                                             const sampler_params& sampling);

// --self-draft N: N evenly spaced layers among 0..n_layer-1, never the first or the last (they
// matter most); the list form names them directly. Throws kiln::error for out-of-range layers,
// duplicates, or skipping every layer.
std::vector<uint8_t> self_draft_layers(const std::string& spec, int n_layer);

// The draft model must share the target's vocabulary: same size and the same token texts.
// Throws kiln::error naming both models and the first difference.
void spec_check_vocab(const std::string& target_name, const std::vector<std::string>& target_tokens,
                      const std::string& draft_name, const std::vector<std::string>& draft_tokens);

}  // namespace kiln

namespace kiln {
// Cost of one draft-model token relative to one target token, estimated from the bytes of weights
// each reads per token (decoding is bound by memory traffic), at least 0.01.
double spec_model_cost_ratio(const model& target, const model& draft);
}  // namespace kiln

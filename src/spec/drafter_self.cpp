// Self-speculative drafting: the target with some layers skipped, in the target's
// own context. The non-skipped layers write K/V at the draft positions; the
// verification pass that follows rewrites every layer there, and the skipped
// layers' stale rows are never read by a pass that skips them.
#include <algorithm>

#include "core/error.h"
#include "model/context.h"
#include "model/model.h"
#include "sampling/rng.h"
#include "spec/drafter.h"

namespace kiln {

namespace {

class self_drafter final : public drafter {
public:
    self_drafter(context& target, std::vector<uint8_t> skip, const sampler_params& sp)
        : ctx_(target), skip_(std::move(skip)), sampling_(sp), rng_(sp.seed ^ 0x2545f4914f6cdd1dull) {
        const int n_layer = ctx_.get_model().hp.n_layer;
        if (static_cast<int>(skip_.size()) != n_layer) fail("self-draft: {} layer flags for a model of {} layers", skip_.size(), n_layer);
        const auto kept = std::count(skip_.begin(), skip_.end(), 0);
        if (kept == 0) fail("--self-draft would skip all {} layers", n_layer);
        cost_ = static_cast<double>(kept) / n_layer;
    }

    std::string name() const override { return "self-draft"; }
    double cost_per_token() const override { return cost_; }

    void propose(const std::vector<int32_t>& history, int k, draft& out) override {
        const int n = static_cast<int>(history.size());
        if (n == 0 || k <= 0) return;
        if (ctx_.n_past() < n - 1) fail("self-draft: the target context holds {} tokens, expected {}", ctx_.n_past(), n - 1);
        k = std::min(k, ctx_.n_ctx() - n + 1);
        const bool greedy = sampling_.temperature <= 0.0f;
        sampler smp(sampling_);
        if (sampling_.repeat_penalty != 1.0f) smp.set_history(history.data(), history.size());
        int32_t tok = history.back();
        for (int i = 0; i < k; ++i) {
            tok_[0] = tok;
            pos_[0] = n - 1 + i;
            const std::vector<float>& logits = ctx_.eval_at(tok_, pos_, want_, skip_.data());
            int32_t t;
            if (greedy) {
                t = smp.pick_greedy(logits.data(), ctx_.n_vocab());
            } else {
                std::vector<token_prob> q = smp.distribution(logits.data(), ctx_.n_vocab());
                t = sample_from(q, rng_.uniform());
                out.q.push_back(std::move(q));
            }
            out.tokens.push_back(t);
            smp.accept(t);
            tok = t;
        }
        ctx_.truncate(n - 1);
    }

private:
    context& ctx_;
    std::vector<uint8_t> skip_;
    sampler_params sampling_;
    rng rng_;
    double cost_ = 1.0;
    std::vector<int32_t> tok_ = {0}, pos_ = {0};
    std::vector<uint8_t> want_ = {1};
};

}  // namespace

std::unique_ptr<drafter> drafter_self_create(context& target, std::vector<uint8_t> skip, const sampler_params& sampling) {
    return std::make_unique<self_drafter>(target, std::move(skip), sampling);
}

}  // namespace kiln

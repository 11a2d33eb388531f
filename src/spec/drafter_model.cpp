// Drafting with a second, smaller model that shares the target's vocabulary. Its
// context follows the committed sequence lazily: before each proposal it keeps
// the longest prefix it already evaluated and evaluates the rest in one batch.
#include <algorithm>

#include "core/error.h"
#include "model/context.h"
#include "model/model.h"
#include "sampling/rng.h"
#include "spec/drafter.h"

namespace kiln {

namespace {

class model_drafter final : public drafter {
public:
    model_drafter(std::shared_ptr<const model> m, int n_ctx, const sampler_params& sp, double cost)
        : ctx_(std::move(m), n_ctx), sampling_(sp), rng_(sp.seed ^ 0x5bd1e995d12f7a3bull), cost_(cost) {}

    std::string name() const override { return "draft model"; }
    double cost_per_token() const override { return cost_; }

    void rewind(int n) override {
        if (n < static_cast<int>(evaluated_.size())) {
            evaluated_.resize(static_cast<size_t>(std::max(n, 0)));
            ctx_.truncate(static_cast<int>(evaluated_.size()));
        }
    }

    void propose(const std::vector<int32_t>& history, int k, draft& out) override {
        const size_t n = history.size();
        if (n == 0 || k <= 0) return;
        // Positions n-1 .. n+k-2 are evaluated here; the engine never asks beyond its context.
        if (static_cast<int>(n) + k - 1 > ctx_.n_ctx()) k = ctx_.n_ctx() - static_cast<int>(n) + 1;
        if (k <= 0) return;
        size_t same = 0;
        const size_t lim = std::min(evaluated_.size(), n - 1);
        while (same < lim && evaluated_[same] == history[same]) ++same;
        evaluated_.resize(same);
        ctx_.truncate(static_cast<int>(same));
        evaluated_.insert(evaluated_.end(), history.begin() + static_cast<std::ptrdiff_t>(same), history.end());
        const std::vector<int32_t> rest(history.begin() + static_cast<std::ptrdiff_t>(same), history.end());
        const std::vector<float>* logits = &ctx_.eval(rest);

        const bool greedy = sampling_.temperature <= 0.0f;
        sampler_params sp = sampling_;
        sampler smp(sp);
        if (sp.repeat_penalty != 1.0f) smp.set_history(history.data(), history.size());
        for (int i = 0; i < k; ++i) {
            int32_t t;
            if (greedy) {
                t = smp.pick_greedy(logits->data(), ctx_.n_vocab());
            } else {
                std::vector<token_prob> q = smp.distribution(logits->data(), ctx_.n_vocab());
                t = sample_from(q, rng_.uniform());
                out.q.push_back(std::move(q));
            }
            out.tokens.push_back(t);
            smp.accept(t);
            if (i + 1 < k) {
                logits = &ctx_.eval({t});
                evaluated_.push_back(t);
            }
        }
    }

private:
    context ctx_;
    sampler_params sampling_;
    rng rng_;
    double cost_;
    std::vector<int32_t> evaluated_;  // the tokens in ctx_'s KV cache
};

}  // namespace

std::unique_ptr<drafter> drafter_model_create(std::shared_ptr<const model> draft_model, int n_ctx,
                                              const sampler_params& sampling, double cost_per_token) {
    return std::make_unique<model_drafter>(std::move(draft_model), n_ctx, sampling, cost_per_token);
}

}  // namespace kiln

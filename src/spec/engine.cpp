#include "spec/engine.h"

#include <algorithm>
#include <chrono>
#include <climits>

#include "core/error.h"
#include "model/context.h"
#include "spec/accept.h"

namespace kiln {

namespace {

using clock_type = std::chrono::steady_clock;

double ms_since(clock_type::time_point t0) {
    return std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
}

size_t common_prefix(const std::vector<int32_t>& a, size_t a_len, const std::vector<int32_t>& b) {
    const size_t n = std::min(a_len, b.size());
    size_t i = 0;
    while (i < n && a[i] == b[i]) ++i;
    return i;
}

}  // namespace

void spec_params_check(const spec_params& p) {
    if (p.draft_max < 1 || p.draft_max > spec_draft_max_limit) {
        fail("--draft-max {} is out of range [1, {}]", p.draft_max, spec_draft_max_limit);
    }
    if (!(p.verify_cost >= 0.0 && p.verify_cost <= 10.0)) fail("spec verify_cost {} is out of range [0, 10]", p.verify_cost);
    if (!(p.verify_overhead >= 0.0 && p.verify_overhead <= 10.0)) {
        fail("spec verify_overhead {} is out of range [0, 10]", p.verify_overhead);
    }
}

void spec_stats::add(const spec_stats& o) {
    drafted += o.drafted;
    accepted += o.accepted;
    target_steps += o.target_steps;
    generated += o.generated;
    spec_steps += o.spec_steps;
    draft_ms += o.draft_ms;
    verify_ms += o.verify_ms;
}

spec_engine::spec_engine(context& target, sampler& smp, drafter* d, const spec_params& p)
    : ctx_(target), smp_(&smp), drafter_(d), params_(p), length_(d ? p.draft_max : 0, p.adaptive, cost_of(d)) {
    spec_params_check(p);
}

spec_cost spec_engine::cost_of(const drafter* d) const {
    spec_cost c;
    c.draft = d ? d->cost_per_token() : 0.0;
    c.verify = params_.verify_cost;
    c.overhead = params_.verify_overhead;
    return c;
}

void spec_engine::set_sampler(sampler& smp) {
    smp_ = &smp;
    smp_->set_history(tokens_.data(), tokens_.size());
}

void spec_engine::set_drafter(drafter* d) {
    if (d == drafter_) return;
    drafter_ = d;
    length_ = draft_length(d ? params_.draft_max : 0, params_.adaptive, cost_of(d));
    if (d) d->rewind(0);
}

void spec_engine::begin(const std::vector<int32_t>& tokens) {
    if (tokens.empty()) fail("speculative generation needs at least one token to start from");
    const size_t n = tokens.size();
    if (n - 1 > static_cast<size_t>(ctx_.n_ctx())) {
        fail("the prompt is {} tokens, longer than the context of {} (raise -c)", n, ctx_.n_ctx());
    }
    const size_t same = common_prefix(tokens_, tokens_.size(), tokens);
    size_t reuse = common_prefix(tokens_, static_cast<size_t>(n_evaluated_), tokens);
    reuse = std::min({reuse, n - 1, static_cast<size_t>(ctx_.n_past())});
    ctx_.truncate(static_cast<int>(reuse));
    if (drafter_) drafter_->rewind(static_cast<int>(same));
    if (reuse < n - 1) {
        batch_.assign(tokens.begin() + static_cast<std::ptrdiff_t>(reuse), tokens.end() - 1);
        pos_.resize(batch_.size());
        for (size_t i = 0; i < batch_.size(); ++i) pos_[i] = static_cast<int32_t>(reuse + i);
        want_.assign(batch_.size(), 0);  // the prefill needs no logits: the last token is evaluated by step()
        ctx_.eval_at(batch_, pos_, want_);
    }
    tokens_ = tokens;
    n_evaluated_ = static_cast<int>(n - 1);
    smp_->set_history(tokens_.data(), tokens_.size());
}

void spec_engine::adopt(const std::vector<int32_t>& tokens) {
    tokens_ = tokens;
    n_evaluated_ = static_cast<int>(std::min(tokens.size(), static_cast<size_t>(ctx_.n_past())));
    if (drafter_) drafter_->rewind(0);
}

void spec_engine::commit(int32_t t, std::vector<int32_t>& out) {
    tokens_.push_back(t);
    smp_->accept(t);
    out.push_back(t);
}

int spec_engine::step(int max_new, std::vector<int32_t>& out) {
    if (tokens_.empty()) fail("spec_engine::step called before begin");
    const int n = static_cast<int>(tokens_.size());
    const int n_ctx = ctx_.n_ctx();
    if (max_new <= 0 || n - 1 >= n_ctx) return 0;
    ctx_.truncate(n - 1);

    // Draft: never more than the step may emit, nor past the end of the context. A calibrated
    // drafter is asked for the most and its draft cut at its own confidence.
    const bool cut = drafter_ && params_.adaptive && drafter_->calibrated();
    int k = !drafter_ ? 0 : cut ? params_.draft_max : length_.next();
    k = std::min({k, max_new - 1, n_ctx - n});
    draft_.clear();
    if (k > 0) {
        const auto t0 = clock_type::now();
        drafter_->propose(tokens_, k, draft_);
        if (cut) {
            draft_.p.resize(draft_.tokens.size(), 0.0f);  // a token without an estimate is not worth verifying
            k = std::min(k, spec_confidence_cut(draft_.p, cost_of(drafter_)));
        }
        stats_.draft_ms += ms_since(t0);
        if (static_cast<int>(draft_.tokens.size()) > k) draft_.tokens.resize(static_cast<size_t>(k));
        if (!draft_.q.empty() && draft_.q.size() != draft_.tokens.size()) draft_.q.resize(draft_.tokens.size());
        k = static_cast<int>(draft_.tokens.size());
        ctx_.truncate(n - 1);  // a self-drafter evaluated into this context
    }

    // Verify: the pending token and every draft token in one batch, logits at each position.
    batch_.assign(1, tokens_.back());
    batch_.insert(batch_.end(), draft_.tokens.begin(), draft_.tokens.end());
    pos_.resize(batch_.size());
    for (size_t i = 0; i < batch_.size(); ++i) pos_[i] = static_cast<int32_t>(n - 1 + static_cast<int>(i));
    want_.assign(batch_.size(), 1);
    const auto t0 = clock_type::now();
    const std::vector<float>& logits = ctx_.eval_at(batch_, pos_, want_);
    stats_.verify_ms += ms_since(t0);
    ++stats_.target_steps;

    const int n_vocab = ctx_.n_vocab();
    const bool greedy = smp_->params().temperature <= 0.0f;
    const size_t out_before = out.size();
    int n_acc = 0;
    bool rejected = false;
    for (int i = 0; i < k; ++i) {
        const float* row = logits.data() + static_cast<size_t>(i) * n_vocab;
        const int32_t d = draft_.tokens[static_cast<size_t>(i)];
        if (greedy) {
            const int32_t t = smp_->pick_greedy(row, n_vocab);
            if (t != d) {
                commit(t, out);
                rejected = true;
                break;
            }
        } else {
            const std::vector<token_prob> p = smp_->distribution(row, n_vocab);
            const std::vector<token_prob>* q = draft_.q.empty() ? nullptr : &draft_.q[static_cast<size_t>(i)];
            const double u_accept = smp_->uniform();
            const double u_resample = smp_->uniform();
            const accept_result r = spec_accept_sampled(p, q, d, u_accept, u_resample);
            if (!r.accepted) {
                commit(r.token, out);
                rejected = true;
                break;
            }
        }
        commit(d, out);
        ++n_acc;
    }
    // Every draft token kept: the target's distribution after the last one gives a bonus token
    // (with no draft, this is exactly a plain decoding step).
    if (!rejected) commit(smp_->sample(logits.data() + static_cast<size_t>(k) * n_vocab, n_vocab), out);

    n_evaluated_ = n + n_acc;
    ctx_.truncate(n_evaluated_);
    const int made = static_cast<int>(out.size() - out_before);
    stats_.generated += made;
    if (k > 0) {
        stats_.drafted += k;
        stats_.accepted += n_acc;
        ++stats_.spec_steps;
        if (!cut) length_.update(k, n_acc);
        drafter_->feedback(k, n_acc);
    }
    return made;
}

std::string spec_engine::generate(int n_predict, const std::function<bool(int32_t)>& on_token) {
    const int64_t limit = n_predict < 0 ? INT_MAX : n_predict;
    int64_t produced = 0;
    std::vector<int32_t> out;
    while (produced < limit) {
        out.clear();
        const int n = step(static_cast<int>(std::min<int64_t>(limit - produced, INT_MAX)), out);
        if (n == 0) return "context full";
        for (int i = 0; i < n; ++i) {
            ++produced;
            if (!on_token(out[static_cast<size_t>(i)])) {
                rewind(static_cast<int>(tokens_.size()) - (n - 1 - i));
                return "stopped";
            }
        }
    }
    return "limit";
}

void spec_engine::rewind(int n) {
    if (n < 1 || n > static_cast<int>(tokens_.size())) {
        fail("cannot rewind the sequence of {} tokens to {}", tokens_.size(), n);
    }
    tokens_.resize(static_cast<size_t>(n));
    n_evaluated_ = std::min(n_evaluated_, n - 1);
    ctx_.truncate(n_evaluated_);
    if (drafter_) drafter_->rewind(n);
    smp_->set_history(tokens_.data(), tokens_.size());
}

double spec_predicted_speedup(const spec_stats& s, double plain_ms_per_token) {
    if (s.target_steps == 0 || !(plain_ms_per_token > 0.0)) return 0.0;
    const double draft_steps = s.draft_ms / static_cast<double>(s.target_steps) / plain_ms_per_token;
    return s.tokens_per_step() / (1.0 + draft_steps);
}

spec_run_result spec_run(context& target, drafter* d, const std::vector<int32_t>& prompt, int n_predict,
                         const sampler_params& sampling, const spec_params& p,
                         const std::function<bool(int32_t)>& is_end, const std::function<void(int32_t)>& on_token) {
    spec_run_result r;
    sampler smp(sampling);
    target.truncate(0);
    spec_engine e(target, smp, d, p);
    const auto t0 = clock_type::now();
    e.begin(prompt);
    r.prefill_ms = ms_since(t0);
    bool ended = false;
    const auto t1 = clock_type::now();
    r.stop = e.generate(n_predict, [&](int32_t t) {
        if (is_end && is_end(t)) {
            ended = true;
            return false;
        }
        r.generated.push_back(t);
        if (on_token) on_token(t);
        return true;
    });
    r.gen_ms = ms_since(t1);
    if (ended) r.stop = "eos";
    r.stats = e.stats();
    return r;
}

}  // namespace kiln

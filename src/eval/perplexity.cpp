#include "eval/perplexity.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "model/context.h"

namespace kiln {

namespace {

// log-sum-exp of a row, in double (the row is a distribution over the whole vocabulary).
double log_sum_exp(const float* x, int64_t n, double* max_out = nullptr, int64_t* argmax = nullptr) {
    double mx = x[0];
    int64_t am = 0;
    for (int64_t i = 1; i < n; ++i) {
        if (x[i] > mx) { mx = x[i]; am = i; }
    }
    double s = 0;
    for (int64_t i = 0; i < n; ++i) s += std::exp(static_cast<double>(x[i]) - mx);
    if (max_out) *max_out = mx;
    if (argmax) *argmax = am;
    return mx + std::log(s);
}

}  // namespace

double perplexity_log_prob(const float* logits, int64_t n, int32_t target) {
    return static_cast<double>(logits[target]) - log_sum_exp(logits, n);
}

double perplexity_kld(const float* base_logits, const float* logits, int64_t n, bool* same_top1) {
    int64_t am_p = 0, am_q = 0;
    const double lse_p = log_sum_exp(base_logits, n, nullptr, &am_p);
    const double lse_q = log_sum_exp(logits, n, nullptr, &am_q);
    double kl = 0;
    for (int64_t i = 0; i < n; ++i) {
        const double lp = base_logits[i] - lse_p, lq = logits[i] - lse_q;
        kl += std::exp(lp) * (lp - lq);
    }
    if (same_top1) *same_top1 = am_p == am_q;
    return std::max(kl, 0.0);
}

perplexity_result perplexity_run(std::shared_ptr<const model> m, std::shared_ptr<const model> base,
                                 const std::vector<int32_t>& tokens, int32_t bos, const perplexity_options& opt) {
    const int n_ctx = opt.n_ctx;
    if (n_ctx < 8) fail("-c {} is too small for perplexity (at least 8)", n_ctx);
    if (n_ctx > m->hp.n_ctx_train) {
        fail("-c {} is larger than the model's context of {} tokens", n_ctx, m->hp.n_ctx_train);
    }
    if (tokens.size() < 2 * static_cast<size_t>(n_ctx)) {
        fail("the text has {} tokens; perplexity at -c {} needs at least {} (2 x context)", tokens.size(), n_ctx,
             2 * n_ctx);
    }
    const int64_t n_vocab = m->hp.n_vocab;
    if (base && base->hp.n_vocab != n_vocab) {
        fail("the base model's vocabulary ({}) differs from the model's ({})", base->hp.n_vocab, n_vocab);
    }
    if (base && n_ctx > base->hp.n_ctx_train) {
        fail("-c {} is larger than the base model's context of {} tokens", n_ctx, base->hp.n_ctx_train);
    }
    const kl_logits* saved = opt.base_logits.get();
    if (base && saved) fail("both a base model and a base logits file were given; use one");
    if (saved) saved->check_matches(tokens, bos, n_ctx, n_vocab);

    perplexity_result r;
    r.n_ctx = n_ctx;
    r.n_chunks = static_cast<int>(tokens.size() / static_cast<size_t>(n_ctx));
    r.has_base = base != nullptr || saved != nullptr;
    const int first = n_ctx / 2;

    context ctx(m, n_ctx);
    std::unique_ptr<context> bctx;
    if (base) bctx = std::make_unique<context>(base, n_ctx);
    std::unique_ptr<kl_logits_writer> writer;
    if (!opt.kl_save.empty()) {
        writer = std::make_unique<kl_logits_writer>(opt.kl_save, tokens, bos, n_ctx, n_vocab, r.n_chunks);
    }

    double nll = 0, nll2 = 0, base_nll = 0, kl_sum = 0, kl_sum2 = 0;
    int64_t same = 0;
    std::vector<double> kls;
    for (int c = 0; c < r.n_chunks; ++c) {
        const size_t start = static_cast<size_t>(c) * n_ctx;
        std::vector<int32_t> chunk(tokens.begin() + start, tokens.begin() + start + n_ctx);
        if (bos >= 0) chunk[0] = bos;
        ctx.truncate(0);
        const std::vector<float> logits = ctx.eval(chunk, true);
        if (writer) writer->append_chunk(logits);
        std::vector<float> base_logits;
        if (bctx) {
            bctx->truncate(0);
            base_logits = bctx->eval(chunk, true);
        }
        for (int j = first; j < n_ctx - 1; ++j) {
            const float* lg = logits.data() + static_cast<size_t>(j) * n_vocab;
            const double v = -perplexity_log_prob(lg, n_vocab, chunk[j + 1]);
            nll += v;
            nll2 += v * v;
            if (r.has_base) {
                const float* bl = saved ? saved->row(c, j) : base_logits.data() + static_cast<size_t>(j) * n_vocab;
                base_nll += -perplexity_log_prob(bl, n_vocab, chunk[j + 1]);
                bool agree = false;
                const double kl = perplexity_kld(bl, lg, n_vocab, &agree);
                kl_sum += kl;
                kl_sum2 += kl * kl;
                kls.push_back(kl);
                same += agree ? 1 : 0;
            }
            ++r.n_scored;
        }
        if (opt.on_progress) opt.on_progress(c + 1, r.n_chunks);
    }
    if (writer) writer->commit();
    const double n = static_cast<double>(r.n_scored);
    r.nll_mean = nll / n;
    r.ppl = std::exp(r.nll_mean);
    const double var = std::max(0.0, nll2 / n - r.nll_mean * r.nll_mean);
    r.ppl_err = n > 1 ? r.ppl * std::sqrt(var / (n - 1)) : 0;
    if (r.has_base) {
        r.base_ppl = std::exp(base_nll / n);
        r.kld_mean = kl_sum / n;
        const double kvar = std::max(0.0, kl_sum2 / n - r.kld_mean * r.kld_mean);
        r.kld_err = n > 1 ? std::sqrt(kvar / (n - 1)) : 0;
        std::sort(kls.begin(), kls.end());
        r.kld_max = kls.back();
        r.kld_median = kls[kls.size() / 2];
        r.kld_p99 = kls[std::min(kls.size() - 1, static_cast<size_t>(0.99 * static_cast<double>(kls.size())))];
        r.same_top1_pct = 100.0 * static_cast<double>(same) / n;
    }
    return r;
}

}  // namespace kiln

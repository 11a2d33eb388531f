// Speculative decoding: every drafter reproduces plain greedy decoding token for
// token (reference prompts and random prompts, draft lengths 1..16, a rejection
// at every draft position, the context ending mid-draft), and with sampling the
// generated tokens follow the plain sampler's distribution (chi-square tests).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "formats/import.h"
#include "model/context.h"
#include "model/model.h"
#include "ops/ops.h"
#include "sampling/rng.h"
#include "sampling/sampler.h"
#include "spec/accept.h"
#include "spec/adaptive.h"
#include "spec/bench.h"
#include "spec/drafter.h"
#include "spec/engine.h"
#include "support/test_paths.h"

using namespace kiln;
namespace kt = kiln::test;

namespace {

std::shared_ptr<const model> load(const std::string& path) {
    model_open_options o;
    o.announce_conversion = false;
    return model_from_file(model_file_open(path, o));
}

// stories260K (f32) as the target; nullptr when the models are not available.
std::shared_ptr<const model> target_model() {
    static std::shared_ptr<const model> m = [] {
        threads_set(1);  // the machine is shared; one thread keeps these tests steady
        const std::string dir = kt::models_dir();
        if (dir.empty() || !kt::file_exists(dir + "/stories260K/stories260K.gguf")) return std::shared_ptr<const model>();
        return load(dir + "/stories260K/stories260K.gguf");
    }();
    return m;
}

// Plain greedy decoding, one token per eval: the oracle.
std::vector<int32_t> plain_greedy(context& ctx, const std::vector<int32_t>& prompt, int n, const sampler_params& sp) {
    ctx.truncate(0);
    sampler smp(sp);
    for (int32_t t : prompt) smp.accept(t);
    std::vector<int32_t> out;
    const std::vector<float>* logits = &ctx.eval(prompt);
    for (int i = 0; n < 0 || i < n; ++i) {
        const int32_t t = smp.sample(logits->data(), ctx.n_vocab());
        smp.accept(t);
        out.push_back(t);
        if (ctx.n_past() >= ctx.n_ctx()) break;
        logits = &ctx.eval({t});
    }
    return out;
}

// A drafter that knows the right answer and proposes `right` correct tokens followed by a wrong
// one, with `right` cycling 0, 1, ..., k so that rejections happen at every draft position.
class oracle_drafter final : public drafter {
public:
    oracle_drafter(std::vector<int32_t> full, int n_vocab, bool always_right)
        : full_(std::move(full)), n_vocab_(n_vocab), always_right_(always_right) {}
    std::string name() const override { return "oracle"; }
    double cost_per_token() const override { return 0.0; }
    void propose(const std::vector<int32_t>& history, int k, draft& out) override {
        const int right = always_right_ ? k : cycle_++ % (k + 1);
        for (int i = 0; i < k; ++i) {
            const size_t at = history.size() + static_cast<size_t>(i);
            const int32_t good = at < full_.size() ? full_[at] : 0;
            out.tokens.push_back(i < right ? good : (good + 1 + i) % n_vocab_);
        }
    }

private:
    std::vector<int32_t> full_;
    int n_vocab_;
    bool always_right_;
    int cycle_ = 0;
};

// A drafter that samples from a random distribution unrelated to the model (over a few tokens the
// target likes and a few it does not): exercises every branch of the sampling rule.
class random_q_drafter final : public drafter {
public:
    random_q_drafter(std::vector<int32_t> pool, uint64_t seed) : pool_(std::move(pool)), rng_(seed) {}
    std::string name() const override { return "random q"; }
    double cost_per_token() const override { return 0.0; }
    void propose(const std::vector<int32_t>&, int k, draft& out) override {
        for (int i = 0; i < k; ++i) {
            std::vector<token_prob> q;
            double sum = 0.0;
            for (int32_t id : pool_) {
                const float w = static_cast<float>(0.05 + rng_.uniform());
                q.push_back({id, w});
                sum += w;
            }
            for (auto& t : q) t.p = static_cast<float>(t.p / sum);
            out.tokens.push_back(sample_from(q, rng_.uniform()));
            out.q.push_back(std::move(q));
        }
    }
    void reseed(uint64_t s) { rng_.reseed(s); }

private:
    std::vector<int32_t> pool_;
    rng rng_;
};

std::vector<std::vector<int32_t>> test_prompts() {
    std::vector<std::vector<int32_t>> prompts;
    const std::string refs = kt::refs_dir();
    if (!refs.empty()) {
        std::istringstream in(kt::read_text(refs + "/stories260K/greedy_llamacpp_f32.jsonl"));
        for (std::string line; std::getline(in, line);) {
            if (!line.empty()) prompts.push_back(nlohmann::json::parse(line).at("prompt_tokens").get<std::vector<int32_t>>());
        }
    }
    rng r(20261123);
    for (int i = 0; i < 4; ++i) {  // random prompts: BOS and 1..19 random tokens
        std::vector<int32_t> p = {1};
        const int len = 1 + static_cast<int>(r.next() % 19);
        for (int j = 0; j < len; ++j) p.push_back(static_cast<int32_t>(3 + r.next() % 509));
        prompts.push_back(p);
    }
    // A repetitive prompt, so that n-gram lookup has something to find.
    prompts.push_back({1, 403, 407, 261, 378, 432, 383, 286, 403, 407, 261, 378, 432, 383, 286, 403, 407});
    return prompts;
}

// The chi-square quantile at upper tail probability 0.001 (Wilson-Hilferty; within ~1% for df >= 1).
double chi2_crit_001(int df) {
    const double z = 3.090232;
    const double a = 2.0 / (9.0 * df);
    return df * std::pow(1.0 - a + z * std::sqrt(a), 3.0);
}

// Pearson's chi-square of observed counts against expected probabilities, cells with an expected
// count under 5 pooled into one. Returns the statistic and sets df.
double chi2(const std::map<std::vector<int32_t>, int>& observed, const std::map<std::vector<int32_t>, double>& expected,
            int n, int& df) {
    double stat = 0.0, pooled_exp = 0.0, pooled_obs = 0.0;
    int cells = 0;
    for (const auto& [key, p] : expected) {
        const auto it = observed.find(key);
        const double o = it == observed.end() ? 0.0 : it->second;
        const double e = p * n;
        if (e < 5.0) {
            pooled_exp += e;
            pooled_obs += o;
            continue;
        }
        stat += (o - e) * (o - e) / e;
        ++cells;
    }
    int outside = 0;  // observations the exact distribution gives probability 0 would be a hard failure
    for (const auto& [key, c] : observed) {
        if (!expected.count(key)) outside += c;
    }
    CHECK(outside == 0);
    if (pooled_exp > 0.0) {
        stat += (pooled_obs - pooled_exp) * (pooled_obs - pooled_exp) / pooled_exp;
        ++cells;
    }
    df = cells - 1;
    return stat;
}

}  // namespace

TEST_CASE("self-draft layer lists, vocabulary checks and option ranges") {
    CHECK(self_draft_layers("1", 5) == std::vector<uint8_t>{0, 0, 1, 0, 0});
    CHECK(self_draft_layers("3", 5) == std::vector<uint8_t>{0, 1, 1, 1, 0});
    CHECK(self_draft_layers("1,3", 5) == std::vector<uint8_t>{0, 1, 0, 1, 0});
    CHECK(self_draft_layers("4,", 5) == std::vector<uint8_t>{0, 0, 0, 0, 1});
    const std::vector<uint8_t> twelve = self_draft_layers("4", 24);
    CHECK(std::count(twelve.begin(), twelve.end(), 1) == 4);
    CHECK((twelve.front() == 0 && twelve.back() == 0));
    CHECK_THROWS_WITH_AS(self_draft_layers("5", 5), doctest::Contains("skip all 5 layers"), kiln::error);
    CHECK_THROWS_WITH_AS(self_draft_layers("4", 5), doctest::Contains("out of range"), kiln::error);
    CHECK_THROWS_WITH_AS(self_draft_layers("0", 5), doctest::Contains("out of range"), kiln::error);
    CHECK_THROWS_WITH_AS(self_draft_layers("0,1,2,3,4", 5), doctest::Contains("skip all"), kiln::error);
    CHECK_THROWS_WITH_AS(self_draft_layers("1,7", 5), doctest::Contains("layer 7 is out of range"), kiln::error);
    CHECK_THROWS_WITH_AS(self_draft_layers("1,1", 5), doctest::Contains("twice"), kiln::error);
    CHECK_THROWS_WITH_AS(self_draft_layers("x", 5), doctest::Contains("expected a layer count"), kiln::error);

    const std::vector<std::string> a = {"a", "b", "c"}, b = {"a", "b"}, c = {"a", "x", "c"};
    CHECK_NOTHROW(spec_check_vocab("t", a, "d", a));
    CHECK_THROWS_WITH_AS(spec_check_vocab("t", a, "d", b), doctest::Contains("2 tokens but the target t has 3"), kiln::error);
    CHECK_THROWS_WITH_AS(spec_check_vocab("t", a, "d", c), doctest::Contains("token 1"), kiln::error);

    spec_params p;
    p.draft_max = 0;
    CHECK_THROWS_WITH_AS(spec_params_check(p), doctest::Contains("--draft-max 0"), kiln::error);
    p.draft_max = spec_draft_max_limit + 1;
    CHECK_THROWS_AS(spec_params_check(p), kiln::error);
    p.draft_max = 8;
    p.verify_overhead = -0.1;
    CHECK_THROWS_WITH_AS(spec_params_check(p), doctest::Contains("verify_overhead"), kiln::error);
    CHECK_THROWS_AS(drafter_lookup_create(1, 0), kiln::error);
}

TEST_CASE("the sampling rule: acceptance threshold min(1, p/q) and the residual max(p - q, 0)") {
    const std::vector<token_prob> p = {{5, 0.5f}, {6, 0.3f}, {7, 0.2f}};
    const std::vector<token_prob> q = {{5, 0.25f}, {6, 0.6f}, {8, 0.15f}};
    // p(5)/q(5) = 2: always accepted.
    CHECK(spec_accept_sampled(p, &q, 5, 0.999, 0.5).accepted);
    // p(6)/q(6) = 0.5: accepted below 0.5 only.
    CHECK(spec_accept_sampled(p, &q, 6, 0.49, 0.5).accepted);
    // Rejected: residual is {5: 0.25, 7: 0.2} (6 has p < q, 8 has p = 0), total 0.45.
    CHECK(spec_accept_sampled(p, &q, 6, 0.51, 0.0).token == 5);
    CHECK(spec_accept_sampled(p, &q, 6, 0.51, 0.25 / 0.45 - 1e-6).token == 5);
    CHECK(spec_accept_sampled(p, &q, 6, 0.51, 0.25 / 0.45 + 1e-6).token == 7);
    // A token the target excludes is never accepted.
    CHECK_FALSE(spec_accept_sampled(p, &q, 8, 0.0, 0.5).accepted);
    // Deterministic drafter (q one-hot): accept with probability p(d); the residual is p without d.
    CHECK(spec_accept_sampled(p, nullptr, 6, 0.29, 0.5).accepted);
    const accept_result r = spec_accept_sampled(p, nullptr, 6, 0.31, 0.99);
    CHECK_FALSE(r.accepted);
    CHECK(r.token == 7);
}

TEST_CASE("draft length: grows with a good drafter, pauses a useless one, retries") {
    spec_cost cheap;  // a lookup-like drafter on a big model: 0.1 per verified token, 0.3 overhead
    cheap.draft = 0.0;
    draft_length good(8, true, cheap);
    int k = good.next();
    CHECK((k >= 1 && k < 8));
    for (int i = 0; i < 10; ++i) {
        good.update(k, k);
        k = good.next();
    }
    CHECK(k == 8);

    spec_cost c = cheap;
    c.draft = 0.01;
    draft_length bad(8, true, c);
    // A one-token probe wastes 0.41 of a step: the pause grows to 0.41 / 0.25% = 164 steps, not more.
    CHECK(bad.max_backoff() == 164);
    int drafted = 0, probes = 0;
    for (int i = 0; i < 1000; ++i) {
        const int n = bad.next();
        if (n > 0) {
            drafted += n;
            ++probes;
            bad.update(n, 0);
        }
    }
    // A few drafts while the estimate falls, then probes at doubling intervals up to the cap.
    CHECK(probes < 25);
    CHECK(drafted < 50);

    // A good phase after a long useless one resumes at the first accepted probe.
    int wait = 0;
    while (bad.next() == 0) ++wait;
    CHECK(wait <= bad.max_backoff());
    bad.update(1, 1);
    CHECK(bad.next() >= 1);

    // An expensive drafter (self-draft: 0.8 of a step per token) is probed rarely.
    spec_cost dear = cheap;
    dear.draft = 0.8;
    CHECK(draft_length(8, true, dear).max_backoff() == draft_length::backoff_limit);

    draft_length fixed(5, false, dear);
    fixed.update(5, 0);
    CHECK(fixed.next() == 5);
}

TEST_CASE("confidence cut: the draft ends where expected tokens per cost peak") {
    spec_cost c;  // 1 + 0.3 + 0.1 k
    CHECK(c.step(0) == 1.0);
    CHECK(c.step(3) == doctest::Approx(1.6));
    CHECK(spec_confidence_cut({}, c) == 0);
    // One token at 0.2: (1 + 0.2) / 1.4 < 1; at 0.5: 1.5 / 1.4 = 1.07, under the 1.1 margin; at 0.7: 1.21.
    CHECK(spec_confidence_cut({0.2f}, c) == 0);
    CHECK(spec_confidence_cut({0.5f}, c) == 0);
    CHECK(spec_confidence_cut({0.7f}, c) == 1);
    // A confident run, then a doubtful token: cut before it.
    CHECK(spec_confidence_cut({0.95f, 0.95f, 0.95f, 0.1f, 0.95f}, c) == 3);
    // Everything certain: all of it.
    CHECK(spec_confidence_cut(std::vector<float>(8, 1.0f), c) == 8);
    // A doubtful first token followed by a sure run is still worth it as a whole.
    CHECK(spec_confidence_cut({0.5f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f}, c) == 6);
    // Verification costing a whole step per token (a cache-resident model): only near-certain drafts.
    spec_cost dear;
    dear.verify = 0.8;
    CHECK(spec_confidence_cut({0.7f, 0.7f}, dear) == 0);
    CHECK(spec_confidence_cut({0.99f, 0.99f, 0.99f}, dear) == 0);  // 3.94 / 3.7 = 1.06: too little
    CHECK(spec_confidence_cut(std::vector<float>(8, 0.99f), dear) == 8);  // 8.65 / 7.7 = 1.12
}

namespace {
draft lookup_propose(drafter& d, const std::vector<int32_t>& history, int k) {
    draft out;
    d.propose(history, k, out);
    REQUIRE(out.p.size() == out.tokens.size());
    return out;
}
}  // namespace

TEST_CASE("n-gram lookup: continuation statistics, strong short n-grams, confidence, rewind") {
    // (5, 6) was followed by 7 twice and by 8 once, most recently: the most frequent continuation wins.
    {
        auto d = drafter_lookup_create(2, 3);
        CHECK(d->calibrated());
        const draft out = lookup_propose(*d, {1, 5, 6, 7, 5, 6, 7, 5, 6, 8, 9, 5, 6}, 1);
        REQUIRE(out.tokens.size() == 1);
        CHECK(out.tokens[0] == 7);
        CHECK((out.p[0] > 0.0f && out.p[0] < 1.0f));
    }
    // Below n_min an n-gram is used only with strong statistics: one occurrence is not enough...
    {
        auto d = drafter_lookup_create(2, 3);
        CHECK(lookup_propose(*d, {1, 10, 11, 12, 10}, 4).tokens.empty());
        auto d1 = drafter_lookup_create(1, 3);  // ...unless 1-grams are trusted
        CHECK(lookup_propose(*d1, {1, 10, 11, 12, 10}, 1).tokens == std::vector<int32_t>{11});
    }
    // ...three agreeing ones are.
    {
        auto d = drafter_lookup_create(2, 3);
        CHECK(lookup_propose(*d, {1, 10, 11, 2, 10, 11, 3, 10, 11, 12, 10}, 1).tokens == std::vector<int32_t>{11});
    }
    // A periodic text: whole periods drafted ahead, each token near-certain after a few periods.
    {
        auto d = drafter_lookup_create(2, 3);
        std::vector<int32_t> h = {1};
        for (int rep = 0; rep < 12; ++rep) {
            for (int32_t t : {40, 41, 42, 43, 44}) h.push_back(t);
        }
        h.push_back(40);
        const draft out = lookup_propose(*d, h, 12);
        REQUIRE(out.tokens.size() == 12);
        for (size_t i = 0; i < out.tokens.size(); ++i) {
            CHECK(out.tokens[i] == 41 + static_cast<int32_t>((i % 5 == 4) ? -1 : static_cast<int32_t>(i % 5)));
            CHECK(out.p[i] > 0.9f);
        }
        spec_cost c;
        CHECK(spec_confidence_cut(out.p, c) == 12);
    }
    // A text whose n-grams never continue the same way twice: the calibration learns that the
    // proposals fail, and the confidence cut drafts nothing.
    {
        auto d = drafter_lookup_create(2, 3);
        std::vector<int32_t> h = {1};
        for (int32_t i = 0; i < 60; ++i) {
            h.push_back(7);
            h.push_back(8);
            h.push_back(100 + i);
        }
        h.push_back(7);
        h.push_back(8);
        const draft out = lookup_propose(*d, h, 4);
        REQUIRE(!out.tokens.empty());
        CHECK(out.p[0] < 0.2f);
        CHECK(spec_confidence_cut(out.p, spec_cost{}) == 0);
        // The text starts repeating late: the drafter, scoring itself on every token while it drafts
        // nothing, is confident again within a few periods.
        for (int rep = 0; rep < 6; ++rep) {
            for (int32_t t : {50, 51, 52, 53, 54, 55}) h.push_back(t);
        }
        const draft late = lookup_propose(*d, h, 8);
        REQUIRE(late.tokens.size() == 8);
        CHECK(late.tokens[0] == 50);
        CHECK(spec_confidence_cut(late.p, spec_cost{}) >= 4);
    }
    // Nothing seen before: nothing proposed.
    {
        auto d = drafter_lookup_create(2, 3);
        CHECK(lookup_propose(*d, {1, 2, 3, 4, 5, 6, 7, 8}, 8).tokens.empty());
    }
    // The state is a function of the committed tokens: after a rewind (explicit, or a history that is
    // not an extension of the last one) the drafter proposes exactly what a fresh one would.
    {
        rng r(7);
        std::vector<int32_t> h = {1};
        for (int i = 0; i < 300; ++i) h.push_back(h.size() > 20 && r.next() % 3 ? h[h.size() - 17] : static_cast<int32_t>(3 + r.next() % 40));
        auto a = drafter_lookup_create(2, 4);
        auto fresh = [&](size_t n) {
            auto d = drafter_lookup_create(2, 4);
            return lookup_propose(*d, std::vector<int32_t>(h.begin(), h.begin() + static_cast<std::ptrdiff_t>(n)), 8);
        };
        const auto same = [](const draft& x, const draft& y) { return x.tokens == y.tokens && x.p == y.p; };
        REQUIRE(!fresh(h.size()).tokens.empty());
        REQUIRE(!fresh(180).tokens.empty());
        CHECK(same(lookup_propose(*a, h, 8), fresh(h.size())));
        a->rewind(150);
        CHECK(same(lookup_propose(*a, std::vector<int32_t>(h.begin(), h.begin() + 180), 8), fresh(180)));
        std::vector<int32_t> other(h.begin(), h.begin() + 120);
        other.push_back(h[120] + 1);  // not an extension of what it saw: starts over by itself
        auto b = drafter_lookup_create(2, 4);
        CHECK(same(lookup_propose(*a, other, 8), lookup_propose(*b, other, 8)));
    }
}

TEST_CASE("adaptive n-gram lookup: plain greedy's tokens, drafts only where they pay") {
    auto m = target_model();
    if (!m) {
        MESSAGE("models not available: skipped");
        return;
    }
    sampler_params sp;
    sp.temperature = 0.0f;
    context ctx(m, 0), plain_ctx(m, 0);
    const auto prompts = test_prompts();
    for (double verify : {0.1, 0.8}) {
        int64_t drafted = 0;
        for (size_t pi = 0; pi < prompts.size(); ++pi) {
            const std::vector<int32_t> want = plain_greedy(plain_ctx, prompts[pi], 60, sp);
            auto d = drafter_lookup_create(2, 3);
            spec_params p;
            p.verify_cost = verify;
            const spec_run_result r = spec_run(ctx, d.get(), prompts[pi], 60, sp, p);
            INFO("verify cost " << verify << ", prompt " << pi);
            CHECK(r.generated == want);
            drafted += r.stats.drafted;
            if (verify > 0.5) CHECK(r.stats.accepted * 10 >= r.stats.drafted * 9);  // only near-certain drafts
        }
        if (verify < 0.5) CHECK(drafted > 0);
    }
}

TEST_CASE("greedy: every drafter gives exactly the plain greedy tokens, k = 1..16") {
    auto m = target_model();
    if (!m) {
        MESSAGE("models not available: skipped");
        return;
    }
    const auto prompts = test_prompts();
    std::shared_ptr<const model> draft_m = m;  // the q8_0 copy when the refs hold it
    const std::string refs = kt::refs_dir();
    if (!refs.empty() && kt::file_exists(refs + "/stories260K/stories260K-q8_0.gguf")) {
        draft_m = load(refs + "/stories260K/stories260K-q8_0.gguf");
    }
    sampler_params sp;
    sp.temperature = 0.0f;
    const int n_gen = 24;
    context ctx(m, 0);
    context plain_ctx(m, 0);
    std::vector<std::vector<int32_t>> want(prompts.size());
    for (size_t i = 0; i < prompts.size(); ++i) want[i] = plain_greedy(plain_ctx, prompts[i], n_gen, sp);

    const char* kinds[] = {"lookup", "self-draft 1", "self-draft 1,3", "draft model", "oracle, rejections everywhere"};
    for (const char* kind : kinds) {
        for (int k = 1; k <= 16; ++k) {
            const size_t pi = static_cast<size_t>(k) % prompts.size();
            std::unique_ptr<drafter> d;
            const std::string name = kind;
            if (name == "lookup") d = drafter_lookup_create(1, 3);
            else if (name == "self-draft 1") d = drafter_self_create(ctx, self_draft_layers("1", m->hp.n_layer), sp);
            else if (name == "self-draft 1,3") d = drafter_self_create(ctx, self_draft_layers("1,3", m->hp.n_layer), sp);
            else if (name == "draft model") d = drafter_model_create(draft_m, ctx.n_ctx(), sp, 0.3);
            else {
                std::vector<int32_t> full = prompts[pi];
                full.insert(full.end(), want[pi].begin(), want[pi].end());
                d = std::make_unique<oracle_drafter>(full, m->hp.n_vocab, false);
            }
            spec_params p;
            p.draft_max = k;
            p.adaptive = false;
            const spec_run_result r = spec_run(ctx, d.get(), prompts[pi], n_gen, sp, p);
            INFO(kind << ", k = " << k << ", prompt " << pi);
            CHECK(r.generated == want[pi]);
            CHECK(r.stats.generated == n_gen);
            if (name == "oracle, rejections everywhere") CHECK(r.stats.accepted < r.stats.drafted);
        }
    }
}

TEST_CASE("greedy: reaching the end of the context in the middle of a draft, and a repetition penalty") {
    auto m = target_model();
    if (!m) {
        MESSAGE("models not available: skipped");
        return;
    }
    const auto prompts = test_prompts();
    const std::vector<int32_t>& prompt = prompts.back();
    for (int extra : {1, 2, 13}) {
        const int n_ctx = static_cast<int>(prompt.size()) + extra;
        sampler_params sp;
        sp.temperature = 0.0f;
        context plain_ctx(m, n_ctx);
        const std::vector<int32_t> want = plain_greedy(plain_ctx, prompt, -1, sp);
        REQUIRE(static_cast<int>(want.size()) == n_ctx - static_cast<int>(prompt.size()) + 1);
        std::vector<int32_t> full = prompt;
        full.insert(full.end(), want.begin(), want.end());
        for (int k : {3, 16}) {
            context ctx(m, n_ctx);
            oracle_drafter always(full, m->hp.n_vocab, true), wrong(full, m->hp.n_vocab, false);
            auto lookup = drafter_lookup_create(1, 4);
            auto self = drafter_self_create(ctx, self_draft_layers("2", m->hp.n_layer), sp);
            for (drafter* d : {static_cast<drafter*>(&always), static_cast<drafter*>(&wrong), lookup.get(), self.get()}) {
                spec_params p;
                p.draft_max = k;
                p.adaptive = false;
                const spec_run_result r = spec_run(ctx, d, prompt, -1, sp, p);
                INFO(d->name() << ", k = " << k << ", context " << n_ctx);
                CHECK(r.generated == want);
                CHECK(r.stop == "context full");
            }
        }
    }
    // With a repetition penalty, greedy picks the argmax after the penalty, draft after draft.
    sampler_params sp;
    sp.temperature = 0.0f;
    sp.repeat_penalty = 1.3f;
    context plain_ctx(m, 0), ctx(m, 0);
    const std::vector<int32_t> want = plain_greedy(plain_ctx, prompt, 40, sp);
    auto lookup = drafter_lookup_create(1, 3);
    auto self = drafter_self_create(ctx, self_draft_layers("1", m->hp.n_layer), sp);
    for (drafter* d : {lookup.get(), self.get()}) {
        spec_params p;
        p.draft_max = 5;
        p.adaptive = false;
        CHECK(spec_run(ctx, d, prompt, 40, sp, p).generated == want);
    }
}

TEST_CASE("a stop inside a step rewinds, and generation continues as plain greedy would") {
    auto m = target_model();
    if (!m) {
        MESSAGE("models not available: skipped");
        return;
    }
    const std::vector<int32_t> prompt = {1, 403, 407, 261, 378};
    sampler_params sp;
    sp.temperature = 0.0f;
    context plain_ctx(m, 0), ctx(m, 0);
    const std::vector<int32_t> want = plain_greedy(plain_ctx, prompt, 30, sp);
    std::vector<int32_t> full = prompt;
    full.insert(full.end(), want.begin(), want.end());
    oracle_drafter always(full, m->hp.n_vocab, true);
    sampler smp(sp);
    spec_params p;
    p.draft_max = 8;
    spec_engine e(ctx, smp, &always, p);
    e.begin(prompt);
    std::vector<int32_t> got;
    CHECK(e.generate(30, [&](int32_t t) {
        got.push_back(t);
        return got.size() < 5;
    }) == "stopped");
    CHECK(e.tokens().size() == prompt.size() + 5);
    CHECK(e.generate(25, [&](int32_t t) {
        got.push_back(t);
        return true;
    }) == "limit");
    CHECK(got == want);
    // A new prompt sharing a prefix reuses the cache and still matches.
    e.begin(prompt);
    got.clear();
    e.generate(30, [&](int32_t t) {
        got.push_back(t);
        return true;
    });
    CHECK(got == want);
}

// Sampling: speculative generation must draw the first three tokens from exactly the plain
// sampler's distribution. The exact joint distribution of (t1, t2, t3) is computed by enumerating
// the sampler's transformed distributions (temperature 2, top-k 8: at most 512 sequences), and
// N seeded runs per drafter are compared with Pearson's chi-square on t1, on (t1, t2) and on
// (t1, t2, t3), cells under 5 expected pooled. Each test rejects at the 0.001 level; with 4 drafters
// x 3 tests a correct implementation fails with probability < 1.2% for a given set of seeds (the
// seeds are fixed, so the outcome is reproducible), while a wrong residual, a missing bonus token
// or a q/p mix-up moves the statistic far past the threshold at this N.
TEST_CASE("sampling: the distribution of generated tokens equals plain sampling (chi-square)") {
    auto m = target_model();
    if (!m) {
        MESSAGE("models not available: skipped");
        return;
    }
    const std::vector<int32_t> prompt = {1, 403, 407, 261, 378, 432, 383, 286, 403, 407};
    sampler_params sp;
    sp.temperature = 2.0f;
    sp.top_k = 8;
    sp.top_p = 1.0f;
    sp.min_p = 0.0f;
    context ctx(m, 0);
    const int nv = m->hp.n_vocab;

    // Exact joint distribution of the first three tokens.
    std::map<std::vector<int32_t>, double> p1, p12, p123;
    {
        sampler s(sp);
        ctx.truncate(0);
        const auto d1 = s.distribution(ctx.eval(prompt).data(), nv);
        for (const auto& a : d1) {
            p1[{a.id}] += a.p;
            ctx.truncate(static_cast<int>(prompt.size()));
            const auto d2 = s.distribution(ctx.eval({a.id}).data(), nv);
            for (const auto& b : d2) {
                p12[{a.id, b.id}] += a.p * b.p;
                ctx.truncate(static_cast<int>(prompt.size()) + 1);
                const auto d3 = s.distribution(ctx.eval({b.id}).data(), nv);
                for (const auto& c : d3) p123[{a.id, b.id, c.id}] += static_cast<double>(a.p) * b.p * c.p;
            }
        }
    }
    std::vector<int32_t> pool;  // tokens the target likes first, and two it never picks
    for (const auto& [key, pr] : p1) pool.push_back(key[0]);
    pool.push_back(300);
    pool.push_back(301);

    const int n_runs = 1500;
    const char* kinds[] = {"plain", "lookup (q one-hot)", "self-draft 2 (q from skipped layers)", "random q"};
    for (const char* kind : kinds) {
        const std::string name = kind;
        std::map<std::vector<int32_t>, int> o1, o12, o123;
        auto lookup = drafter_lookup_create(1, 3);
        auto self = drafter_self_create(ctx, self_draft_layers("2", m->hp.n_layer), sp);
        random_q_drafter rq(pool, 1);
        drafter* d = name == "plain" ? nullptr : name[0] == 'l' ? lookup.get() : name[0] == 's' ? self.get() : &rq;
        sampler_params spi = sp;
        spec_params p;
        p.draft_max = 3;
        p.adaptive = false;
        for (int i = 0; i < n_runs; ++i) {
            spi.seed = 1000003ull * static_cast<uint64_t>(i + 1);
            rq.reseed(spi.seed ^ 77);
            sampler smp(spi);
            spec_engine e(ctx, smp, d, p);
            e.begin(prompt);
            std::vector<int32_t> t;
            e.generate(3, [&](int32_t tok) {
                t.push_back(tok);
                return true;
            });
            REQUIRE(t.size() == 3);
            ++o1[{t[0]}];
            ++o12[{t[0], t[1]}];
            ++o123[{t[0], t[1], t[2]}];
        }
        for (int which = 0; which < 3; ++which) {
            int df = 0;
            const double stat = which == 0 ? chi2(o1, p1, n_runs, df) : which == 1 ? chi2(o12, p12, n_runs, df) : chi2(o123, p123, n_runs, df);
            INFO(name << ": chi-square over " << (which + 1) << " token(s) = " << stat << " with " << df
                      << " degrees of freedom; threshold " << chi2_crit_001(df));
            REQUIRE(df >= 1);
            CHECK(stat < chi2_crit_001(df));
        }
    }
}

TEST_CASE("spec_bench_run: repetitions, the same tokens as plain greedy, a predicted speedup") {
    auto m = target_model();
    if (!m) {
        MESSAGE("models not available: skipped");
        return;
    }
    context ctx(m, 0);
    sampler_params sp;
    sp.temperature = 0.0f;
    auto d = drafter_self_create(ctx, self_draft_layers("1", m->hp.n_layer), sp);
    spec_params p;
    p.draft_max = 4;
    p.adaptive = false;
    const spec_bench_result r = spec_bench_run(ctx, d.get(), {1, 403, 407, 261, 378}, 20, sp, p, 2);
    CHECK(r.reps == 2);
    CHECK(r.generated == 20);
    CHECK(r.same_tokens);
    CHECK(r.stats.drafted > 0);
    CHECK(r.predicted_speedup > 0.0);
    CHECK(r.efficiency > 0.0);
    CHECK_THROWS_AS(spec_bench_run(ctx, d.get(), {1}, 20, sp, p, 0), kiln::error);
}

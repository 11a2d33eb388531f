// Sampling: greedy, the transforms' effect on the distribution, seeds.
#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <vector>

#include "core/error.h"
#include "sampling/sampler.h"

using namespace kiln;

namespace {

std::vector<float> test_logits() { return {1.0f, 3.0f, 2.0f, -1.0f, 2.5f, 0.0f, 3.0f}; }

sampler_params plain(float temp) {
    sampler_params p;
    p.temperature = temp;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    return p;
}

}  // namespace

TEST_CASE("greedy picks the first maximum") {
    const auto l = test_logits();
    CHECK(sample_greedy(l.data(), static_cast<int>(l.size())) == 1);
    sampler s(plain(0.0f));
    CHECK(s.sample(l.data(), static_cast<int>(l.size())) == 1);
}

TEST_CASE("temperature 1 with no filters is the softmax") {
    const auto l = test_logits();
    sampler s(plain(1.0f));
    const auto d = s.distribution(l.data(), static_cast<int>(l.size()));
    REQUIRE(d.size() == l.size());
    double z = 0.0;
    for (float x : l) z += std::exp(x);
    for (const auto& t : d) CHECK(t.p == doctest::Approx(std::exp(l[static_cast<size_t>(t.id)]) / z).epsilon(1e-5));
}

TEST_CASE("top-k, top-p and min-p cut the tail") {
    const auto l = test_logits();
    const int n = static_cast<int>(l.size());
    auto p = plain(1.0f);
    p.top_k = 3;
    auto d = sampler(p).distribution(l.data(), n);
    REQUIRE(d.size() == 3);
    CHECK(d[0].id == 1);  // ties broken by lower id
    CHECK(d[1].id == 6);
    CHECK(d[2].id == 4);

    p = plain(1.0f);
    p.top_p = 0.5f;
    d = sampler(p).distribution(l.data(), n);
    CHECK(d.size() == 2);  // 0.29 + 0.29 >= 0.5

    p = plain(1.0f);
    p.min_p = 0.5f;  // keeps tokens with p >= 0.5 * p_max: logits >= 3 - ln 2
    d = sampler(p).distribution(l.data(), n);
    CHECK(d.size() == 3);
    double sum = 0.0;
    for (const auto& t : d) sum += t.p;
    CHECK(sum == doctest::Approx(1.0));
}

TEST_CASE("repetition penalty lowers recent tokens") {
    const auto l = test_logits();
    auto p = plain(0.0f);
    p.repeat_penalty = 2.0f;
    sampler s(p);
    s.accept(1);
    CHECK(s.sample(l.data(), static_cast<int>(l.size())) == 6);  // token 1 penalised: 3/2 < 3
}

TEST_CASE("same seed, same draws; the draws follow the distribution") {
    const auto l = test_logits();
    const int n = static_cast<int>(l.size());
    auto p = plain(1.0f);
    p.seed = 42;
    sampler a(p), b(p);
    std::map<int, int> counts;
    const int draws = 20000;
    for (int i = 0; i < draws; ++i) {
        const int x = a.sample(l.data(), n);
        CHECK(x == b.sample(l.data(), n));
        counts[x]++;
    }
    double z = 0.0;
    for (float x : l) z += std::exp(x);
    for (int id = 0; id < n; ++id) {
        const double expect = std::exp(l[static_cast<size_t>(id)]) / z;
        const double got = counts[id] / static_cast<double>(draws);
        CHECK(std::fabs(got - expect) < 5.0 * std::sqrt(expect * (1 - expect) / draws) + 1e-3);
    }
}

TEST_CASE("out-of-range parameters are refused") {
    auto p = plain(1.0f);
    p.top_p = 0.0f;
    CHECK_THROWS_AS(sampler{p}, kiln::error);
    p = plain(-1.0f);
    CHECK_THROWS_AS(sampler{p}, kiln::error);
    p = plain(1.0f);
    p.min_p = 1.0f;
    CHECK_THROWS_AS(sampler{p}, kiln::error);
}

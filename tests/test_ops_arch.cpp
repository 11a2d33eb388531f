// The ops added for the Llama 3 / Qwen / Gemma 2 architectures: attention with a sliding window
// and logit soft-capping, GELU-gated FFN, soft-capping, bias rows. kiln::ref against formulas
// written out here, kiln::ops against kiln::ref at every kernel level, and bad arguments.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "arch/cpu_dispatch.h"
#include "core/error.h"
#include "ops/ops.h"
#include "support/test_numeric.h"

using namespace kiln;
using kiln::test::for_each_isa;
using kiln::test::max_abs_diff;
using kiln::test::random_vec;

namespace {

// Attention of one query row against explicit keys, written out: softmax over the keys j with
// pos - j < window (all when window is 0) of cap * tanh(scale * q.k_j / cap).
std::vector<double> attention_formula(const float* q, const std::vector<float>& k, const std::vector<float>& v,
                                      int pos, int hd, int kv_stride, int kv_off, float scale, int window, float cap) {
    std::vector<double> w(static_cast<size_t>(pos) + 1, 0.0);
    double m = -1e300, sum = 0.0;
    for (int j = 0; j <= pos; ++j) {
        if (window > 0 && pos - j >= window) continue;
        double s = 0.0;
        for (int d = 0; d < hd; ++d) s += static_cast<double>(q[d]) * k[static_cast<size_t>(j * kv_stride + kv_off + d)];
        s *= scale;
        if (cap > 0.0f) s = cap * std::tanh(s / cap);
        w[static_cast<size_t>(j)] = s;
        m = std::max(m, s);
    }
    for (int j = 0; j <= pos; ++j) {
        if (window > 0 && pos - j >= window) continue;
        sum += w[static_cast<size_t>(j)] = std::exp(w[static_cast<size_t>(j)] - m);
    }
    std::vector<double> out(static_cast<size_t>(hd), 0.0);
    for (int j = 0; j <= pos; ++j) {
        if (window > 0 && pos - j >= window) continue;
        for (int d = 0; d < hd; ++d) out[static_cast<size_t>(d)] += w[static_cast<size_t>(j)] / sum * v[static_cast<size_t>(j * kv_stride + kv_off + d)];
    }
    return out;
}

}  // namespace

TEST_CASE("attention: sliding window and soft-cap, ref against the formula and ops against ref") {
    const int n_head = 4, n_head_kv = 2, hd = 16, n_kv = 37;
    const int q_stride = n_head * hd, kv_stride = n_head_kv * hd;
    const std::vector<float> k = random_vec(static_cast<size_t>(n_kv * kv_stride), 1, -2.0f, 2.0f);
    const std::vector<float> v = random_vec(static_cast<size_t>(n_kv * kv_stride), 2);
    std::vector<int32_t> pos(n_kv);
    for (int i = 0; i < n_kv; ++i) pos[static_cast<size_t>(i)] = i;
    const std::vector<float> q = random_vec(static_cast<size_t>(n_kv * q_stride), 3, -2.0f, 2.0f);

    for (int window : {0, 1, 5, 36, 37, 100}) {
        for (float cap : {0.0f, 0.5f, 5.0f}) {
            CAPTURE(window);
            CAPTURE(cap);
            attention_params p;
            p.n_head = n_head;
            p.n_head_kv = n_head_kv;
            p.head_dim = hd;
            p.scale = 0.7f;
            p.window = window;
            p.softcap = cap;
            std::vector<float> want(q.size());
            ref::attention(q.data(), n_kv, pos.data(), k.data(), v.data(), n_kv, p, want.data());
            double worst = 0.0;
            for (int t = 0; t < n_kv; ++t) {
                for (int h = 0; h < n_head; ++h) {
                    const auto f = attention_formula(q.data() + t * q_stride + h * hd, k, v, t, hd, kv_stride,
                                                     (h / (n_head / n_head_kv)) * hd, p.scale, window, cap);
                    for (int d = 0; d < hd; ++d) {
                        worst = std::max(worst, std::fabs(f[static_cast<size_t>(d)] - want[static_cast<size_t>(t * q_stride + h * hd + d)]));
                    }
                }
            }
            CHECK(worst < 1e-6);
            for_each_isa([&] {
                std::vector<float> got(q.size());
                ops::attention(q.data(), n_kv, pos.data(), k.data(), v.data(), n_kv, p, got.data());
                CHECK(max_abs_diff(got, want) < 2e-5f);
            });
        }
    }
    // a window of 1 is attention to the token itself: the output is its own V row
    attention_params p1;
    p1.n_head = n_head;
    p1.n_head_kv = n_head_kv;
    p1.head_dim = hd;
    p1.scale = 1.0f;
    p1.window = 1;
    std::vector<float> out(q.size());
    ops::attention(q.data(), n_kv, pos.data(), k.data(), v.data(), n_kv, p1, out.data());
    for (int t = 0; t < n_kv; ++t) {
        for (int d = 0; d < hd; ++d) CHECK(out[static_cast<size_t>(t * q_stride + d)] == v[static_cast<size_t>(t * kv_stride + d)]);
    }
}

TEST_CASE("geglu: GELU's tanh approximation times up, ref against the formula and ops against ref") {
    const size_t n = 40000;  // crosses the parallel chunking
    const std::vector<float> gate = random_vec(n, 4, -6.0f, 6.0f), up = random_vec(n, 5);
    std::vector<float> want(n);
    ref::geglu(gate.data(), up.data(), want.data(), static_cast<int64_t>(n));
    for (size_t i = 0; i < n; i += 997) {
        const double g = gate[i];
        const double gelu = 0.5 * g * (1.0 + std::tanh(std::sqrt(2.0 / 3.14159265358979323846) * (g + 0.044715 * g * g * g)));
        CHECK(want[i] == doctest::Approx(gelu * up[i]).epsilon(1e-6));
    }
    float zero = 0.0f, one = 1.0f, out = -1.0f;
    ref::geglu(&zero, &one, &out, 1);
    CHECK(out == 0.0f);
    std::vector<float> got = gate;  // in place: out aliases gate
    ops::geglu(got.data(), up.data(), got.data(), static_cast<int64_t>(n));
    for (size_t i = 0; i < n; ++i) REQUIRE(got[i] == doctest::Approx(want[i]).epsilon(1e-5).scale(1e-6));
}

TEST_CASE("softcap and add_bias") {
    const size_t n = 50000;
    const std::vector<float> x = random_vec(n, 6, -100.0f, 100.0f);
    std::vector<float> want = x, got = x;
    ref::softcap(want.data(), static_cast<int64_t>(n), 30.0f);
    ops::softcap(got.data(), static_cast<int64_t>(n), 30.0f);
    for (size_t i = 0; i < n; i += 101) CHECK(want[i] == doctest::Approx(30.0 * std::tanh(x[i] / 30.0)).epsilon(1e-6));
    for (float w : want) REQUIRE(std::fabs(w) <= 30.0f);
    CHECK(max_abs_diff(got, want) < 1e-5f);

    const int64_t rows = 7, len = 33;
    const std::vector<float> bias = random_vec(static_cast<size_t>(len), 7);
    std::vector<float> a = random_vec(static_cast<size_t>(rows * len), 8), b = a;
    const std::vector<float> orig = a;
    ref::add_bias(a.data(), bias.data(), rows, len);
    ops::add_bias(b.data(), bias.data(), rows, len);
    for (int64_t r = 0; r < rows; ++r) {
        for (int64_t i = 0; i < len; ++i) {
            const size_t j = static_cast<size_t>(r * len + i);
            CHECK(a[j] == orig[j] + bias[static_cast<size_t>(i)]);
            CHECK(b[j] == a[j]);
        }
    }
}

TEST_CASE("the new ops refuse bad arguments with one line") {
    float x = 1.0f;
    CHECK_THROWS_AS(ref::softcap(&x, 1, 0.0f), kiln::error);
    CHECK_THROWS_AS(ops::softcap(&x, 1, -1.0f), kiln::error);
    CHECK_THROWS_AS(ops::softcap(&x, 1, INFINITY), kiln::error);
    CHECK_THROWS_AS(ops::add_bias(&x, &x, -1, 1), kiln::error);
    CHECK_THROWS_AS(ref::geglu(&x, &x, &x, -1), kiln::error);
    attention_params p;
    p.n_head = p.n_head_kv = 1;
    p.head_dim = 1;
    p.scale = 1.0f;
    const int32_t pos = 0;
    p.window = -1;
    CHECK_THROWS_AS(ops::attention(&x, 1, &pos, &x, &x, 1, p, &x), kiln::error);
    p.window = 0;
    p.softcap = -2.0f;
    CHECK_THROWS_AS(ref::attention(&x, 1, &pos, &x, &x, 1, p, &x), kiln::error);
    p.softcap = NAN;
    CHECK_THROWS_AS(ops::attention(&x, 1, &pos, &x, &x, 1, p, &x), kiln::error);
}

// Ops: kiln::ops at every kernel level this CPU supports against kiln::ref on
// random inputs of awkward sizes, kiln::ref against formulas written out here for
// the tricky ops (RoPE, grouped-query causal attention, softmax with -inf,
// rms_norm without weights), thread-count independence, and the CPU dispatch.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "arch/cpu_dispatch.h"
#include "core/convert_row.h"
#include "core/error.h"
#include "core/tensor.h"
#include "ops/ops.h"
#include "support/test_numeric.h"

using namespace kiln;
using kiln::test::for_each_isa;
using kiln::test::max_rel_err;
using kiln::test::nmse;
using kiln::test::random_vec;
using kiln::test::threads_guard;

namespace {

constexpr float k_inf = std::numeric_limits<float>::infinity();

// A weight matrix [rows, k] of the given type made from random values.
struct weight_matrix {
    std::vector<uint8_t> bytes;
    tensor t;
    weight_matrix(dtype type, int64_t k, int64_t rows, uint32_t seed) {
        const std::vector<float> values = random_vec(static_cast<size_t>(k * rows), seed);
        const size_t row_bytes = dtype_row_bytes(type, k);
        bytes.resize(row_bytes * static_cast<size_t>(rows));
        for (int64_t r = 0; r < rows; ++r) row_from_f32(type, values.data() + r * k, bytes.data() + r * row_bytes, k);
        t = tensor_make_2d("w", type, k, rows, bytes.data());
    }
};

const dtype k_all_types[] = {dtype::f32, dtype::f16, dtype::bf16, dtype::q8_0, dtype::q4_0};

std::vector<int64_t> row_lengths(dtype type) {
    if (dtype_info(type).block_size > 1) return {32, 96, 256};
    return {1, 3, 17, 64, 67, 257};
}

}  // namespace

// ---- dispatch -------------------------------------------------------------------------------------

TEST_CASE("dispatch: every supported level has a complete table; KILN_ISA values are checked") {
    const auto levels = cpu_isa_supported();
    REQUIRE(!levels.empty());
    CHECK(levels.front() == cpu_isa::scalar);
    CHECK(levels.back() == cpu_isa_best());
    MESSAGE("cpu features: " << cpu_features_str() << "; levels: " << levels.size() << ", active: "
                             << std::string(cpu_kernels_get().name));
    for (cpu_isa isa : levels) {
        const cpu_kernels& k = cpu_kernels_for(isa);
        CHECK(std::string(k.name) == cpu_isa_name(isa));
        CHECK(k.isa == isa);
        const void* fns[] = {
            reinterpret_cast<const void*>(k.gemm_f32),    reinterpret_cast<const void*>(k.gemm_f16),
            reinterpret_cast<const void*>(k.gemm_bf16),   reinterpret_cast<const void*>(k.gemm_q8_0),
            reinterpret_cast<const void*>(k.gemm_q4_0),   reinterpret_cast<const void*>(k.to_f32_f32),
            reinterpret_cast<const void*>(k.to_f32_f16),  reinterpret_cast<const void*>(k.to_f32_bf16),
            reinterpret_cast<const void*>(k.to_f32_q8_0), reinterpret_cast<const void*>(k.to_f32_q4_0),
            reinterpret_cast<const void*>(k.dot_f32),     reinterpret_cast<const void*>(k.axpy_f32),
            reinterpret_cast<const void*>(k.softmax),     reinterpret_cast<const void*>(k.rms_norm),
            reinterpret_cast<const void*>(k.silu),        reinterpret_cast<const void*>(k.swiglu),
            reinterpret_cast<const void*>(k.add),         reinterpret_cast<const void*>(k.mul),
            reinterpret_cast<const void*>(k.gemm_q4_k),   reinterpret_cast<const void*>(k.to_f32_q4_k),
            reinterpret_cast<const void*>(k.quantize_act), reinterpret_cast<const void*>(k.qgemm_q8_0x8),
            reinterpret_cast<const void*>(k.qgemm_q4_0x8), reinterpret_cast<const void*>(k.qgemm_q4_kx8),
            reinterpret_cast<const void*>(k.round_bf16),  reinterpret_cast<const void*>(k.gemm_bf16_dot),
            reinterpret_cast<const void*>(k.gemm_q4_1),   reinterpret_cast<const void*>(k.to_f32_q4_1),
            reinterpret_cast<const void*>(k.qgemm_q4_1x8), reinterpret_cast<const void*>(k.stream_sum),
            reinterpret_cast<const void*>(k.gemm_q6_k),   reinterpret_cast<const void*>(k.to_f32_q6_k),
            reinterpret_cast<const void*>(k.qgemm_q6_kx8),
            reinterpret_cast<const void*>(k.gemm_q5_0),   reinterpret_cast<const void*>(k.to_f32_q5_0),
            reinterpret_cast<const void*>(k.qgemm_q5_0x8), reinterpret_cast<const void*>(k.gemm_q5_1),
            reinterpret_cast<const void*>(k.to_f32_q5_1), reinterpret_cast<const void*>(k.qgemm_q5_1x8),
        };
        for (const void* f : fns) CHECK(f != nullptr);
    }
    CHECK(cpu_isa_choose(nullptr) == cpu_isa_best());
    CHECK(cpu_isa_choose("") == cpu_isa_best());
    CHECK(cpu_isa_choose("auto") == cpu_isa_best());
    CHECK(cpu_isa_choose("scalar") == cpu_isa::scalar);
    CHECK_THROWS_AS(cpu_isa_choose("avx3"), kiln::error);
    CHECK_THROWS_AS(cpu_isa_parse("AVX2 "), kiln::error);
    for (cpu_isa isa : {cpu_isa::avx2, cpu_isa::avx512}) {
        bool supported = false;
        for (cpu_isa s : levels) supported |= s == isa;
        if (supported) {
            CHECK(cpu_isa_choose(cpu_isa_name(isa)) == isa);
        } else {
            CHECK_THROWS_AS(cpu_isa_choose(cpu_isa_name(isa)), kiln::error);
            CHECK_THROWS_AS(cpu_kernels_for(isa), kiln::error);
        }
    }
    CHECK(threads_physical_cores() >= 1);
    CHECK_THROWS_AS(threads_set(0), kiln::error);
}

// ---- element-wise and row ops -----------------------------------------------------------------------

TEST_CASE("get_rows: every type and level matches ref; bad ids are errors") {
    for (dtype type : k_all_types) {
        for (int64_t n_cols : row_lengths(type)) {
            CAPTURE(dtype_name(type));
            CAPTURE(n_cols);
            weight_matrix table(type, n_cols, 11, 7);
            const std::vector<int32_t> ids = {3, 0, 10, 3, 7};
            std::vector<float> want(ids.size() * n_cols), got(want.size());
            ref::get_rows(table.t, ids.data(), static_cast<int64_t>(ids.size()), want.data());
            for_each_isa([&] {
                ops::get_rows(table.t, ids.data(), static_cast<int64_t>(ids.size()), got.data());
                CHECK(got == want);  // conversions are exact
            });
        }
    }
    weight_matrix table(dtype::f16, 8, 4, 1);
    float out[8];
    for (int32_t bad : {4, -1, 1 << 30}) {
        CHECK_THROWS_AS(ref::get_rows(table.t, &bad, 1, out), kiln::error);
        CHECK_THROWS_AS(ops::get_rows(table.t, &bad, 1, out), kiln::error);
    }
}

TEST_CASE("rms_norm: ref against the formula (with and without weights); ops against ref") {
    for (int64_t n : {1, 3, 17, 31, 64, 67, 129, 257}) {
        CAPTURE(n);
        const int64_t rows = 3;
        const auto x = random_vec(rows * n, 11, -2.0f, 2.0f);
        const auto w = random_vec(n, 12, 0.5f, 1.5f);
        const float eps = 1e-5f;
        for (bool with_w : {true, false}) {
            CAPTURE(with_w);
            const float* wp = with_w ? w.data() : nullptr;
            std::vector<float> naive(x.size()), want(x.size()), got(x.size());
            for (int64_t r = 0; r < rows; ++r) {
                double ms = 0.0;
                for (int64_t i = 0; i < n; ++i) ms += static_cast<double>(x[r * n + i]) * x[r * n + i] / n;
                for (int64_t i = 0; i < n; ++i) {
                    naive[r * n + i] = static_cast<float>(x[r * n + i] / std::sqrt(ms + eps) * (with_w ? w[i] : 1.0));
                }
            }
            ref::rms_norm(x.data(), wp, want.data(), rows, n, eps);
            CHECK(nmse(want, naive) < 1e-13);
            for_each_isa([&] {
                ops::rms_norm(x.data(), wp, got.data(), rows, n, eps);
                CHECK(nmse(got, want) < 1e-13);
                got = x;  // in place
                ops::rms_norm(got.data(), wp, got.data(), rows, n, eps);
                CHECK(nmse(got, want) < 1e-13);
            });
        }
    }
}

TEST_CASE("softmax: ref against the formula, -inf entries give exact zeros; ops against ref") {
    for (int64_t n : {1, 3, 17, 31, 64, 67, 129, 257}) {
        CAPTURE(n);
        auto x = random_vec(n, 21, -30.0f, 30.0f);
        if (n > 2) x[1] = x[n - 1] = -k_inf;
        std::vector<float> naive(x.size());
        double m = -INFINITY, sum = 0.0;
        for (float v : x) m = std::max(m, static_cast<double>(v));
        for (float v : x) sum += std::exp(v - m);
        for (int64_t i = 0; i < n; ++i) naive[i] = static_cast<float>(std::exp(x[i] - m) / sum);
        auto want = x;
        ref::softmax(want.data(), n);
        CHECK(nmse(want, naive) < 1e-14);
        for_each_isa([&] {
            auto got = x;
            ops::softmax(got.data(), n);
            CHECK(nmse(got, want) < 1e-13);
            CHECK(max_rel_err(got, want) < 4e-6);  // x - max in f32 alone costs up to |x - max| * 2^-24
            if (n > 2) {
                CHECK(got[1] == 0.0f);
                CHECK(got[n - 1] == 0.0f);
            }
            double total = 0.0;
            for (float v : got) total += v;
            CHECK(total == doctest::Approx(1.0).epsilon(1e-5));
        });
    }
    // A row with no finite entry is defined as all zeros (not NaN).
    std::vector<float> all_masked(5, -k_inf);
    for_each_isa([&] {
        auto got = all_masked;
        ops::softmax(got.data(), 5);
        for (float v : got) CHECK(v == 0.0f);
    });
}

TEST_CASE("silu, swiglu, add, mul: ops against ref at every level") {
    for (int64_t n : {1, 3, 17, 31, 64, 67, 129, 257, 40000}) {
        CAPTURE(n);
        auto a = random_vec(n, 31, -12.0f, 12.0f);
        const auto b = random_vec(n, 32, -3.0f, 3.0f);
        if (n > 4) a[0] = -100.0f, a[1] = 100.0f, a[2] = 0.0f, a[3] = -90.0f;
        std::vector<float> want_silu = a, want_swiglu(n), want_add(n), want_mul(n);
        ref::silu(want_silu.data(), n);
        ref::swiglu(a.data(), b.data(), want_swiglu.data(), n);
        ref::add(a.data(), b.data(), want_add.data(), n);
        ref::mul(a.data(), b.data(), want_mul.data(), n);
        for (int64_t i = 0; i < std::min<int64_t>(n, 8); ++i) {
            CHECK(want_silu[i] == doctest::Approx(a[i] / (1.0 + std::exp(-static_cast<double>(a[i])))));
        }
        for_each_isa([&] {
            auto got = a;
            ops::silu(got.data(), n);
            CHECK(nmse(got, want_silu) < 1e-13);
            CHECK(max_rel_err(got, want_silu) < 2.5e-7);  // about 4 ulp: exp must be accurate
            got = a;  // out aliases gate, as the model calls it
            ops::swiglu(got.data(), b.data(), got.data(), n);
            CHECK(nmse(got, want_swiglu) < 1e-13);
            ops::add(a.data(), b.data(), got.data(), n);
            CHECK(got == want_add);
            ops::mul(a.data(), b.data(), got.data(), n);
            CHECK(got == want_mul);
        });
    }
}

// ---- matmul ---------------------------------------------------------------------------------------

TEST_CASE("matmul: every weight type, awkward shapes, 1..33 tokens, every level, against ref") {
    for (dtype type : k_all_types) {
        for (int64_t k : row_lengths(type)) {
            for (int64_t rows : {1, 17, 67}) {
                weight_matrix w(type, k, rows, static_cast<uint32_t>(k * 131 + rows));
                for (int64_t n_tok : {1, 2, 5, 16, 33}) {
                    CAPTURE(dtype_name(type));
                    CAPTURE(k);
                    CAPTURE(rows);
                    CAPTURE(n_tok);
                    const auto x = random_vec(static_cast<size_t>(n_tok * k), 41);
                    std::vector<float> want(n_tok * rows), got(want.size());
                    ref::matmul(w.t, x.data(), n_tok, want.data());
                    for_each_isa([&] {
                        matmul_bf16_exact_set(true);
                        ops::matmul(w.t, x.data(), n_tok, got.data());
                        // The weights are dequantized exactly as ref does; only f32 summation order differs.
                        CHECK(nmse(got, want) < 1e-11);
                        matmul_bf16_exact_set(false);
                        if (type == dtype::bf16) {
                            // vdpbf16ps where the CPU has it (several tokens): activations rounded to
                            // bf16, a relative error of at most 2^-9 per element.
                            ops::matmul(w.t, x.data(), n_tok, got.data());
                            CHECK(nmse(got, want) < 2e-5);
                        }
                    });
                }
            }
        }
    }
}

TEST_CASE("matmul: large shapes use several token blocks and threads; results independent of threads") {
    threads_guard guard;
    const int64_t k = 4096, rows = 67, n_tok = 37;  // 16-token blocks at k = 4096: three blocks
    for (dtype type : {dtype::f32, dtype::bf16, dtype::q4_0}) {
        CAPTURE(dtype_name(type));
        weight_matrix w(type, k, rows, 5);
        const auto x = random_vec(static_cast<size_t>(n_tok * k), 6);
        std::vector<float> want(n_tok * rows), one(want.size()), two(want.size());
        ref::matmul(w.t, x.data(), n_tok, want.data());
        for_each_isa([&] {
            if (type == dtype::bf16) {
                // Prefill-sized bf16 batches may round the activations to bf16 (oneDNN): within the bound.
                matmul_bf16_exact_set(false);
                threads_set(2);
                ops::matmul(w.t, x.data(), n_tok, two.data());
                CHECK(nmse(two, want) < 2e-5);
            }
            matmul_bf16_exact_set(true);
            threads_set(1);
            ops::matmul(w.t, x.data(), n_tok, one.data());
            threads_set(2);
            ops::matmul(w.t, x.data(), n_tok, two.data());
            CHECK(nmse(one, want) < 1e-11);
            CHECK(one == two);
            // A view of some rows gives those rows' outputs.
            const tensor view = tensor_view_rows(w.t, 5, 40);
            std::vector<float> part(static_cast<size_t>(n_tok * 40));
            ops::matmul(view, x.data(), n_tok, part.data());
            for (int64_t t = 0; t < n_tok; ++t)
                for (int64_t r = 0; r < 40; ++r) REQUIRE(part[t * 40 + r] == two[t * rows + 5 + r]);
            matmul_bf16_exact_set(false);
        });
    }
}

TEST_CASE("matmul: oneDNN batches split into row slices over kiln's threads match the reference") {
    threads_guard guard;
    const int64_t k = 256, rows = 1000, n_tok = 20;  // 20 tokens: the oneDNN route; 1000 rows: 4 slices, one partial
    for (dtype type : {dtype::f32, dtype::bf16}) {
        CAPTURE(dtype_name(type));
        weight_matrix w(type, k, rows, 9);
        const auto x = random_vec(static_cast<size_t>(n_tok * k), 10);
        std::vector<float> want(n_tok * rows), one(want.size()), two(want.size());
        ref::matmul(w.t, x.data(), n_tok, want.data());
        matmul_bf16_exact_set(false);
        threads_set(1);
        ops::matmul(w.t, x.data(), n_tok, one.data());
        threads_set(2);
        ops::matmul(w.t, x.data(), n_tok, two.data());
        CHECK(nmse(one, want) < 2e-5);
        CHECK(nmse(two, want) < 2e-5);
        CHECK(nmse(two, one) < 1e-11);
    }
}

TEST_CASE("matmul: malformed weight tensors are errors, not out-of-bounds reads") {
    std::vector<uint8_t> bytes(4096);
    float x[64] = {}, y[64];
    tensor ragged = tensor_make_2d("blk.0.attn_q.weight", dtype::q8_0, 32, 2, bytes.data());
    ragged.ne[0] = 33;  // not a whole number of blocks
    CHECK_THROWS_AS(ops::matmul(ragged, x, 1, y), kiln::error);
    CHECK_THROWS_AS(ref::matmul(ragged, x, 1, y), kiln::error);
    const int64_t ne3[3] = {8, 2, 2};
    const tensor cube = tensor_make("cube", dtype::f32, 3, ne3, bytes.data());
    CHECK_THROWS_AS(ops::matmul(cube, x, 1, y), kiln::error);
    tensor bad_type = tensor_make_2d("t", dtype::f32, 8, 2, bytes.data());
    bad_type.type = static_cast<dtype>(77);
    CHECK_THROWS_AS(ops::matmul(bad_type, x, 1, y), kiln::error);
    CHECK_THROWS_AS(ops::get_rows(bad_type, nullptr, 0, y), kiln::error);
}

// ---- rope -----------------------------------------------------------------------------------------

namespace {

// Rotation of one pair as a complex product, written from the RoPE definition.
std::vector<float> rope_naive(const std::vector<float>& x, int64_t n_tokens, int n_heads, int head_dim,
                              const std::vector<int32_t>& pos, const rope_params& p) {
    std::vector<float> out = x;
    for (int64_t t = 0; t < n_tokens; ++t) {
        for (int h = 0; h < n_heads; ++h) {
            float* v = out.data() + (t * n_heads + h) * head_dim;
            for (int i = 0; i < p.n_rot / 2; ++i) {
                const double inv_freq = 1.0 / std::pow(p.theta, 2.0 * i / p.n_rot) /
                                        (p.freq_factors ? p.freq_factors[i] : 1.0);
                const double angle = pos[t] * static_cast<double>(p.freq_scale) * inv_freq;
                const int a = p.pairing == rope_pairing::interleaved ? 2 * i : i;
                const int b = p.pairing == rope_pairing::interleaved ? 2 * i + 1 : i + p.n_rot / 2;
                const std::complex<double> z =
                    std::complex<double>(v[a], v[b]) * std::polar(1.0, angle);
                v[a] = static_cast<float>(z.real());
                v[b] = static_cast<float>(z.imag());
            }
        }
    }
    return out;
}

}  // namespace

TEST_CASE("rope: both pairings, partial rotation, freq factors, positions not from 0") {
    const int n_heads = 3, head_dim = 16;
    const std::vector<int32_t> pos = {5, 100, 7, 0};
    const int64_t n_tok = static_cast<int64_t>(pos.size());
    const auto x = random_vec(static_cast<size_t>(n_tok * n_heads * head_dim), 51);
    const std::vector<float> factors = {1.0f, 2.0f, 4.0f, 8.0f, 1.5f, 3.0f, 1.0f, 1.0f};
    for (rope_pairing pairing : {rope_pairing::interleaved, rope_pairing::half}) {
        for (int n_rot : {16, 10}) {
            for (bool use_factors : {false, true}) {
                rope_params p;
                p.n_rot = n_rot;
                p.theta = 10000.0f;
                p.pairing = pairing;
                p.freq_scale = use_factors ? 0.5f : 1.0f;
                p.freq_factors = use_factors ? factors.data() : nullptr;
                CAPTURE(static_cast<int>(pairing));
                CAPTURE(n_rot);
                CAPTURE(use_factors);
                const auto naive = rope_naive(x, n_tok, n_heads, head_dim, pos, p);
                auto want = x;
                ref::rope(want.data(), n_tok, n_heads, head_dim, pos.data(), p);
                CHECK(nmse(want, naive) < 1e-13);
                for (int64_t i = 0; i < n_tok * n_heads; ++i) {  // dimensions past n_rot pass through
                    for (int d = n_rot; d < head_dim; ++d) REQUIRE(want[i * head_dim + d] == x[i * head_dim + d]);
                }
                for (int d = 0; d < head_dim; ++d) {  // position 0 is the identity
                    CHECK(want[(3 * n_heads) * head_dim + d] == doctest::Approx(x[(3 * n_heads) * head_dim + d]));
                }
                for_each_isa([&] {
                    auto got = x;
                    ops::rope(got.data(), n_tok, n_heads, head_dim, pos.data(), p);
                    CHECK(nmse(got, want) < 1e-13);
                });
            }
        }
    }
    // q.k after RoPE depends only on the distance between the positions.
    rope_params p;
    p.n_rot = head_dim;
    for (rope_pairing pairing : {rope_pairing::interleaved, rope_pairing::half}) {
        p.pairing = pairing;
        const auto q = random_vec(head_dim, 52), k = random_vec(head_dim, 53);
        auto dot_at = [&](int32_t pq, int32_t pk) {
            auto a = q, b = k;
            ref::rope(a.data(), 1, 1, head_dim, &pq, p);
            ref::rope(b.data(), 1, 1, head_dim, &pk, p);
            double s = 0.0;
            for (int d = 0; d < head_dim; ++d) s += static_cast<double>(a[d]) * b[d];
            return s;
        };
        CHECK(dot_at(9, 4) == doctest::Approx(dot_at(105, 100)).epsilon(1e-5));
    }
    rope_params bad;
    bad.n_rot = 7;
    std::vector<float> v(16);
    int32_t p0 = 0;
    CHECK_THROWS_AS(ops::rope(v.data(), 1, 1, 16, &p0, bad), kiln::error);
    bad.n_rot = 18;
    CHECK_THROWS_AS(ref::rope(v.data(), 1, 1, 16, &p0, bad), kiln::error);
}

// ---- attention --------------------------------------------------------------------------------------

namespace {

// Causal grouped-query attention written from its definition: a full score row over the cache
// with masked entries at -inf.
std::vector<float> attention_naive(const std::vector<float>& q, const std::vector<int32_t>& pos,
                                   const std::vector<float>& k, const std::vector<float>& v, int64_t n_kv,
                                   const attention_params& p) {
    const int64_t hd = p.head_dim;
    std::vector<float> out(q.size());
    for (size_t t = 0; t < pos.size(); ++t) {
        for (int h = 0; h < p.n_head; ++h) {
            const int kvh = h / (p.n_head / p.n_head_kv);
            std::vector<double> s(static_cast<size_t>(n_kv));
            for (int64_t j = 0; j < n_kv; ++j) {
                if (j > pos[t]) {
                    s[j] = -INFINITY;
                    continue;
                }
                double d = 0.0;
                for (int64_t i = 0; i < hd; ++i)
                    d += static_cast<double>(q[(t * p.n_head + h) * hd + i]) * k[(j * p.n_head_kv + kvh) * hd + i];
                s[j] = d * p.scale;
            }
            double m = -INFINITY, z = 0.0;
            for (double e : s) m = std::max(m, e);
            for (double& e : s) z += e = std::exp(e - m);
            for (int64_t i = 0; i < hd; ++i) {
                double acc = 0.0;
                for (int64_t j = 0; j < n_kv; ++j) acc += s[j] / z * v[(j * p.n_head_kv + kvh) * hd + i];
                out[(t * p.n_head + h) * hd + i] = static_cast<float>(acc);
            }
        }
    }
    return out;
}

}  // namespace

TEST_CASE("attention: grouped-query heads, causal mask with arbitrary positions, every level") {
    struct scenario {
        std::vector<int32_t> pos;
        int64_t n_kv;
    };
    const scenario scenarios[] = {{{10, 11, 12}, 13}, {{3, 0, 7}, 8}, {{0}, 1}, {{40}, 67}};
    for (int n_head_kv : {8, 4, 1}) {
        for (int head_dim : {16, 13}) {
            for (const scenario& sc : scenarios) {
                attention_params p;
                p.n_head = 8;
                p.n_head_kv = n_head_kv;
                p.head_dim = head_dim;
                p.scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
                const int64_t n_tok = static_cast<int64_t>(sc.pos.size());
                CAPTURE(n_head_kv);
                CAPTURE(head_dim);
                CAPTURE(sc.n_kv);
                const auto q = random_vec(static_cast<size_t>(n_tok * p.n_head * head_dim), 61, -2.0f, 2.0f);
                auto k = random_vec(static_cast<size_t>(sc.n_kv * n_head_kv * head_dim), 62, -2.0f, 2.0f);
                auto v = random_vec(k.size(), 63);
                const auto naive = attention_naive(q, sc.pos, k, v, sc.n_kv, p);
                std::vector<float> want(q.size()), got(q.size());
                ref::attention(q.data(), n_tok, sc.pos.data(), k.data(), v.data(), sc.n_kv, p, want.data());
                CHECK(nmse(want, naive) < 1e-13);
                for_each_isa([&] {
                    ops::attention(q.data(), n_tok, sc.pos.data(), k.data(), v.data(), sc.n_kv, p, got.data());
                    CHECK(nmse(got, want) < 1e-12);
                });
                // Cache rows after a token's position must not matter: poison the ones past the last position.
                int32_t max_pos = 0;
                for (int32_t ps : sc.pos) max_pos = std::max(max_pos, ps);
                for (int64_t j = max_pos + 1; j < sc.n_kv; ++j) {
                    for (int64_t i = 0; i < n_head_kv * head_dim; ++i) {
                        k[j * n_head_kv * head_dim + i] = 1e30f;
                        v[j * n_head_kv * head_dim + i] = std::numeric_limits<float>::quiet_NaN();
                    }
                }
                std::vector<float> poisoned(q.size());
                ops::attention(q.data(), n_tok, sc.pos.data(), k.data(), v.data(), sc.n_kv, p, poisoned.data());
                CHECK(nmse(poisoned, want) < 1e-12);
            }
        }
    }
    attention_params p;
    p.n_head = 8;
    p.n_head_kv = 3;
    p.head_dim = 4;
    std::vector<float> buf(64);
    int32_t pos = 0;
    CHECK_THROWS_AS(ops::attention(buf.data(), 1, &pos, buf.data(), buf.data(), 1, p, buf.data()), kiln::error);
    p.n_head_kv = 4;
    pos = 1;  // outside a 1-row cache
    CHECK_THROWS_AS(ops::attention(buf.data(), 1, &pos, buf.data(), buf.data(), 1, p, buf.data()), kiln::error);
    CHECK_THROWS_AS(ref::attention(buf.data(), 1, &pos, buf.data(), buf.data(), 1, p, buf.data()), kiln::error);
}

// Many query tokens take ops' blocked path (blocks of tokens per KV head, GEMMs for the scores and
// P.V): block edges, positions not starting at 0 or out of order, every GQA ratio, windows, soft-cap.
TEST_CASE("attention: many query tokens (blocked path), every level") {
    struct shape {
        int64_t n_tok;
        int head_dim;
        bool shuffled;  // positions out of order, some repeated
    };
    const shape shapes[] = {{33, 64, false}, {33, 13, true}, {70, 16, true}, {300, 32, false}};
    for (const shape& sh : shapes) {
        for (int n_head_kv : {8, 4, 2, 1}) {  // 1, 2, 4, 8 query heads per KV head
            for (const auto& [window, cap] : {std::pair<int, float>{0, 0.0f}, {24, 0.0f}, {0, 30.0f}, {24, 3.0f}}) {
                if (sh.n_tok == 300 && window != cap) continue;  // keep the big shape to two cases
                attention_params p;
                p.n_head = 8;
                p.n_head_kv = n_head_kv;
                p.head_dim = sh.head_dim;
                p.scale = 1.0f / std::sqrt(static_cast<float>(sh.head_dim));
                p.window = window;
                p.softcap = cap;
                const int32_t base = 17;
                std::vector<int32_t> pos(static_cast<size_t>(sh.n_tok));
                for (int64_t t = 0; t < sh.n_tok; ++t) {
                    pos[t] = base + static_cast<int32_t>(sh.shuffled ? (t * 29 + 5) % sh.n_tok : t);
                    if (sh.shuffled && t % 7 == 3) pos[t] = pos[t - 1];
                }
                const int64_t n_kv = base + sh.n_tok + 6;
                const int64_t kv_dim = n_head_kv * sh.head_dim;
                CAPTURE(sh.n_tok);
                CAPTURE(sh.head_dim);
                CAPTURE(n_head_kv);
                CAPTURE(window);
                CAPTURE(cap);
                const auto q = random_vec(static_cast<size_t>(sh.n_tok * p.n_head * sh.head_dim), 81, -2.0f, 2.0f);
                auto k = random_vec(static_cast<size_t>(n_kv * kv_dim), 82, -2.0f, 2.0f);
                auto v = random_vec(k.size(), 83);
                int32_t min_first = base + static_cast<int32_t>(sh.n_tok), max_pos = 0;
                for (int32_t ps : pos) {
                    max_pos = std::max(max_pos, ps);
                    min_first = std::min(min_first, window > 0 ? std::max(0, ps + 1 - window) : 0);
                }
                // Rows no token sees (past the last position, before the first window) must not matter.
                for (int64_t j = 0; j < n_kv; ++j) {
                    if (j >= min_first && j <= max_pos) continue;
                    for (int64_t i = 0; i < kv_dim; ++i) {
                        k[j * kv_dim + i] = 1e30f;
                        v[j * kv_dim + i] = std::numeric_limits<float>::quiet_NaN();
                    }
                }
                std::vector<float> want(q.size()), got(q.size());
                ref::attention(q.data(), sh.n_tok, pos.data(), k.data(), v.data(), n_kv, p, want.data());
                for_each_isa([&] {
                    ops::attention(q.data(), sh.n_tok, pos.data(), k.data(), v.data(), n_kv, p, got.data());
                    CHECK(nmse(got, want) < 1e-12);
                });
            }
        }
    }
}

// ---- threads ----------------------------------------------------------------------------------------

TEST_CASE("threads: 1 and 2 threads give identical results for every op") {
    threads_guard guard;
    // Sizes above the single-thread thresholds so two threads really split the work.
    const int64_t n_embd = 512, n_tok = 70;
    const auto x = random_vec(static_cast<size_t>(n_embd * n_tok), 71, -3.0f, 3.0f);
    const auto y = random_vec(x.size(), 72);
    const auto w = random_vec(n_embd, 73);
    weight_matrix emb(dtype::q8_0, n_embd, 100, 74);
    std::vector<int32_t> ids(n_tok), pos(n_tok);
    for (int64_t t = 0; t < n_tok; ++t) ids[t] = static_cast<int32_t>((t * 37) % 100), pos[t] = static_cast<int32_t>(t + 3);
    attention_params ap;
    ap.n_head = 8;
    ap.n_head_kv = 2;
    ap.head_dim = 64;
    ap.scale = 0.125f;
    const int64_t n_kv = n_tok + 3;
    const auto kc = random_vec(static_cast<size_t>(n_kv * 2 * 64), 75), vc = random_vec(kc.size(), 76);
    rope_params rp;
    rp.n_rot = 64;
    rp.pairing = rope_pairing::half;

    auto run_all = [&](int n_threads) {
        threads_set(n_threads);
        std::vector<std::vector<float>> r(8, std::vector<float>(x.size()));
        ops::get_rows(emb.t, ids.data(), n_tok, r[0].data());
        ops::rms_norm(x.data(), w.data(), r[1].data(), n_tok, n_embd, 1e-6f);
        r[2] = x;
        ops::rope(r[2].data(), n_tok, 8, 64, pos.data(), rp);
        r[3] = x;
        ops::silu(r[3].data(), static_cast<int64_t>(x.size()));
        ops::swiglu(x.data(), y.data(), r[4].data(), static_cast<int64_t>(x.size()));
        ops::add(x.data(), y.data(), r[5].data(), static_cast<int64_t>(x.size()));
        ops::mul(x.data(), y.data(), r[6].data(), static_cast<int64_t>(x.size()));
        ops::attention(x.data(), n_tok, pos.data(), kc.data(), vc.data(), n_kv, ap, r[7].data());
        // Heads of 8 dimensions: several heads per work item.
        attention_params small = ap;
        small.head_dim = 8;
        small.n_head = 64;
        small.n_head_kv = 16;
        r.emplace_back(x.size());
        ops::attention(x.data(), n_tok, pos.data(), kc.data(), vc.data(), n_kv, small, r.back().data());
        std::vector<float> want(x.size());
        ref::attention(x.data(), n_tok, pos.data(), kc.data(), vc.data(), n_kv, small, want.data());
        CHECK(nmse(r.back(), want) < 1e-12);
        return r;
    };
    for_each_isa([&] {
        const auto one = run_all(1), two = run_all(2);
        for (size_t i = 0; i < one.size(); ++i) {
            CAPTURE(i);
            CHECK(one[i] == two[i]);
        }
    });
}

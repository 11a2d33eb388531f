// ops::matmul_many (src/ops/matmul_rows8.cpp): several rows8 matrices applied to the same
// activations in one parallel loop give exactly the bits of one ops::matmul per matrix, at every
// level and thread count; matrices it cannot group (another layout or row length) fall back to
// separate products.
#include <doctest/doctest.h>

#include <cstring>
#include <vector>

#include "core/tensor.h"
#include "ops/ops.h"
#include "quant/pack.h"
#include "quant/quantize.h"
#include "support/test_numeric.h"

using namespace kiln;
using kiln::test::for_each_isa;
using kiln::test::random_vec;
using kiln::test::threads_guard;

namespace {

// A packed rows8 matrix of type t from random values.
struct packed {
    std::vector<uint8_t> plain, bytes;
    tensor t;
    packed(dtype type, int64_t k, int64_t rows, uint32_t seed) {
        const std::vector<float> v = random_vec(static_cast<size_t>(k * rows), seed);
        plain.resize(dtype_row_bytes(type, k) * static_cast<size_t>(rows));
        quantize_rows(type, v.data(), rows, k, plain.data(), nullptr);
        bytes.resize(quant_rows8_bytes(type, rows, k));
        quant_pack_rows8(type, plain.data(), rows, k, bytes.data());
        const int64_t ne[2] = {k, rows};
        t = tensor_make("w", type, 2, ne, bytes.data(), tensor_layout::rows8);
    }
};

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace

TEST_CASE("matmul_many: grouped rows8 products are the bits of separate ones") {
    threads_guard guard;
    const int64_t k = 256;
    // q/k/v-like shapes of mixed types, row counts that are not multiples of 16 (a lone last group)
    packed a(dtype::q4_0, k, 72, 1), b(dtype::q8_0, k, 40, 2), c(dtype::q4_k, k, 57, 3);
    const tensor* ws[3] = {&a.t, &b.t, &c.t};
    for (int64_t n_tokens : {1, 3, 9, 40}) {
        const std::vector<float> x = random_vec(static_cast<size_t>(k * n_tokens), 7 + static_cast<uint32_t>(n_tokens));
        for (int threads : {1, 2}) {
            threads_set(threads);
            for_each_isa([&] {
                CAPTURE(n_tokens);
                CAPTURE(threads);
                std::vector<float> want[3], got[3];
                float* ys[3];
                for (int i = 0; i < 3; ++i) {
                    want[i].assign(static_cast<size_t>(n_tokens * ws[i]->ne[1]), 0.0f);
                    got[i].assign(want[i].size(), -1.0f);
                    ops::matmul(*ws[i], x.data(), n_tokens, want[i].data());
                    ys[i] = got[i].data();
                }
                ops::matmul_many(ws, ys, 3, x.data(), n_tokens);
                for (int i = 0; i < 3; ++i) CHECK(same_bits(got[i], want[i]));
            });
        }
    }
}

TEST_CASE("matmul_many: matrices of another layout or row length are multiplied one by one") {
    const int64_t k = 64;
    packed a(dtype::q8_0, k, 16, 4), other_k(dtype::q8_0, 2 * k, 8, 5);
    std::vector<float> f32(static_cast<size_t>(k * 24));
    f32 = random_vec(f32.size(), 6);
    const tensor plain = tensor_make_2d("p", dtype::f32, k, 24, f32.data());
    const std::vector<float> x = random_vec(static_cast<size_t>(2 * k * 2), 8);  // room for the longer rows
    {
        const tensor* ws[2] = {&a.t, &plain};
        std::vector<float> want_a(2 * 16), want_p(2 * 24), got_a(want_a.size()), got_p(want_p.size());
        ops::matmul(a.t, x.data(), 2, want_a.data());
        ops::matmul(plain, x.data(), 2, want_p.data());
        float* ys[2] = {got_a.data(), got_p.data()};
        ops::matmul_many(ws, ys, 2, x.data(), 2);
        CHECK(same_bits(got_a, want_a));
        CHECK(same_bits(got_p, want_p));
    }
    {
        // another row length: x is read as rows of that length for that matrix, as ops::matmul does
        const tensor* ws[2] = {&a.t, &other_k.t};
        std::vector<float> want_a(16), want_o(8), got_a(16), got_o(8);
        ops::matmul(a.t, x.data(), 1, want_a.data());
        ops::matmul(other_k.t, x.data(), 1, want_o.data());
        float* ys[2] = {got_a.data(), got_o.data()};
        ops::matmul_many(ws, ys, 2, x.data(), 1);
        CHECK(same_bits(got_a, want_a));
        CHECK(same_bits(got_o, want_o));
    }
}

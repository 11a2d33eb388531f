// Quantizers (quant/quantize.h): round-trip error bounds, GGUF block compatibility against
// llama.cpp's own Q8_0/Q4_0 files, importance weighting, and the recipe's choices.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/convert_row.h"
#include "core/error.h"
#include "core/fp16.h"
#include "formats/import.h"
#include "ops/matmul_observer.h"
#include "ops/ops.h"
#include "quant/imatrix.h"
#include "quant/pack.h"
#include "quant/quantize.h"
#include "quant/recipe.h"
#include "support/test_paths.h"

using namespace kiln;

namespace {

std::vector<float> gaussian(size_t n, uint32_t seed, float sd = 1.0f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> nd(0.0f, sd);
    std::vector<float> v(n);
    for (auto& x : v) x = nd(rng);
    return v;
}

std::vector<float> round_trip(dtype t, const std::vector<float>& x, int64_t k, const float* importance = nullptr) {
    const int64_t rows = static_cast<int64_t>(x.size()) / k;
    std::vector<uint8_t> q(dtype_row_bytes(t, k) * rows);
    quantize_rows(t, x.data(), rows, k, q.data(), importance);
    std::vector<float> y(x.size());
    for (int64_t r = 0; r < rows; ++r) dequantize_row(t, q.data() + r * dtype_row_bytes(t, k), y.data() + r * k, k);
    return y;
}

// sum w_j (x - y)^2 over all rows, w per column (all ones when w is empty)
double weighted_sse(const std::vector<float>& x, const std::vector<float>& y, int64_t k, const std::vector<float>& w) {
    double s = 0;
    for (size_t i = 0; i < x.size(); ++i) {
        const double e = static_cast<double>(x[i]) - y[i];
        s += (w.empty() ? 1.0 : w[i % k]) * e * e;
    }
    return s;
}

double rel_rmse(const std::vector<float>& x, const std::vector<float>& y) {
    double e = 0, n = 0;
    for (size_t i = 0; i < x.size(); ++i) {
        e += (static_cast<double>(x[i]) - y[i]) * (static_cast<double>(x[i]) - y[i]);
        n += static_cast<double>(x[i]) * x[i];
    }
    return std::sqrt(e / n);
}

std::string refs(const char* f) { return test::refs_dir() + "/stories260K/" + f; }
std::string models(const char* f) { return test::models_dir() + "/stories260K/" + f; }

std::vector<float> tensor_f32(const source_tensor& t) {
    std::vector<uint8_t> raw(t.n_bytes());
    t.read_into(raw.data());
    std::vector<float> out(static_cast<size_t>(t.n_elements()));
    const int64_t k = t.ne[0];
    for (int64_t r = 0; r < t.n_elements() / k; ++r) {
        dequantize_row(t.type, raw.data() + r * dtype_row_bytes(t.type, k), out.data() + r * k, k);
    }
    return out;
}

}  // namespace

TEST_CASE("round trips stay within each type's error bound") {
    const int64_t k = 512, rows = 16;
    const auto x = gaussian(static_cast<size_t>(k * rows), 1);
    const auto y8 = round_trip(dtype::q8_0, x, k);
    const auto y4 = round_trip(dtype::q4_0, x, k);
    const auto y4k = round_trip(dtype::q4_k, x, k);
    const auto y41 = round_trip(dtype::q4_1, x, k);
    const auto y6k = round_trip(dtype::q6_k, x, k);
    const auto y50 = round_trip(dtype::q5_0, x, k);
    const auto y51 = round_trip(dtype::q5_1, x, k);
    MESSAGE("rel rmse: q5_0 " << rel_rmse(x, y50) << ", q5_1 " << rel_rmse(x, y51) << ", q4_1 " << rel_rmse(x, y41));
    CHECK(rel_rmse(x, y50) < 0.065);
    CHECK(rel_rmse(x, y51) < 0.055);
    CHECK(rel_rmse(x, y51) < rel_rmse(x, y41) * 0.6);
    CHECK(rel_rmse(x, y8) < 0.01);
    CHECK(rel_rmse(x, y6k) < 0.03);
    CHECK(rel_rmse(x, y4) < 0.13);
    CHECK(rel_rmse(x, y4k) < 0.11);
    CHECK(rel_rmse(x, y41) < 0.10);
    // per element: q8_0 within one step of the max-abs scale, q4_0 within two, q4_1 within two steps
    // of the min/max scale (max - min) / 15
    for (size_t b = 0; b < x.size() / 32; ++b) {
        float amax = 0, lo = x[b * 32], hi = x[b * 32];
        for (int j = 0; j < 32; ++j) {
            amax = std::max(amax, std::fabs(x[b * 32 + j]));
            lo = std::min(lo, x[b * 32 + j]);
            hi = std::max(hi, x[b * 32 + j]);
        }
        for (int j = 0; j < 32; ++j) {
            const size_t i = b * 32 + j;
            CHECK(std::fabs(x[i] - y8[i]) <= amax / 127.0f * 1.01f);
            CHECK(std::fabs(x[i] - y4[i]) <= amax / 8.0f * 2.0f);
            CHECK(std::fabs(x[i] - y41[i]) <= (hi - lo) / 15.0f * 2.0f);
            CHECK(std::fabs(x[i] - y50[i]) <= amax / 16.0f * 2.0f);
            CHECK(std::fabs(x[i] - y51[i]) <= (hi - lo) / 31.0f * 2.0f);
        }
    }
}

TEST_CASE("the scale search beats max-abs rounding, and q4_k beats q4_0") {
    const int64_t k = 1024, rows = 32;
    const auto x = gaussian(static_cast<size_t>(k * rows), 2);
    // the classic max-abs q4_0 (core/convert_row.cpp, llama.cpp's reference rounding)
    std::vector<uint8_t> q(dtype_row_bytes(dtype::q4_0, k) * rows);
    std::vector<float> plain(x.size());
    for (int64_t r = 0; r < rows; ++r) {
        row_from_f32(dtype::q4_0, x.data() + r * k, q.data() + r * dtype_row_bytes(dtype::q4_0, k), k);
        dequantize_row(dtype::q4_0, q.data() + r * dtype_row_bytes(dtype::q4_0, k), plain.data() + r * k, k);
    }
    const double e_plain = weighted_sse(x, plain, k, {});
    const double e_q4 = weighted_sse(x, round_trip(dtype::q4_0, x, k), k, {});
    const double e_q4k = weighted_sse(x, round_trip(dtype::q4_k, x, k), k, {});
    MESSAGE("sse: max-abs q4_0 " << e_plain << ", kiln q4_0 " << e_q4 << ", kiln q4_k " << e_q4k);
    CHECK(e_q4 < 0.95 * e_plain);
    CHECK(e_q4k < e_q4);
}

TEST_CASE("q4_1: the (d, m) search beats the min/max block and q4_0; GGUF's Q4_1 layout") {
    const int64_t k = 1024, rows = 32;
    const auto x = gaussian(static_cast<size_t>(k * rows), 5);
    // the classic min/max Q4_1 block (llama.cpp's reference rounding), written here from its definition
    std::vector<float> minmax(x.size());
    for (size_t b = 0; b < x.size() / 32; ++b) {
        float lo = x[b * 32], hi = x[b * 32];
        for (int j = 0; j < 32; ++j) {
            lo = std::min(lo, x[b * 32 + j]);
            hi = std::max(hi, x[b * 32 + j]);
        }
        const float d = fp16_to_f32(fp16_from_f32((hi - lo) / 15.0f)), m = fp16_to_f32(fp16_from_f32(lo));
        for (int j = 0; j < 32; ++j) {
            const float q = std::min(15.0f, std::max(0.0f, std::nearbyint((x[b * 32 + j] - m) / d)));
            minmax[b * 32 + j] = d * q + m;
        }
    }
    const double e_minmax = weighted_sse(x, minmax, k, {});
    const double e_q41 = weighted_sse(x, round_trip(dtype::q4_1, x, k), k, {});
    const double e_q4 = weighted_sse(x, round_trip(dtype::q4_0, x, k), k, {});
    MESSAGE("sse: min/max q4_1 " << e_minmax << ", kiln q4_1 " << e_q41 << ", kiln q4_0 " << e_q4);
    CHECK(e_q41 < 0.9 * e_minmax);
    CHECK(e_q41 < e_q4);

    // A block built by hand decodes as GGUF specifies: byte j holds weight j (low) and j + 16 (high).
    block_q4_1 b{};
    b.d = fp16_from_f32(0.5f);
    b.m = fp16_from_f32(-3.25f);
    for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>((j * 5 + 1) & 0xff);
    std::vector<float> y(32);
    dequantize_row(dtype::q4_1, &b, y.data(), 32);
    std::vector<float> z(32);
    row_to_f32(dtype::q4_1, &b, z.data(), 32);
    CHECK(y == z);
    for (int e = 0; e < 32; ++e) {
        const int q = e < 16 ? b.qs[e] & 15 : b.qs[e - 16] >> 4;
        CHECK(y[e] == 0.5f * q - 3.25f);
    }
    // the quantizer's blocks round-trip stably
    const auto y1 = round_trip(dtype::q4_1, x, k);
    const auto y2 = round_trip(dtype::q4_1, y1, k);
    CHECK(rel_rmse(y1, y2) < 0.02);
}

TEST_CASE("q5_0 and q5_1: GGUF's Q5_0 / Q5_1 layouts (5th bit of weight i = bit i of qh)") {
    block_q5_0 b0{};
    block_q5_1 b1{};
    b0.d = b1.d = fp16_from_f32(0.25f);
    b1.m = fp16_from_f32(-1.5f);
    for (int j = 0; j < 16; ++j) b0.qs[j] = b1.qs[j] = static_cast<uint8_t>((j * 7 + 3) & 0xff);
    const uint8_t qh[4] = {0xa5, 0x0f, 0x3c, 0x81};
    for (int i = 0; i < 4; ++i) b0.qh[i] = b1.qh[i] = qh[i];
    std::vector<float> y0(32), y1(32), z0(32), z1(32);
    dequantize_row(dtype::q5_0, &b0, y0.data(), 32);
    dequantize_row(dtype::q5_1, &b1, y1.data(), 32);
    row_to_f32(dtype::q5_0, &b0, z0.data(), 32);
    row_to_f32(dtype::q5_1, &b1, z1.data(), 32);
    CHECK(y0 == z0);
    CHECK(y1 == z1);
    for (int e = 0; e < 32; ++e) {
        const int q = (e < 16 ? b0.qs[e] & 15 : b0.qs[e - 16] >> 4) | ((qh[e / 8] >> (e % 8)) & 1) << 4;
        CHECK(y0[e] == 0.25f * static_cast<float>(q - 16));
        CHECK(y1[e] == 0.25f * static_cast<float>(q) - 1.5f);
    }
    // the quantizers' blocks round-trip stably
    const int64_t k = 512;
    const auto x = gaussian(static_cast<size_t>(k * 8), 6);
    for (dtype t : {dtype::q5_0, dtype::q5_1}) {
        const auto r1 = round_trip(t, x, k);
        const auto r2 = round_trip(t, r1, k);
        CHECK(rel_rmse(r1, r2) < 0.01);
    }
}

TEST_CASE("importance weighting lowers the weighted error") {
    const int64_t k = 512, rows = 16;
    const auto x = gaussian(static_cast<size_t>(k * rows), 3);
    // heavy-tailed per-column importance, as real activation statistics are
    auto g = gaussian(static_cast<size_t>(k), 4);
    std::vector<float> imp(static_cast<size_t>(k));
    for (int64_t j = 0; j < k; ++j) imp[j] = std::exp(2.0f * g[j]);
    for (dtype t : {dtype::q8_0, dtype::q4_0, dtype::q4_1, dtype::q5_0, dtype::q5_1, dtype::q4_k, dtype::q6_k}) {
        const double plain = weighted_sse(x, round_trip(t, x, k), k, imp);
        const double weighted = weighted_sse(x, round_trip(t, x, k, imp.data()), k, imp);
        MESSAGE(std::string(dtype_name(t)) << ": weighted error without importance " << plain << ", with " << weighted);
        CHECK(weighted < 0.9 * plain);
    }
}

TEST_CASE("degenerate blocks: zeros, constants, one spike, non-finite importance, bad row length") {
    const int64_t k = 256;
    for (dtype t : {dtype::q8_0, dtype::q4_0, dtype::q4_1, dtype::q5_0, dtype::q5_1, dtype::q4_k, dtype::q6_k}) {
        CAPTURE(dtype_name(t));
        std::vector<float> zeros(k, 0.0f);
        for (float v : round_trip(t, zeros, k)) CHECK(v == 0.0f);
        std::vector<float> c(k, 0.75f);
        for (float v : round_trip(t, c, k)) CHECK(v == doctest::Approx(0.75f).epsilon(0.01));
        std::vector<float> neg(k, -2.0f);
        for (float v : round_trip(t, neg, k)) CHECK(v == doctest::Approx(-2.0f).epsilon(0.01));
        std::vector<float> spike(k, 0.0f);
        spike[77] = 5.0f;
        const auto y = round_trip(t, spike, k);
        CHECK(y[77] == doctest::Approx(5.0f).epsilon(0.01));
        CHECK(y[3] == doctest::Approx(0.0f));
        std::vector<float> imp(k, 1.0f);
        imp[5] = NAN;
        std::vector<uint8_t> out(dtype_row_bytes(t, k));
        CHECK_THROWS_AS(quantize_rows(t, c.data(), 1, k, out.data(), imp.data()), error);
        CHECK_THROWS_AS(quantize_rows(t, c.data(), 1, 100, out.data(), nullptr), error);
    }
    std::vector<uint8_t> out(1024);
    std::vector<float> x(k, 1.0f);
    CHECK_THROWS_AS(quantize_rows(dtype::f16, x.data(), 1, k, out.data(), nullptr), error);
}

TEST_CASE("q4_k blocks follow GGUF's Q4_K layout") {
    // A block built by hand: scales/mins packed as GGUF does (6 bits; j >= 4 split across bytes),
    // decoded here straight from that description.
    block_q4_k b{};
    b.d = fp16_from_f32(0.5f);
    b.dmin = fp16_from_f32(0.25f);
    const int sc[8] = {1, 63, 17, 32, 45, 2, 60, 33}, mn[8] = {0, 5, 63, 40, 1, 62, 16, 31};
    for (int j = 0; j < 4; ++j) {
        b.scales[j] = static_cast<uint8_t>(sc[j] | ((sc[j + 4] >> 4) << 6));
        b.scales[j + 4] = static_cast<uint8_t>(mn[j] | ((mn[j + 4] >> 4) << 6));
        b.scales[j + 8] = static_cast<uint8_t>((sc[j + 4] & 15) | ((mn[j + 4] & 15) << 4));
    }
    for (int i = 0; i < 128; ++i) b.qs[i] = static_cast<uint8_t>((i * 7 + 3) & 0xff);
    std::vector<float> y(qk_k);
    dequantize_row(dtype::q4_k, &b, y.data(), qk_k);
    for (int e = 0; e < qk_k; ++e) {
        const int sub = e / 32, chunk = e / 64, l = e % 32;
        const uint8_t byte = b.qs[chunk * 32 + l];
        const int q = (sub % 2 == 0) ? (byte & 15) : (byte >> 4);
        CHECK(y[e] == doctest::Approx(0.5f * sc[sub] * q - 0.25f * mn[sub]));
    }
    // and the quantizer writes blocks this decoding reads back: a re-quantized round trip is stable
    const auto x = gaussian(qk_k * 4, 9);
    const auto y1 = round_trip(dtype::q4_k, x, qk_k);
    const auto y2 = round_trip(dtype::q4_k, y1, qk_k);
    CHECK(rel_rmse(y1, y2) < 0.02);
}

TEST_CASE("q6_k: GGUF's Q6_K layout; the error is far below q4_k's and close to q8_0's") {
    // A block built by hand from the layout's description: element e = 128h + 32i + l has its low 4
    // bits in ql[64h + 32(i % 2) + l] (high nibble for i >= 2), its top 2 in bits 2i of qh[32h + l].
    block_q6_k b{};
    b.d = fp16_from_f32(0.125f);
    int code[qk_k];
    for (int e = 0; e < qk_k; ++e) code[e] = (e * 37 + 11) % 64;
    for (int e = 0; e < qk_k; ++e) {
        const int h = e / 128, i = (e % 128) / 32, l = e % 32;
        b.ql[64 * h + 32 * (i % 2) + l] |= static_cast<uint8_t>((code[e] & 15) << (i >= 2 ? 4 : 0));
        b.qh[32 * h + l] |= static_cast<uint8_t>((code[e] >> 4) << (2 * i));
    }
    for (int j = 0; j < 16; ++j) b.scales[j] = static_cast<int8_t>(j * 17 - 128);
    std::vector<float> y(qk_k), z(qk_k);
    dequantize_row(dtype::q6_k, &b, y.data(), qk_k);
    row_to_f32(dtype::q6_k, &b, z.data(), qk_k);
    CHECK(y == z);
    for (int e = 0; e < qk_k; ++e) CHECK(y[e] == 0.125f * static_cast<float>(b.scales[e / 16]) * static_cast<float>(code[e] - 32));
    // the quantizer writes blocks this decoding reads back, and spends its 6.56 bits well
    const int64_t k = 1024, rows = 32;
    const auto x = gaussian(static_cast<size_t>(k * rows), 6);
    const double e6 = weighted_sse(x, round_trip(dtype::q6_k, x, k), k, {});
    const double e4 = weighted_sse(x, round_trip(dtype::q4_k, x, k), k, {});
    const double e8 = weighted_sse(x, round_trip(dtype::q8_0, x, k), k, {});
    MESSAGE("sse: q4_k " << e4 << ", q6_k " << e6 << ", q8_0 " << e8);
    CHECK(e6 < 0.1 * e4);
    CHECK(e6 < 20 * e8);
    const auto y1 = round_trip(dtype::q6_k, x, k);
    const auto y2 = round_trip(dtype::q6_k, y1, k);
    CHECK(rel_rmse(y1, y2) < 0.01);
}

TEST_CASE("llama.cpp's Q8_0/Q4_0 blocks decode the same way; kiln's rounding loses less") {
    if (test::refs_dir().empty() || test::models_dir().empty()) {
        MESSAGE("refs or models not available: test skipped");
        return;
    }
    const source_model f32 = model_import(models("stories260K.gguf"));
    for (const char* file : {"stories260K-q8_0.gguf", "stories260K-q4_0.gguf"}) {
        const source_model q = model_import(refs(file));
        int compared = 0;
        double e_llama = 0, e_kiln = 0;
        for (const auto& t : q.tensors) {
            if (t.type != dtype::q8_0 && t.type != dtype::q4_0) continue;
            const source_tensor* ref = f32.find(t.name);
            REQUIRE(ref != nullptr);
            const auto x = tensor_f32(*ref);
            const auto y = tensor_f32(t);
            REQUIRE(x.size() == y.size());
            // decoded as GGUF specifies (d * q, d * (nibble - 8)): within one step of the f32 weights
            const int64_t k = t.ne[0];
            std::vector<uint8_t> raw(t.n_bytes());
            t.read_into(raw.data());
            const size_t bb = dtype_info(t.type).block_bytes;
            for (size_t blk = 0; blk < x.size() / 32; ++blk) {
                uint16_t dh;
                std::memcpy(&dh, raw.data() + blk * bb, 2);
                const float d = std::fabs(fp16_to_f32(dh));
                for (int j = 0; j < 32; ++j) CHECK(std::fabs(x[blk * 32 + j] - y[blk * 32 + j]) <= d * 1.001f);
            }
            e_llama += weighted_sse(x, y, k, {});
            e_kiln += weighted_sse(x, round_trip(t.type, x, k), k, {});
            ++compared;
        }
        MESSAGE(std::string(file) << ": " << compared << " tensors, squared error llama.cpp " << e_llama << ", kiln " << e_kiln);
        CHECK(compared > 0);
        CHECK(e_kiln < e_llama);
    }
}

TEST_CASE("recipe: output kept at q8_0 in q4 recipes, fallbacks for row lengths, 1-D f32, no requantizing") {
    source_tensor norm;
    norm.name = "blk.0.attn_norm.weight";
    norm.n_dims = 1;
    norm.ne[0] = 64;
    source_tensor wq;
    wq.name = "blk.0.attn_q.weight";
    wq.n_dims = 2;
    wq.ne[0] = 512;
    wq.ne[1] = 512;
    source_tensor down = wq;
    down.name = "blk.0.ffn_down.weight";
    down.ne[0] = 172;
    source_tensor small = wq;
    small.ne[0] = 64;
    source_tensor emb = wq;
    emb.name = "token_embd.weight";

    quant_recipe_options o;
    o.scheme = quant_scheme::q4;
    CHECK(recipe_choose(o, norm, false).type == dtype::f32);
    CHECK(recipe_choose(o, wq, false).type == dtype::q4_0);
    CHECK(recipe_choose(o, down, false).type == dtype::f16);
    CHECK(!recipe_choose(o, down, false).why.empty());
    CHECK(recipe_choose(o, emb, false).type == dtype::q4_0);
    CHECK(recipe_choose(o, emb, true).type == dtype::q8_0);  // tied: it is the output projection
    o.output_f16 = true;
    CHECK(recipe_choose(o, emb, true).type == dtype::f16);
    o.output_f16 = false;
    o.scheme = quant_scheme::q4k;
    CHECK(recipe_choose(o, wq, false).type == dtype::q4_k);
    CHECK(recipe_choose(o, small, false).type == dtype::q4_1);  // 64 = 2 x 32: q4_1, 5.0 bits per weight
    CHECK(recipe_choose(o, small, false).why.find("q4_1") != std::string::npos);
    CHECK(recipe_choose(o, down, false).type == dtype::f16);
    o.scheme = quant_scheme::q6k;
    CHECK(recipe_choose(o, wq, false).type == dtype::q6_k);
    CHECK(recipe_choose(o, small, false).type == dtype::q8_0);  // 64 = 2 x 32: the next finer type
    CHECK(recipe_choose(o, small, false).why.find("q8_0") != std::string::npos);
    CHECK(recipe_choose(o, down, false).type == dtype::f16);
    CHECK(recipe_choose(o, emb, true).type == dtype::q8_0);
    o.scheme = quant_scheme::q8;
    CHECK(recipe_choose(o, emb, true).type == dtype::q8_0);

    quant_scheme s;
    CHECK(quant_scheme_from_name("q4k", s));
    CHECK(s == quant_scheme::q4k);
    CHECK(quant_scheme_from_name("q6_k", s));
    CHECK(s == quant_scheme::q6k);
    CHECK(std::string(quant_scheme_name(s)) == "q6k");
    CHECK(!quant_scheme_from_name("q3", s));

    // an already-quantized tensor: kept when the recipe wants its type, refused otherwise
    source_model m;
    std::vector<uint8_t> bytes(dtype_row_bytes(dtype::q8_0, 512) * 512, 0);
    wq.type = dtype::q8_0;
    wq.data = bytes.data();
    m.tensors.push_back(wq);
    quant_recipe_options o8;
    o8.scheme = quant_scheme::q8;
    recipe_apply(m, o8);
    CHECK(m.tensors[0].data == bytes.data());
    quant_recipe_options o4;
    o4.scheme = quant_scheme::q4;
    CHECK_THROWS_WITH_AS(recipe_apply(m, o4), doctest::Contains("already quantized"), error);
}

TEST_CASE("imatrix: mean squared activation per column") {
    std::vector<float> w(4 * 3, 0.0f);
    tensor t = tensor_make_2d("blk.0.ffn_up.weight", dtype::f32, 3, 4, w.data());
    imatrix im;
    const float x[6] = {1, 2, 3, -1, 0, 1};
    im.observe(t, x, 2);
    const auto* imp = im.importance("blk.0.ffn_up.weight");
    REQUIRE(imp != nullptr);
    CHECK((*imp)[0] == doctest::Approx(1.0f));
    CHECK((*imp)[1] == doctest::Approx(2.0f));
    CHECK((*imp)[2] == doctest::Approx(5.0f));
    CHECK(im.tokens_seen("blk.0.ffn_up.weight") == 2);
    CHECK(im.importance("nope") == nullptr);
}

TEST_CASE("GGUF Q8_0/Q4_0 tensors repack into rows8 losslessly") {
    if (test::refs_dir().empty()) {
        MESSAGE("refs not available: test skipped");
        return;
    }
    for (const char* file : {"stories260K-q8_0.gguf", "stories260K-q4_0.gguf"}) {
        const source_model plain = model_import(refs(file));
        source_model packed = model_import(refs(file));
        recipe_pack(packed);
        int n_packed = 0;
        for (size_t i = 0; i < plain.tensors.size(); ++i) {
            const source_tensor& a = plain.tensors[i];
            const source_tensor& b = packed.tensors[i];
            REQUIRE(a.name == b.name);
            if (a.type != dtype::q8_0 && a.type != dtype::q4_0) {
                CHECK(b.layout == tensor_layout::plain);
                continue;
            }
            CHECK(b.layout == tensor_layout::rows8);
            std::vector<uint8_t> pa(a.n_bytes()), pb(b.n_bytes());
            a.read_into(pa.data());
            b.read_into(pb.data());
            const int64_t k = a.ne[0], rows = a.n_elements() / k;
            const size_t rb = dtype_row_bytes(a.type, k);
            std::vector<uint8_t> row(rb);
            for (int64_t r = 0; r < rows; ++r) {
                quant_unpack_row_rows8(a.type, pb.data(), rows, k, r, row.data());
                REQUIRE(std::memcmp(row.data(), pa.data() + r * rb, rb) == 0);
            }
            ++n_packed;
        }
        CHECK(n_packed >= 31);
    }
}

TEST_CASE("ops::matmul reports each product to an installed observer, and only then") {
    std::vector<float> w(8 * 4, 0.5f), x(3 * 8, 1.0f), y(3 * 4);
    tensor t = tensor_make_2d("blk.1.attn_q.weight", dtype::f32, 8, 4, w.data());
    imatrix im;
    {
        matmul_observer_scope scope([&im](const tensor& wt, const float* xs, int64_t n) { im.observe(wt, xs, n); });
        CHECK(matmul_observer_active());
        ops::matmul(t, x.data(), 3, y.data());
    }
    CHECK(!matmul_observer_active());
    ops::matmul(t, x.data(), 3, y.data());
    CHECK(im.tokens_seen("blk.1.attn_q.weight") == 3);
    CHECK((*im.importance("blk.1.attn_q.weight"))[7] == doctest::Approx(1.0f));
    CHECK(y[0] == doctest::Approx(4.0f));
}

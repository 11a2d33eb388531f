// ARM-only checks, built and run only in the cross build (cmake/cross_tests.cmake) under qemu, on
// top of test_ops and test_qkernels (which compare every level with the scalar reference):
// the HWCAP levels and their names, every f16 and bf16 bit pattern through each level's
// conversion, exp at its edges, and the integer kernels at the extreme codes where a 16-bit
// intermediate (the smull path of the neon level) could overflow.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "arch/cpu_dispatch.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/fp16.h"
#include "ops/ops.h"

using namespace kiln;

namespace {

// The ARM levels this CPU runs (scalar excluded).
std::vector<cpu_isa> arm_levels() {
    std::vector<cpu_isa> out;
    for (cpu_isa isa : cpu_isa_supported())
        if (isa != cpu_isa::scalar) out.push_back(isa);
    return out;
}

uint32_t bits(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
}

}  // namespace

TEST_CASE("dispatch on AArch64: neon always, neon_dotprod exactly when HWCAP has ASIMDDP") {
    const cpu_feature_flags& f = cpu_features();
    CHECK(f.neon);
    std::vector<cpu_isa> want = {cpu_isa::scalar, cpu_isa::neon};
    if (f.dotprod) want.push_back(cpu_isa::neon_dotprod);
    CHECK(cpu_isa_supported() == want);
    MESSAGE("features: " << cpu_features_str() << "; best: " << std::string(cpu_isa_name(cpu_isa_best())));
    CHECK(cpu_isa_parse("neon") == cpu_isa::neon);
    CHECK(cpu_isa_parse("neon_dotprod") == cpu_isa::neon_dotprod);
    CHECK(cpu_isa_choose("neon") == cpu_isa::neon);
    for (cpu_isa x86 : {cpu_isa::avx2, cpu_isa::avx512}) {
        CHECK_THROWS_AS(cpu_isa_choose(cpu_isa_name(x86)), kiln::error);
        CHECK_THROWS_AS(cpu_kernels_for(x86), kiln::error);
    }
    if (!f.dotprod) CHECK_THROWS_AS(cpu_isa_choose("neon_dotprod"), kiln::error);
    CHECK_THROWS_AS(cpu_isa_parse("NEON"), kiln::error);
    for (cpu_isa isa : cpu_isa_supported()) {
        const cpu_kernels& k = cpu_kernels_for(isa);
        CHECK(k.isa == isa);
        CHECK(std::string(k.name) == cpu_isa_name(isa));
    }
}

TEST_CASE("f16 and bf16 rows: all 65536 bit patterns convert exactly at every level") {
    std::vector<uint16_t> all(65536);
    for (uint32_t i = 0; i < 65536; ++i) all[i] = static_cast<uint16_t>(i);
    std::vector<float> got(all.size());
    for (cpu_isa isa : cpu_isa_supported()) {
        CAPTURE(std::string(cpu_isa_name(isa)));
        const cpu_kernels& k = cpu_kernels_for(isa);
        k.to_f32_f16(all.data(), got.data(), 65536);
        int64_t bad = 0;
        for (uint32_t i = 0; i < 65536; ++i) {
            const float want = fp16_to_f32(all[i]);
            // NaNs: same sign and NaN-ness (the payload's quiet bit may be set by the conversion)
            const bool same = std::isnan(want) ? std::isnan(got[i]) && std::signbit(got[i]) == std::signbit(want)
                                               : bits(got[i]) == bits(want);
            bad += !same;
        }
        CHECK(bad == 0);
        k.to_f32_bf16(all.data(), got.data(), 65536);
        bad = 0;
        for (uint32_t i = 0; i < 65536; ++i) bad += bits(got[i]) != bits(bf16_to_f32(all[i]));
        CHECK(bad == 0);
    }
}

TEST_CASE("exp edges through softmax and silu: underflow to 0, no overflow, NaN stays NaN") {
    const float inf = std::numeric_limits<float>::infinity();
    // silu needs e^-x: around the underflow threshold -ln(2^-126) = 87.3365, up to the clamp at 88 (the
    // kernels' exp is specified finite up to x = 88, so silu below -88 is not checked here).
    const std::vector<float> xs = {-88.0f, -87.5f, -87.34f, -87.33f, -87.0f, -20.5f, -1e-7f, 0.0f, 1e-7f,
                                   0.5f,   20.5f,  87.0f,   88.0f,   88.7f,  100.0f, 1e30f, inf};
    for (cpu_isa isa : arm_levels()) {
        CAPTURE(std::string(cpu_isa_name(isa)));
        const cpu_kernels& k = cpu_kernels_for(isa);
        // silu(x) = x / (1 + e^-x): e^-x for every edge, four at a time through the vector path
        std::vector<float> s = xs;
        k.silu(s.data(), static_cast<int64_t>(s.size()));
        for (size_t i = 0; i < xs.size(); ++i) {
            CAPTURE(xs[i]);
            const double want = xs[i] / (1.0 + std::exp(-static_cast<double>(xs[i])));
            if (std::isinf(want)) {
                CHECK(s[i] == static_cast<float>(want));
            } else {
                // relative to the value, or the smallest normal float where the value underflows
                CHECK(std::fabs(s[i] - want) <= 4e-7 * std::fabs(want) + 1.2e-38);
            }
        }
        // softmax over a row whose max is 0: entries below -87.34 give exact zeros, the rest e^x / sum
        std::vector<float> row = {0.0f, -87.0f, -87.5f, -104.0f, -inf, -1.0f, -20.5f, -0.5f};
        std::vector<float> want = row;
        cpu_kernels_for(cpu_isa::scalar).softmax(want.data(), static_cast<int64_t>(want.size()));
        k.softmax(row.data(), static_cast<int64_t>(row.size()));
        for (size_t i = 0; i < row.size(); ++i) {
            CAPTURE(i);
            CHECK(row[i] == doctest::Approx(want[i]).epsilon(4e-7));
        }
        CHECK(row[2] == 0.0f);
        CHECK(row[3] == 0.0f);
        CHECK(row[4] == 0.0f);
        std::vector<float> nan_row = {1.0f, std::numeric_limits<float>::quiet_NaN(), 2.0f, 3.0f};
        k.silu(nan_row.data(), 4);
        CHECK(std::isnan(nan_row[1]));
    }
}

TEST_CASE("integer kernels at the extreme codes: q8 code 0 (q = -128), q4 nibble 15, activations +-127") {
    // One 8-row group, k = 256: every product at its largest magnitude, so a 16-bit intermediate that
    // overflowed or saturated would show. Scales of 1.0 make the results exact integers.
    const int64_t k = 256, nb = k / 32;
    std::vector<block_q8_act> act(static_cast<size_t>(nb));
    for (int64_t b = 0; b < nb; ++b) {
        act[b].d = 1.0f;
        act[b].sum = 0;
        for (int j = 0; j < 32; ++j) {
            act[b].qs[j] = static_cast<int8_t>((j + b) % 3 == 0 ? 127 : -127);
            act[b].sum += act[b].qs[j];
        }
    }
    std::vector<block_q8_0x8> w8(static_cast<size_t>(nb));
    std::vector<block_q4_0x8> w4(static_cast<size_t>(nb));
    for (int64_t b = 0; b < nb; ++b) {
        for (int r = 0; r < 8; ++r) w8[b].d[r] = w4[b].d[r] = fp16_from_f32(1.0f);
        // rows alternate between the two extremes and a mix: q = -128 (code 0), 127 (code 255)
        for (int i = 0; i < 256; ++i) w8[b].qs[i] = static_cast<uint8_t>(((i / 4) % 8) % 2 == 0 ? 0 : (i % 3 ? 255 : 0));
        for (int i = 0; i < 128; ++i) w4[b].qs[i] = static_cast<uint8_t>(((i / 4) % 8) % 2 == 0 ? 0xff : 0x0f);
    }
    const cpu_kernels& ref = cpu_kernels_for(cpu_isa::scalar);
    for (int64_t n_tok : {1, 3, 4}) {
        std::vector<block_q8_act> acts;
        for (int64_t t = 0; t < n_tok; ++t) acts.insert(acts.end(), act.begin(), act.end());
        std::vector<float> want8(static_cast<size_t>(8 * n_tok)), want4(want8.size()), got(want8.size());
        ref.qgemm_q8_0x8(w8.data(), 8, k, acts.data(), n_tok, want8.data(), 8);
        ref.qgemm_q4_0x8(w4.data(), 8, k, acts.data(), n_tok, want4.data(), 8);
        // row 0 of q8: every weight -128 against the activations: -128 * sum(x)
        int64_t sum_x = 0;
        for (const block_q8_act& a : act) sum_x += a.sum;
        CHECK(want8[0] == static_cast<float>(-128 * sum_x));
        for (cpu_isa isa : arm_levels()) {
            CAPTURE(std::string(cpu_isa_name(isa)));
            CAPTURE(n_tok);
            const cpu_kernels& kk = cpu_kernels_for(isa);
            kk.qgemm_q8_0x8(w8.data(), 8, k, acts.data(), n_tok, got.data(), 8);
            CHECK(got == want8);  // integers below 2^24 in every partial sum: exact
            kk.qgemm_q4_0x8(w4.data(), 8, k, acts.data(), n_tok, got.data(), 8);
            CHECK(got == want4);
        }
    }
}

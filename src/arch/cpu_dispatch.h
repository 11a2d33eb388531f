// CPU feature detection and the table of SIMD kernels kiln::ops calls.
//
// Each ISA level is one translation unit compiled with its own flags
// (arch/scalar_kernels.cpp, arch/x86/kernels_avx2.cpp, arch/x86/kernels_avx512.cpp).
// At start-up one table is chosen from CPUID or, on AArch64, HWCAP (or forced with
// KILN_ISA=scalar|avx2|avx512|neon|neon_dotprod);
// everything else in the binary targets baseline x86-64 and only reaches the
// wider instructions through these function pointers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/dtype.h"

namespace kiln {

// Kernel levels, lowest first. A level's table only runs on a CPU that has every
// feature its translation unit was compiled for.
enum class cpu_isa : int {
    scalar = 0,  // portable C++, any CPU
    avx2 = 1,    // AVX2 + FMA + F16C
    avx512 = 2,  // AVX-512 F/BW/VL/DQ + VNNI + BF16 (the flags kernels_avx512.cpp is built with)
    // AArch64 levels (an x86 build has none of them, an ARM build none of the x86 ones)
    neon = 3,          // ASIMD, which every AArch64 CPU has (arch/arm/kernels_neon.cpp)
    neon_dotprod = 4,  // + Armv8.2 dotprod, sdot/udot (arch/arm/kernels_dotprod.cpp)
};

// What CPUID reports, each flag already AND-ed with the OS saving the register state (XGETBV).
struct cpu_feature_flags {
    bool avx2 = false;
    bool fma = false;
    bool f16c = false;
    bool avx512f = false;
    bool avx512bw = false;
    bool avx512vl = false;
    bool avx512dq = false;
    bool avx512_vnni = false;
    bool avx512_bf16 = false;
    // AArch64, from getauxval(AT_HWCAP)
    bool neon = false;     // HWCAP_ASIMD
    bool dotprod = false;  // HWCAP_ASIMDDP
    bool fp16 = false;     // HWCAP_FPHP and HWCAP_ASIMDHP (f16 arithmetic; conversions need neither)
    bool i8mm = false;     // HWCAP2_I8MM (smmla)
};

// y[t * y_stride + r] = dot(row r of W, x[t * x_stride ...]) for r < n_rows, t < n_tokens.
// W rows are k elements of the kernel's weight type, w_stride bytes apart.
using gemm_fn = void (*)(const void* w, size_t w_stride, int64_t n_rows, const float* x, int64_t x_stride,
                         int64_t n_tokens, int64_t k, float* y, int64_t y_stride);
// out[0..n) = one row of the kernel's type converted to f32 (n a multiple of its block size).
using row_to_f32_fn = void (*)(const void* row, float* out, int64_t n);
// Quantizes one row of k activations (k a multiple of 32) into k / 32 blocks (core/dtype.h).
using quantize_act_fn = void (*)(const float* x, int64_t k, block_q8_act* out);
// The integer kernels of the rows8 layout. w: the matrix's first 8-row group; n_rows rows are
// computed (the last group may be partly padding, whose outputs are not written). act: n_tokens rows
// of k / 32 activation blocks, one after another. y[t * y_stride + r] = dot(row r, token t).
// Each block's dot product is exact in int32, then scaled in f32 (docs/KERNELS.md).
using qgemm_fn = void (*)(const void* w, int64_t n_rows, int64_t k, const block_q8_act* act, int64_t n_tokens,
                          float* y, int64_t y_stride);
// As gemm_fn for bf16 weights, with the activations already rounded to bf16 (xb, k values per token).
using gemm_bf16_dot_fn = void (*)(const void* w, size_t w_stride, int64_t n_rows, const uint16_t* xb,
                                  int64_t xb_stride, int64_t n_tokens, int64_t k, float* y, int64_t y_stride);

struct cpu_kernels {
    const char* name;  // "scalar", "avx2", "avx512"
    cpu_isa isa;

    // matmul, one per weight type; all accumulate in f32 with FMA after converting the
    // weights to f32 exactly (no reduced-precision arithmetic on the activations).
    gemm_fn gemm_f32;
    gemm_fn gemm_f16;
    gemm_fn gemm_bf16;
    gemm_fn gemm_q8_0;
    gemm_fn gemm_q4_0;

    row_to_f32_fn to_f32_f32;
    row_to_f32_fn to_f32_f16;
    row_to_f32_fn to_f32_bf16;
    row_to_f32_fn to_f32_q8_0;
    row_to_f32_fn to_f32_q4_0;
    // plain q4_k runs the same exact-f32 path (the integer kernels need the rows8 layout)
    gemm_fn gemm_q4_k;
    row_to_f32_fn to_f32_q4_k;
    // plain q4_1 (GGUF Q4_1, the q4_k recipe's fallback for rows of 32n): the same exact-f32 path
    gemm_fn gemm_q4_1;
    row_to_f32_fn to_f32_q4_1;
    // plain q6_k (GGUF Q6_K): the same exact-f32 path
    gemm_fn gemm_q6_k;
    row_to_f32_fn to_f32_q6_k;
    // plain q5_0 / q5_1 (GGUF Q5_0 / Q5_1): the same exact-f32 path
    gemm_fn gemm_q5_0;
    row_to_f32_fn to_f32_q5_0;
    gemm_fn gemm_q5_1;
    row_to_f32_fn to_f32_q5_1;

    // rows8 weights: activations quantized to int8 once per matmul, integer dot products
    quantize_act_fn quantize_act;
    qgemm_fn qgemm_q8_0x8;
    qgemm_fn qgemm_q4_0x8;
    qgemm_fn qgemm_q4_kx8;
    qgemm_fn qgemm_q4_1x8;
    qgemm_fn qgemm_q6_kx8;
    qgemm_fn qgemm_q5_0x8;
    qgemm_fn qgemm_q5_1x8;

    // bf16 weights against activations rounded to bf16 once per call: products exact in f32, sums
    // in f32. ops::matmul uses it for several tokens where bf16_dot_native (vdpbf16ps) is set; the
    // exact path (gemm_bf16) stays for one token and everywhere else (docs/KERNELS.md).
    bool bf16_dot_native;
    void (*round_bf16)(const float* x, uint16_t* out, int64_t n);  // round to nearest even
    gemm_bf16_dot_fn gemm_bf16_dot;

    // attention inner loops
    float (*dot_f32)(const float* a, const float* b, int64_t n);
    void (*axpy_f32)(float a, const float* x, float* y, int64_t n);  // y += a * x

    void (*softmax)(float* x, int64_t n);
    void (*rms_norm)(const float* x, const float* w, float* out, int64_t n, float eps);  // one row
    void (*silu)(float* x, int64_t n);
    void (*swiglu)(const float* gate, const float* up, float* out, int64_t n);
    void (*add)(const float* a, const float* b, float* out, int64_t n);
    void (*mul)(const float* a, const float* b, float* out, int64_t n);

    // Sum (mod 2^64) of the bytes / 8 64-bit words at p (any alignment; the last bytes % 8 bytes
    // are not read), with the widest loads of the level: the read path `kiln bench --membw` times.
    uint64_t (*stream_sum)(const void* p, size_t bytes);
};

const cpu_feature_flags& cpu_features();
// "avx2 fma f16c avx512f ..." (only features the OS has enabled); "none" when there are none.
std::string cpu_features_str();

const char* cpu_isa_name(cpu_isa isa);
// "scalar" | "avx2" | "avx512"; anything else is a kiln::error naming the value.
cpu_isa cpu_isa_parse(std::string_view name);
// Every level this CPU can run, lowest first (always starts with scalar).
std::vector<cpu_isa> cpu_isa_supported();
cpu_isa cpu_isa_best();
// The level to use given the value of KILN_ISA (nullptr, "" or "auto": the best one). Asking for a
// level this CPU lacks is a kiln::error.
cpu_isa cpu_isa_choose(const char* kiln_isa_env);

// The table of one level; kiln::error when this CPU cannot run it.
const cpu_kernels& cpu_kernels_for(cpu_isa isa);
// The active table: chosen on first use from CPUID and $KILN_ISA.
const cpu_kernels& cpu_kernels_get();
// Switches the active table (tests and benchmarks run every level). Not to be called while ops run.
void cpu_kernels_select(cpu_isa isa);

// Per-level tables, defined in their own translation units; call only through cpu_kernels_for.
const cpu_kernels& cpu_kernels_table_scalar();
const cpu_kernels& cpu_kernels_table_avx2();
const cpu_kernels& cpu_kernels_table_avx512();
const cpu_kernels& cpu_kernels_table_neon();
const cpu_kernels& cpu_kernels_table_neon_dotprod();

}  // namespace kiln

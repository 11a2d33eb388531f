// The portable kernel table: the shared kernel bodies with a "vector" of one float.
// Runs on any CPU (and is the only table on platforms without SIMD kernels yet).
#include <cmath>
#include <cstdint>

#include "arch/cpu_dispatch.h"
#include "core/dtype.h"
#include "core/fp16.h"

namespace kiln {

namespace {

constexpr int vl = 1;
constexpr int gemv_rows = 4;
constexpr int gemm_rows = 4;
constexpr int gemm_tokens = 2;

using vf = float;

inline vf vf_zero() { return 0.0f; }
inline vf vf_set1(float a) { return a; }
inline vf vf_load(const float* p) { return *p; }
inline void vf_store(float* p, vf a) { *p = a; }
inline vf vf_add(vf a, vf b) { return a + b; }
inline vf vf_sub(vf a, vf b) { return a - b; }
inline vf vf_mul(vf a, vf b) { return a * b; }
inline vf vf_div(vf a, vf b) { return a / b; }
// Unfused: baseline x86-64 has no FMA instruction and libm's software fma is slow.
inline vf vf_fma(vf a, vf b, vf c) { return a * b + c; }
inline vf vf_max(vf a, vf b) { return a > b ? a : b; }
inline float vf_reduce_add(vf a) { return a; }
inline float vf_reduce_max(vf a) { return a; }
inline float exp_scalar(float x) { return std::exp(x); }
inline vf vf_exp(vf x) { return std::exp(x); }
inline float f16_scalar(uint16_t h) { return fp16_to_f32(h); }
inline vf vf_load_f16(const uint16_t* p) { return fp16_to_f32(*p); }
inline vf vf_load_bf16(const uint16_t* p) { return bf16_to_f32(*p); }
inline vf vf_load_i8(const int8_t* p) { return static_cast<float>(*p); }
inline vf vf_load_u4(const uint8_t* p, bool high) { return static_cast<float>(high ? *p >> 4 : *p & 0x0f); }

#include "arch/kernels_generic.inc"

}  // namespace

const cpu_kernels& cpu_kernels_table_scalar() {
    static constexpr cpu_kernels table = kernel_table("scalar", cpu_isa::scalar);
    return table;
}

}  // namespace kiln

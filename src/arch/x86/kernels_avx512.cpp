// AVX-512 kernels (Zen 4/5, Sapphire Rapids and later): the shared kernel bodies
// with 16-float vectors. Compiled with AVX-512 F/BW/VL/DQ/VNNI/BF16 flags; reached
// only through cpu_kernels_for(cpu_isa::avx512) after CPUID has checked them all.
//
// bf16 weights: gemm_bf16 converts them exactly to f32 (a 16-bit shift) and multiplies with FMA,
// like every other type; that is the path for one token, which is bound by memory bandwidth anyway.
// For several tokens ops::matmul takes gemm_bf16_dot (bf16dot_avx512.cpp, vdpbf16ps), which rounds
// the activations to bf16 once per call (normalized error ~1e-6 on a dot product).
#include "arch/x86/x86_intrinsics.h"

#include <cstdint>

#include "arch/cpu_dispatch.h"
#include "arch/x86/qgemm_x86.h"
#include "core/dtype.h"

namespace kiln {

namespace {

constexpr int vl = 16;
// 32 zmm registers: 4 rows x 4 tokens = 16 accumulators + 4 activations + weights and temporaries.
// For one token, 8 rows give 8 independent FMA chains (enough to cover the FMA latency).
constexpr int gemv_rows = 8;
constexpr int gemm_rows = 4;
constexpr int gemm_tokens = 4;

using vf = __m512;

inline vf vf_zero() { return _mm512_setzero_ps(); }
inline vf vf_set1(float a) { return _mm512_set1_ps(a); }
inline vf vf_load(const float* p) { return _mm512_loadu_ps(p); }
inline void vf_store(float* p, vf a) { _mm512_storeu_ps(p, a); }
inline vf vf_add(vf a, vf b) { return _mm512_add_ps(a, b); }
inline vf vf_sub(vf a, vf b) { return _mm512_sub_ps(a, b); }
inline vf vf_mul(vf a, vf b) { return _mm512_mul_ps(a, b); }
inline vf vf_div(vf a, vf b) { return _mm512_div_ps(a, b); }
inline vf vf_fma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
inline vf vf_max(vf a, vf b) { return _mm512_max_ps(a, b); }
inline float vf_reduce_add(vf a) { return _mm512_reduce_add_ps(a); }
inline float vf_reduce_max(vf a) { return _mm512_reduce_max_ps(a); }

// e^x = 2^n * e^r with n = round(x / ln 2), |r| <= ln(2)/2, e^r by its Taylor series to r^7
// (truncation error < 1e-8 relative, below float resolution).
inline vf vf_exp(vf x) {
    const vf lo = _mm512_set1_ps(-87.33654f);  // ln(2^-126): below it the result would be subnormal
    const __mmask16 in_range = _mm512_cmp_ps_mask(x, lo, _CMP_GE_OQ);
    x = _mm512_min_ps(_mm512_max_ps(x, lo), _mm512_set1_ps(88.0f));
    const vf n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                      _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    vf r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);  // ln 2 split in two for exact n * ln2_hi
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    vf p = _mm512_set1_ps(1.0f / 5040.0f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    const __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
    return _mm512_maskz_mul_ps(in_range, p, _mm512_castsi512_ps(e));
}

inline float exp_scalar(float x) { return __builtin_expf(x); }
inline float f16_scalar(uint16_t h) { return _cvtsh_ss(h); }

inline vf vf_load_f16(const uint16_t* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

inline vf vf_load_bf16(const uint16_t* p) {
    const __m512i h = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(h, 16));
}

inline vf vf_load_i8(const int8_t* p) {
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
}

inline vf vf_load_u4(const uint8_t* p, bool high) {
    __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    if (high) b = _mm_srli_epi16(b, 4);
    b = _mm_and_si128(b, _mm_set1_epi8(0x0f));
    return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(b));
}

#include "arch/kernels_generic.inc"

// stream_sum with 64-byte loads into eight accumulators (512 bytes a step), then the generic
// loop for the tail. Non-temporal prefetch 1 KiB ahead: on the 2-core EPYC (256 MiB, alternating
// runs) it read 1-5% faster than prefetcht0 and 2-10% faster than 2 KiB ahead or no prefetch in a
// standalone loop; in kiln bench --membw the three were within run-to-run noise of each other.
// A prefetch past the end of the buffer is harmless: it never faults.
constexpr size_t k_stream_prefetch = 1024;
uint64_t stream_sum_avx512(const void* p, size_t bytes) {
    const char* c = static_cast<const char*>(p);
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    size_t i = 0;
    for (; i + 512 <= bytes; i += 512) {
        if (k_stream_prefetch != 0)
            for (size_t l = 0; l < 512; l += 64) _mm_prefetch(c + i + k_stream_prefetch + l, _MM_HINT_NTA);
        a0 = _mm512_add_epi64(a0, _mm512_loadu_si512(c + i));
        a1 = _mm512_add_epi64(a1, _mm512_loadu_si512(c + i + 64));
        a2 = _mm512_add_epi64(a2, _mm512_loadu_si512(c + i + 128));
        a3 = _mm512_add_epi64(a3, _mm512_loadu_si512(c + i + 192));
        a4 = _mm512_add_epi64(a4, _mm512_loadu_si512(c + i + 256));
        a5 = _mm512_add_epi64(a5, _mm512_loadu_si512(c + i + 320));
        a6 = _mm512_add_epi64(a6, _mm512_loadu_si512(c + i + 384));
        a7 = _mm512_add_epi64(a7, _mm512_loadu_si512(c + i + 448));
    }
    a0 = _mm512_add_epi64(_mm512_add_epi64(_mm512_add_epi64(a0, a1), _mm512_add_epi64(a2, a3)),
                          _mm512_add_epi64(_mm512_add_epi64(a4, a5), _mm512_add_epi64(a6, a7)));
    // Summed as unsigned words: _mm512_reduce_add_epi64 adds signed 64-bit values, and the wrap-around of
    // a sum of arbitrary words is signed overflow (undefined) there.
    alignas(64) uint64_t lanes[8];
    _mm512_store_si512(lanes, a0);
    uint64_t total = 0;
    for (uint64_t v : lanes) total += v;
    return total + stream_sum(c + i, bytes - i);
}

}  // namespace

// The shared bodies, with the VNNI integer kernels of qgemm_avx512.cpp for rows8 weights.
constexpr cpu_kernels table_avx512() {
    cpu_kernels t = kernel_table("avx512", cpu_isa::avx512);
    t.quantize_act = &quantize_act_avx512;
    t.qgemm_q8_0x8 = &qgemm_q8_0x8_avx512;
    t.qgemm_q4_0x8 = &qgemm_q4_0x8_avx512;
    t.qgemm_q4_kx8 = &qgemm_q4_kx8_avx512;
    t.qgemm_q4_1x8 = &qgemm_q4_1x8_avx512;
    t.qgemm_q5_0x8 = &qgemm_q5_0x8_avx512;
    t.qgemm_q5_1x8 = &qgemm_q5_1x8_avx512;
    t.qgemm_q6_kx8 = &qgemm_q6_kx8_avx512;
    t.bf16_dot_native = true;
    t.round_bf16 = &round_bf16_avx512;
    t.gemm_bf16_dot = &gemm_bf16_dot_avx512;
    t.stream_sum = &stream_sum_avx512;
    return t;
}

const cpu_kernels& cpu_kernels_table_avx512() {
    static constexpr cpu_kernels table = table_avx512();
    return table;
}

}  // namespace kiln

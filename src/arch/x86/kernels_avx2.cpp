// AVX2 + FMA + F16C kernels (Haswell / Zen 1 and later): the shared kernel bodies
// with 8-float vectors. Compiled with -mavx2 -mfma -mf16c; reached only through
// cpu_kernels_for(cpu_isa::avx2) after CPUID has checked those features.
#include "arch/x86/x86_intrinsics.h"

#include <cstdint>

#include "arch/cpu_dispatch.h"
#include "arch/x86/qgemm_x86.h"
#include "core/dtype.h"

namespace kiln {

namespace {

constexpr int vl = 8;
// 16 ymm registers. One token: 8 rows = 8 independent FMA chains + the activation + temporaries
// (measured ~15% faster than 4 rows for f16/bf16 weights, whose conversion adds latency).
// Several tokens: 4 rows x 2 tokens = 8 accumulators + 2 activations + 1 weight + temporaries.
constexpr int gemv_rows = 8;
constexpr int gemm_rows = 4;
constexpr int gemm_tokens = 2;

using vf = __m256;

inline vf vf_zero() { return _mm256_setzero_ps(); }
inline vf vf_set1(float a) { return _mm256_set1_ps(a); }
inline vf vf_load(const float* p) { return _mm256_loadu_ps(p); }
inline void vf_store(float* p, vf a) { _mm256_storeu_ps(p, a); }
inline vf vf_add(vf a, vf b) { return _mm256_add_ps(a, b); }
inline vf vf_sub(vf a, vf b) { return _mm256_sub_ps(a, b); }
inline vf vf_mul(vf a, vf b) { return _mm256_mul_ps(a, b); }
inline vf vf_div(vf a, vf b) { return _mm256_div_ps(a, b); }
inline vf vf_fma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
inline vf vf_max(vf a, vf b) { return _mm256_max_ps(a, b); }

inline float vf_reduce_add(vf a) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

inline float vf_reduce_max(vf a) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

// e^x = 2^n * e^r with n = round(x / ln 2), |r| <= ln(2)/2, e^r by its Taylor series to r^7
// (truncation error < 1e-8 relative, below float resolution).
inline vf vf_exp(vf x) {
    const vf lo = _mm256_set1_ps(-87.33654f);  // ln(2^-126): below it the result would be subnormal
    const vf underflow = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
    x = _mm256_min_ps(_mm256_max_ps(x, lo), _mm256_set1_ps(88.0f));
    const vf n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                 _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    vf r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);  // ln 2 split in two for exact n * ln2_hi
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    vf p = _mm256_set1_ps(1.0f / 5040.0f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_andnot_ps(underflow, _mm256_mul_ps(p, _mm256_castsi256_ps(e)));
}

inline float exp_scalar(float x) { return __builtin_expf(x); }
inline float f16_scalar(uint16_t h) { return _cvtsh_ss(h); }

inline vf vf_load_f16(const uint16_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

inline vf vf_load_bf16(const uint16_t* p) {
    const __m256i h = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(h, 16));
}

inline vf vf_load_i8(const int8_t* p) {
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
}

inline vf vf_load_u4(const uint8_t* p, bool high) {
    __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
    if (high) b = _mm_srli_epi16(b, 4);
    b = _mm_and_si128(b, _mm_set1_epi8(0x0f));
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b));
}

#include "arch/kernels_generic.inc"

// stream_sum with 32-byte loads into eight accumulators (256 bytes a step), then the generic
// loop for the tail.
uint64_t stream_sum_avx2(const void* p, size_t bytes) {
    const char* c = static_cast<const char*>(p);
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    size_t i = 0;
    for (; i + 256 <= bytes; i += 256) {
        a0 = _mm256_add_epi64(a0, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c + i)));
        a1 = _mm256_add_epi64(a1, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c + i + 32)));
        a2 = _mm256_add_epi64(a2, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c + i + 64)));
        a3 = _mm256_add_epi64(a3, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c + i + 96)));
        a4 = _mm256_add_epi64(a4, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c + i + 128)));
        a5 = _mm256_add_epi64(a5, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c + i + 160)));
        a6 = _mm256_add_epi64(a6, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c + i + 192)));
        a7 = _mm256_add_epi64(a7, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c + i + 224)));
    }
    a0 = _mm256_add_epi64(_mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3)),
                          _mm256_add_epi64(_mm256_add_epi64(a4, a5), _mm256_add_epi64(a6, a7)));
    const __m128i h = _mm_add_epi64(_mm256_castsi256_si128(a0), _mm256_extracti128_si256(a0, 1));
    const uint64_t s = static_cast<uint64_t>(_mm_cvtsi128_si64(h)) + static_cast<uint64_t>(_mm_extract_epi64(h, 1));
    return s + stream_sum(c + i, bytes - i);
}

}  // namespace

// The shared bodies, with the integer kernels of qgemm_avx2.cpp for rows8 weights.
constexpr cpu_kernels table_avx2() {
    cpu_kernels t = kernel_table("avx2", cpu_isa::avx2);
    t.quantize_act = &quantize_act_avx2;
    t.qgemm_q8_0x8 = &qgemm_q8_0x8_avx2;
    t.qgemm_q4_0x8 = &qgemm_q4_0x8_avx2;
    t.qgemm_q4_kx8 = &qgemm_q4_kx8_avx2;
    t.qgemm_q4_1x8 = &qgemm_q4_1x8_avx2;
    t.qgemm_q5_0x8 = &qgemm_q5_0x8_avx2;
    t.qgemm_q5_1x8 = &qgemm_q5_1x8_avx2;
    t.qgemm_q6_kx8 = &qgemm_q6_kx8_avx2;
    t.stream_sum = &stream_sum_avx2;
    return t;
}

const cpu_kernels& cpu_kernels_table_avx2() {
    static constexpr cpu_kernels table = table_avx2();
    return table;
}

}  // namespace kiln

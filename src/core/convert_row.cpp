#include "core/convert_row.h"

#include <cmath>
#include <cstring>

#include "core/fp16.h"
#include "quant/quantize.h"

namespace kiln {

namespace {

void q8_0_to_f32(const block_q8_0* b, float* dst, int64_t n) {
    for (int64_t i = 0; i < n / qk8_0; ++i) {
        const float d = fp16_to_f32(b[i].d);
        for (int j = 0; j < qk8_0; ++j) dst[i * qk8_0 + j] = d * static_cast<float>(b[i].qs[j]);
    }
}

void q4_0_to_f32(const block_q4_0* b, float* dst, int64_t n) {
    for (int64_t i = 0; i < n / qk4_0; ++i) {
        const float d = fp16_to_f32(b[i].d);
        for (int j = 0; j < qk4_0 / 2; ++j) {
            dst[i * qk4_0 + j] = d * static_cast<float>((b[i].qs[j] & 0x0f) - 8);
            dst[i * qk4_0 + j + qk4_0 / 2] = d * static_cast<float>((b[i].qs[j] >> 4) - 8);
        }
    }
}

// GGUF Q4_1: w = d * q + m (d * q is exact in f32, so fused or not the result is the same).
void q4_1_to_f32(const block_q4_1* b, float* dst, int64_t n) {
    for (int64_t i = 0; i < n / qk4_1; ++i) {
        const float d = fp16_to_f32(b[i].d), m = fp16_to_f32(b[i].m);
        for (int j = 0; j < qk4_1 / 2; ++j) {
            dst[i * qk4_1 + j] = d * static_cast<float>(b[i].qs[j] & 0x0f) + m;
            dst[i * qk4_1 + j + qk4_1 / 2] = d * static_cast<float>(b[i].qs[j] >> 4) + m;
        }
    }
}

// The 5-bit code of element i of a GGUF Q5_0/Q5_1 block: low nibble as in q4_0, 5th bit = bit i of qh.
template <class Block>
int q5_code(const Block& b, int i) {
    const int nib = i < 16 ? b.qs[i] & 0x0f : b.qs[i - 16] >> 4;
    return nib | ((b.qh[i / 8] >> (i % 8)) & 1) << 4;
}

// GGUF Q5_0: w = d * (q - 16).
void q5_0_to_f32(const block_q5_0* b, float* dst, int64_t n) {
    for (int64_t i = 0; i < n / qk5_0; ++i) {
        const float d = fp16_to_f32(b[i].d);
        for (int j = 0; j < qk5_0; ++j) dst[i * qk5_0 + j] = d * static_cast<float>(q5_code(b[i], j) - 16);
    }
}

// GGUF Q5_1: w = d * q + m (d * q is exact in f32).
void q5_1_to_f32(const block_q5_1* b, float* dst, int64_t n) {
    for (int64_t i = 0; i < n / qk5_1; ++i) {
        const float d = fp16_to_f32(b[i].d), m = fp16_to_f32(b[i].m);
        for (int j = 0; j < qk5_1; ++j) dst[i * qk5_1 + j] = d * static_cast<float>(q5_code(b[i], j)) + m;
    }
}

// GGUF Q4_K: w = (d * sc_j) * q - dmin * m_j per sub-block j of 32 (the order of operations is
// the one every kernel level and quant/quantize.cpp use, so all agree exactly).
void q4_k_to_f32(const block_q4_k* b, float* dst, int64_t n) {
    for (int64_t i = 0; i < n / qk_k; ++i) {
        const float d = fp16_to_f32(b[i].d), dmin = fp16_to_f32(b[i].dmin);
        const uint8_t* s = b[i].scales;
        for (int j = 0; j < 8; ++j) {
            const int sc = j < 4 ? s[j] & 63 : (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4);
            const int m = j < 4 ? s[j + 4] & 63 : (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
            const float a = d * static_cast<float>(sc), c = dmin * static_cast<float>(m);
            const uint8_t* qs = b[i].qs + (j / 2) * 32;
            for (int l = 0; l < 32; ++l) {
                const int q = j % 2 == 0 ? qs[l] & 15 : qs[l] >> 4;
                dst[i * qk_k + j * 32 + l] = a * static_cast<float>(q) - c;
            }
        }
    }
}

// GGUF Q6_K: w = (d * sc) * (q - 32) per sub-block of 16 (d * sc is exact in f32; the order is the
// one every kernel level and quant/quantize.cpp use).
void q6_k_to_f32(const block_q6_k* b, float* dst, int64_t n) {
    for (int64_t i = 0; i < n / qk_k; ++i) {
        const float d = fp16_to_f32(b[i].d);
        for (int e = 0; e < qk_k; ++e) {
            const int h = e / 128, quarter = (e % 128) / 32, l = e % 32;
            const int lo = b[i].ql[64 * h + 32 * (quarter % 2) + l] >> (quarter >= 2 ? 4 : 0) & 15;
            const int hi = b[i].qh[32 * h + l] >> (2 * quarter) & 3;
            dst[i * qk_k + e] = d * static_cast<float>(b[i].scales[e / 16]) * static_cast<float>((lo | hi << 4) - 32);
        }
    }
}

void f32_to_q8_0(const float* src, block_q8_0* b, int64_t n) {
    for (int64_t i = 0; i < n / qk8_0; ++i) {
        const float* x = src + i * qk8_0;
        float amax = 0.0f;
        for (int j = 0; j < qk8_0; ++j) amax = std::fmax(amax, std::fabs(x[j]));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = fp16_from_f32(d);
        for (int j = 0; j < qk8_0; ++j) b[i].qs[j] = static_cast<int8_t>(std::lround(x[j] * id));
    }
}

// Symmetric 4-bit: the element of largest magnitude maps to -8 so the full
// [-8, 7] range is used (the sign of the scale carries the direction).
void f32_to_q4_0(const float* src, block_q4_0* b, int64_t n) {
    for (int64_t i = 0; i < n / qk4_0; ++i) {
        const float* x = src + i * qk4_0;
        float amax = 0.0f, vmax = 0.0f;
        for (int j = 0; j < qk4_0; ++j) {
            if (std::fabs(x[j]) > amax) { amax = std::fabs(x[j]); vmax = x[j]; }
        }
        const float d = vmax / -8.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = fp16_from_f32(d);
        for (int j = 0; j < qk4_0 / 2; ++j) {
            auto q = [&](float v) {
                long r = std::lround(v * id) + 8;
                return static_cast<uint8_t>(r < 0 ? 0 : (r > 15 ? 15 : r));
            };
            b[i].qs[j] = static_cast<uint8_t>(q(x[j]) | (q(x[j + qk4_0 / 2]) << 4));
        }
    }
}

}  // namespace

void row_to_f32(dtype t, const void* src, float* dst, int64_t n) {
    switch (t) {
        case dtype::f32: std::memcpy(dst, src, static_cast<size_t>(n) * 4); return;
        case dtype::f16: {
            const auto* s = static_cast<const uint16_t*>(src);
            for (int64_t i = 0; i < n; ++i) dst[i] = fp16_to_f32(s[i]);
            return;
        }
        case dtype::bf16: {
            const auto* s = static_cast<const uint16_t*>(src);
            for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(s[i]);
            return;
        }
        case dtype::q8_0: q8_0_to_f32(static_cast<const block_q8_0*>(src), dst, n); return;
        case dtype::q4_0: q4_0_to_f32(static_cast<const block_q4_0*>(src), dst, n); return;
        case dtype::q4_1: q4_1_to_f32(static_cast<const block_q4_1*>(src), dst, n); return;
        case dtype::q5_0: q5_0_to_f32(static_cast<const block_q5_0*>(src), dst, n); return;
        case dtype::q5_1: q5_1_to_f32(static_cast<const block_q5_1*>(src), dst, n); return;
        case dtype::q4_k: q4_k_to_f32(static_cast<const block_q4_k*>(src), dst, n); return;
        case dtype::q6_k: q6_k_to_f32(static_cast<const block_q6_k*>(src), dst, n); return;
    }
}

void row_from_f32(dtype t, const float* src, void* dst, int64_t n) {
    switch (t) {
        case dtype::f32: std::memcpy(dst, src, static_cast<size_t>(n) * 4); return;
        case dtype::f16: {
            auto* d = static_cast<uint16_t*>(dst);
            for (int64_t i = 0; i < n; ++i) d[i] = fp16_from_f32(src[i]);
            return;
        }
        case dtype::bf16: {
            auto* d = static_cast<uint16_t*>(dst);
            for (int64_t i = 0; i < n; ++i) d[i] = bf16_from_f32(src[i]);
            return;
        }
        case dtype::q8_0: f32_to_q8_0(src, static_cast<block_q8_0*>(dst), n); return;
        case dtype::q4_0: f32_to_q4_0(src, static_cast<block_q4_0*>(dst), n); return;
        case dtype::q4_1: quantize_rows(dtype::q4_1, src, 1, n, dst, nullptr); return;
        case dtype::q5_0: quantize_rows(dtype::q5_0, src, 1, n, dst, nullptr); return;
        case dtype::q5_1: quantize_rows(dtype::q5_1, src, 1, n, dst, nullptr); return;
        case dtype::q4_k: quantize_rows(dtype::q4_k, src, 1, n, dst, nullptr); return;
        case dtype::q6_k: quantize_rows(dtype::q6_k, src, 1, n, dst, nullptr); return;
    }
}

}  // namespace kiln

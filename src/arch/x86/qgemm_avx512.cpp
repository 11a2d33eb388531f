// AVX-512 VNNI integer kernels of the rows8 layout (docs/KERNELS.md).
//
// Every token count, decode included, runs the pair tiles: chunk c (4 bytes) of the 16 rows of a
// rows8 pair (group g in dword lanes 0-7, group g + 1 in lanes 8-15) is one vector, so the
// activation operand of vpdpbusd is the token's chunk c broadcast to every lane, straight from
// memory ({1to16}); every lane is a distinct (row, token) output, so there is no horizontal sum and
// the per-block f32 step (one conversion, d_w x d_x, one FMA) is paid once per 16 outputs. The
// pair's blocks alternate in memory (core/dtype.h), so a tile reads one sequential stream.
// vpdpbusd multiplies unsigned weight codes by signed activation bytes; the weight bias (codes are
// q + 128 for q8_0, q + 8 for q4_0) comes off as bias * sum(x), where each block's sums start.
// Per block: int32 dot products are exact, then the f32 step, in one order for every token count,
// so a token gets the same bits alone as in a batch (tests/test_qkernels.cpp).
#include <cstdint>

#include "arch/x86/pair_tiles_avx512.h"
#include "arch/x86/qgemm_x86.h"
#include "core/dtype.h"

namespace kiln {

namespace {

// 8 fp16 scales as 16 floats, the 8 repeated in both halves.
inline __m512 scales16(const uint16_t* d) {
    return _mm512_cvtph_ps(_mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(d))));
}

struct q8_0x8 {
    using block = block_q8_0x8;
    static constexpr int elems = qk8_0;
    static constexpr int bias = 128;
    static constexpr bool k_quant = false;
};

struct q4_0x8 {
    using block = block_q4_0x8;
    static constexpr int elems = qk4_0;
    static constexpr int bias = 8;
    static constexpr bool k_quant = false;
};

// ---- q4_k ----

// Scales of one q4_kx8 super-block: dsc[j] = d * sc_j for the 8 rows (repeated in both halves);
// dmn[p] = dmin * m for sub-blocks 2p (low half) and 2p + 1 (high half). The pair tiles combine
// one half of each of the two groups' tables.
struct q4k_scales {
    alignas(64) float dsc[8][16];
    alignas(64) float dmn[4][16];
};

template <int Q>
inline void q4k_scales_pair(__m512i s6, __m512i m6, __m512 d16, __m512 dm16, q4k_scales& out) {
    const __m512 d = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32(s6, Q))), d16);
    _mm512_store_ps(out.dsc[2 * Q], _mm512_shuffle_f32x4(d, d, 0x44));
    _mm512_store_ps(out.dsc[2 * Q + 1], _mm512_shuffle_f32x4(d, d, 0xee));
    const __m512 m = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32(m6, Q)));
    _mm512_store_ps(out.dmn[Q], _mm512_mul_ps(m, dm16));
}

// Entries e = j * 8 + r: bytes 0..63 hold the low 4 bits of sc (low nibble) and m (high nibble);
// byte 64 + (e % 32) holds the top 2 bits of each, in its low nibble for e < 32, high for e >= 32.
inline void q4k_scales_decode(const block_q4_kx8& b, q4k_scales& out) {
    const __m512i lo = _mm512_loadu_si512(b.scales);
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.scales + 64));
    const __m512i hi = _mm512_inserti64x4(_mm512_castsi256_si512(h), _mm256_srli_epi16(h, 4), 1);
    const __m512i m0f = _mm512_set1_epi8(0x0f), m03 = _mm512_set1_epi8(0x03);
    const __m512i s6 = _mm512_or_si512(_mm512_and_si512(lo, m0f), _mm512_slli_epi16(_mm512_and_si512(hi, m03), 4));
    const __m512i m6 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(lo, 4), m0f),
                                       _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(hi, 2), m03), 4));
    const __m512 d16 = scales16(b.d), dm16 = scales16(b.dmin);
    q4k_scales_pair<0>(s6, m6, d16, dm16, out);
    q4k_scales_pair<1>(s6, m6, d16, dm16, out);
    q4k_scales_pair<2>(s6, m6, d16, dm16, out);
    q4k_scales_pair<3>(s6, m6, d16, dm16, out);
}

// ---- the pair tiles (pair_tiles_avx512.h) ----
//
// The 8 weight vectors of a block pair are built once (two 32-byte loads and an insert per chunk)
// and serve up to 16 tokens whose accumulators stay in registers.

constexpr int k_chains_many = 2;

// Weight vectors of chunks 0..7 of a block pair.
inline void pair_load(const block_q8_0x8& a, const block_q8_0x8& b, __m512i* w) {
    for (int c = 0; c < 8; ++c) w[c] = pair_chunk(a.qs + 32 * c, b.qs + 32 * c);
}
inline void pair_load(const block_q4_0x8& a, const block_q4_0x8& b, __m512i* w) {
    const __m512i m = _mm512_set1_epi8(0x0f);
    for (int c = 0; c < 4; ++c) {
        const __m512i v = pair_chunk(a.qs + 32 * c, b.qs + 32 * c);
        w[c] = _mm512_and_si512(v, m);
        w[c + 4] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m);
    }
}

template <int S>
inline __m512i sum_chains(const __m512i* s) {
    if constexpr (S == 1) {
        return s[0];
    } else if constexpr (S == 2) {
        return _mm512_add_epi32(s[0], s[1]);
    } else {
        return _mm512_add_epi32(_mm512_add_epi32(s[0], s[1]), _mm512_add_epi32(s[2], s[3]));
    }
}

// Chains of vpdpbusd per token and block: enough independent chains in flight for few tokens.
template <int T>
constexpr int pair_chains() {
    return T >= 8 ? k_chains_many : T >= 4 ? 2 : 4;
}

// Groups g (w0) and g + 1 (w1; the same as w0 when g is the lone last group, whose copy is not
// stored) against T tokens; block b of each at [b * stride] (core/dtype.h, rows8_group_first).
template <class Q, int T>
void tile_pair(const typename Q::block* w0, const typename Q::block* w1, int64_t stride, int64_t nb,
               const block_q8_act* act, int64_t n_act, float* y, int64_t y_stride, int64_t rows_left) {
    constexpr int S = pair_chains<T>();
    __m512 acc[T];
    for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
        pair_prefetch(w0 + b * stride, stride);
        __m512i wv[8];
        const auto& b0 = w0[b * stride];
        const auto& b1 = w1[b * stride];
        pair_load(b0, b1, wv);
        const __m512 dw = pair_f16(b0.d, b1.d);
        for (int t = 0; t < T; ++t) {
            const block_q8_act& a = act[t * n_act + b];
            // S independent chains: vpdpbusd's latency, not its throughput, bounds one long chain
            __m512i s[S];
            s[0] = _mm512_set1_epi32(-Q::bias * a.sum);
            for (int i = 1; i < S; ++i) s[i] = _mm512_setzero_si512();
            for (int c = 0; c < 8; ++c) s[c % S] = pair_dpbusd_bcast(s[c % S], wv[c], a.qs + 4 * c);
            const __m512i sum = sum_chains<S>(s);
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), _mm512_mul_ps(dw, _mm512_set1_ps(a.d)), acc[t]);
        }
    }
    for (int t = 0; t < T; ++t) pair_store(y + t * y_stride, acc[t], rows_left);
}

// One sub-block (2p + High) of a super-block pair against T tokens: 8 weight vectors of one nibble.
template <int T, int S, bool High>
inline void q4k_pair_sub(const block_q4_kx8& b0, const block_q4_kx8& b1, const q4k_scales& s0, const q4k_scales& s1,
                         int p, const block_q8_act* a, const float* ds, int64_t n_act, __m512* acc) {
    const __m512i m0f = _mm512_set1_epi8(0x0f);
    const int j = 2 * p + (High ? 1 : 0);
    const __m512 dsc = _mm512_shuffle_f32x4(_mm512_load_ps(s0.dsc[j]), _mm512_load_ps(s1.dsc[j]), 0x44);
    const __m512 dmn = _mm512_shuffle_f32x4(_mm512_load_ps(s0.dmn[p]), _mm512_load_ps(s1.dmn[p]), High ? 0xee : 0x44);
    __m512i wv[8];
    for (int c = 0; c < 8; ++c) {
        const __m512i v = pair_chunk(b0.qs + p * 256 + 32 * c, b1.qs + p * 256 + 32 * c);
        wv[c] = _mm512_and_si512(High ? _mm512_srli_epi16(v, 4) : v, m0f);
    }
    for (int t = 0; t < T; ++t) {
        const block_q8_act& x = a[t * n_act];
        __m512i s[S];
        for (int i = 0; i < S; ++i) s[i] = _mm512_setzero_si512();
        for (int c = 0; c < 8; ++c) s[c % S] = pair_dpbusd_bcast(s[c % S], wv[c], x.qs + 4 * c);
        const __m512 r = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum_chains<S>(s)), _mm512_mul_ps(dsc, _mm512_set1_ps(x.d)), acc[t]);
        acc[t] = _mm512_fnmadd_ps(dmn, _mm512_set1_ps(ds[t * n_act]), r);
    }
}

// q4_k: per sub-block j the 8 weight vectors are the low (j even) or high (j odd) nibbles of the
// 256 bytes of pair p = j / 2; the scales of both groups are regrouped into 16-lane vectors once
// per super-block.
template <int T>
void tile_pair_q4k(const block_q4_kx8* w0, const block_q4_kx8* w1, int64_t stride, int64_t nb, const block_q8_act* act,
                   const float* ds, int64_t n_act, float* y, int64_t y_stride, int64_t rows_left) {
    constexpr int S = pair_chains<T>();
    __m512 acc[T];
    for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
    const __m512i m0f = _mm512_set1_epi8(0x0f);
    q4k_scales s0, s1;
    for (int64_t b = 0; b < nb; ++b) {
        pair_prefetch(w0 + b * stride, stride);
        const block_q4_kx8& b0 = w0[b * stride];
        const block_q4_kx8& b1 = w1[b * stride];
        q4k_scales_decode(b0, s0);
        q4k_scales_decode(b1, s1);
        if constexpr (T <= 4) {
            // Few tokens: both nibbles of a pair's 256 bytes per group at once (16 weight vectors),
            // so each byte is loaded and unpacked once and the two sub-blocks give two chains.
            for (int p = 0; p < 4; ++p) {
                const __m512 dsc0 = _mm512_shuffle_f32x4(_mm512_load_ps(s0.dsc[2 * p]), _mm512_load_ps(s1.dsc[2 * p]), 0x44);
                const __m512 dsc1 =
                    _mm512_shuffle_f32x4(_mm512_load_ps(s0.dsc[2 * p + 1]), _mm512_load_ps(s1.dsc[2 * p + 1]), 0x44);
                const __m512 m0 = _mm512_load_ps(s0.dmn[p]), m1 = _mm512_load_ps(s1.dmn[p]);
                const __m512 dmn0 = _mm512_shuffle_f32x4(m0, m1, 0x44), dmn1 = _mm512_shuffle_f32x4(m0, m1, 0xee);
                __m512i wl[8], wh[8];
                for (int c = 0; c < 8; ++c) {
                    const __m512i v = pair_chunk(b0.qs + p * 256 + 32 * c, b1.qs + p * 256 + 32 * c);
                    wl[c] = _mm512_and_si512(v, m0f);
                    wh[c] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m0f);
                }
                for (int t = 0; t < T; ++t) {
                    const block_q8_act& a0 = act[t * n_act + b * 8 + 2 * p];
                    const block_q8_act& a1 = act[t * n_act + b * 8 + 2 * p + 1];
                    __m512i s[4] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(),
                                    _mm512_setzero_si512()};
                    for (int c = 0; c < 8; ++c) {
                        s[c % 2] = pair_dpbusd_bcast(s[c % 2], wl[c], a0.qs + 4 * c);
                        s[2 + c % 2] = pair_dpbusd_bcast(s[2 + c % 2], wh[c], a1.qs + 4 * c);
                    }
                    // the order of q4k_pair_sub: scale, then min, per sub-block
                    __m512 r = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(s[0], s[1])),
                                               _mm512_mul_ps(dsc0, _mm512_set1_ps(a0.d)), acc[t]);
                    r = _mm512_fnmadd_ps(dmn0, _mm512_set1_ps(ds[t * n_act + b * 8 + 2 * p]), r);
                    r = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(s[2], s[3])), _mm512_mul_ps(dsc1, _mm512_set1_ps(a1.d)), r);
                    acc[t] = _mm512_fnmadd_ps(dmn1, _mm512_set1_ps(ds[t * n_act + b * 8 + 2 * p + 1]), r);
                }
            }
            continue;
        }
        for (int p = 0; p < 4; ++p) {
            q4k_pair_sub<T, S, false>(b0, b1, s0, s1, p, act + b * 8 + 2 * p, ds + b * 8 + 2 * p, n_act, acc);
            q4k_pair_sub<T, S, true>(b0, b1, s0, s1, p, act + b * 8 + 2 * p + 1, ds + b * 8 + 2 * p + 1, n_act, acc);
        }
    }
    for (int t = 0; t < T; ++t) pair_store(y + t * y_stride, acc[t], rows_left);
}

struct q4_kx8_tag {
    using block = block_q4_kx8;
    static constexpr int elems = qk_k;
    static constexpr bool k_quant = true;
};

// Every token count runs the pair tiles, decode included: for one token they measured faster than
// a tile of the 2 groups with 64-byte loads of chunk pairs and permuted activations (stories110M
// q4_0 b1 +8-12 %, TinyLlama q4_0 +5-20 %, q8_0 the same; 2 threads, alternated), and q4_k's own
// one-token tile took 3x their time.
template <class Q>
void qgemm(const void* wv, int64_t n_rows, int64_t k, const block_q8_act* act, int64_t n_tokens, float* y,
           int64_t y_stride) {
    using block = typename Q::block;
    const int64_t nb = k / Q::elems, n_act = k / qk8_act;
    // q4_k's min correction needs d * sum(x) of every activation block in every row pair
    const float* ds = Q::k_quant ? act_scaled_sums(act, n_tokens * n_act) : nullptr;
    pair_tiles_run(static_cast<const block*>(wv), n_rows, nb, n_tokens,
                   [&](auto tokens, const block* w0, const block* w1, int64_t stride, int64_t t, int64_t g) {
                       constexpr int T = decltype(tokens)::value;
                       float* yt = y + t * y_stride + g * 8;
                       if constexpr (Q::k_quant) {
                           tile_pair_q4k<T>(w0, w1, stride, nb, act + t * n_act, ds + t * n_act, n_act, yt, y_stride,
                                            n_rows - g * 8);
                       } else {
                           tile_pair<Q, T>(w0, w1, stride, nb, act + t * n_act, n_act, yt, y_stride, n_rows - g * 8);
                       }
                   });
}

}  // namespace

// Same arithmetic as quantize_act_ref (arch/qkernels_ref.inc), so every level sees the same int8
// activations: max |x| per block, one IEEE division for 1/d, products rounded to nearest even.
void quantize_act_avx512(const float* x, int64_t k, block_q8_act* out) {
    const __m512 sign = _mm512_set1_ps(-0.0f);
    for (int64_t b = 0; b < k / qk8_act; ++b) {
        const __m512 v0 = _mm512_loadu_ps(x + b * 32), v1 = _mm512_loadu_ps(x + b * 32 + 16);
        const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_andnot_ps(sign, v0), _mm512_andnot_ps(sign, v1)));
        block_q8_act& o = out[b];
        if (!(amax >= 1e-30f)) {
            o.d = 0.0f;
            o.sum = 0;
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(o.qs), _mm256_setzero_si256());
            continue;
        }
        const float d = amax / 127.0f;
        const __m512 id = _mm512_set1_ps(1.0f / d);
        const __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, id)), q1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, id));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(o.qs), _mm512_cvtsepi32_epi8(q0));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(o.qs + 16), _mm512_cvtsepi32_epi8(q1));
        o.d = d;
        o.sum = _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
    }
}

void qgemm_q8_0x8_avx512(const void* w, int64_t n_rows, int64_t k, const block_q8_act* act, int64_t n_tokens, float* y,
                         int64_t y_stride) {
    qgemm<q8_0x8>(w, n_rows, k, act, n_tokens, y, y_stride);
}

void qgemm_q4_0x8_avx512(const void* w, int64_t n_rows, int64_t k, const block_q8_act* act, int64_t n_tokens, float* y,
                         int64_t y_stride) {
    qgemm<q4_0x8>(w, n_rows, k, act, n_tokens, y, y_stride);
}

void qgemm_q4_kx8_avx512(const void* w, int64_t n_rows, int64_t k, const block_q8_act* act, int64_t n_tokens, float* y,
                         int64_t y_stride) {
    qgemm<q4_kx8_tag>(w, n_rows, k, act, n_tokens, y, y_stride);
}

}  // namespace kiln

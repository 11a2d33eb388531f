// Packing of plain quantized rows into the rows8 layout and back. The byte-level specification is
// core/dtype.h (block_q8_0x8, block_q4_0x8, block_q4_1x8, block_q5_0x8, block_q5_1x8, block_q4_kx8, block_q6_kx8); this file is its
// executable form, and
// the round trip plain -> rows8 -> plain is exact (tests/test_qkernels.cpp).
#include "quant/pack.h"

#include <cstring>

#include "core/error.h"
#include "core/tensor.h"

namespace kiln {

namespace {

constexpr int g8 = static_cast<int>(rows8_group);

// GGUF Q4_K packs 8 six-bit scales and 8 six-bit mins into 12 bytes: sub-blocks 0..3 in the low
// six bits of bytes 0..3 (scales) and 4..7 (mins); sub-blocks 4..7 split into a low nibble in
// bytes 8..11 and their top two bits in the top bits of bytes 0..7.
void q4k_scales_get(const uint8_t* s, int j, int& sc, int& m) {
    if (j < 4) {
        sc = s[j] & 63;
        m = s[j + 4] & 63;
    } else {
        sc = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4);
        m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

void q4k_scales_set(const int* sc, const int* m, uint8_t* s) {
    for (int j = 0; j < 4; ++j) {
        s[j] = static_cast<uint8_t>((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
        s[j + 4] = static_cast<uint8_t>((m[j] & 63) | ((m[j + 4] >> 4) << 6));
        s[j + 8] = static_cast<uint8_t>((sc[j + 4] & 15) | ((m[j + 4] & 15) << 4));
    }
}

// Entry e = j * 8 + r of the rows8 q4_k scale array (see block_q4_kx8).
void q4kx8_scale_set(uint8_t* scales, int e, int sc, int m) {
    scales[e] = static_cast<uint8_t>((sc & 15) | ((m & 15) << 4));
    const int shift = e < 32 ? 0 : 4;
    uint8_t& hi = scales[64 + (e & 31)];
    hi = static_cast<uint8_t>((hi & ~(15 << shift)) | ((((sc >> 4) & 3) | (((m >> 4) & 3) << 2)) << shift));
}

void q4kx8_scale_get(const uint8_t* scales, int e, int& sc, int& m) {
    const int hi = scales[64 + (e & 31)] >> (e < 32 ? 0 : 4);
    sc = (scales[e] & 15) | ((hi & 3) << 4);
    m = (scales[e] >> 4) | (((hi >> 2) & 3) << 4);
}

// One group block (8 rows' block b) from plain blocks; row r's block is rows[r], nullptr for a
// padding row (zero weights, zero scale).
void pack_q8_0(const block_q8_0* const* rows, block_q8_0x8& out) {
    for (int r = 0; r < g8; ++r) {
        out.d[r] = rows[r] ? rows[r]->d : 0;
        for (int c = 0; c < qk8_0 / 4; ++c) {
            for (int j = 0; j < 4; ++j) {
                const int q = rows[r] ? rows[r]->qs[4 * c + j] : 0;
                out.qs[(c * g8 + r) * 4 + j] = static_cast<uint8_t>(q + 128);
            }
        }
    }
}

void unpack_q8_0(const block_q8_0x8& in, int r, block_q8_0& out) {
    out.d = in.d[r];
    for (int c = 0; c < qk8_0 / 4; ++c) {
        for (int j = 0; j < 4; ++j) out.qs[4 * c + j] = static_cast<int8_t>(in.qs[(c * g8 + r) * 4 + j] - 128);
    }
}

// Byte 4c + j of a plain q4_0 block already holds elements 4c + j (low) and 16 + 4c + j (high):
// the rows8 chunk c of a row is that block's bytes [4c, 4c + 4).
void pack_q4_0(const block_q4_0* const* rows, block_q4_0x8& out) {
    for (int r = 0; r < g8; ++r) {
        out.d[r] = rows[r] ? rows[r]->d : 0;
        for (int c = 0; c < qk4_0 / 8; ++c) {
            for (int j = 0; j < 4; ++j) out.qs[(c * g8 + r) * 4 + j] = rows[r] ? rows[r]->qs[4 * c + j] : 0x88;
        }
    }
}

void unpack_q4_0(const block_q4_0x8& in, int r, block_q4_0& out) {
    out.d = in.d[r];
    for (int c = 0; c < qk4_0 / 8; ++c) {
        for (int j = 0; j < 4; ++j) out.qs[4 * c + j] = in.qs[(c * g8 + r) * 4 + j];
    }
}

// q4_1: the q4_0 arrangement of the nibbles, plus each row's minimum. A padding row is all zero
// (zero scale and minimum, so its weights are 0 whatever the codes).
void pack_q4_1(const block_q4_1* const* rows, block_q4_1x8& out) {
    for (int r = 0; r < g8; ++r) {
        out.d[r] = rows[r] ? rows[r]->d : 0;
        out.m[r] = rows[r] ? rows[r]->m : 0;
        for (int c = 0; c < qk4_1 / 8; ++c) {
            for (int j = 0; j < 4; ++j) out.qs[(c * g8 + r) * 4 + j] = rows[r] ? rows[r]->qs[4 * c + j] : 0;
        }
    }
}

void unpack_q4_1(const block_q4_1x8& in, int r, block_q4_1& out) {
    out.d = in.d[r];
    out.m = in.m[r];
    for (int c = 0; c < qk4_1 / 8; ++c) {
        for (int j = 0; j < 4; ++j) out.qs[4 * c + j] = in.qs[(c * g8 + r) * 4 + j];
    }
}

// q5_0 / q5_1: the q4_0 arrangement of the low nibbles; the 5th bits (bit i of the plain qh is
// element i's) move to the rows8 plane: qh[r * 4 + j] bit c is element 4c + j's, bit 4 + c element
// 16 + 4c + j's. A padding row is all zero.
template <class Plain, class Packed>
void pack_q5(const Plain* const* rows, Packed& out) {
    constexpr bool has_min = sizeof(Plain) == sizeof(block_q5_1);
    for (int r = 0; r < g8; ++r) {
        const Plain* b = rows[r];
        out.d[r] = b ? b->d : 0;
        if constexpr (has_min) out.m[r] = b ? b->m : 0;
        for (int c = 0; c < 4; ++c) {
            for (int j = 0; j < 4; ++j) out.qs[(c * g8 + r) * 4 + j] = b ? b->qs[4 * c + j] : 0;
        }
        for (int j = 0; j < 4; ++j) {
            int plane = 0;
            for (int c = 0; b && c < 4; ++c) {
                const int lo = 4 * c + j, hi = 16 + 4 * c + j;
                plane |= ((b->qh[lo / 8] >> (lo % 8)) & 1) << c;
                plane |= ((b->qh[hi / 8] >> (hi % 8)) & 1) << (4 + c);
            }
            out.qh[r * 4 + j] = static_cast<uint8_t>(plane);
        }
    }
}

template <class Packed, class Plain>
void unpack_q5(const Packed& in, int r, Plain& out) {
    constexpr bool has_min = sizeof(Plain) == sizeof(block_q5_1);
    out.d = in.d[r];
    if constexpr (has_min) out.m = in.m[r];
    for (int c = 0; c < 4; ++c) {
        for (int j = 0; j < 4; ++j) out.qs[4 * c + j] = in.qs[(c * g8 + r) * 4 + j];
    }
    for (int i = 0; i < 4; ++i) out.qh[i] = 0;
    for (int j = 0; j < 4; ++j) {
        const int plane = in.qh[r * 4 + j];
        for (int c = 0; c < 4; ++c) {
            const int lo = 4 * c + j, hi = 16 + 4 * c + j;
            out.qh[lo / 8] = static_cast<uint8_t>(out.qh[lo / 8] | ((plane >> c) & 1) << (lo % 8));
            out.qh[hi / 8] = static_cast<uint8_t>(out.qh[hi / 8] | ((plane >> (4 + c)) & 1) << (hi % 8));
        }
    }
}

// Byte 32p + 4c + j of a plain q4_k block holds elements 64p + 4c + j (low) and 64p + 32 + 4c + j
// (high): it is byte j of chunk c of sub-block pair p.
void pack_q4_k(const block_q4_k* const* rows, block_q4_kx8& out) {
    std::memset(out.scales, 0, sizeof(out.scales));
    for (int r = 0; r < g8; ++r) {
        const block_q4_k* b = rows[r];
        out.d[r] = b ? b->d : 0;
        out.dmin[r] = b ? b->dmin : 0;
        for (int j = 0; j < 8; ++j) {
            int sc = 0, m = 0;
            if (b) q4k_scales_get(b->scales, j, sc, m);
            q4kx8_scale_set(out.scales, j * g8 + r, sc, m);
        }
        for (int p = 0; p < 4; ++p) {
            for (int c = 0; c < 8; ++c) {
                for (int j = 0; j < 4; ++j) out.qs[p * 256 + (c * g8 + r) * 4 + j] = b ? b->qs[32 * p + 4 * c + j] : 0;
            }
        }
    }
}

void unpack_q4_k(const block_q4_kx8& in, int r, block_q4_k& out) {
    out.d = in.d[r];
    out.dmin = in.dmin[r];
    int sc[8], m[8];
    for (int j = 0; j < 8; ++j) q4kx8_scale_get(in.scales, j * g8 + r, sc[j], m[j]);
    q4k_scales_set(sc, m, out.scales);
    for (int p = 0; p < 4; ++p) {
        for (int c = 0; c < 8; ++c) {
            for (int j = 0; j < 4; ++j) out.qs[32 * p + 4 * c + j] = in.qs[p * 256 + (c * g8 + r) * 4 + j];
        }
    }
}

// q6_k: element e's 6-bit code u, in the plain block (GGUF's split of ql / qh) and in the rows8
// planes (core/dtype.h, block_q6_kx8). Both encoders only OR bits in: the block starts zeroed.
int q6k_code_get(const block_q6_k& b, int e) {
    const int h = e / 128, i = (e % 128) / 32, l = e % 32;
    const int lo = (b.ql[64 * h + 32 * (i % 2) + l] >> (i >= 2 ? 4 : 0)) & 15;
    return lo | ((b.qh[32 * h + l] >> (2 * i)) & 3) << 4;
}

void q6k_code_set(block_q6_k& b, int e, int u) {
    const int h = e / 128, i = (e % 128) / 32, l = e % 32;
    b.ql[64 * h + 32 * (i % 2) + l] |= static_cast<uint8_t>((u & 15) << (i >= 2 ? 4 : 0));
    b.qh[32 * h + l] |= static_cast<uint8_t>((u >> 4) << (2 * i));
}

// Byte offsets of element e of row r within the ql and qh planes of a block_q6_kx8.
int q6kx8_ql_at(int e, int r) { return (e / 64) * 256 + ((e % 32) / 4 * g8 + r) * 4 + e % 4; }
int q6kx8_qh_at(int e, int r) { return (e / 128) * 256 + ((e % 32) / 4 * g8 + r) * 4 + e % 4; }

void pack_q6_k(const block_q6_k* const* rows, block_q6_kx8& out) {
    std::memset(&out, 0, sizeof(out));
    for (int r = 0; r < g8; ++r) {
        const block_q6_k* b = rows[r];
        if (!b) continue;  // a padding row: zero scale, scales and codes
        out.d[r] = b->d;
        for (int j = 0; j < qk_k / 16; ++j) out.scales[j * g8 + r] = b->scales[j];
        for (int e = 0; e < qk_k; ++e) {
            const int u = q6k_code_get(*b, e);
            out.ql[q6kx8_ql_at(e, r)] |= static_cast<uint8_t>((u & 15) << ((e / 32) % 2 * 4));
            out.qh[q6kx8_qh_at(e, r)] |= static_cast<uint8_t>((u >> 4) << ((e % 128) / 32 * 2));
        }
    }
}

void unpack_q6_k(const block_q6_kx8& in, int r, block_q6_k& out) {
    std::memset(&out, 0, sizeof(out));
    out.d = in.d[r];
    for (int j = 0; j < qk_k / 16; ++j) out.scales[j] = in.scales[j * g8 + r];
    for (int e = 0; e < qk_k; ++e) {
        const int lo = (in.ql[q6kx8_ql_at(e, r)] >> ((e / 32) % 2 * 4)) & 15;
        const int hi = (in.qh[q6kx8_qh_at(e, r)] >> ((e % 128) / 32 * 2)) & 3;
        q6k_code_set(out, e, lo | hi << 4);
    }
}

template <class Plain, class Packed, class Fn>
void pack_all(const void* plain, int64_t n_rows, int64_t k, void* out, int block, Fn pack_one) {
    const int64_t nb = k / block;
    const auto* src = static_cast<const Plain*>(plain);
    auto* dst = static_cast<Packed*>(out);
    const int64_t n_groups = (n_rows + g8 - 1) / g8;
    for (int64_t g = 0; g < n_groups; ++g) {
        for (int64_t b = 0; b < nb; ++b) {
            const Plain* rows[g8];
            for (int r = 0; r < g8; ++r) {
                const int64_t row = g * g8 + r;
                rows[r] = row < n_rows ? src + row * nb + b : nullptr;
            }
            pack_one(rows, dst[rows8_group_first(g, nb, n_groups) + b * rows8_group_stride(g, n_groups)]);
        }
    }
}

void check_args(const char* what, dtype t, int64_t n_rows, int64_t k) {
    if (!quant_has_rows8(t)) fail("{}: type {} has no rows8 packing", what, dtype_name(t));
    const int block = dtype_info(t).block_size;
    if (n_rows < 0 || k <= 0 || k % block != 0) {
        fail("{}: a [{}, {}] {} matrix cannot be packed (row length must be a positive multiple of {})", what,
             n_rows, k, dtype_name(t), block);
    }
}

}  // namespace

bool quant_has_rows8(dtype t) {
    return t == dtype::q8_0 || t == dtype::q4_0 || t == dtype::q4_1 || t == dtype::q5_0 || t == dtype::q5_1 ||
           t == dtype::q4_k || t == dtype::q6_k;
}

size_t quant_rows8_bytes(dtype t, int64_t n_rows, int64_t k) {
    return tensor_layout_bytes(t, tensor_layout::rows8, k, n_rows);
}

void quant_pack_rows8(dtype t, const void* plain, int64_t n_rows, int64_t k, void* out) {
    check_args("pack", t, n_rows, k);
    switch (t) {
        case dtype::q8_0: pack_all<block_q8_0, block_q8_0x8>(plain, n_rows, k, out, qk8_0, pack_q8_0); return;
        case dtype::q4_0: pack_all<block_q4_0, block_q4_0x8>(plain, n_rows, k, out, qk4_0, pack_q4_0); return;
        case dtype::q4_1: pack_all<block_q4_1, block_q4_1x8>(plain, n_rows, k, out, qk4_1, pack_q4_1); return;
        case dtype::q5_0:
            pack_all<block_q5_0, block_q5_0x8>(plain, n_rows, k, out, qk5_0, pack_q5<block_q5_0, block_q5_0x8>);
            return;
        case dtype::q5_1:
            pack_all<block_q5_1, block_q5_1x8>(plain, n_rows, k, out, qk5_1, pack_q5<block_q5_1, block_q5_1x8>);
            return;
        case dtype::q4_k: pack_all<block_q4_k, block_q4_kx8>(plain, n_rows, k, out, qk_k, pack_q4_k); return;
        case dtype::q6_k: pack_all<block_q6_k, block_q6_kx8>(plain, n_rows, k, out, qk_k, pack_q6_k); return;
        default: break;
    }
    fail("pack: type {} has no rows8 packing", dtype_name(t));
}

void quant_unpack_row_rows8(dtype t, const void* packed, int64_t n_rows, int64_t k, int64_t r, void* plain_row) {
    check_args("unpack", t, n_rows, k);
    if (r < 0 || r >= n_rows) fail("unpack: row {} outside a rows8 matrix of {} rows", r, n_rows);
    const int64_t g = r / g8, n_groups = rows8_groups(n_rows), stride = rows8_group_stride(g, n_groups);
    const int rr = static_cast<int>(r % g8);
    switch (t) {
        case dtype::q8_0: {
            const int64_t nb = k / qk8_0;
            const auto* in = static_cast<const block_q8_0x8*>(packed) + rows8_group_first(g, nb, n_groups);
            for (int64_t b = 0; b < nb; ++b) unpack_q8_0(in[b * stride], rr, static_cast<block_q8_0*>(plain_row)[b]);
            return;
        }
        case dtype::q4_0: {
            const int64_t nb = k / qk4_0;
            const auto* in = static_cast<const block_q4_0x8*>(packed) + rows8_group_first(g, nb, n_groups);
            for (int64_t b = 0; b < nb; ++b) unpack_q4_0(in[b * stride], rr, static_cast<block_q4_0*>(plain_row)[b]);
            return;
        }
        case dtype::q4_1: {
            const int64_t nb = k / qk4_1;
            const auto* in = static_cast<const block_q4_1x8*>(packed) + rows8_group_first(g, nb, n_groups);
            for (int64_t b = 0; b < nb; ++b) unpack_q4_1(in[b * stride], rr, static_cast<block_q4_1*>(plain_row)[b]);
            return;
        }
        case dtype::q5_0: {
            const int64_t nb = k / qk5_0;
            const auto* in = static_cast<const block_q5_0x8*>(packed) + rows8_group_first(g, nb, n_groups);
            for (int64_t b = 0; b < nb; ++b) unpack_q5(in[b * stride], rr, static_cast<block_q5_0*>(plain_row)[b]);
            return;
        }
        case dtype::q5_1: {
            const int64_t nb = k / qk5_1;
            const auto* in = static_cast<const block_q5_1x8*>(packed) + rows8_group_first(g, nb, n_groups);
            for (int64_t b = 0; b < nb; ++b) unpack_q5(in[b * stride], rr, static_cast<block_q5_1*>(plain_row)[b]);
            return;
        }
        case dtype::q4_k: {
            const int64_t nb = k / qk_k;
            const auto* in = static_cast<const block_q4_kx8*>(packed) + rows8_group_first(g, nb, n_groups);
            for (int64_t b = 0; b < nb; ++b) unpack_q4_k(in[b * stride], rr, static_cast<block_q4_k*>(plain_row)[b]);
            return;
        }
        case dtype::q6_k: {
            const int64_t nb = k / qk_k;
            const auto* in = static_cast<const block_q6_kx8*>(packed) + rows8_group_first(g, nb, n_groups);
            for (int64_t b = 0; b < nb; ++b) unpack_q6_k(in[b * stride], rr, static_cast<block_q6_k*>(plain_row)[b]);
            return;
        }
        default: break;
    }
    fail("unpack: type {} has no rows8 packing", dtype_name(t));
}

}  // namespace kiln

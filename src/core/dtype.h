// Element and block types of kiln tensors.
//
// The numeric values are part of the KILN file format (docs/FORMAT.md): never
// renumber, only append. Quantized block types share the GGUF block layouts
// where a GGUF counterpart exists, so GGUF Q8_0/Q4_0/Q4_1/Q5_0/Q5_1/Q4_K/Q6_K import is lossless.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace kiln {

enum class dtype : uint32_t {
    f32 = 0,
    f16 = 1,
    bf16 = 2,
    q4_1 = 3,   // block_q4_1 (GGUF Q4_1)
    q5_0 = 6,   // block_q5_0 (GGUF Q5_0)
    q5_1 = 7,   // block_q5_1 (GGUF Q5_1)
    q8_0 = 8,   // block_q8_0
    q4_0 = 9,   // block_q4_0
    q4_k = 12,  // block_q4_k (GGUF Q4_K)
    q6_k = 14,  // block_q6_k (GGUF Q6_K)
};

// 32 int8 weights and one fp16 scale: 8.5 bits per weight.
constexpr int qk8_0 = 32;
struct block_q8_0 {
    uint16_t d;          // fp16 scale
    int8_t qs[qk8_0];    // w = d * q
};
static_assert(sizeof(block_q8_0) == 34, "block_q8_0 must be 34 bytes");

// 32 int4 weights and one fp16 scale: 4.5 bits per weight. Nibble i of byte j
// holds weight j (low) or j+16 (high), as in GGUF.
constexpr int qk4_0 = 32;
struct block_q4_0 {
    uint16_t d;              // fp16 scale
    uint8_t qs[qk4_0 / 2];   // w = d * (q - 8)
};
static_assert(sizeof(block_q4_0) == 18, "block_q4_0 must be 18 bytes");

// 32 uint4 weights with an fp16 scale and an fp16 minimum (GGUF Q4_1): 5.0 bits per weight. The
// nibbles are laid out as in q4_0 (byte j: weight j low, j+16 high). The q4_k recipe's fallback for
// rows that are a multiple of 32 but not of 256 (docs/QUANTIZE.md).
constexpr int qk4_1 = 32;
struct block_q4_1 {
    uint16_t d;              // fp16 scale
    uint16_t m;              // fp16 minimum
    uint8_t qs[qk4_1 / 2];   // w = d * q + m, q in 0..15
};
static_assert(sizeof(block_q4_1) == 20, "block_q4_1 must be 20 bytes");

// 32 5-bit weights and one fp16 scale (GGUF Q5_0): 5.5 bits per weight. The low 4 bits of the
// codes are laid out as in q4_0 (byte j: weight j low, j+16 high); the 5th bit of weight i is bit i
// of qh read as a little-endian uint32. llama.cpp's Q4_K_M files use it for matrices whose rows are
// not a multiple of 256.
constexpr int qk5_0 = 32;
struct block_q5_0 {
    uint16_t d;              // fp16 scale
    uint8_t qh[4];           // 5th bits, weight i at bit i % 8 of byte i / 8
    uint8_t qs[qk5_0 / 2];   // w = d * (q - 16), q in 0..31
};
static_assert(sizeof(block_q5_0) == 22, "block_q5_0 must be 22 bytes");

// 32 5-bit weights with an fp16 scale and an fp16 minimum (GGUF Q5_1): 6.0 bits per weight. qh and
// qs as in block_q5_0.
constexpr int qk5_1 = 32;
struct block_q5_1 {
    uint16_t d;              // fp16 scale
    uint16_t m;              // fp16 minimum
    uint8_t qh[4];           // 5th bits, weight i at bit i % 8 of byte i / 8
    uint8_t qs[qk5_1 / 2];   // w = d * q + m, q in 0..31
};
static_assert(sizeof(block_q5_1) == 24, "block_q5_1 must be 24 bytes");

// The k-quant 4-bit type (GGUF Q4_K): a super-block of 256 weights in 8 sub-blocks of 32, each
// sub-block with a 6-bit scale and a 6-bit min, quantized against the fp16 super-block d and dmin:
// w = d * sc[j] * q - dmin * m[j], q in 0..15. 144 bytes per 256 weights: 4.5 bits per weight.
constexpr int qk_k = 256;
struct block_q4_k {
    uint16_t d;           // fp16 super-block scale of the sub-block scales
    uint16_t dmin;        // fp16 super-block scale of the sub-block mins
    uint8_t scales[12];   // 8 scales and 8 mins, 6 bits each, packed as GGUF packs them
    uint8_t qs[qk_k / 2]; // 4 bytes x 32: bytes 32i..32i+31 hold sub-block 2i (low nibbles) and 2i+1 (high)
};
static_assert(sizeof(block_q4_k) == 144, "block_q4_k must be 144 bytes");

// The k-quant 6-bit type (GGUF Q6_K): a super-block of 256 weights in 16 sub-blocks of 16, each with
// an int8 scale, against one fp16 d: w = d * sc[e / 16] * (q - 32), q in 0..63. 210 bytes per 256
// weights: 6.5625 bits per weight. Element e = 128h + 32i + l (h 0..1, i 0..3, l 0..31) keeps its low
// 4 bits in ql[64h + 32(i % 2) + l] (low nibble for i < 2, high for i >= 2) and its top 2 bits in
// bits 2i..2i+1 of qh[32h + l]. The field order is GGUF's.
struct block_q6_k {
    uint8_t ql[qk_k / 2];   // low 4 bits of the codes
    uint8_t qh[qk_k / 4];   // high 2 bits of the codes
    int8_t scales[qk_k / 16];
    uint16_t d;             // fp16 super-block scale
};
static_assert(sizeof(block_q6_k) == 210, "block_q6_k must be 210 bytes");

// ---- the row-interleaved ("rows8") layouts: the kernels' native packing, stored in the file ----
//
// Eight consecutive rows are packed together, block by block along the row, so that one 64-byte
// load feeds 8 output rows at once (x86 vpdpbusd) and one 16-byte load feeds 4 (ARM sdot). Quants
// are stored as unsigned codes u = q + bias (bias 128 for q8_0, 8 for q4_0): vpdpbusd multiplies
// unsigned by signed bytes, so x86 uses them as they are, and NEON's sdot needs one eor/sub per
// 16 bytes to make them signed. Within a block group the quants go in 4-byte chunks: chunk c of
// row r sits at byte (c * 8 + r) * 4. A tensor whose row count is not a multiple of 8 is padded
// with zero rows (scale 0) up to the next multiple of 8; rows are grouped from row 0.

// Where the blocks of rows8 group g are (in blocks from the matrix's start; nb blocks per row,
// n_groups groups). Groups go in pairs (0, 1), (2, 3), ...: a pair's blocks alternate, block b of
// group 2p then block b of group 2p + 1, so a kernel that works on both groups of a pair reads one
// sequential stream (two streams at once measured 20-30 % slower for several tokens,
// docs/KERNELS.md). A last group without a partner keeps its blocks together.
inline int64_t rows8_group_first(int64_t g, int64_t nb, int64_t n_groups) {
    return (g & ~int64_t(1)) * nb + ((g | 1) < n_groups ? (g & 1) : 0);
}
// Blocks from one block of group g to its next block: 2 in a pair, 1 for a lone last group.
inline int64_t rows8_group_stride(int64_t g, int64_t n_groups) { return (g | 1) < n_groups ? 2 : 1; }
inline int64_t rows8_groups(int64_t n_rows) { return (n_rows + 7) / 8; }

// q8_0, rows8: 8 rows x 32 weights. qs[(c*8 + r)*4 + j] = q[r][4c + j] + 128 (c = 0..7).
// 272 bytes per 256 weights: 8.5 bits per weight.
struct block_q8_0x8 {
    uint16_t d[8];        // fp16 scale of each row's block
    uint8_t qs[8 * qk8_0];
};
static_assert(sizeof(block_q8_0x8) == 272, "block_q8_0x8 must be 272 bytes");

// q4_0, rows8: 8 rows x 32 weights. Chunk c (0..3) of row r, byte j: low nibble q[r][4c + j],
// high nibble q[r][16 + 4c + j]; q in 0..15 is already the unsigned code (w = d * (q - 8)).
// 144 bytes per 256 weights: 4.5 bits per weight.
struct block_q4_0x8 {
    uint16_t d[8];
    uint8_t qs[8 * qk4_0 / 2];
};
static_assert(sizeof(block_q4_0x8) == 144, "block_q4_0x8 must be 144 bytes");

// q4_1, rows8: 8 rows x 32 weights, qs exactly as in block_q4_0x8 (so the kernels share its nibble
// loading); the code is q itself, w = d * q + m. 160 bytes per 256 weights: 5.0 bits per weight.
struct block_q4_1x8 {
    uint16_t d[8];        // fp16 scale of each row's block
    uint16_t m[8];        // fp16 minimum of each row's block
    uint8_t qs[8 * qk4_1 / 2];
};
static_assert(sizeof(block_q4_1x8) == 160, "block_q4_1x8 must be 160 bytes");

// q5_0, rows8: 8 rows x 32 weights. qs holds the low 4 bits of the codes exactly as block_q4_0x8
// (so the kernels share its nibble loading); qh is a bit plane in the same 4-byte chunks:
// qh[r * 4 + j] bit c (0..3) is the 5th bit of q[r][4c + j] (the low nibble of qs chunk c's byte
// r * 4 + j), bit 4 + c the 5th bit of q[r][16 + 4c + j] (its high nibble). So the code of the low
// nibbles of chunk c is (qs & 15) | ((qh << (4 - c)) & 16) and of the high nibbles
// (qs >> 4 & 15) | ((qh >> c) & 16): a 16-bit shift and an and per vector, the stray bits a 16-bit
// shift carries over from the next byte fall outside bit 4. The code q (0..31) is the unsigned code
// (w = d * (q - 16)). 176 bytes per 256 weights: 5.5 bits per weight.
struct block_q5_0x8 {
    uint16_t d[8];        // fp16 scale of each row's block
    uint8_t qh[8 * 4];    // the 5th bits (above)
    uint8_t qs[8 * qk5_0 / 2];
};
static_assert(sizeof(block_q5_0x8) == 176, "block_q5_0x8 must be 176 bytes");

// q5_1, rows8: qh and qs as in block_q5_0x8, each row's fp16 minimum as in block_q4_1x8; the code
// is q itself, w = d * q + m. 192 bytes per 256 weights: 6.0 bits per weight.
struct block_q5_1x8 {
    uint16_t d[8];        // fp16 scale of each row's block
    uint16_t m[8];        // fp16 minimum of each row's block
    uint8_t qh[8 * 4];
    uint8_t qs[8 * qk5_1 / 2];
};
static_assert(sizeof(block_q5_1x8) == 192, "block_q5_1x8 must be 192 bytes");

// q4_k, rows8: 8 rows x 256 weights (one GGUF Q4_K super-block per row). 1152 bytes per 2048
// weights: 4.5 bits per weight, the same as plain q4_k.
//   d[r], dmin[r]: row r's fp16 super-block scales.
//   scales: the 6-bit scale sc and min m of sub-block j (0..7) of row r, entry e = j * 8 + r:
//     scales[e] = (sc & 15) | (m & 15) << 4 for e < 64; byte 64 + i (i < 32) holds the high two
//     bits of entry i (sc in bits 0-1, m in bits 2-3) and of entry i + 32 (sc in bits 4-5, m in 6-7).
//   qs: sub-block pair p (0..3) takes bytes [p * 256, p * 256 + 256): chunk c (0..7) of row r at
//     byte p * 256 + (c * 8 + r) * 4, byte j of the chunk: low nibble q[r][64p + 4c + j] (sub-block
//     2p), high nibble q[r][64p + 32 + 4c + j] (sub-block 2p + 1). As in q4_0x8 the nibble is the
//     unsigned code; w = d * sc * q - dmin * m.
struct block_q4_kx8 {
    uint16_t d[8];
    uint16_t dmin[8];
    uint8_t scales[96];
    uint8_t qs[8 * qk_k / 2];
};
static_assert(sizeof(block_q4_kx8) == 1152, "block_q4_kx8 must be 1152 bytes");

// q6_k, rows8: 8 rows x 256 weights (one GGUF Q6_K super-block per row). The 6-bit code u = q + 32
// (0..63) of each weight is split into a 4-bit plane and a 2-bit plane, both in the 4-byte chunks
// of the other rows8 types, so a kernel rebuilds 64 codes with a shift, two ands and an or, and
// vpdpbusd / sdot take them 4 bytes per row per lane. 1680 bytes per 2048 weights: 6.5625 bits per
// weight, the same as plain q6_k.
//   d[r]: row r's fp16 super-block scale.
//   scales[j * 8 + r]: the int8 scale of sub-block j (0..15, weights 16j..16j+15) of row r, so the
//     16 bytes of activation block b (0..7) are sub-block 2b's scales of rows 0..7, then 2b + 1's.
//   ql: activation block pair p (0..3) takes bytes [p * 256, p * 256 + 256): chunk c (0..7) of row r
//     at byte p * 256 + (c * 8 + r) * 4, byte j of the chunk: low nibble u[r][64p + 4c + j] & 15,
//     high nibble u[r][64p + 32 + 4c + j] & 15 (the q4_kx8 arrangement).
//   qh: half h (0..1) takes bytes [h * 256, h * 256 + 256): chunk c of row r at byte
//     h * 256 + (c * 8 + r) * 4, byte j of the chunk: bits 2i..2i+1 hold u[r][128h + 32i + 4c + j] >> 4
//     (i = 0..3, activation block 4h + i).
//   w = d * scales[j * 8 + r] * (u - 32).
struct block_q6_kx8 {
    uint16_t d[8];
    int8_t scales[8 * qk_k / 16];
    uint8_t ql[8 * qk_k / 2];
    uint8_t qh[8 * qk_k / 4];
};
static_assert(sizeof(block_q6_kx8) == 1680, "block_q6_kx8 must be 1680 bytes");

// ---- activations, quantized on the fly for the integer kernels (never stored in files) ----
//
// One block of 32 activations: x ~= d * qs[j], qs in -127..127 (symmetric, so -qs never
// overflows), sum = the sum of qs, which turns a dot product with unsigned weight codes
// u = q + bias back into the signed one: dot(u - bias, qs) = dot(u, qs) - bias * sum.
// 40 bytes per 32 values: 10 bits per activation.
constexpr int qk8_act = 32;
struct block_q8_act {
    float d;
    int32_t sum;
    int8_t qs[qk8_act];
};
static_assert(sizeof(block_q8_act) == 40, "block_q8_act must be 40 bytes");

struct dtype_traits {
    const char* name;
    int block_size;        // elements per block (1 for plain floats)
    size_t block_bytes;    // bytes per block
    bool quantized;
};

// Traits of a known type; nullptr for a value not in the enum (e.g. read from a file).
const dtype_traits* dtype_info(uint32_t raw);
inline const dtype_traits& dtype_info(dtype t) { return *dtype_info(static_cast<uint32_t>(t)); }

inline const char* dtype_name(dtype t) { return dtype_info(t).name; }
bool dtype_from_name(std::string_view name, dtype& out);

// Bytes taken by n elements (n must be a multiple of the block size).
inline size_t dtype_row_bytes(dtype t, int64_t n) {
    const auto& tr = dtype_info(t);
    return static_cast<size_t>(n / tr.block_size) * tr.block_bytes;
}

}  // namespace kiln

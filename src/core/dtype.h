// Element and block types of kiln tensors.
//
// The numeric values are part of the KILN file format (docs/FORMAT.md): never
// renumber, only append. Quantized block types share the GGUF block layouts
// where a GGUF counterpart exists, so GGUF Q8_0/Q4_0 import is lossless.
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
    q8_0 = 8,   // block_q8_0
    q4_0 = 9,   // block_q4_0
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

// A tensor is a typed, named view of memory that kiln does not own: the memory
// lives in a mapped file or an arena. Dimensions follow the GGML convention:
// ne[0] is the innermost (contiguous) dimension, so a weight matrix W [out, in]
// has ne[0] = in, ne[1] = out and each of its rows is one output's weights.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/dtype.h"

namespace kiln {

constexpr int max_dims = 4;

// How a tensor's rows are arranged in memory. Plain is row after row. The
// row-interleaved layouts (kernel-native packing) are reserved for the
// quantized kernels; the value is stored per tensor in the file.
enum class tensor_layout : uint32_t {
    plain = 0,
    // 1: the first rows8 arrangement (groups one after another), no longer read (docs/FORMAT.md)
    rows8 = 2,  // 8-row interleaved blocks (core/dtype.h: the block_*x8 types), groups paired
};

// Rows per interleaved group of the rows8 layout.
constexpr int64_t rows8_group = 8;

// rows8_group_first / rows8_group_stride / rows8_groups (where a group's blocks are): core/dtype.h.

// "plain" | "rows8"; nullptr for a value not in the enum.
const char* tensor_layout_name(uint32_t raw);

// Bytes of a 2-D [rows, k] matrix of type t in layout l: rows8 pads the row count up to a multiple
// of 8 (a group block holds 8 rows' blocks, so a group is exactly 8 plain rows' bytes).
size_t tensor_layout_bytes(dtype t, tensor_layout l, int64_t k, int64_t rows);

struct tensor {
    std::string name;
    dtype type = dtype::f32;
    tensor_layout layout = tensor_layout::plain;
    int n_dims = 0;
    int64_t ne[max_dims] = {1, 1, 1, 1};  // elements per dimension
    size_t nb[max_dims] = {0, 0, 0, 0};   // bytes between consecutive indices per dimension
    void* data = nullptr;

    int64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
    int64_t n_rows() const { return ne[1] * ne[2] * ne[3]; }
    size_t row_bytes() const { return dtype_row_bytes(type, ne[0]); }
    // Rows8 tensors are 2-D; their row count is padded to a multiple of 8 in memory.
    size_t n_bytes() const { return tensor_layout_bytes(type, layout, ne[0], n_rows()); }
    // Bytes of one 8-row group of a rows8 tensor.
    size_t group_bytes() const { return row_bytes() * static_cast<size_t>(rows8_group); }
    bool is_contiguous() const;

    template <typename T> T* data_as() const { return static_cast<T*>(data); }
    // Pointer to row i1 of the 2-D slice (i2, i3). Plain layout only: rows8 rows are interleaved
    // (quant_unpack_row_rows8 in quant/pack.h extracts one).
    void* row(int64_t i1, int64_t i2 = 0, int64_t i3 = 0) const {
        return static_cast<char*>(data) + i1 * nb[1] + i2 * nb[2] + i3 * nb[3];
    }
};

// A contiguous tensor over `data` with the given shape (n_dims = count of ne given).
// A rows8 tensor must be 2-D with a type that has a rows8 packing (not checked here; the reader does).
tensor tensor_make(std::string name, dtype type, int n_dims, const int64_t* ne, void* data,
                   tensor_layout layout = tensor_layout::plain);
tensor tensor_make_2d(std::string name, dtype type, int64_t ne0, int64_t ne1, void* data);

// A view of rows [first, first + count) of a 2-D tensor (no copy). For rows8 the view must be whole
// group pairs: first a multiple of 16, and count too unless the view runs to the last row.
tensor tensor_view_rows(const tensor& t, int64_t first, int64_t count);

// "[64, 512]" style shape string for messages.
std::string tensor_shape_str(const tensor& t);

// Bump allocator with 64-byte aligned blocks. Memory is released with the arena.
class arena {
public:
    explicit arena(size_t capacity = 0);
    ~arena();
    arena(const arena&) = delete;
    arena& operator=(const arena&) = delete;

    void* alloc(size_t bytes);
    tensor new_tensor(std::string name, dtype type, int n_dims, const int64_t* ne);
    size_t used() const { return used_; }
    size_t capacity() const { return capacity_; }
    void reset() { used_ = 0; }

private:
    char* base_ = nullptr;
    size_t capacity_ = 0;
    size_t used_ = 0;
};

}  // namespace kiln

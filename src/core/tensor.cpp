#include "core/tensor.h"

#include <cstdlib>
#include <new>
#include <stdexcept>

#include <fmt/format.h>

namespace kiln {

namespace {

const dtype_traits k_traits_f32 = {"f32", 1, 4, false};
const dtype_traits k_traits_f16 = {"f16", 1, 2, false};
const dtype_traits k_traits_bf16 = {"bf16", 1, 2, false};
const dtype_traits k_traits_q8_0 = {"q8_0", qk8_0, sizeof(block_q8_0), true};
const dtype_traits k_traits_q4_0 = {"q4_0", qk4_0, sizeof(block_q4_0), true};
const dtype_traits k_traits_q4_1 = {"q4_1", qk4_1, sizeof(block_q4_1), true};
const dtype_traits k_traits_q5_0 = {"q5_0", qk5_0, sizeof(block_q5_0), true};
const dtype_traits k_traits_q5_1 = {"q5_1", qk5_1, sizeof(block_q5_1), true};
const dtype_traits k_traits_q4_k = {"q4_k", qk_k, sizeof(block_q4_k), true};
const dtype_traits k_traits_q6_k = {"q6_k", qk_k, sizeof(block_q6_k), true};

}  // namespace

const dtype_traits* dtype_info(uint32_t raw) {
    switch (static_cast<dtype>(raw)) {
        case dtype::f32: return &k_traits_f32;
        case dtype::f16: return &k_traits_f16;
        case dtype::bf16: return &k_traits_bf16;
        case dtype::q8_0: return &k_traits_q8_0;
        case dtype::q4_0: return &k_traits_q4_0;
        case dtype::q4_1: return &k_traits_q4_1;
        case dtype::q5_0: return &k_traits_q5_0;
        case dtype::q5_1: return &k_traits_q5_1;
        case dtype::q4_k: return &k_traits_q4_k;
        case dtype::q6_k: return &k_traits_q6_k;
    }
    return nullptr;
}

bool dtype_from_name(std::string_view name, dtype& out) {
    for (dtype t : {dtype::f32, dtype::f16, dtype::bf16, dtype::q8_0, dtype::q4_0, dtype::q4_1, dtype::q5_0,
                    dtype::q5_1, dtype::q4_k, dtype::q6_k}) {
        if (name == dtype_name(t)) { out = t; return true; }
    }
    return false;
}

const char* tensor_layout_name(uint32_t raw) {
    switch (static_cast<tensor_layout>(raw)) {
        case tensor_layout::plain: return "plain";
        case tensor_layout::rows8: return "rows8";
    }
    return nullptr;
}

size_t tensor_layout_bytes(dtype t, tensor_layout l, int64_t k, int64_t rows) {
    if (l == tensor_layout::rows8) rows = (rows + rows8_group - 1) / rows8_group * rows8_group;
    return dtype_row_bytes(t, k) * static_cast<size_t>(rows);
}

bool tensor::is_contiguous() const {
    if (nb[0] != dtype_info(type).block_bytes) return false;
    if (nb[1] != row_bytes()) return false;
    if (nb[2] != nb[1] * static_cast<size_t>(ne[1])) return false;
    return nb[3] == nb[2] * static_cast<size_t>(ne[2]);
}

tensor tensor_make(std::string name, dtype type, int n_dims, const int64_t* ne, void* data, tensor_layout layout) {
    tensor t;
    t.name = std::move(name);
    t.type = type;
    t.layout = layout;
    t.n_dims = n_dims;
    for (int i = 0; i < n_dims; ++i) t.ne[i] = ne[i];
    const auto& tr = dtype_info(type);
    t.nb[0] = tr.block_bytes;  // per element, or per block for block types
    t.nb[1] = dtype_row_bytes(type, t.ne[0]);
    t.nb[2] = t.nb[1] * static_cast<size_t>(t.ne[1]);
    t.nb[3] = t.nb[2] * static_cast<size_t>(t.ne[2]);
    t.data = data;
    return t;
}

tensor tensor_make_2d(std::string name, dtype type, int64_t ne0, int64_t ne1, void* data) {
    const int64_t ne[2] = {ne0, ne1};
    return tensor_make(std::move(name), type, 2, ne, data);
}

tensor tensor_view_rows(const tensor& t, int64_t first, int64_t count) {
    if (first < 0 || count < 0 || first + count > t.ne[1]) {
        throw std::out_of_range(fmt::format("view of rows [{}, {}) outside tensor {} with {} rows",
                                            first, first + count, t.name, t.ne[1]));
    }
    if (t.layout == tensor_layout::rows8 &&
        (first % (2 * rows8_group) != 0 || (first + count != t.ne[1] && count % (2 * rows8_group) != 0))) {
        throw std::out_of_range(fmt::format(
            "view of rows [{}, {}) of rows8 tensor {} must cover whole pairs of 8-row groups (multiples of 16 rows)",
            first, first + count, t.name));
    }
    tensor v = t;
    v.ne[1] = count;
    v.data = static_cast<char*>(t.data) + first * t.nb[1];
    return v;
}

std::string tensor_shape_str(const tensor& t) {
    std::string s = "[";
    for (int i = 0; i < t.n_dims; ++i) {
        if (i) s += ", ";
        s += std::to_string(t.ne[i]);
    }
    return s + "]";
}

arena::arena(size_t capacity) : capacity_(capacity) {
    if (capacity_ > 0) {
        base_ = static_cast<char*>(std::aligned_alloc(64, (capacity_ + 63) / 64 * 64));
        if (!base_) throw std::bad_alloc();
    }
}

arena::~arena() { std::free(base_); }

void* arena::alloc(size_t bytes) {
    const size_t aligned = (bytes + 63) / 64 * 64;
    if (used_ + aligned > capacity_) {
        throw std::runtime_error(fmt::format("arena out of memory: {} bytes requested, {} of {} used",
                                             bytes, used_, capacity_));
    }
    void* p = base_ + used_;
    used_ += aligned;
    return p;
}

tensor arena::new_tensor(std::string name, dtype type, int n_dims, const int64_t* ne) {
    tensor t = tensor_make(std::move(name), type, n_dims, ne, nullptr);
    t.data = alloc(t.n_bytes());
    return t;
}

}  // namespace kiln

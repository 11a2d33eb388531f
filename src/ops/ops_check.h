// Argument checks shared by kiln::ref and kiln::ops, so both reject the same
// inputs with the same one-line kiln::error (and never read out of bounds).
#pragma once

#include <cmath>
#include <cstdint>

#include "core/error.h"
#include "core/tensor.h"
#include "ops/ops.h"
#include "quant/pack.h"

namespace kiln::ops_check {

inline void length(const char* op, int64_t n) {
    if (n < 0) fail("{}: negative length {}", op, n);
}

inline void matrix_2d(const char* op, const tensor& t) {
    if (dtype_info(static_cast<uint32_t>(t.type)) == nullptr) {
        fail("{}: tensor {} has unknown type {}", op, t.name, static_cast<uint32_t>(t.type));
    }
    if (t.layout == tensor_layout::rows8) {
        if (!quant_has_rows8(t.type)) fail("{}: tensor {} of type {} cannot have layout rows8", op, t.name, dtype_name(t.type));
    } else if (t.layout != tensor_layout::plain) {
        fail("{}: tensor {} has unknown layout {}", op, t.name, static_cast<uint32_t>(t.layout));
    }
    if (t.ne[2] != 1 || t.ne[3] != 1) fail("{}: tensor {} {} is not 2-D", op, t.name, tensor_shape_str(t));
    if (t.ne[0] <= 0 || t.ne[1] < 0) fail("{}: tensor {} has shape {}", op, t.name, tensor_shape_str(t));
    const int block = dtype_info(t.type).block_size;
    if (t.ne[0] % block != 0) {
        fail("{}: tensor {} row length {} is not a multiple of the {} block size {}", op, t.name, t.ne[0],
             dtype_name(t.type), block);
    }
    if (t.nb[1] < t.row_bytes()) fail("{}: tensor {} rows overlap (stride {} < {} bytes)", op, t.name, t.nb[1], t.row_bytes());
    if (t.data == nullptr && t.ne[1] > 0) fail("{}: tensor {} has no data", op, t.name);
}

inline void get_rows(const tensor& table, const int32_t* ids, int64_t n_ids) {
    matrix_2d("get_rows", table);
    length("get_rows", n_ids);
    for (int64_t i = 0; i < n_ids; ++i) {
        if (ids[i] < 0 || ids[i] >= table.ne[1]) {
            fail("get_rows: id {} at index {} is outside {} with {} rows", ids[i], i, table.name, table.ne[1]);
        }
    }
}

inline void rms_norm(int64_t n_rows, int64_t n) {
    length("rms_norm", n_rows);
    if (n_rows > 0 && n <= 0) fail("rms_norm: row length {} must be positive", n);
}

inline void rope(int64_t n_tokens, int n_heads, int head_dim, const rope_params& p) {
    length("rope", n_tokens);
    if (n_heads < 0 || head_dim <= 0) fail("rope: bad shape, {} heads of {} dimensions", n_heads, head_dim);
    if (p.n_rot <= 0 || p.n_rot > head_dim || p.n_rot % 2 != 0) {
        fail("rope: n_rot {} must be even and in (0, head_dim {}]", p.n_rot, head_dim);
    }
    if (!(p.theta > 0.0f)) fail("rope: theta {} must be positive", p.theta);
    if (p.pairing != rope_pairing::interleaved && p.pairing != rope_pairing::half) {
        fail("rope: unknown pairing {}", static_cast<uint32_t>(p.pairing));
    }
}

inline void softcap(int64_t n, float cap) {
    length("softcap", n);
    if (!(cap > 0.0f) || std::isinf(cap)) fail("softcap: cap {} must be positive and finite", cap);
}

inline void add_bias(int64_t n_rows, int64_t n) {
    length("add_bias", n_rows);
    length("add_bias", n);
}

inline void attention(int64_t n_tokens, const int32_t* pos, int64_t n_kv, const attention_params& p) {
    length("attention", n_tokens);
    if (p.n_head <= 0 || p.n_head_kv <= 0 || p.head_dim <= 0 || p.n_head % p.n_head_kv != 0) {
        fail("attention: bad heads: n_head {}, n_head_kv {} (must divide n_head), head_dim {}", p.n_head,
             p.n_head_kv, p.head_dim);
    }
    if (p.window < 0) fail("attention: sliding window {} must not be negative", p.window);
    if (!(p.softcap >= 0.0f) || std::isinf(p.softcap)) fail("attention: softcap {} must be finite and not negative", p.softcap);
    for (int64_t t = 0; t < n_tokens; ++t) {
        if (pos[t] < 0 || pos[t] >= n_kv) {
            fail("attention: token {} is at position {}, outside the KV cache of {} rows", t, pos[t], n_kv);
        }
    }
}

}  // namespace kiln::ops_check

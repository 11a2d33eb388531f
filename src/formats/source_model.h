// The in-memory form every converter produces: metadata in KILN keys plus a
// list of tensors in KILN names, each either pointing at bytes the source keeps
// alive (a mapped GGUF or safetensors file) or able to produce its bytes on
// demand. kiln_write() turns it into a KILN file; nothing else is shared
// between the importers.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/tensor.h"
#include "formats/metadata.h"

namespace kiln {

struct source_tensor {
    std::string name;   // KILN name, e.g. "blk.0.attn_q.weight"
    dtype type = dtype::f32;
    int n_dims = 0;
    int64_t ne[4] = {1, 1, 1, 1};  // ne[0] = row length (innermost)
    // How the bytes are arranged: plain, or rows8 (2-D quantized matrices packed by quant_pack_rows8,
    // rows padded to a multiple of 8); the writer records it per tensor.
    tensor_layout layout = tensor_layout::plain;

    // Exactly one of these provides the bytes (type `type`, in `layout`).
    const void* data = nullptr;
    std::function<void(void* dst)> load;

    int64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
    size_t n_bytes() const { return tensor_layout_bytes(type, layout, ne[0], ne[1] * ne[2] * ne[3]); }
    // Copies the bytes into dst (n_bytes() long).
    void read_into(void* dst) const;
};

struct source_model {
    metadata meta;
    std::vector<source_tensor> tensors;
    // Mappings and buffers that `data` pointers or `load` functions refer to.
    std::vector<std::shared_ptr<void>> keep_alive;

    const source_tensor* find(const std::string& name) const;
};

// Converts every floating-point weight matrix (2-D or more) to `target`
// (f32, f16, bf16); 1-D tensors (norm weights, biases) stay f32. Quantized
// source tensors are dequantized when the target is a float type.
void source_cast(source_model& m, dtype target);

}  // namespace kiln

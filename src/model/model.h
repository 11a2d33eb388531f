// A loaded model: hyper-parameters plus tensors that point into its KILN file.
// Loading binds and shape-checks every tensor the architecture needs, so the
// forward pass never meets a missing or misshapen weight.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "formats/kiln_reader.h"
#include "model/hparams.h"

namespace kiln {

struct layer_weights {
    const tensor* attn_norm = nullptr;
    const tensor* wq = nullptr;
    const tensor* wk = nullptr;
    const tensor* wv = nullptr;
    const tensor* wo = nullptr;
    const tensor* ffn_norm = nullptr;
    const tensor* ffn_gate = nullptr;
    const tensor* ffn_up = nullptr;
    const tensor* ffn_down = nullptr;
    // Optional parts, nullptr when the architecture has none (the graph builder's bind decides):
    const tensor* bq = nullptr;             // attn_q.bias, attn_k.bias, attn_v.bias (Qwen2)
    const tensor* bk = nullptr;
    const tensor* bv = nullptr;
    const tensor* q_norm = nullptr;         // attn_q_norm.weight, attn_k_norm.weight: per-head RMSNorm (Qwen3)
    const tensor* k_norm = nullptr;
    const tensor* attn_post_norm = nullptr; // post_attention_norm.weight (Gemma 2)
    const tensor* ffn_post_norm = nullptr;  // post_ffw_norm.weight (Gemma 2)
};

struct arch_def;

struct model {
    model_hparams hp;
    std::shared_ptr<kiln_file> file;
    const arch_def* arch = nullptr;
    const tensor* tok_embd = nullptr;
    const tensor* output_norm = nullptr;
    const tensor* output = nullptr;  // == tok_embd when the output is tied
    std::vector<layer_weights> layers;
    std::vector<tensor> owned;  // tensors made at load time (none for mapped files; reserved)
};

// Builds a model over an open KILN file: reads hyper-parameters, picks the
// graph builder for model.arch, binds and checks every tensor.
std::shared_ptr<model> model_from_file(std::shared_ptr<kiln_file> file);

// Binding helper shared by graph builders: the tensor `name` with exactly the
// shape ne (n_dims entries), or kiln::error naming the tensor and both shapes.
const tensor* model_bind(const kiln_file& file, const std::string& name, std::initializer_list<int64_t> ne);

}  // namespace kiln

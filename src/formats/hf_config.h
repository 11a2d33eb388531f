// config.json of a Hugging Face model directory, mapped to KILN: which
// architecture it is (model_type / architectures), the tensor names of its
// checkpoint, and its hyper-parameters as KILN metadata keys (model.*, rope.*,
// attn.*; docs/FORMAT.md). Fields kiln does not understand in a way that
// changes the computation (an unknown rope_scaling type, attention biases on
// an architecture without them, another activation) are refused, naming the field.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "formats/metadata.h"

namespace kiln {

// One tensor name of the checkpoint and its KILN name.
struct hf_name_rule {
    const char* hf;
    const char* kiln;
};

enum class hf_window_layers { none, all, even };

// Everything that differs between the architectures kiln imports from Hugging Face.
struct hf_arch_spec {
    const char* model_type;    // config.json "model_type"
    const char* architecture;  // config.json "architectures" entry, used when model_type is absent
    const char* kiln_arch;     // KILN model.arch
    std::vector<hf_name_rule> global_tensors;
    std::vector<hf_name_rule> layer_tensors;  // after "model.layers.N."
    std::vector<const char*> ignored_layer_tensors;
    const char* activation;          // the only hidden_act / hidden_activation accepted
    bool tie_default;                // tie_word_embeddings when config.json omits it
    bool attention_bias_allowed;     // config "attention_bias": true is refused unless the arch has biases
    hf_window_layers sliding;        // which layers use config "sliding_window"
    float norm_offset;               // added to every RMSNorm weight (Gemma's 1 + w)
};

struct hf_config {
    const hf_arch_spec* arch = nullptr;
    int64_t n_vocab = 0, n_embd = 0, n_layer = 0, n_head = 0, n_head_kv = 0, head_dim = 0, n_ff = 0;
    bool tie_word_embeddings = false;
    metadata meta;  // model.*, rope.*, attn.* keys (no tokenizer, no provenance)
};

// Reads config.json (already parsed); kiln::error naming `path` and the field at fault.
hf_config hf_read_config(const nlohmann::json& cfg, const std::string& path);

// KILN shape (ne, innermost first) of a tensor, by its KILN name without the "blk.N." prefix.
std::vector<int64_t> hf_expected_ne(const std::string& kind, const hf_config& c);

// The Llama 3 RoPE frequency divisors (one per rotated pair) for rope_scaling type llama3.
std::vector<float> rope_llama3_factors(double theta, int n_rot, double factor, double low_freq_factor,
                                       double high_freq_factor, double original_ctx);

}  // namespace kiln

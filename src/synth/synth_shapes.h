// Model shapes for `kiln synth`: a table of real architectures' dimensions
// (stories110M, TinyLlama-1.1B, Llama-3.2-1B, Qwen2.5-0.5B, ...) and shapes
// given by explicit dimensions, with the checks that make a shape runnable.
#pragma once

#include <string>
#include <vector>

namespace kiln {

struct synth_shape {
    std::string name;       // "stories110M", or "custom" for explicit dimensions
    std::string arch = "llama";  // model.arch: llama, or qwen2 (llama with Q/K/V biases, half RoPE pairing)
    int n_embd = 0;
    int n_layer = 0;
    int n_head = 0;
    int n_head_kv = 0;
    int head_dim = 0;       // n_embd / n_head
    int n_ff = 0;
    int n_vocab = 0;
    int n_ctx_train = 2048;
    bool tied_output = false;
    double rope_theta = 10000.0;
    double norm_eps = 1e-5;
    bool llama3_rope = false;  // Llama 3.1/3.2 RoPE frequency scaling (factor 32, low 1, high 4, original 8192)
    // The real vocabulary of this shape, as a vocabulary-only GGUF file name under the models
    // mirror's vocab/ directory (e.g. "ggml-vocab-llama-spm.gguf"); "" when none is known.
    std::string vocab_file;
    // Said on stderr when the shape is synthesized (e.g. Qwen2.5 written as a llama shape).
    std::string note;

    // Weight-matrix parameters (embeddings and output included, norms excluded).
    double n_params() const;
};

// The named shapes, in table order.
const std::vector<synth_shape>& synth_shape_table();
// "stories110M, TinyLlama-1.1B, ..." for messages.
std::string synth_shape_names();
// The named shape (case-insensitive); kiln::error listing the known names otherwise.
synth_shape synth_shape_find(const std::string& name);

// Explicit dimensions; head_dim = n_embd / n_head. Checked by synth_shape_check.
synth_shape synth_shape_custom(int n_embd, int n_layer, int n_head, int n_head_kv, int n_ff, int n_vocab);

// kiln::error naming the dimension at fault: values out of range, heads not dividing the
// width, query heads not a multiple of the KV heads, an odd head width (RoPE rotates pairs),
// or widths that are not a multiple of `block` (the block size of the weight type asked for).
void synth_shape_check(const synth_shape& s, int block = 1);

}  // namespace kiln

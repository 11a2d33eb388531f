// `kiln synth`: a random-weight Llama (or Qwen2) model of a given shape, as a source_model
// whose tensors are produced one at a time while the file is written.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "core/dtype.h"
#include "formats/source_model.h"
#include "synth/synth_shapes.h"

namespace kiln {

struct synth_options {
    synth_shape shape;
    dtype type = dtype::f32;  // weight matrices; norm weights stay f32
    uint64_t seed = 1;
    std::string vocab;        // "" automatic, "synthetic", or a GGUF file with a tokenizer
    bool plain_layout = false;  // keep quantized matrices in the plain layout (GGUF output)
    std::function<void(const std::string&)> note;  // quantization recipe fallbacks, one line each
};

// Weights (docs/SYNTH.md): matrices N(0, 0.02^2), the residual output projections (attn_output,
// ffn_down) N(0, (0.02 / sqrt(2 n_layer))^2) as in GPT-2's initialisation, norm weights 1.
// *vocab_desc (when given) receives a one-line description of the tokenizer chosen.
source_model synth_random_model(const synth_options& o, std::string* vocab_desc = nullptr);

// The model.* and rope.* keys of a model of this shape (model.arch = s.arch).
void synth_shape_to_metadata(const synth_shape& s, metadata& m);

}  // namespace kiln

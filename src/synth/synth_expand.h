// `kiln synth --expand`: a function-preserving expansion of a small Llama model
// into a larger shape (docs/SYNTH.md). With noise 0 the large model computes the
// small model's function up to float rounding; noise sets how far it drifts.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "core/dtype.h"
#include "formats/source_model.h"
#include "synth/synth_shapes.h"

namespace kiln {

struct synth_expand_options {
    synth_shape shape;        // target widths, heads, layers; its vocabulary is not used
    dtype type = dtype::f32;  // weight matrices of the output
    double noise = 0.0;       // relative: each matrix gets N(0, (noise * rms of the small matrix)^2)
    uint64_t seed = 1;
    bool plain_layout = false;  // keep quantized matrices in the plain layout (GGUF output)
    std::function<void(const std::string&)> note;  // quantization recipe fallbacks, one line each
};

// small: an imported llama model (any weight type). Throws kiln::error naming the dimension
// that cannot be expanded (the target must be at least as wide in every dimension, keep or
// widen the head width, and have room for the small model's KV groups, see docs/SYNTH.md).
source_model synth_expand(const source_model& small, const std::string& small_name, const synth_expand_options& o);

}  // namespace kiln

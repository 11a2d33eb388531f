// Quantization recipes: which type each tensor of a model gets for `kiln quantize --type` and
// `kiln convert --type`.
//
// The recipe (documented in docs/QUANTIZE.md):
//   - 1-D tensors (norm weights, biases): f32.
//   - The output projection (output.weight, or token_embd.weight when the output is tied to it):
//     q8_0 in every recipe (its error goes straight into the logits), f16 with --keep-output f16.
//   - Every other weight matrix: the recipe's type (q8 -> q8_0, q4 -> q4_0, q4k -> q4_k, q6k -> q6_k,
//     q5_0 -> q5_0, q5_1 -> q5_1).
//   - A matrix whose row length is not a multiple of the type's block falls back: q4_k -> q4_1 (5.0
//     bits per weight) and q6_k -> q8_0 when the row length is a multiple of 32, otherwise f16
//     (announced on stderr).
//   - A tensor that is already quantized keeps its type when that is the type the recipe wants (a
//     lossless copy); quantizing it into another type is refused (it would compound two roundings)
//     unless allow_requantize is set.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "core/dtype.h"
#include "formats/source_model.h"

namespace kiln {

class imatrix;

enum class quant_scheme { q8, q4, q4k, q6k, q5_0, q5_1 };

// "q8", "q4", "q4k", "q6k" (also the type names "q8_0", "q4_0", "q4_k", "q6_k"), "q5_0", "q5_1".
bool quant_scheme_from_name(std::string_view name, quant_scheme& out);
const char* quant_scheme_name(quant_scheme s);

struct quant_recipe_options {
    quant_scheme scheme = quant_scheme::q8;
    bool output_f16 = false;        // --keep-output f16
    bool allow_requantize = false;  // quantize already-quantized tensors into another type
    const imatrix* importance = nullptr;  // per-column weights from --calibrate (may be nullptr)
    std::function<void(const std::string&)> note;  // one line per fallback decision (stderr)
};

struct tensor_choice {
    dtype type = dtype::f32;
    std::string why;  // non-empty when the recipe departs from the scheme's type (a fallback, a kept tensor)
};

// The type tensor t gets. tied_output: the model's output projection is token_embd.weight.
tensor_choice recipe_choose(const quant_recipe_options& o, const source_tensor& t, bool tied_output);

// Replaces every tensor of m by its form under the recipe: quantization happens lazily, when the
// writer asks for the bytes, in parallel over rows (ops threads). Throws kiln::error (naming the
// tensor) for an already-quantized tensor that the recipe would requantize.
void recipe_apply(source_model& m, const quant_recipe_options& o);

// Stores every quantized weight matrix whose type has a rows8 packing in the rows8 layout (a
// lossless repack), so the written file loads zero-copy into the fast kernels.
void recipe_pack(source_model& m);

}  // namespace kiln

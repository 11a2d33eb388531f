// Tensors produced on demand for `kiln synth`: a function gives each row in f32,
// and the tensor is converted to its storage type only when the writer asks for
// its bytes, so a synthesized model is never held in memory as a whole.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "core/dtype.h"
#include "formats/source_model.h"

namespace kiln {

// Counter-based random numbers: every value is a pure function of (stream, index), so tensors
// can be produced in any order and by any number of threads, and a KILN file and a GGUF file
// synthesized with the same seed hold identical weights.
uint64_t synth_stream(uint64_t seed, const std::string& name);
// Approximately standard normal: the sum of four 16-bit uniforms, centred and scaled to unit
// variance (Irwin-Hall; bounded at +-3.46, which weights of a trained model rarely exceed).
float synth_normal(uint64_t stream, uint64_t index);

// Writes row `row` (ne0 values) of the tensor in f32. Called from several threads at once.
using synth_row_fn = std::function<void(int64_t row, float* out)>;

// A tensor [ne0] (n_dims 1) or [ne0, ne1] (n_dims 2) stored as float type t (f32, f16, bf16),
// rows from row_fn. 1-D tensors are always f32.
source_tensor synth_tensor(const std::string& name, int n_dims, int64_t ne0, int64_t ne1, dtype t, synth_row_fn row_fn);

// The weight type step of every synthesized model: float types are produced directly; for a
// quantized type the model is made in f32 and then put through kiln quantize's recipe (quant/
// recipe.h: quantize_rows per tensor, output projection q8_0, fallbacks for short rows) and,
// unless plain_layout (GGUF output), packed into the rows8 layout. note: one line per fallback.
void synth_apply_type(source_model& m, dtype t, bool plain_layout, const std::function<void(const std::string&)>& note);
// The type tensors are generated in before synth_apply_type: t itself, or f32 for a quantized t.
dtype synth_generation_type(dtype t);

}  // namespace kiln

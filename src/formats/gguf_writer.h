// Writes a source_model (KILN keys and tensor names) as a GGUF v3 file, so that
// llama.cpp's tools can run exactly the weights kiln runs (`kiln synth --gguf`).
// Tensors stream one at a time from their load functions; the file is written to
// a temporary name and renamed into place only when complete.
#pragma once

#include <string>

#include "formats/source_model.h"

namespace kiln {

// Supported: architectures llama (RoPE pairing interleaved, as llama.cpp stores llama) and
// qwen2 (pairing half); tensor types f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, q6_k in the plain layout (KILN's
// plain layout is GGUF's block layout); spm tokenizers (written as "llama") and byte-level BPE
// ("gpt2"); rope.freq_factors becomes the tensor rope_freqs.weight, as llama.cpp stores it.
// Anything else is a kiln::error naming the key or tensor.
void gguf_write_file(const source_model& m, const std::string& path);

}  // namespace kiln

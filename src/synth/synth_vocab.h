// The tokenizer of a synthesized model: a real vocabulary when one of the
// right size is available (the Llama 2, Llama 3 or Qwen2 vocabularies of the
// models mirror), else a synthetic sentencepiece vocabulary of the exact size.
#pragma once

#include <string>

#include "formats/metadata.h"

namespace kiln {

// The models mirror: $KILN_MODELS, else ../shared/models from the working directory, else
// shared/models three levels above the running executable; "" when none exists.
std::string synth_models_dir();

// A synthetic sentencepiece vocabulary of n_vocab (>= 259) tokens: <unk>, <s>, </s>, the 256
// byte tokens <0x00>..<0xFF>, then every string over "▁a..z" by increasing length (all
// prefixes present, so merges can reach them), scored so shorter pieces merge first.
void synth_vocab_synthetic(int n_vocab, metadata& out);

// Fills the tokenizer.* keys for a model of n_vocab tokens. vocab_spec: "" (automatic: the
// shape's vocab_file from the mirror when present and of n_vocab tokens, else synthetic),
// "synthetic", or the path of a GGUF file with a tokenizer (its size must be n_vocab).
// Returns a one-line description of the choice ("llama-spm (ggml-vocab-llama-spm.gguf)").
std::string synth_vocab_fill(int n_vocab, const std::string& vocab_spec, const std::string& shape_vocab_file,
                             metadata& out);

}  // namespace kiln

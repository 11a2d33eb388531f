// Importer for Karpathy's llama2.c checkpoints: the legacy headerless "v0"
// export (7 int32 hyper-parameters, then fp32 arrays) and the "ak42" v1 export
// (256-byte header, fp32). Tensors point straight into a read-only mapping of
// the checkpoint. The vocabulary comes from llama2.c's separate tokenizer.bin.
#pragma once

#include <cstdint>
#include <string>

#include "formats/metadata.h"
#include "formats/source_model.h"

namespace kiln {

// Imports `model_path` with the vocabulary of `tokenizer_path` (a llama2.c tokenizer.bin).
// Throws kiln::error naming the file for a truncated/inconsistent checkpoint or tokenizer,
// and for the quantized v2 export, which is not supported.
source_model llama2c_import(const std::string& model_path, const std::string& tokenizer_path);

// Reads the first n_vocab tokens of a llama2.c tokenizer.bin into sentencepiece-style
// tokenizer.* keys of `meta` (tokens with U+2581 for spaces, scores, token types, special ids).
void llama2c_tokenizer_to_metadata(const std::string& tokenizer_path, int64_t n_vocab, metadata& meta);

}  // namespace kiln

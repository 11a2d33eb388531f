// Importer for Hugging Face model directories (config.json, *.safetensors,
// tokenizer files) of the architectures in hf_config.cpp's table (llama, mistral,
// qwen2, qwen3, gemma2).
// Weight matrices point into the mapped safetensors files; Q/K rows are kept
// in Hugging Face's order and recorded as rope.pairing "half".
#pragma once

#include <string>

#include "formats/source_model.h"

namespace kiln {

// Throws kiln::error naming the file, field or tensor at fault: unsupported
// model_type or rope_scaling, a missing config field, an unknown/missing
// tensor or one whose shape disagrees with config.json, a vocabulary size
// that differs from config.json's vocab_size.
source_model hf_import(const std::string& dir);

// The model without its tokenizer: config.json and the checkpoint only (no tokenizer.* keys).
source_model hf_import_weights(const std::string& dir);

}  // namespace kiln

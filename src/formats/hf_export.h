// Writes a model (any source kiln reads, as a source_model) as a Hugging Face
// directory that hf_import reads back to the same computation: config.json
// (llama, mistral, qwen2, qwen3, gemma2), model.safetensors (F32/F16/BF16
// tensors as stored; Q/K rows permuted to the half-split rotation when the
// source rotates adjacent pairs; Gemma norms stored as w for (1 + w)), and the
// tokenizer: tokenizer.json for a byte-level BPE, tokenizer.model
// (sentencepiece protobuf) for an spm vocabulary, plus tokenizer_config.json.
// Before anything is written, config.json is read back through hf_read_config
// and must give the source's model.*, rope.* and attn.* keys; after the
// tokenizer files are written they are read back and must give its tokenizer.*
// keys: what cannot be expressed is an error naming the key, never a guess.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "formats/source_model.h"

namespace kiln {

struct hf_export_options {
    std::string source_name;  // names the input in errors ("" = the model's model.name)
    int shards = 1;  // >1: model-0000i-of-0000n.safetensors + model.safetensors.index.json
    // Tests only: replaces model_type and merges these keys into config.json after the read-back
    // check (to write configurations the source cannot express).
    std::string model_type_override;
    nlohmann::json config_overrides = nlohmann::json::object();
};

// Writes into `dir`, which must exist (files already there are overwritten).
void hf_export_into(const source_model& m, const std::string& dir, const hf_export_options& o = {});

// Writes `dir` atomically: into `dir`.tmp, then renamed. kiln::error when `dir` exists and is not
// an empty directory.
void hf_export(const source_model& m, const std::string& dir, const hf_export_options& o = {});

}  // namespace kiln

// The tokenizer of a Hugging Face model directory, as KILN tokenizer.* keys.
// Sources, by preference: tokenizer.model (sentencepiece protobuf), else a
// tokenizer.json whose model is a byte-level BPE (ByteLevel pre-tokenizer; its
// family is recognised from the pre_tokenizer's regexes, docs/FORMAT.md) or a
// sentencepiece-style BPE (byte_fallback); tokenizer_config.json adds special
// tokens, add_bos/add_eos and the chat template. Other tokenizer kinds are
// refused with an error naming what is not supported.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "formats/metadata.h"

namespace kiln {

// Parses a JSON file; kiln::error naming the file when it is missing or malformed.
nlohmann::json hf_read_json(const std::string& path);

// Writes tokenizer.* keys for the model in `dir` into `meta`.
void hf_tokenizer_to_metadata(const std::string& dir, metadata& meta);

}  // namespace kiln

// GGUF → source_model: maps a GGUF file's hyper-parameters, tokenizer and
// tensors onto the KILN keys and names of docs/FORMAT.md. Tensors of a type
// kiln shares with ggml (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q6_K) point straight into the
// mapped file: the import copies no weights.
#pragma once

#include <string>

#include "formats/gguf.h"
#include "formats/metadata.h"
#include "formats/source_model.h"

namespace kiln {

// The whole model. A file without tensors (a vocabulary-only GGUF) imports as
// tokenizer and provenance keys only, without model.* keys.
source_model gguf_import(const std::string& path);

// Only the tokenizer.* keys of a GGUF file (vocabulary-only files included);
// kiln::error when the file has no tokenizer or one of an unsupported kind.
metadata gguf_import_vocab(const std::string& path);

// The tokenizer.* KILN keys for an opened file, added to `out`. Returns false
// (and adds nothing) when the file carries no tokenizer.
bool gguf_tokenizer_to_metadata(const gguf_file& g, metadata& out);

}  // namespace kiln

// Format sniffing and the one entry point for "any model file": KILN files are
// opened directly; GGUF files, llama2.c checkpoints and Hugging Face directories
// go through their importer into a source_model.
#pragma once

#include <memory>
#include <string>

#include "formats/kiln_reader.h"
#include "formats/source_model.h"

namespace kiln {

enum class model_format { kiln, gguf, llama2c, hf_dir };
const char* model_format_name(model_format f);

// Which format `path` holds; kiln::error for a missing path or an unrecognised file.
model_format model_format_detect(const std::string& path);

// Imports any supported input (a KILN file too) into a source_model.
// tokenizer_path: the llama2.c tokenizer.bin ("" = tokenizer.bin beside the checkpoint).
source_model model_import(const std::string& path, const std::string& tokenizer_path = "");

struct model_open_options {
    bool use_mmap = true;
    std::string tokenizer_path;
    bool announce_conversion = true;  // a note on stderr when a non-KILN file is converted in memory
};

// Opens a model for running: KILN files are mapped; other formats are converted
// in memory (into an anonymous file, then loaded exactly like a KILN file).
std::shared_ptr<kiln_file> model_file_open(const std::string& path, const model_open_options& opt = {});

}  // namespace kiln

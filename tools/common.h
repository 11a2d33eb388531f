// Options and helpers shared by several subcommands.
#pragma once

#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "formats/kiln_reader.h"
#include "sampling/sampler.h"

namespace kiln {
struct model;
class tokenizer;
}  // namespace kiln

namespace kiln::cli {

struct model_options {
    std::string model;
    std::string tokenizer;   // llama2.c checkpoints only
    bool no_mmap = false;
};

// -m/--model, --tokenizer, --no-mmap
void add_model_options(CLI::App& cmd, model_options& o, bool model_required = true);

// The model file named by the options (non-KILN inputs converted in memory, with a note).
std::shared_ptr<kiln_file> open_model_file(const model_options& o);

// kiln::error when the tokenizer and the model disagree on the vocabulary size.
void check_vocab_matches(const tokenizer& tok, const model& m, const std::string& name);

// --temp, --top-k, --top-p, --min-p, --repeat-penalty, --repeat-last-n, --seed
void add_sampling_options(CLI::App& cmd, sampler_params& p);

// -t/--threads: validated to [1, 1024]; left unset it is threads_default (physical cores).
constexpr int threads_default = -1;
void add_threads_option(CLI::App& cmd, int& threads);
// Applies the thread count (after parsing).
void apply_threads(int threads);

}  // namespace kiln::cli

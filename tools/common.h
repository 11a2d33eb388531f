// Options and helpers shared by several subcommands.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

namespace kiln::cli {

struct model_options {
    std::string model;
    std::string tokenizer;   // llama2.c checkpoints only
    bool no_mmap = false;
};

// -m/--model, --tokenizer, --no-mmap
void add_model_options(CLI::App& cmd, model_options& o, bool model_required = true);

// -t/--threads: validated to [1, 1024]; left unset it is threads_default (physical cores).
constexpr int threads_default = -1;
void add_threads_option(CLI::App& cmd, int& threads);
// Applies the thread count (after parsing).
void apply_threads(int threads);

}  // namespace kiln::cli

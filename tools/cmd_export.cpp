// kiln export: any model kiln reads (KILN, GGUF, llama2.c, Hugging Face) as a Hugging Face directory.
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "commands.h"
#include "core/error.h"
#include "formats/hf_export.h"
#include "formats/import.h"

namespace kiln::cli {

namespace {

struct export_options {
    std::string input;
    std::string output;
    std::string tokenizer;
    bool hf = false;
};

void export_model(const export_options& o) {
    if (!o.hf) fail("export needs a target format: --hf (the only one so far)");
    const auto t0 = std::chrono::steady_clock::now();
    const source_model m = model_import(o.input, o.tokenizer);
    hf_export_options eo;
    eo.source_name = o.input;
    hf_export(m, o.output, eo);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::fprintf(stderr, "kiln: wrote %s (%zu tensors) in %.2f s\n", o.output.c_str(), m.tensors.size(), s);
}

}  // namespace

void add_export_command(CLI::App& app) {
    auto o = std::make_shared<export_options>();
    CLI::App* cmd = app.add_subcommand("export", "write a model as a Hugging Face directory");
    cmd->add_option("input", o->input, "input model: KILN file, GGUF file, llama2.c .bin or Hugging Face directory")
        ->required();
    cmd->add_flag("--hf", o->hf, "write a Hugging Face directory (config.json, model.safetensors, tokenizer files)");
    cmd->add_option("-o,--output", o->output, "output directory (must not exist or be empty)")->required();
    cmd->add_option("--tokenizer", o->tokenizer, "tokenizer.bin for a llama2.c checkpoint");
    cmd->callback([o] { export_model(*o); });
}

}  // namespace kiln::cli

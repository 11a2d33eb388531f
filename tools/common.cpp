#include "common.h"

#include "core/error.h"
#include "ops/ops.h"

namespace kiln::cli {

void add_model_options(CLI::App& cmd, model_options& o, bool model_required) {
    auto* opt = cmd.add_option("-m,--model", o.model,
                               "model: KILN or GGUF file, llama2.c .bin checkpoint, or Hugging Face directory");
    if (model_required) opt->required();
    cmd.add_option("--tokenizer", o.tokenizer, "tokenizer.bin for a llama2.c checkpoint");
    cmd.add_flag("--no-mmap", o.no_mmap, "read the model into memory instead of mapping it");
}

void add_threads_option(CLI::App& cmd, int& threads) {
    cmd.add_option("-t,--threads", threads, "threads (default: physical cores)");
}

void apply_threads(int threads) {
    if (threads == threads_default) return;
    if (threads < 1 || threads > 1024) fail("-t {} is out of range [1, 1024]", threads);
    threads_set(threads);
}

}  // namespace kiln::cli

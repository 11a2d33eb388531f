#include "common.h"

#include "core/error.h"
#include "formats/import.h"
#include "model/model.h"
#include "ops/ops.h"
#include "tokenizer/tokenizer.h"

namespace kiln::cli {

void add_model_options(CLI::App& cmd, model_options& o, bool model_required) {
    auto* opt = cmd.add_option("-m,--model", o.model,
                               "model: KILN or GGUF file, llama2.c .bin checkpoint, or Hugging Face directory");
    if (model_required) opt->required();
    cmd.add_option("--tokenizer", o.tokenizer, "tokenizer.bin for a llama2.c checkpoint");
    cmd.add_flag("--no-mmap", o.no_mmap, "read the model into memory instead of mapping it");
}

std::shared_ptr<kiln_file> open_model_file(const model_options& o) {
    model_open_options mo;
    mo.use_mmap = !o.no_mmap;
    mo.tokenizer_path = o.tokenizer;
    return model_file_open(o.model, mo);
}

void check_vocab_matches(const tokenizer& tok, const model& m, const std::string& name) {
    if (static_cast<int>(tok.n_vocab()) != m.hp.n_vocab) {
        fail("{}: tokenizer has {} tokens but the model's vocabulary is {}", name, tok.n_vocab(), m.hp.n_vocab);
    }
}

void add_sampling_options(CLI::App& cmd, sampler_params& p) {
    cmd.add_option("--temp", p.temperature, "temperature (0: greedy)")->capture_default_str();
    cmd.add_option("--top-k", p.top_k, "top-k (0: off)")->capture_default_str();
    cmd.add_option("--top-p", p.top_p, "top-p (1: off)")->capture_default_str();
    cmd.add_option("--min-p", p.min_p, "min-p (0: off)")->capture_default_str();
    cmd.add_option("--repeat-penalty", p.repeat_penalty, "repetition penalty (1: off)")->capture_default_str();
    cmd.add_option("--repeat-last-n", p.repeat_last_n, "tokens the penalty looks back on")->capture_default_str();
    cmd.add_option("--seed", p.seed, "random seed (default: a fresh one each run)");
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

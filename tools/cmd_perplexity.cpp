// kiln perplexity: llama.cpp-compatible perplexity of a model over a text, and with --kld-base the
// KL divergence and top-1 agreement against a base model (how much quantization changed it); the base
// model's logits can be saved once (--kl-save FILE) and given to later runs instead (--kl-base FILE).
#include <chrono>
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "common.h"
#include "core/error.h"
#include "core/progress.h"
#include "eval/perplexity.h"
#include "formats/import.h"
#include "model/model.h"
#include "read_text.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/vocab.h"

namespace kiln::cli {

namespace {

struct perplexity_cli_options {
    model_options model;
    std::string text_file;
    std::string base;
    std::string kl_save;
    int n_ctx = 256;
    int threads = threads_default;
    bool json = false;
};

std::shared_ptr<const model> open_model(const std::string& path, const model_options& mo_cli) {
    model_open_options mo;
    mo.use_mmap = !mo_cli.no_mmap;
    mo.tokenizer_path = mo_cli.tokenizer;
    return model_from_file(model_file_open(path, mo));
}

void perplexity_cmd(const perplexity_cli_options& o) {
    apply_threads(o.threads);
    if (o.n_ctx < 8 || o.n_ctx > (1 << 24)) fail("-c {} is out of range [8, 16777216]", o.n_ctx);
    std::string text = read_text_file(o.text_file, "text file");
    // llama.cpp's -f drops one trailing newline; doing the same gives the same token count (7387 on
    // the shared eval text), so figures are computed over identical token streams.
    if (!text.empty() && text.back() == '\n') text.pop_back();
    const auto t0 = std::chrono::steady_clock::now();
    auto m = open_model(o.model.model, o.model);
    const tokenizer tok(vocab_from_metadata(m->file->meta()));
    std::shared_ptr<const model> base;
    perplexity_options po;
    // --kl-base takes a model or a logits file saved by --kl-save; the file's magic tells which.
    if (!o.base.empty() && kl_logits_is_file(o.base)) {
        po.base_logits = kl_logits::open(o.base);
    } else if (!o.base.empty()) {
        try {
            base = open_model(o.base, o.model);
        } catch (const error& e) {
            const std::string msg = e.what();
            if (msg.find("unrecognised model format") == std::string::npos) throw;
            fail("{}; --kl-base also takes a logits file saved by --kl-save", msg);
        }
    }
    const std::vector<int32_t> tokens = tok.encode(text, true, false);

    po.n_ctx = o.n_ctx;
    po.kl_save = o.kl_save;
    progress_bar chunks_bar("perplexity", tokens.size() / static_cast<size_t>(o.n_ctx), !o.json);
    po.on_progress = [&chunks_bar](int done, int) { chunks_bar.update(static_cast<uint64_t>(done)); };
    const perplexity_result r = perplexity_run(m, base, tokens, tok.bos_id(), po);
    chunks_bar.finish();
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!o.kl_save.empty()) {
        std::fprintf(stderr, "kiln: saved the logits of %lld scored positions to %s (for --kl-base)\n",
                     static_cast<long long>(r.n_scored), o.kl_save.c_str());
    }

    if (o.json) {
        nlohmann::json j = {{"model", o.model.model}, {"text", o.text_file}, {"n_tokens", tokens.size()},
                            {"n_ctx", r.n_ctx}, {"n_chunks", r.n_chunks}, {"n_scored", r.n_scored},
                            {"ppl", r.ppl}, {"ppl_err", r.ppl_err}, {"seconds", secs}};
        if (r.has_base) {
            j["base"] = o.base;
            j["base_ppl"] = r.base_ppl;
            j["kld_mean"] = r.kld_mean;
            j["kld_err"] = r.kld_err;
            j["kld_median"] = r.kld_median;
            j["kld_p99"] = r.kld_p99;
            j["kld_max"] = r.kld_max;
            j["same_top1_pct"] = r.same_top1_pct;
        }
        if (!o.kl_save.empty()) j["kl_save"] = o.kl_save;
        std::printf("%s\n", j.dump().c_str());
        return;
    }
    std::printf("tokens %zu, context %d, %d chunks, %lld scored tokens\n", tokens.size(), r.n_ctx, r.n_chunks,
                static_cast<long long>(r.n_scored));
    std::printf("perplexity: %.4f +/- %.5f\n", r.ppl, r.ppl_err);
    if (r.has_base) {
        std::printf("base perplexity: %.4f\n", r.base_ppl);
        std::printf("mean KLD: %.6f +/- %.6f (median %.6f, 99%% %.6f, max %.6f)\n", r.kld_mean, r.kld_err,
                    r.kld_median, r.kld_p99, r.kld_max);
        std::printf("same top-1: %.3f%%\n", r.same_top1_pct);
    }
    std::fprintf(stderr, "kiln: perplexity took %.2f s\n", secs);
}

}  // namespace

void add_perplexity_command(CLI::App& app) {
    auto o = std::make_shared<perplexity_cli_options>();
    CLI::App* cmd = app.add_subcommand("perplexity", "perplexity of a model over a text (llama.cpp's method)");
    add_model_options(*cmd, o->model);
    cmd->add_option("-f,--file", o->text_file, "text file to score")->required();
    cmd->add_option("-c,--ctx-size", o->n_ctx, "tokens per chunk; the second half of each is scored")
        ->capture_default_str();
    add_threads_option(*cmd, o->threads);
    cmd->add_option("--kld-base,--kl-base", o->base,
                    "base model (e.g. the f32 one) or its logits saved with --kl-save: also report KL divergence "
                    "and same top-1 against it");
    cmd->add_option("--kl-save", o->kl_save,
                    "save this model's logits for the scored positions to FILE, for a later --kl-base FILE");
    cmd->add_flag("--json", o->json, "print one JSON object");
    cmd->callback([o] { perplexity_cmd(*o); });
}

}  // namespace kiln::cli

// kiln run: complete a prompt in one shot, streaming the text.
#include <chrono>
#include <functional>
#include <random>
#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "common.h"
#include "core/error.h"
#include "formats/import.h"
#include "model/context.h"
#include "sampling/sampler.h"
#include "spec/engine.h"
#include "spec_cli.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/vocab.h"
#include "utf8_stream.h"

namespace kiln::cli {

namespace {

using clock_type = std::chrono::steady_clock;

double ms_since(clock_type::time_point t0) {
    return std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
}

struct run_options {
    model_options model;
    std::string prompt;
    int n_predict = 128;
    int threads = threads_default;
    int n_ctx = 0;
    bool ignore_eos = false;
    bool json = false;
    bool no_echo = false;
    sampler_params sampling;
    spec_options spec;
};

struct run_result {
    std::vector<int32_t> prompt_ids;
    std::vector<int32_t> generated_ids;
    std::string text;
    double load_ms = 0, prompt_ms = 0, gen_ms = 0;
    std::string stop_reason;
    nlohmann::json spec_json;  // null unless speculating
};

void check_options(const run_options& o) {
    if (o.n_predict < -1 || o.n_predict > (1 << 24)) fail("-n {} is out of range [-1, 16777216] (-1 = until end or context full)", o.n_predict);
    if (o.n_ctx < 0 || o.n_ctx > (1 << 24)) fail("-c {} is out of range [1, 16777216] (0 = the model's)", o.n_ctx);
    apply_threads(o.threads);
    sampler_params_check(o.sampling);
    spec_options_check(o.spec);
}

run_result run_completion(const run_options& o) {
    run_result r;
    const auto t_load = clock_type::now();
    auto file = open_model_file(o.model);
    std::shared_ptr<const model> m = model_from_file(file);
    const tokenizer tok(vocab_from_metadata(file->meta()));
    check_vocab_matches(tok, *m, o.model.model);
    context ctx(m, o.n_ctx);
    r.load_ms = ms_since(t_load);

    r.prompt_ids = tok.encode(o.prompt, true, false);
    if (r.prompt_ids.empty()) fail("the prompt is empty after tokenization (and the model adds no BOS)");
    if (static_cast<int>(r.prompt_ids.size()) > ctx.n_ctx()) {
        fail("the prompt is {} tokens, longer than the context of {} (raise -c)", r.prompt_ids.size(), ctx.n_ctx());
    }

    sampler smp(o.sampling);
    for (int32_t id : r.prompt_ids) smp.accept(id);

    utf8_stream out(stdout, !o.json);
    if (!o.json && !o.no_echo) {
        std::fputs(o.prompt.c_str(), stdout);
        std::fflush(stdout);
    }

    const auto t_prompt = clock_type::now();
    const std::vector<float>* logits = &ctx.eval(r.prompt_ids);
    r.prompt_ms = ms_since(t_prompt);

    const auto t_gen = clock_type::now();
    const int limit = o.n_predict < 0 ? ctx.n_ctx() : o.n_predict;
    r.stop_reason = "limit";
    for (int i = 0; i < limit; ++i) {
        const int32_t next = smp.sample(logits->data(), ctx.n_vocab());
        smp.accept(next);
        if (!o.ignore_eos && tok.is_end_of_generation(next)) {
            r.stop_reason = "eos";
            break;
        }
        r.generated_ids.push_back(next);
        const std::string piece = tok.token_to_piece(next);
        r.text += piece;
        out.write(piece);
        if (i + 1 == limit) break;
        if (ctx.n_past() >= ctx.n_ctx()) {
            r.stop_reason = "context full";
            break;
        }
        logits = &ctx.eval({next});
    }
    out.flush();
    r.gen_ms = ms_since(t_gen);
    return r;
}

// The same completion through the speculation engine (and, with --spec-compare, a plain run in
// this process first, for the speedup).
run_result run_speculative(const run_options& o) {
    run_result r;
    const auto t_load = clock_type::now();
    auto file = open_model_file(o.model);
    std::shared_ptr<const model> m = model_from_file(file);
    const tokenizer tok(vocab_from_metadata(file->meta()));
    check_vocab_matches(tok, *m, o.model.model);
    context ctx(m, o.n_ctx);
    const spec_setup setup = spec_setup_create(o.spec, o.model, *file, ctx, o.sampling);
    r.load_ms = ms_since(t_load);

    r.prompt_ids = tok.encode(o.prompt, true, false);
    if (r.prompt_ids.empty()) fail("the prompt is empty after tokenization (and the model adds no BOS)");
    if (static_cast<int>(r.prompt_ids.size()) > ctx.n_ctx()) {
        fail("the prompt is {} tokens, longer than the context of {} (raise -c)", r.prompt_ids.size(), ctx.n_ctx());
    }
    const spec_params sp = spec_params_from(o.spec, *m);
    const int limit = o.n_predict < 0 ? -1 : o.n_predict;
    std::function<bool(int32_t)> is_end;
    if (!o.ignore_eos) is_end = [&tok](int32_t t) { return tok.is_end_of_generation(t); };

    // --spec-compare: plain and speculative runs interleaved, the fastest of each counted, so that
    // interference from other processes (which only ever slows a run) cancels as far as possible.
    constexpr int compare_reps = 3;
    spec_run_result plain;
    if (o.spec.compare) plain = spec_run(ctx, nullptr, r.prompt_ids, limit, o.sampling, sp, is_end);

    utf8_stream out(stdout, !o.json);
    if (!o.json && !o.no_echo) {
        std::fputs(o.prompt.c_str(), stdout);
        std::fflush(stdout);
    }
    spec_run_result s = spec_run(ctx, setup.d.get(), r.prompt_ids, limit, o.sampling, sp, is_end, [&](int32_t t) {
        const std::string piece = tok.token_to_piece(t);
        r.text += piece;
        out.write(piece);
    });
    out.flush();
    for (int rep = 1; o.spec.compare && rep < compare_reps; ++rep) {
        const spec_run_result p2 = spec_run(ctx, nullptr, r.prompt_ids, limit, o.sampling, sp, is_end);
        if (p2.gen_ms < plain.gen_ms) plain = p2;
        const spec_run_result s2 = spec_run(ctx, setup.d.get(), r.prompt_ids, limit, o.sampling, sp, is_end);
        if (s2.gen_ms < s.gen_ms) s = s2;
    }
    r.generated_ids = s.generated;
    r.prompt_ms = s.prefill_ms;
    r.gen_ms = s.gen_ms;
    r.stop_reason = s.stop;
    if (o.json) {
        r.spec_json = spec_stats_json(setup, o.spec, s, o.spec.compare ? &plain : nullptr);
    } else {
        std::fputc('\n', stderr);
        spec_print_stats(setup, o.spec, s, o.spec.compare ? &plain : nullptr, o.sampling.temperature <= 0.0f);
    }
    return r;
}

void print_summary(const run_result& r) {
    const double pp = r.prompt_ms > 0 ? r.prompt_ids.size() * 1000.0 / r.prompt_ms : 0.0;
    // The first generated token comes from the prompt's logits, so n generated tokens took n-1 evals.
    const size_t n_eval = r.generated_ids.size() > 1 ? r.generated_ids.size() - 1 : 0;
    const double tg = r.gen_ms > 0 && n_eval > 0 ? n_eval * 1000.0 / r.gen_ms : 0.0;
    std::fprintf(stderr,
                 "\nkiln: load %.1f ms | prompt %zu tokens, %.1f ms, %.1f t/s | generated %zu tokens, %.1f ms, "
                 "%.1f t/s | stop: %s\n",
                 r.load_ms, r.prompt_ids.size(), r.prompt_ms, pp, r.generated_ids.size(), r.gen_ms, tg,
                 r.stop_reason.c_str());
}

void print_json(const run_result& r) {
    nlohmann::json j;
    j["prompt_ids"] = r.prompt_ids;
    j["generated_ids"] = r.generated_ids;
    j["text"] = r.text;
    j["stop"] = r.stop_reason;
    const size_t n_eval = r.generated_ids.size() > 1 ? r.generated_ids.size() - 1 : 0;
    j["timings"] = {
        {"load_ms", r.load_ms},
        {"prompt_n", r.prompt_ids.size()},
        {"prompt_ms", r.prompt_ms},
        {"prompt_per_second", r.prompt_ms > 0 ? r.prompt_ids.size() * 1000.0 / r.prompt_ms : 0.0},
        {"generated_n", r.generated_ids.size()},
        {"generated_ms", r.gen_ms},
        {"generated_per_second", r.gen_ms > 0 && n_eval > 0 ? n_eval * 1000.0 / r.gen_ms : 0.0},
    };
    if (!r.spec_json.is_null()) j["speculation"] = r.spec_json;
    // Model output may end inside a UTF-8 sequence: replace invalid bytes instead of failing.
    std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
}

}  // namespace

void add_run_command(CLI::App& app) {
    auto o = std::make_shared<run_options>();
    CLI::App* cmd = app.add_subcommand("run", "complete a prompt");
    add_model_options(*cmd, o->model);
    cmd->add_option("-p,--prompt", o->prompt, "prompt text")->required();
    cmd->add_option("-n,--n-predict", o->n_predict, "tokens to generate (-1: until end of text or context full)")
        ->capture_default_str();
    add_threads_option(*cmd, o->threads);
    cmd->add_option("-c,--ctx-size", o->n_ctx, "context size in tokens (default: the model's)");
    cmd->add_flag("--ignore-eos", o->ignore_eos, "keep generating past the end-of-text token");
    cmd->add_flag("--json", o->json, "print one JSON object (prompt_ids, generated_ids, text, timings)");
    cmd->add_flag("--no-echo", o->no_echo, "do not print the prompt before the completion");
    add_sampling_options(*cmd, o->sampling);
    add_spec_options(*cmd, o->spec);
    cmd->callback([o, cmd] {
        if (cmd->count("--seed") == 0) o->sampling.seed = std::random_device{}();
        o->spec.lookup_n_given = cmd->count("--lookup-n") > 0;
        o->spec.draft_max_given = cmd->count("--draft-max") > 0;
        check_options(*o);
        const run_result r = o->spec.enabled() ? run_speculative(*o) : run_completion(*o);
        if (o->json) print_json(r);
        else print_summary(r);
    });
}

}  // namespace kiln::cli

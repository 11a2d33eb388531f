#include "spec_cli.h"

#include <cstdio>

#include "core/error.h"
#include "formats/import.h"
#include "model/context.h"
#include "model/model.h"
#include "spec/bench.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/vocab.h"

namespace kiln::cli {

void add_spec_options(CLI::App& cmd, spec_options& o) {
    cmd.add_option("--draft", o.draft, "speculative decoding with this draft model (same vocabulary as the target)");
    cmd.add_flag("--lookup", o.lookup, "speculative decoding with n-gram lookup in the prompt and generated text");
    cmd.add_option("--lookup-n", o.lookup_n, "longest n-gram --lookup matches")->capture_default_str();
    cmd.add_option("--self-draft", o.self_draft,
                   "self-speculative decoding: skip N evenly spaced layers, or the listed layers (e.g. 1,3; one layer: 2,)");
    cmd.add_option("--draft-max", o.draft_max, "most tokens drafted per step (adapted below this)")->capture_default_str();
    cmd.add_flag("--draft-fixed", o.fixed, "always draft --draft-max tokens (no adaptive length; for measurements)");
    cmd.add_flag("--spec-compare", o.compare, "also decode without speculation and report the speedup");
}

void spec_options_check(const spec_options& o) {
    const int n = (!o.draft.empty()) + (o.lookup ? 1 : 0) + (!o.self_draft.empty());
    if (n > 1) fail("--draft, --lookup and --self-draft are alternatives: give only one drafter");
    if (o.lookup_n_given && !o.lookup) fail("--lookup-n needs --lookup");
    if (o.lookup && (o.lookup_n < 1 || o.lookup_n > 32)) fail("--lookup-n {} is out of range [1, 32]", o.lookup_n);
    if (o.draft_max < 1 || o.draft_max > spec_draft_max_limit) {
        fail("--draft-max {} is out of range [1, {}]", o.draft_max, spec_draft_max_limit);
    }
    if (o.draft_max_given && n == 0) fail("--draft-max needs a drafter (--draft, --lookup or --self-draft)");
    if (o.fixed && n == 0) fail("--draft-fixed needs a drafter (--draft, --lookup or --self-draft)");
    if (o.compare && n == 0) fail("--spec-compare needs a drafter (--draft, --lookup or --self-draft)");
}

spec_params spec_params_from(const spec_options& o, const model& target) {
    spec_params p;
    p.verify_cost = spec_verify_cost_estimate(target);
    p.draft_max = o.draft_max;
    p.adaptive = !o.fixed;
    return p;
}

spec_setup spec_setup_create(const spec_options& o, const model_options& target_opts, const kiln_file& target_file,
                             context& target, const sampler_params& sampling) {
    spec_setup s;
    const model& tm = target.get_model();
    if (!o.draft.empty()) {
        model_open_options mo;
        mo.use_mmap = !target_opts.no_mmap;
        mo.tokenizer_path = target_opts.tokenizer;
        auto file = model_file_open(o.draft, mo);
        const vocab dv = vocab_from_metadata(file->meta());
        const vocab tv = vocab_from_metadata(target_file.meta());
        spec_check_vocab(target_opts.model, tv.tokens, o.draft, dv.tokens);
        auto dm = model_from_file(file);
        if (dm->hp.n_vocab != tm.hp.n_vocab) {
            fail("draft model {} has a vocabulary of {} tokens but the target {} has {}: speculation needs the same vocabulary",
                 o.draft, dm->hp.n_vocab, target_opts.model, tm.hp.n_vocab);
        }
        s.draft_model = dm;
        s.d = drafter_model_create(dm, target.n_ctx(), sampling, spec_model_cost_ratio(tm, *dm));
        s.label = "draft model " + o.draft;
    } else if (o.lookup) {
        const int n_min = o.lookup_n >= 2 ? 2 : 1;
        s.d = drafter_lookup_create(n_min, o.lookup_n);
        s.label = fmt::format("n-gram lookup (n {}..{})", n_min, o.lookup_n);
    } else if (!o.self_draft.empty()) {
        std::vector<uint8_t> skip = self_draft_layers(o.self_draft, tm.hp.n_layer);
        std::string list;
        for (size_t i = 0; i < skip.size(); ++i) {
            if (skip[i]) list += (list.empty() ? "" : ",") + std::to_string(i);
        }
        s.d = drafter_self_create(target, std::move(skip), sampling);
        s.label = "self-draft (layers " + list + " skipped)";
    }
    return s;
}

void spec_print_stats(const spec_setup& s, const spec_options& o, const spec_run_result& spec,
                      const spec_run_result* plain, bool greedy) {
    const spec_stats& st = spec.stats;
    std::fprintf(stderr,
                 "kiln: speculation: %s, draft-max %d%s | drafted %lld, accepted %lld (%.1f%%) | %lld target steps, "
                 "%.2f tokens/step | draft %.1f ms, target %.1f ms\n",
                 s.label.c_str(), o.draft_max, o.fixed ? " (fixed)" : "", static_cast<long long>(st.drafted), static_cast<long long>(st.accepted),
                 100.0 * st.acceptance(), static_cast<long long>(st.target_steps), st.tokens_per_step(), st.draft_ms,
                 st.verify_ms);
    if (plain) {
        const double a = spec.tokens_per_second(), b = plain->tokens_per_second();
        const char* same = spec.generated == plain->generated ? ", same tokens"
                           : greedy ? ", tokens differ from plain greedy decoding"
                                    : ", other tokens (sampling: the same distribution, other draws)";
        std::fprintf(stderr, "kiln: speedup %.2fx against plain decoding in this process (%.1f vs %.1f t/s)%s\n",
                     b > 0 ? a / b : 0.0, a, b, same);
    }
}

nlohmann::json spec_stats_json(const spec_setup& s, const spec_options& o, const spec_run_result& spec,
                               const spec_run_result* plain) {
    const spec_stats& st = spec.stats;
    nlohmann::json j = {
        {"drafter", s.label},
        {"draft_max", o.draft_max},
        {"draft_fixed", o.fixed},
        {"drafted", st.drafted},
        {"accepted", st.accepted},
        {"acceptance_rate", st.acceptance()},
        {"target_steps", st.target_steps},
        {"tokens_per_step", st.tokens_per_step()},
        {"draft_ms", st.draft_ms},
        {"target_ms", st.verify_ms},
        {"generated_per_second", spec.tokens_per_second()},
    };
    if (plain) {
        const double b = plain->tokens_per_second();
        j["plain_generated_per_second"] = b;
        j["speedup"] = b > 0 ? spec.tokens_per_second() / b : 0.0;
        j["same_tokens_as_plain"] = spec.generated == plain->generated;
    }
    return j;
}

void spec_bench_cli(const spec_options& o, const model_options& target_opts, std::shared_ptr<const model> target,
                    const std::string& prompt, int n_gen, int reps, bool json) {
    spec_options_check(o);
    if (!o.enabled()) fail("bench --spec needs a drafter (--draft, --lookup or --self-draft)");
    context ctx(target, 0);
    sampler_params sp;
    sp.temperature = 0.0f;
    const spec_setup s = spec_setup_create(o, target_opts, *target->file, ctx, sp);
    const tokenizer tok(vocab_from_metadata(target->file->meta()));
    const std::vector<int32_t> ids = tok.encode(prompt, true, false);
    if (ids.empty()) fail("bench: the prompt is empty after tokenization");
    if (static_cast<int>(ids.size()) + n_gen > ctx.n_ctx()) {
        fail("bench: prompt ({} tokens) + -n {} exceed the context of {}", ids.size(), n_gen, ctx.n_ctx());
    }
    const spec_bench_result r = spec_bench_run(ctx, s.d.get(), ids, n_gen, sp, spec_params_from(o, *target), reps);
    const spec_stats& st = r.stats;
    if (json) {
        nlohmann::ordered_json j = {{"test", "spec"},
                                    {"drafter", s.label},
                                    {"draft_max", o.draft_max},
                                    {"draft_fixed", o.fixed},
                                    {"n_gen", r.generated},
                                    {"reps", r.reps},
                                    {"drafted", st.drafted},
                                    {"accepted", st.accepted},
                                    {"acceptance_rate", st.acceptance()},
                                    {"tokens_per_step", st.tokens_per_step()},
                                    {"plain_ms_per_token", r.plain_ms_per_token_best},
                                    {"spec_ms_per_token", r.spec_ms_per_token_best},
                                    {"plain_ms_per_token_mean", r.plain_ms_per_token_mean},
                                    {"spec_ms_per_token_mean", r.spec_ms_per_token_mean},
                                    {"draft_cost_ratio", r.draft_cost_ratio},
                                    {"speedup", r.speedup},
                                    {"predicted_speedup", r.predicted_speedup},
                                    {"efficiency", r.efficiency},
                                    {"same_tokens_as_plain", r.same_tokens}};
        std::printf("%s\n", j.dump(1).c_str());
        return;
    }
    std::printf("speculative decoding: %s, draft-max %d%s, %lld greedy tokens, %d repetitions (fastest of each counted)\n",
                s.label.c_str(), o.draft_max, o.fixed ? " (fixed)" : "", static_cast<long long>(r.generated), r.reps);
    std::printf("\n| drafted | accepted | rate | tokens/step | draft cost | plain ms/t | spec ms/t | speedup | predicted | efficiency | same tokens |\n");
    std::printf("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n");
    std::printf("| %lld | %lld | %.1f%% | %.2f | %.3f | %.3f | %.3f | %.2fx | %.2fx | %.0f%% | %s |\n",
                static_cast<long long>(st.drafted), static_cast<long long>(st.accepted), 100.0 * st.acceptance(),
                st.tokens_per_step(), r.draft_cost_ratio, r.plain_ms_per_token_best, r.spec_ms_per_token_best, r.speedup,
                r.predicted_speedup, 100.0 * r.efficiency, r.same_tokens ? "yes" : "NO");
}

}  // namespace kiln::cli

// The speculative-decoding options shared by `kiln run` (and any other generating command):
// --draft MODEL | --lookup [--lookup-n N] | --self-draft N|a,b,c, --draft-max K, --spec-compare.
#pragma once

#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "common.h"
#include "sampling/sampler.h"
#include "spec/drafter.h"
#include "spec/engine.h"

namespace kiln {
class context;
class kiln_file;
struct model;
}  // namespace kiln

namespace kiln::cli {

struct spec_options {
    std::string draft;       // --draft MODEL
    bool lookup = false;     // --lookup
    int lookup_n = 3;        // --lookup-n: longest n-gram matched
    std::string self_draft;  // --self-draft N | a,b,c
    int draft_max = 8;       // --draft-max K
    bool compare = false;    // --spec-compare
    bool fixed = false;      // --draft-fixed: always draft-max, no adaptation (measurements)
    bool lookup_n_given = false, draft_max_given = false;

    bool enabled() const { return !draft.empty() || lookup || !self_draft.empty(); }
};

void add_spec_options(CLI::App& cmd, spec_options& o);
// After parsing: ranges and combinations (one drafter at a time; modifiers need a drafter).
void spec_options_check(const spec_options& o);

// A drafter built from the options, and the draft model it holds (if any).
struct spec_setup {
    std::unique_ptr<drafter> d;
    std::shared_ptr<const model> draft_model;
    std::string label;  // "draft model x.kiln", "n-gram lookup (n <= 3)", "self-draft (skip 1,3)"
};
spec_setup spec_setup_create(const spec_options& o, const model_options& target_opts, const kiln_file& target_file,
                             context& target, const sampler_params& sampling);

spec_params spec_params_from(const spec_options& o, const model& target);

// End-of-run report: one stderr line; `plain` is the same-process plain run when --spec-compare.
void spec_print_stats(const spec_setup& s, const spec_options& o, const spec_run_result& spec,
                      const spec_run_result* plain, bool greedy);
nlohmann::json spec_stats_json(const spec_setup& s, const spec_options& o, const spec_run_result& spec,
                               const spec_run_result* plain);

// `kiln bench` with a drafter: n_gen greedy tokens after `prompt`, reps interleaved plain and
// speculative runs; prints a table (or one JSON object) with acceptance, tokens per step, speedup,
// predicted speedup and efficiency.
void spec_bench_cli(const spec_options& o, const model_options& target_opts, std::shared_ptr<const model> target,
                    const std::string& prompt, int n_gen, int reps, bool json);

}  // namespace kiln::cli

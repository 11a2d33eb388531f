// kiln bench: prefill and decode speed, the cost of verifying small batches, and how close
// decode comes to the memory bandwidth measured in the same run.
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "arch/cpu_dispatch.h"
#include "bench/bench_model.h"
#include "bench/membw.h"
#include "commands.h"
#include "common.h"
#include "core/error.h"
#include "formats/import.h"
#include "ops/ops.h"
#include "spec_cli.h"

namespace kiln::cli {

namespace {

struct bench_cli_options {
    model_options model;
    int n_prompt = 512;
    int n_gen = 128;
    int reps = 5;
    int depth = 0;
    int threads = threads_default;
    std::string batches = "1,2,4,8,16";
    bool json = false;
    bool membw = false;
    spec_options spec;                         // a drafter given: measure speculative decoding instead
    std::string spec_prompt = "Once upon a time";
};

std::vector<int> parse_batches(const std::string& s) {
    std::vector<int> out;
    if (s == "0" || s == "none" || s.empty()) return out;
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, ',')) {
        size_t used = 0;
        int v = 0;
        try {
            v = std::stoi(item, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        if (used == 0 || used != item.size()) fail("-b {}: '{}' is not a batch size (e.g. -b 1,2,4,8,16; -b 0 for none)", s, item);
        if (v < 1 || v > 512) fail("-b {}: batch size {} is out of range [1, 512]", s, v);
        out.push_back(v);
    }
    return out;
}

void check_options(const bench_cli_options& o) {
    if (o.n_prompt < 0 || o.n_prompt > 16384) fail("-p {} is out of range [0, 16384] (0: no prefill test)", o.n_prompt);
    if (o.n_gen < 0 || o.n_gen > 16384) fail("-n {} is out of range [0, 16384] (0: no decode test)", o.n_gen);
    if (o.reps < 1 || o.reps > 1000) fail("-r {} is out of range [1, 1000]", o.reps);
    if (o.depth < 0 || o.depth > 65536) fail("-d {} is out of range [0, 65536]", o.depth);
    apply_threads(o.threads);
}

std::string cpu_model_name() {
    std::ifstream f("/proc/cpuinfo");
    std::string line;
    while (std::getline(f, line)) {
        if (line.rfind("model name", 0) == 0 || line.rfind("Model", 0) == 0) {
            const size_t c = line.find(':');
            if (c != std::string::npos) return line.substr(line.find_first_not_of(" \t", c + 1));
        }
    }
    return "unknown CPU";
}

struct machine_info {
    std::string cpu;
    int cores = 0, logical = 0, threads = 0;
    std::string kernels, features;
};

machine_info machine() {
    machine_info m;
    m.cpu = cpu_model_name();
    m.cores = threads_physical_cores();
    m.logical = static_cast<int>(std::thread::hardware_concurrency());
    m.threads = threads_get();
    m.kernels = cpu_kernels_get().name;
    m.features = cpu_features_str();
    return m;
}

void bench(const bench_cli_options& o) {
    check_options(o);
    const std::vector<int> batches = parse_batches(o.batches);
    if (o.model.model.empty() && !o.membw) fail("bench needs -m MODEL (or --membw for the bandwidth alone)");
    if (!o.model.model.empty() && o.n_prompt == 0 && o.n_gen == 0 && batches.empty()) {
        fail("nothing to measure: -p 0, -n 0 and -b 0");
    }
    const machine_info mi = machine();
    nlohmann::ordered_json rows = nlohmann::ordered_json::array();  // keys in the order written: "test" first
    if (!o.json) {
        std::printf("kiln bench | CPU: %s, %d cores (%d logical), %d thread%s | kernels: %s | features: %s\n", mi.cpu.c_str(),
                    mi.cores, mi.logical, mi.threads, mi.threads == 1 ? "" : "s", mi.kernels.c_str(), mi.features.c_str());
        std::fflush(stdout);
    }

    // Opened before the bandwidth is measured, so a missing model fails fast.
    std::shared_ptr<const model> m;
    if (!o.model.model.empty()) {
        model_open_options mo;
        mo.use_mmap = !o.model.no_mmap;
        mo.tokenizer_path = o.model.tokenizer;
        m = model_from_file(model_file_open(o.model.model, mo));
    }
    if (m && o.spec.enabled()) {
        spec_bench_cli(o.spec, o.model, m, o.spec_prompt, o.n_gen, o.reps, o.json);
        return;
    }

    const membw_result bw = membw_measure(mi.threads);
    if (o.json) {
        if (o.membw) {
            rows.push_back(nlohmann::ordered_json{{"test", "membw_1t"}, {"threads", 1}, {"gb_s", bw.gb_s_1t}, {"bytes", bw.bytes}});
            rows.push_back(nlohmann::ordered_json{{"test", "membw_" + std::to_string(bw.threads) + "t"},
                                                  {"threads", bw.threads}, {"gb_s", bw.gb_s_nt}, {"bytes", bw.bytes}});
        }
    } else {
        std::printf("memory bandwidth (streaming read of %zu MiB, best of 5): 1 thread %.1f GB/s, %d thread%s %.1f GB/s\n",
                    bw.bytes >> 20, bw.gb_s_1t, bw.threads, bw.threads == 1 ? "" : "s", bw.gb_s_nt);
        std::fflush(stdout);
    }
    if (!m) {
        if (o.json) std::printf("%s\n", rows.dump(1).c_str());
        return;
    }

    const bench_weights w = bench_weights_of(*m);
    if (!o.json) {
        std::printf("model: %s | %s | %.1fM matmul parameters | weights %s | %.1f MB read per step\n", o.model.model.c_str(),
                    m->hp.arch.c_str(), w.matmul_params / 1e6, w.types.c_str(), w.bytes_per_step / 1e6);
        std::printf("\n| test | t/s mean ± sd | median | ms/call | GB/s | %% membw | GOP/s | vs b1 |\n");
        std::printf("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
        std::fflush(stdout);
    }
    bench_params bp;
    bp.n_prompt = o.n_prompt;
    bp.n_gen = o.n_gen;
    bp.reps = o.reps;
    bp.depth = o.depth;
    bp.batches = batches;
    const std::vector<bench_test> results = bench_model_run(m, bp);

    // One token's step: b1 when measured, else tg. Ratios use medians (the machine is noisy).
    double ms_one = 0;
    for (const auto& r : results) {
        if (r.test == "b1") ms_one = r.ms_per_call.median;
    }
    for (const auto& r : results) {
        if (ms_one == 0 && r.test.rfind("tg", 0) == 0) ms_one = r.ms_per_call.median;
    }
    for (const auto& r : results) {
        const double calls_s = r.ms_per_call.mean > 0 ? 1000.0 / r.ms_per_call.mean : 0.0;
        const double gb_s = w.bytes_per_step * calls_s / 1e9;
        const double pct = bw.gb_s_nt > 0 ? 100.0 * gb_s / bw.gb_s_nt : 0.0;
        const double gop_s = 2.0 * w.matmul_params * r.t_s.mean / 1e9;
        const bool is_batch = r.test[0] == 'b';
        const bool has_rel = is_batch && ms_one > 0;
        const double rel = has_rel ? r.ms_per_call.median / ms_one : 0.0;
        if (o.json) {
            nlohmann::ordered_json j = {{"test", r.test},
                                {"n_tokens", r.tokens_per_call},
                                {"reps", r.t_s.n},
                                {"t_s_mean", r.t_s.mean},
                                {"t_s_sd", r.t_s.sd},
                                {"t_s_median", r.t_s.median},
                                {"ms_per_call", r.ms_per_call.mean},
                                {"gb_s", gb_s},
                                {"membw_pct", pct},
                                {"membw_gb_s", bw.gb_s_nt},
                                {"gop_s", gop_s},
                                {"threads", mi.threads},
                                {"kernels", mi.kernels},
                                {"weights", w.types},
                                {"model", o.model.model}};
            if (has_rel) j["rel_b1"] = rel;
            rows.push_back(j);
        } else {
            char rel_s[32] = "";
            if (has_rel) std::snprintf(rel_s, sizeof(rel_s), "%.2fx", rel);
            std::printf("| %s | %.1f ± %.1f | %.1f | %.2f | %.1f | %.0f%% | %.0f | %s |\n", r.test.c_str(), r.t_s.mean,
                        r.t_s.sd, r.t_s.median, r.ms_per_call.mean, gb_s, pct, gop_s, rel_s);
        }
    }
    if (o.json) std::printf("%s\n", rows.dump(1).c_str());
}

}  // namespace

void add_bench_command(CLI::App& app) {
    auto o = std::make_shared<bench_cli_options>();
    CLI::App* cmd = app.add_subcommand("bench", "measure prefill/decode speed, batch verification cost and memory bandwidth");
    add_model_options(*cmd, o->model, false);
    cmd->add_option("-p,--n-prompt", o->n_prompt, "prefill test: tokens in one batch (0: none)")->capture_default_str();
    cmd->add_option("-n,--n-gen", o->n_gen, "decode test: steps of one token (0: none)")->capture_default_str();
    cmd->add_option("-r,--repetitions", o->reps, "repetitions of each test")->capture_default_str();
    cmd->add_option("-d,--depth", o->depth, "tokens already in the KV cache when each test starts")->capture_default_str();
    add_threads_option(*cmd, o->threads);
    cmd->add_option("-b,--batches", o->batches, "batch sizes to time with logits for every token (0: none)")->capture_default_str();
    cmd->add_flag("--json", o->json, "print a JSON list of results");
    cmd->add_flag("--membw", o->membw, "print the memory bandwidth measurement (alone when no -m is given)");
    add_spec_options(*cmd, o->spec);
    cmd->add_option("--spec-prompt", o->spec_prompt, "prompt for the speculative-decoding test")->capture_default_str();
    cmd->callback([o, cmd] {
        o->spec.lookup_n_given = cmd->count("--lookup-n") > 0;
        o->spec.draft_max_given = cmd->count("--draft-max") > 0;
        spec_options_check(o->spec);
        bench(*o);
    });
}

}  // namespace kiln::cli

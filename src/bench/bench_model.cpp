#include "bench/bench_model.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <random>

#include "core/error.h"
#include "model/context.h"

namespace kiln {

namespace {

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t0) {
    return std::chrono::duration<double>(clock_type::now() - t0).count();
}

std::vector<int32_t> random_tokens(std::mt19937& rng, int n, int n_vocab) {
    std::uniform_int_distribution<int32_t> dist(0, n_vocab - 1);
    std::vector<int32_t> t(static_cast<size_t>(n));
    for (auto& x : t) x = dist(rng);
    return t;
}

bench_test summarize(std::string name, int tokens_per_call, int calls, const std::vector<double>& seconds) {
    bench_test r;
    r.test = std::move(name);
    r.tokens_per_call = tokens_per_call;
    r.calls_per_rep = calls;
    std::vector<double> tps, ms;
    for (double s : seconds) {
        tps.push_back(s > 0 ? double(tokens_per_call) * calls / s : 0.0);
        ms.push_back(s * 1000.0 / calls);
    }
    r.t_s = stats_of(tps);
    r.ms_per_call = stats_of(ms);
    return r;
}

}  // namespace

bench_weights bench_weights_of(const model& m) {
    bench_weights w;
    std::map<std::string, double> by_type;
    double matrix_bytes = 0;
    for (const auto& e : m.file->entries()) {
        const tensor& t = e.t;
        const double bytes = static_cast<double>(t.n_bytes());
        w.file_bytes += bytes;
        const bool embedding_only = t.name == "token_embd.weight" && !m.hp.tied_output;
        if (!embedding_only) w.bytes_per_step += bytes;
        if (t.n_dims >= 2) {
            if (!embedding_only) w.matmul_params += static_cast<double>(t.n_elements());
            by_type[dtype_name(t.type)] += bytes;
            matrix_bytes += bytes;
        }
    }
    std::vector<std::pair<double, std::string>> order;
    for (const auto& [name, bytes] : by_type) order.emplace_back(bytes, name);
    std::sort(order.rbegin(), order.rend());
    for (const auto& [bytes, name] : order) {
        if (!w.types.empty()) w.types += ", ";
        w.types += name;
        if (order.size() > 1) w.types += " (" + std::to_string(static_cast<int>(100.0 * bytes / matrix_bytes + 0.5)) + "%)";
    }
    return w;
}

std::vector<bench_test> bench_model_run(std::shared_ptr<const model> m, const bench_params& p,
                                        const std::function<void(const std::string&)>& on_test) {
    if (p.reps < 1) fail("bench: repetitions must be at least 1");
    int longest = std::max({p.n_prompt, p.n_gen, 1});
    for (int b : p.batches) longest = std::max(longest, b);
    const int n_ctx = p.depth + longest;
    context ctx(m, n_ctx);
    const int n_vocab = ctx.n_vocab();
    std::mt19937 rng(p.seed);

    // The depth prefix is evaluated once; every measurement truncates back to it.
    if (p.depth > 0) ctx.eval(random_tokens(rng, p.depth, n_vocab));
    const int base = p.depth;
    // Warm-up: first touches of the weights, scratch buffers and thread pool are not measured.
    ctx.eval(random_tokens(rng, std::min(8, longest), n_vocab));
    ctx.truncate(base);
    ctx.eval(random_tokens(rng, 1, n_vocab));
    ctx.truncate(base);

    std::vector<bench_test> out;
    if (p.n_prompt > 0) {
        const std::string name = "pp" + std::to_string(p.n_prompt);
        if (on_test) on_test(name);
        std::vector<double> secs;
        for (int r = 0; r < p.reps; ++r) {
            const auto toks = random_tokens(rng, p.n_prompt, n_vocab);
            ctx.truncate(base);
            const auto t0 = clock_type::now();
            ctx.eval(toks);
            secs.push_back(seconds_since(t0));
        }
        out.push_back(summarize(name, p.n_prompt, 1, secs));
    }
    if (p.n_gen > 0) {
        const std::string name = "tg" + std::to_string(p.n_gen);
        if (on_test) on_test(name);
        std::vector<double> secs;
        for (int r = 0; r < p.reps; ++r) {
            const auto toks = random_tokens(rng, p.n_gen, n_vocab);
            ctx.truncate(base);
            const auto t0 = clock_type::now();
            for (int32_t t : toks) ctx.eval({t});
            secs.push_back(seconds_since(t0));
        }
        // Reported per call of one token, like the other tests.
        bench_test t = summarize(name, 1, p.n_gen, secs);
        out.push_back(t);
    }
    for (int b : p.batches) {
        const std::string name = "b" + std::to_string(b);
        if (on_test) on_test(name);
        std::vector<double> secs;
        for (int r = 0; r < p.reps; ++r) {
            double s = 0;
            for (int c = 0; c < p.calls_per_rep; ++c) {
                const auto toks = random_tokens(rng, b, n_vocab);
                ctx.truncate(base);
                const auto t0 = clock_type::now();
                ctx.eval(toks, true);  // verification needs every position's logits
                s += seconds_since(t0);
            }
            secs.push_back(s);
        }
        out.push_back(summarize(name, b, p.calls_per_rep, secs));
    }
    return out;
}

}  // namespace kiln

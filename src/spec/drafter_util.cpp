// Option parsing and checks shared by the drafters' callers.
#include <algorithm>
#include <cctype>

#include "core/error.h"
#include "spec/drafter.h"

namespace kiln {

std::vector<uint8_t> self_draft_layers(const std::string& spec, int n_layer) {
    std::vector<uint8_t> skip(static_cast<size_t>(std::max(n_layer, 0)), 0);
    const auto parse_int = [&](const std::string& s) {
        if (s.empty() || s.size() > 9 || !std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); })) {
            fail("--self-draft '{}': expected a layer count N or a comma-separated list of layers (e.g. 1,3)", spec);
        }
        return std::stoi(s);
    };
    if (spec.find(',') == std::string::npos) {
        const int count = parse_int(spec);
        // The first and last layers are kept: the embedding and output sides suffer most without them.
        const int candidates = n_layer - 2;
        if (count >= n_layer) fail("--self-draft {} would skip all {} layers of the model", count, n_layer);
        if (count < 1 || count > candidates) {
            fail("--self-draft {} is out of range [1, {}] for a model of {} layers (the first and last are kept)", count,
                 std::max(candidates, 0), n_layer);
        }
        for (int i = 0; i < count; ++i) skip[static_cast<size_t>(1 + (2 * i + 1) * candidates / (2 * count))] = 1;
        return skip;
    }
    size_t start = 0;
    while (start <= spec.size()) {
        const size_t comma = std::min(spec.find(',', start), spec.size());
        const std::string item = spec.substr(start, comma - start);
        start = comma + 1;
        if (item.empty() && comma == spec.size()) break;  // a trailing comma: "2," names one layer
        const int layer = parse_int(item);
        if (layer >= n_layer) fail("--self-draft: layer {} is out of range [0, {}]", layer, n_layer - 1);
        if (skip[static_cast<size_t>(layer)]) fail("--self-draft: layer {} is listed twice", layer);
        skip[static_cast<size_t>(layer)] = 1;
    }
    if (std::count(skip.begin(), skip.end(), 1) == n_layer) fail("--self-draft would skip all {} layers of the model", n_layer);
    return skip;
}

void spec_check_vocab(const std::string& target_name, const std::vector<std::string>& target_tokens,
                      const std::string& draft_name, const std::vector<std::string>& draft_tokens) {
    if (target_tokens.size() != draft_tokens.size()) {
        fail("draft model {} has a vocabulary of {} tokens but the target {} has {}: speculation needs the same vocabulary",
             draft_name, draft_tokens.size(), target_name, target_tokens.size());
    }
    for (size_t i = 0; i < target_tokens.size(); ++i) {
        if (target_tokens[i] != draft_tokens[i]) {
            fail("draft model {} has another vocabulary than the target {}: token {} is '{}' there and '{}' here", draft_name,
                 target_name, i, draft_tokens[i], target_tokens[i]);
        }
    }
}

}  // namespace kiln

#include "model/model.h"
#include "spec/engine.h"

namespace kiln {

namespace {
double weight_bytes(const model& m) {
    double b = static_cast<double>(m.output->n_bytes());
    for (const auto& l : m.layers) {
        for (const tensor* t : {l.attn_norm, l.wq, l.wk, l.wv, l.wo, l.ffn_norm, l.ffn_gate, l.ffn_up, l.ffn_down}) {
            if (t) b += static_cast<double>(t->n_bytes());
        }
    }
    return b;
}
}  // namespace

double spec_verify_cost_estimate(const model& target) {
    const double cache_like = 8.0 * 1024 * 1024;  // below this the weights stay in the caches between steps
    return std::min(0.8, std::max(0.1, cache_like / std::max(1.0, weight_bytes(target))));
}

double spec_model_cost_ratio(const model& target, const model& draft) {
    const double t = weight_bytes(target);
    return t > 0 ? std::max(0.01, weight_bytes(draft) / t) : 1.0;
}

}  // namespace kiln

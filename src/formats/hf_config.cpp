#include "formats/hf_config.h"

#include <cmath>
#include <optional>

#include "core/error.h"

namespace kiln {

namespace {

using json = nlohmann::json;

const std::vector<hf_name_rule> llama_global_tensors = {
    {"model.embed_tokens.weight", "token_embd.weight"},
    {"model.norm.weight", "output_norm.weight"},
    {"lm_head.weight", "output.weight"},
};

const std::vector<hf_name_rule> llama_layer_tensors = {
    {"input_layernorm.weight", "attn_norm.weight"},
    {"self_attn.q_proj.weight", "attn_q.weight"},
    {"self_attn.k_proj.weight", "attn_k.weight"},
    {"self_attn.v_proj.weight", "attn_v.weight"},
    {"self_attn.o_proj.weight", "attn_output.weight"},
    {"post_attention_layernorm.weight", "ffn_norm.weight"},
    {"mlp.gate_proj.weight", "ffn_gate.weight"},
    {"mlp.up_proj.weight", "ffn_up.weight"},
    {"mlp.down_proj.weight", "ffn_down.weight"},
};

std::vector<hf_name_rule> with(std::vector<hf_name_rule> base, std::initializer_list<hf_name_rule> more) {
    base.insert(base.end(), more.begin(), more.end());
    return base;
}

// Gemma 2 has four norms per layer; its post_attention_layernorm is the attention output's
// post-norm, not the FFN's pre-norm as in Llama.
const std::vector<hf_name_rule> gemma2_layer_tensors = {
    {"input_layernorm.weight", "attn_norm.weight"},
    {"self_attn.q_proj.weight", "attn_q.weight"},
    {"self_attn.k_proj.weight", "attn_k.weight"},
    {"self_attn.v_proj.weight", "attn_v.weight"},
    {"self_attn.o_proj.weight", "attn_output.weight"},
    {"post_attention_layernorm.weight", "post_attention_norm.weight"},
    {"pre_feedforward_layernorm.weight", "ffn_norm.weight"},
    {"post_feedforward_layernorm.weight", "post_ffw_norm.weight"},
    {"mlp.gate_proj.weight", "ffn_gate.weight"},
    {"mlp.up_proj.weight", "ffn_up.weight"},
    {"mlp.down_proj.weight", "ffn_down.weight"},
};

// Hugging Face checkpoints of all these families store Q/K rows for the half-split rotation
// (llama's are permuted from Meta's order to get there), so every entry records rope.pairing "half".
const std::vector<hf_arch_spec>& hf_arch_table() {
    static const std::vector<hf_arch_spec> table = {
        {"llama", "LlamaForCausalLM", "llama", llama_global_tensors, llama_layer_tensors,
         {"self_attn.rotary_emb.inv_freq"}, "silu", false, false, hf_window_layers::none, 0.0f},
        {"mistral", "MistralForCausalLM", "llama", llama_global_tensors, llama_layer_tensors,
         {"self_attn.rotary_emb.inv_freq"}, "silu", false, false, hf_window_layers::all, 0.0f},
        {"qwen2", "Qwen2ForCausalLM", "qwen2", llama_global_tensors,
         with(llama_layer_tensors, {{"self_attn.q_proj.bias", "attn_q.bias"},
                                    {"self_attn.k_proj.bias", "attn_k.bias"},
                                    {"self_attn.v_proj.bias", "attn_v.bias"}}),
         {"self_attn.rotary_emb.inv_freq"}, "silu", false, true, hf_window_layers::none, 0.0f},
        {"qwen3", "Qwen3ForCausalLM", "qwen3", llama_global_tensors,
         with(llama_layer_tensors, {{"self_attn.q_norm.weight", "attn_q_norm.weight"},
                                    {"self_attn.k_norm.weight", "attn_k_norm.weight"}}),
         {"self_attn.rotary_emb.inv_freq"}, "silu", false, false, hf_window_layers::none, 0.0f},
        {"gemma2", "Gemma2ForCausalLM", "gemma2", llama_global_tensors, gemma2_layer_tensors, {},
         "gelu_pytorch_tanh", true, false, hf_window_layers::even, 1.0f},
    };
    return table;
}

std::string supported_model_types() {
    std::string s;
    for (const auto& a : hf_arch_table()) s += (s.empty() ? "" : ", ") + std::string(a.model_type);
    return s;
}

const hf_arch_spec& hf_find_arch(const json& cfg, const std::string& path) {
    if (cfg.contains("model_type") && cfg["model_type"].is_string()) {
        const std::string mt = cfg["model_type"].get<std::string>();
        for (const auto& a : hf_arch_table()) {
            if (mt == a.model_type) return a;
        }
        fail("{}: model_type '{}' is not supported (supported: {})", path, mt, supported_model_types());
    }
    if (cfg.contains("architectures") && cfg["architectures"].is_array()) {
        for (const json& name : cfg["architectures"]) {
            for (const auto& a : hf_arch_table()) {
                if (name.is_string() && name.get<std::string>() == a.architecture) return a;
            }
        }
        fail("{}: architectures {} are not supported (supported model_type: {})", path, cfg["architectures"].dump(),
             supported_model_types());
    }
    fail("{}: no model_type or architectures field", path);
}

bool cfg_present(const json& cfg, const char* key) { return cfg.contains(key) && !cfg[key].is_null(); }

// A positive integer field; `def` when absent (a required field has none).
int64_t cfg_int(const json& cfg, const char* key, const std::string& path, std::optional<int64_t> def = {},
                int64_t max = int64_t(1) << 24) {
    if (!cfg_present(cfg, key)) {
        if (def) return *def;
        fail("{}: required field '{}' is missing", path, key);
    }
    const json& v = cfg[key];
    if (!v.is_number_integer() || v.get<int64_t>() < 1 || v.get<int64_t>() > max) {
        fail("{}: field '{}' = {} is not an integer in [1, {}]", path, key, v.dump(), max);
    }
    return v.get<int64_t>();
}

double cfg_positive_float(const json& cfg, const char* key, const std::string& path, std::optional<double> def = {}) {
    if (!cfg_present(cfg, key)) {
        if (def) return *def;
        fail("{}: required field '{}' is missing", path, key);
    }
    const json& v = cfg[key];
    if (!v.is_number() || !(v.get<double>() > 0.0) || std::isinf(v.get<double>())) {
        fail("{}: field '{}' = {} is not a positive number", path, key, v.dump());
    }
    return v.get<double>();
}

bool cfg_bool(const json& cfg, const char* key, const std::string& path, bool def) {
    if (!cfg_present(cfg, key)) return def;
    if (!cfg[key].is_boolean()) fail("{}: field '{}' = {} is not true or false", path, key, cfg[key].dump());
    return cfg[key].get<bool>();
}

// rope_scaling: null, or {"rope_type" (or "type"): default | linear | llama3, ...}.
void read_rope_scaling(const json& cfg, const std::string& path, double theta, int n_rot, metadata& out) {
    if (!cfg_present(cfg, "rope_scaling")) return;
    const json& rs = cfg["rope_scaling"];
    if (!rs.is_object()) fail("{}: field 'rope_scaling' = {} is not an object", path, rs.dump());
    std::string type;
    for (const char* k : {"type", "rope_type"}) {
        if (rs.contains(k) && rs[k].is_string()) type = rs[k].get<std::string>();
    }
    if (type.empty()) fail("{}: field 'rope_scaling' has no string 'rope_type'", path);
    auto number = [&](const char* k) {
        if (!rs.contains(k) || !rs[k].is_number() || !(rs[k].get<double>() > 0.0)) {
            fail("{}: field 'rope_scaling.{}' is missing or not a positive number (rope_type {})", path, k, type);
        }
        return rs[k].get<double>();
    };
    if (type == "default") return;
    if (type == "linear") {
        out.set_float("rope.freq_scale", 1.0 / number("factor"));
        return;
    }
    if (type == "llama3") {
        const double factor = number("factor"), low = number("low_freq_factor"), high = number("high_freq_factor");
        const double original = number("original_max_position_embeddings");
        if (!(high > low)) fail("{}: field 'rope_scaling.high_freq_factor' must exceed low_freq_factor", path);
        out.set("rope.freq_factors", rope_llama3_factors(theta, n_rot, factor, low, high, original));
        return;
    }
    fail("{}: field 'rope_scaling.rope_type' = '{}' is not supported (supported: default, linear, llama3)", path, type);
}

}  // namespace

std::vector<float> rope_llama3_factors(double theta, int n_rot, double factor, double low_freq_factor,
                                       double high_freq_factor, double original_ctx) {
    // Wavelengths shorter than original_ctx / high_freq_factor keep their frequency, longer than
    // original_ctx / low_freq_factor are divided by factor, and the band between is interpolated.
    const double pi = 3.14159265358979323846;
    const double low_wavelen = original_ctx / low_freq_factor, high_wavelen = original_ctx / high_freq_factor;
    std::vector<float> out(static_cast<size_t>(n_rot / 2));
    for (int i = 0; i < n_rot / 2; ++i) {
        const double freq = std::pow(theta, -2.0 * i / n_rot);
        const double wavelen = 2.0 * pi / freq;
        double f;
        if (wavelen < high_wavelen) {
            f = 1.0;
        } else if (wavelen > low_wavelen) {
            f = factor;
        } else {
            const double smooth = (original_ctx / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor);
            f = 1.0 / ((1.0 - smooth) / factor + smooth);
        }
        out[static_cast<size_t>(i)] = static_cast<float>(f);
    }
    return out;
}

hf_config hf_read_config(const json& cfg, const std::string& path) {
    hf_config c;
    c.arch = &hf_find_arch(cfg, path);
    const hf_arch_spec& a = *c.arch;

    for (const char* key : {"hidden_activation", "hidden_act"}) {
        if (!cfg_present(cfg, key)) continue;
        if (cfg[key] != a.activation) {
            fail("{}: field '{}' = {} is not supported for model_type {} (expected \"{}\")", path, key,
                 cfg[key].dump(), a.model_type, a.activation);
        }
        break;  // Gemma 2's hidden_activation takes precedence over hidden_act
    }
    if (cfg_bool(cfg, "attention_bias", path, false) && !a.attention_bias_allowed) {
        fail("{}: field 'attention_bias' = true is not supported for model_type {}", path, a.model_type);
    }
    if (cfg_bool(cfg, "mlp_bias", path, false)) fail("{}: field 'mlp_bias' = true is not supported", path);
    if (cfg_bool(cfg, "use_sliding_window", path, false) && a.sliding == hf_window_layers::none) {
        fail("{}: field 'use_sliding_window' = true is not supported for model_type {}", path, a.model_type);
    }
    if (cfg_present(cfg, "partial_rotary_factor") &&
        !(cfg["partial_rotary_factor"].is_number() && cfg["partial_rotary_factor"].get<double>() == 1.0)) {
        fail("{}: field 'partial_rotary_factor' = {} is not supported (only 1)", path,
             cfg["partial_rotary_factor"].dump());
    }

    c.n_embd = cfg_int(cfg, "hidden_size", path, {}, 1 << 17);
    c.n_layer = cfg_int(cfg, "num_hidden_layers", path, {}, 1 << 12);
    c.n_head = cfg_int(cfg, "num_attention_heads", path, {}, 1 << 12);
    c.n_head_kv = cfg_int(cfg, "num_key_value_heads", path, c.n_head, 1 << 12);
    c.n_ff = cfg_int(cfg, "intermediate_size", path, {}, 1 << 20);
    const int64_t n_ctx_train = cfg_int(cfg, "max_position_embeddings", path, {}, 1 << 24);
    c.n_vocab = cfg_int(cfg, "vocab_size", path, {}, 1 << 22);
    const double norm_eps = cfg_positive_float(cfg, "rms_norm_eps", path);
    const double rope_theta = cfg_positive_float(cfg, "rope_theta", path, 10000.0);
    if (c.n_embd % c.n_head != 0 && !cfg_present(cfg, "head_dim")) {
        fail("{}: hidden_size {} is not a multiple of num_attention_heads {} (and no head_dim)", path, c.n_embd,
             c.n_head);
    }
    c.head_dim = cfg_int(cfg, "head_dim", path, c.n_embd / c.n_head, 1 << 14);
    if (c.n_head % c.n_head_kv != 0) {
        fail("{}: num_attention_heads {} is not a multiple of num_key_value_heads {}", path, c.n_head, c.n_head_kv);
    }
    if (c.head_dim % 2 != 0) fail("{}: head_dim {} must be even for RoPE", path, c.head_dim);
    c.tie_word_embeddings = cfg_bool(cfg, "tie_word_embeddings", path, a.tie_default);

    metadata& m = c.meta;
    m.set_str("model.arch", a.kiln_arch);
    m.set_int("model.n_vocab", c.n_vocab);
    m.set_int("model.n_embd", c.n_embd);
    m.set_int("model.n_layer", c.n_layer);
    m.set_int("model.n_head", c.n_head);
    m.set_int("model.n_head_kv", c.n_head_kv);
    m.set_int("model.head_dim", c.head_dim);
    m.set_int("model.n_ff", c.n_ff);
    m.set_int("model.n_ctx_train", n_ctx_train);
    m.set_float("model.norm_eps", norm_eps);
    m.set_float("rope.theta", rope_theta);
    m.set_int("rope.n_rot", c.head_dim);
    m.set_str("rope.pairing", "half");
    read_rope_scaling(cfg, path, rope_theta, static_cast<int>(c.head_dim), m);

    if (a.sliding != hf_window_layers::none) {
        // Mistral: null means no window; Gemma 2 always has one (4096 unless given).
        const bool gemma = a.sliding == hf_window_layers::even;
        if (gemma || cfg_present(cfg, "sliding_window")) {
            const std::optional<int64_t> def = gemma ? std::optional<int64_t>(4096) : std::nullopt;
            const int64_t window = cfg_int(cfg, "sliding_window", path, def, int64_t(1) << 30);
            m.set_int("attn.sliding_window", window);
            std::vector<int32_t> layers(static_cast<size_t>(c.n_layer));
            for (int64_t i = 0; i < c.n_layer; ++i) layers[static_cast<size_t>(i)] = !gemma || i % 2 == 0 ? 1 : 0;
            m.set("attn.sliding_window_layers", std::move(layers));
        }
    }
    if (std::string(a.model_type) == "gemma2") {
        const double qpas = cfg_positive_float(cfg, "query_pre_attn_scalar", path, 256.0);
        m.set_float("attn.scale", 1.0 / std::sqrt(qpas));
        // null turns a soft-cap off; absent means Gemma 2's defaults
        auto cap = [&](const char* key, const char* kiln_key, double def) {
            if (cfg.contains(key) && cfg[key].is_null()) return;
            m.set_float(kiln_key, cfg_positive_float(cfg, key, path, def));
        };
        cap("attn_logit_softcapping", "attn.logit_softcap", 50.0);
        cap("final_logit_softcapping", "model.final_logit_softcap", 30.0);
    }
    return c;
}

std::vector<int64_t> hf_expected_ne(const std::string& kind, const hf_config& c) {
    const int64_t q_dim = c.n_head * c.head_dim, kv_dim = c.n_head_kv * c.head_dim;
    if (kind == "token_embd.weight" || kind == "output.weight") return {c.n_embd, c.n_vocab};
    if (kind == "output_norm.weight" || kind == "attn_norm.weight" || kind == "ffn_norm.weight" ||
        kind == "post_attention_norm.weight" || kind == "post_ffw_norm.weight") {
        return {c.n_embd};
    }
    if (kind == "attn_q.weight") return {c.n_embd, q_dim};
    if (kind == "attn_k.weight" || kind == "attn_v.weight") return {c.n_embd, kv_dim};
    if (kind == "attn_output.weight") return {q_dim, c.n_embd};
    if (kind == "attn_q.bias") return {q_dim};
    if (kind == "attn_k.bias" || kind == "attn_v.bias") return {kv_dim};
    if (kind == "attn_q_norm.weight" || kind == "attn_k_norm.weight") return {c.head_dim};
    if (kind == "ffn_gate.weight" || kind == "ffn_up.weight") return {c.n_embd, c.n_ff};
    if (kind == "ffn_down.weight") return {c.n_ff, c.n_embd};
    fail("internal: no expected shape for tensor kind '{}'", kind);
}

}  // namespace kiln

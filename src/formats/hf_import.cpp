#include "formats/hf_import.h"

#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/fp16.h"
#include "formats/hf_tokenizer.h"
#include "formats/safetensors.h"

#ifndef KILN_VERSION
#define KILN_VERSION "dev"
#endif

namespace kiln {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// One tensor name of the checkpoint and its KILN name.
struct hf_name_rule {
    const char* hf;
    const char* kiln;
};

// Everything that differs between the Llama-family architectures kiln imports.
// A new family (mistral, qwen2 with attention biases, qwen3 with Q/K norms) is
// a new row: its model_type, its extra tensor names and, where the graph
// differs, its KILN model.arch.
struct hf_arch_spec {
    const char* model_type;    // config.json "model_type"
    const char* architecture;  // config.json "architectures" entry, used when model_type is absent
    const char* kiln_arch;     // KILN model.arch
    const char* rope_pairing;  // Q/K row order of the checkpoint
    std::vector<hf_name_rule> global_tensors;
    std::vector<hf_name_rule> layer_tensors;  // after "model.layers.N."
    std::vector<const char*> ignored_layer_tensors;
};

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

// Hugging Face llama checkpoints permute Q/K rows so that the half-split rotation reproduces
// Meta's interleaved one; kiln keeps their order and records the pairing.
const hf_arch_spec hf_arch_table[] = {
    {"llama", "LlamaForCausalLM", "llama", "half", llama_global_tensors, llama_layer_tensors,
     {"self_attn.rotary_emb.inv_freq"}},
};

std::string supported_model_types() {
    std::string s;
    for (const auto& a : hf_arch_table) s += (s.empty() ? "" : ", ") + std::string(a.model_type);
    return s;
}

const hf_arch_spec& hf_find_arch(const json& cfg, const std::string& path) {
    if (cfg.contains("model_type") && cfg["model_type"].is_string()) {
        const std::string mt = cfg["model_type"].get<std::string>();
        for (const auto& a : hf_arch_table) {
            if (mt == a.model_type) return a;
        }
        fail("{}: model_type '{}' is not supported (supported: {})", path, mt, supported_model_types());
    }
    if (cfg.contains("architectures") && cfg["architectures"].is_array()) {
        for (const json& name : cfg["architectures"]) {
            for (const auto& a : hf_arch_table) {
                if (name.is_string() && name.get<std::string>() == a.architecture) return a;
            }
        }
        fail("{}: architectures {} are not supported (supported model_type: {})", path, cfg["architectures"].dump(),
             supported_model_types());
    }
    fail("{}: no model_type or architectures field", path);
}

struct hf_hparams {
    int64_t n_vocab, n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff, n_ctx_train;
    double norm_eps, rope_theta;
    bool tie_word_embeddings;
};

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
    if (!v.is_number() || !(v.get<double>() > 0.0)) fail("{}: field '{}' = {} is not a positive number", path, key, v.dump());
    return v.get<double>();
}

hf_hparams hf_read_hparams(const json& cfg, const std::string& path) {
    if (cfg_present(cfg, "rope_scaling")) {
        const json& rs = cfg["rope_scaling"];
        std::string type = "?";
        for (const char* k : {"rope_type", "type"}) {
            if (rs.is_object() && rs.contains(k) && rs[k].is_string()) type = rs[k].get<std::string>();
        }
        fail("{}: rope_scaling type {} not supported yet", path, type);
    }
    if (cfg_present(cfg, "hidden_act") && cfg["hidden_act"] != "silu") {
        fail("{}: hidden_act {} is not supported (silu)", path, cfg["hidden_act"].dump());
    }
    hf_hparams hp;
    hp.n_embd = cfg_int(cfg, "hidden_size", path, {}, 1 << 17);
    hp.n_layer = cfg_int(cfg, "num_hidden_layers", path, {}, 1 << 12);
    hp.n_head = cfg_int(cfg, "num_attention_heads", path, {}, 1 << 12);
    hp.n_head_kv = cfg_int(cfg, "num_key_value_heads", path, hp.n_head, 1 << 12);
    hp.n_ff = cfg_int(cfg, "intermediate_size", path, {}, 1 << 20);
    hp.n_ctx_train = cfg_int(cfg, "max_position_embeddings", path, {}, 1 << 24);
    hp.n_vocab = cfg_int(cfg, "vocab_size", path, {}, 1 << 22);
    hp.norm_eps = cfg_positive_float(cfg, "rms_norm_eps", path);
    hp.rope_theta = cfg_positive_float(cfg, "rope_theta", path, 10000.0);
    if (hp.n_embd % hp.n_head != 0 && !cfg_present(cfg, "head_dim")) {
        fail("{}: hidden_size {} is not a multiple of num_attention_heads {} (and no head_dim)", path, hp.n_embd,
             hp.n_head);
    }
    hp.head_dim = cfg_int(cfg, "head_dim", path, hp.n_embd / hp.n_head, 1 << 14);
    if (hp.n_head % hp.n_head_kv != 0) {
        fail("{}: num_attention_heads {} is not a multiple of num_key_value_heads {}", path, hp.n_head, hp.n_head_kv);
    }
    if (hp.head_dim % 2 != 0) fail("{}: head_dim {} must be even for RoPE", path, hp.head_dim);
    hp.tie_word_embeddings = false;
    if (cfg_present(cfg, "tie_word_embeddings")) {
        if (!cfg["tie_word_embeddings"].is_boolean()) fail("{}: tie_word_embeddings is not true or false", path);
        hp.tie_word_embeddings = cfg["tie_word_embeddings"].get<bool>();
    }
    return hp;
}

// KILN shape (ne, innermost first) of a tensor, by its name without the "blk.N." prefix.
std::vector<int64_t> kiln_expected_ne(const std::string& name, const hf_hparams& hp) {
    const int64_t q_dim = hp.n_head * hp.head_dim, kv_dim = hp.n_head_kv * hp.head_dim;
    if (name == "token_embd.weight" || name == "output.weight") return {hp.n_embd, hp.n_vocab};
    if (name == "output_norm.weight" || name == "attn_norm.weight" || name == "ffn_norm.weight") return {hp.n_embd};
    if (name == "attn_q.weight") return {hp.n_embd, q_dim};
    if (name == "attn_k.weight" || name == "attn_v.weight") return {hp.n_embd, kv_dim};
    if (name == "attn_output.weight") return {q_dim, hp.n_embd};
    if (name == "ffn_gate.weight" || name == "ffn_up.weight") return {hp.n_embd, hp.n_ff};
    if (name == "ffn_down.weight") return {hp.n_ff, hp.n_embd};
    fail("internal: no expected shape for tensor kind '{}'", name);
}

std::string shape_str(const std::vector<int64_t>& s) {
    std::string out = "[";
    for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
    return out + "]";
}

// The KILN tensor for a checkpoint tensor: same bytes (HF [out, in] row-major is KILN ne {in, out}),
// except 1-D tensors, which KILN keeps in f32.
source_tensor hf_make_tensor(const safetensors_tensor& st, const std::string& kiln_name,
                             const std::vector<int64_t>& expected_ne) {
    std::vector<int64_t> ne(st.shape.rbegin(), st.shape.rend());
    if (ne != expected_ne) {
        std::vector<int64_t> want(expected_ne.rbegin(), expected_ne.rend());
        fail("{}: tensor '{}' has shape {} but config.json implies {}", st.file, st.name, shape_str(st.shape),
             shape_str(want));
    }
    source_tensor t;
    t.name = kiln_name;
    t.n_dims = static_cast<int>(ne.size());
    for (size_t i = 0; i < ne.size(); ++i) t.ne[i] = ne[i];
    const size_t elem = dtype_row_bytes(st.type, 1);
    if (t.n_dims == 1 && st.type != dtype::f32) {
        const uint8_t* src = st.data;
        const dtype from = st.type;
        const int64_t n = ne[0];
        t.type = dtype::f32;
        t.load = [src, from, n](void* dst) {
            float* out = static_cast<float*>(dst);
            for (int64_t i = 0; i < n; ++i) {
                uint16_t h;
                std::memcpy(&h, src + 2 * i, 2);  // safetensors does not promise aligned data
                out[i] = from == dtype::f16 ? fp16_to_f32(h) : bf16_to_f32(h);
            }
        };
    } else {
        t.type = st.type;
        if (reinterpret_cast<uintptr_t>(st.data) % elem == 0) {
            t.data = st.data;
        } else {
            // A misaligned tensor is copied on demand, so that no one reads its elements in place.
            const uint8_t* src = st.data;
            const size_t n_bytes = st.n_bytes;
            t.load = [src, n_bytes](void* dst) { std::memcpy(dst, src, n_bytes); };
        }
    }
    return t;
}

// "model.layers.12.mlp.up_proj.weight" → layer 12, rest "mlp.up_proj.weight".
bool split_layer_name(const std::string& name, int64_t& layer, std::string& rest) {
    static const std::string prefix = "model.layers.";
    if (name.compare(0, prefix.size(), prefix) != 0) return false;
    size_t i = prefix.size();
    const size_t digits_begin = i;
    layer = 0;
    while (i < name.size() && name[i] >= '0' && name[i] <= '9' && i - digits_begin < 9) {
        layer = layer * 10 + (name[i] - '0');
        ++i;
    }
    if (i == digits_begin || i >= name.size() || name[i] != '.') return false;
    rest = name.substr(i + 1);
    return true;
}

std::string dir_display_name(const std::string& dir) {
    fs::path p = fs::path(dir).lexically_normal();
    if (p.filename().empty()) p = p.parent_path();
    const std::string name = p.filename().string();
    return name.empty() || name == "." ? fs::absolute(p).lexically_normal().filename().string() : name;
}

}  // namespace

source_model hf_import(const std::string& dir) {
    const std::string cfg_path = (fs::path(dir) / "config.json").string();
    const json cfg = hf_read_json(cfg_path);
    if (!cfg.is_object()) fail("{}: not a JSON object", cfg_path);
    const hf_arch_spec& arch = hf_find_arch(cfg, cfg_path);
    const hf_hparams hp = hf_read_hparams(cfg, cfg_path);

    const safetensors_checkpoint ck = safetensors_checkpoint::open_dir(dir);
    std::map<std::string, source_tensor> by_name;
    for (const auto& [hf_name, st] : ck.tensors()) {
        std::string kiln_name, kind;
        for (const auto& r : arch.global_tensors) {
            if (hf_name == r.hf) kiln_name = kind = r.kiln;
        }
        int64_t layer = 0;
        std::string rest;
        bool ignored = false;
        if (kiln_name.empty() && split_layer_name(hf_name, layer, rest)) {
            for (const auto& r : arch.layer_tensors) {
                if (rest == r.hf) kind = r.kiln;
            }
            for (const char* ig : arch.ignored_layer_tensors) ignored |= rest == ig;
            if (!kind.empty()) {
                if (layer >= hp.n_layer) {
                    fail("{}: tensor '{}' belongs to layer {} but config.json has num_hidden_layers {}", st.file,
                         hf_name, layer, hp.n_layer);
                }
                kiln_name = fmt::format("blk.{}.{}", layer, kind);
            }
        }
        if (ignored) continue;  // recomputed by kiln (RoPE frequencies)
        if (kiln_name.empty()) {
            fail("{}: tensor '{}' is not part of a {} model (unknown name)", st.file, hf_name, arch.model_type);
        }
        if (kiln_name == "output.weight" && hp.tie_word_embeddings) continue;  // a saved copy of the embeddings
        by_name.emplace(kiln_name, hf_make_tensor(st, kiln_name, kiln_expected_ne(kind, hp)));
    }

    source_model m;
    auto take = [&](const std::string& kiln_name, const std::string& hf_name, bool required) {
        auto it = by_name.find(kiln_name);
        if (it == by_name.end()) {
            if (required) fail("{}: tensor '{}' is missing from the checkpoint", dir, hf_name);
            return;
        }
        m.tensors.push_back(std::move(it->second));
    };
    take("token_embd.weight", "model.embed_tokens.weight", true);
    for (int64_t l = 0; l < hp.n_layer; ++l) {
        for (const auto& r : arch.layer_tensors) {
            take(fmt::format("blk.{}.{}", l, r.kiln), fmt::format("model.layers.{}.{}", l, r.hf), true);
        }
    }
    take("output_norm.weight", "model.norm.weight", true);
    take("output.weight", "lm_head.weight", false);
    const bool tied = m.find("output.weight") == nullptr;
    for (const auto& f : ck.files()) m.keep_alive.push_back(f);

    metadata& meta = m.meta;
    meta.set_str("model.arch", arch.kiln_arch);
    meta.set_str("model.name", dir_display_name(dir));
    meta.set_int("model.n_vocab", hp.n_vocab);
    meta.set_int("model.n_embd", hp.n_embd);
    meta.set_int("model.n_layer", hp.n_layer);
    meta.set_int("model.n_head", hp.n_head);
    meta.set_int("model.n_head_kv", hp.n_head_kv);
    meta.set_int("model.head_dim", hp.head_dim);
    meta.set_int("model.n_ff", hp.n_ff);
    meta.set_int("model.n_ctx_train", hp.n_ctx_train);
    meta.set_float("model.norm_eps", hp.norm_eps);
    meta.set_bool("model.tied_output", tied);
    meta.set_float("rope.theta", hp.rope_theta);
    meta.set_int("rope.n_rot", hp.head_dim);
    meta.set_str("rope.pairing", arch.rope_pairing);
    meta.set_str("provenance.source_format", "hf");
    meta.set_str("provenance.source", dir_display_name(dir));
    meta.set_str("provenance.converter", std::string("kiln ") + KILN_VERSION);

    hf_tokenizer_to_metadata(dir, meta);
    const size_t n_tokens = meta.get_str_array("tokenizer.tokens").size();
    if (static_cast<int64_t>(n_tokens) != hp.n_vocab) {
        fail("{}: the tokenizer has {} tokens but config.json vocab_size is {}", dir, n_tokens, hp.n_vocab);
    }
    return m;
}

}  // namespace kiln

#include "formats/hf_import.h"

#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/fp16.h"
#include "formats/hf_config.h"
#include "formats/hf_tokenizer.h"
#include "formats/safetensors.h"

#ifndef KILN_VERSION
#define KILN_VERSION "dev"
#endif

namespace kiln {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::string shape_str(const std::vector<int64_t>& s) {
    std::string out = "[";
    for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
    return out + "]";
}

// The KILN tensor for a checkpoint tensor: same bytes (HF [out, in] row-major is KILN ne {in, out}),
// except 1-D tensors, which KILN keeps in f32.
source_tensor hf_make_tensor(const safetensors_tensor& st, const std::string& kiln_name,
                             const std::vector<int64_t>& expected_ne, float add = 0.0f) {
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
    if (t.n_dims == 1 && (st.type != dtype::f32 || add != 0.0f)) {
        const uint8_t* src = st.data;
        const dtype from = st.type;
        const int64_t n = ne[0];
        t.type = dtype::f32;
        t.load = [src, from, n, add](void* dst) {
            float* out = static_cast<float*>(dst);
            for (int64_t i = 0; i < n; ++i) {
                // safetensors does not promise aligned data
                if (from == dtype::f32) {
                    std::memcpy(&out[i], src + 4 * i, 4);
                } else {
                    uint16_t h;
                    std::memcpy(&h, src + 2 * i, 2);
                    out[i] = from == dtype::f16 ? fp16_to_f32(h) : bf16_to_f32(h);
                }
                out[i] += add;
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

source_model hf_import_weights(const std::string& dir) {
    const std::string cfg_path = (fs::path(dir) / "config.json").string();
    const json cfg = hf_read_json(cfg_path);
    if (!cfg.is_object()) fail("{}: not a JSON object", cfg_path);
    const hf_config hp = hf_read_config(cfg, cfg_path);
    const hf_arch_spec& arch = *hp.arch;

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
        // Gemma's RMSNorm multiplies by (1 + w): KILN stores the multiplier itself.
        const bool is_norm = kind.size() >= 11 && kind.compare(kind.size() - 11, 11, "norm.weight") == 0;
        const float add = is_norm ? arch.norm_offset : 0.0f;
        by_name.emplace(kiln_name, hf_make_tensor(st, kiln_name, hf_expected_ne(kind, hp), add));
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
    take("output.weight", "lm_head.weight", !hp.tie_word_embeddings);
    const bool tied = m.find("output.weight") == nullptr;
    for (const auto& f : ck.files()) m.keep_alive.push_back(f);

    metadata& meta = m.meta;
    meta = hp.meta;
    meta.set_str("model.name", dir_display_name(dir));
    meta.set_bool("model.tied_output", tied);
    meta.set_str("provenance.source_format", "hf");
    meta.set_str("provenance.source", dir_display_name(dir));
    meta.set_str("provenance.converter", std::string("kiln ") + KILN_VERSION);
    return m;
}

source_model hf_import(const std::string& dir) {
    source_model m = hf_import_weights(dir);
    hf_tokenizer_to_metadata(dir, m.meta);
    const size_t n_tokens = m.meta.get_str_array("tokenizer.tokens").size();
    const int64_t n_vocab = m.meta.get_int("model.n_vocab");
    if (static_cast<int64_t>(n_tokens) > n_vocab) {
        fail("{}: the tokenizer has {} tokens but config.json vocab_size is only {}", dir, n_tokens, n_vocab);
    }
    // Many checkpoints (Qwen2.5, Llama 3.2 Vision, ...) round the embedding up past the last token for
    // alignment; those rows are never produced by the tokenizer. Name them as unused tokens, as llama.cpp
    // does, so ids and rows stay one to one.
    if (static_cast<int64_t>(n_tokens) < n_vocab) {
        std::vector<std::string> tokens = m.meta.get_str_array("tokenizer.tokens");
        std::vector<int32_t> types = m.meta.get_i32_array("tokenizer.token_type");
        const bool has_scores = m.meta.has("tokenizer.scores");
        std::vector<float> scores = has_scores ? m.meta.get_f32_array("tokenizer.scores") : std::vector<float>();
        for (int64_t i = static_cast<int64_t>(n_tokens); i < n_vocab; ++i) {
            tokens.push_back("[PAD" + std::to_string(i) + "]");
            types.push_back(5);  // unused
            if (has_scores) scores.push_back(0.0f);
        }
        m.meta.set("tokenizer.tokens", std::move(tokens));
        m.meta.set("tokenizer.token_type", std::move(types));
        if (has_scores) m.meta.set("tokenizer.scores", std::move(scores));
    }
    return m;
}

}  // namespace kiln

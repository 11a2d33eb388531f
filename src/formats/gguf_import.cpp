#include "formats/gguf_import.h"

#include <cmath>
#include <filesystem>
#include <vector>

#include "core/convert_row.h"
#include "core/error.h"

namespace kiln {

namespace {

enum class hparam_kind { integer, real };

// One hyper-parameter as GGUF names it, under the "<arch>." prefix.
struct gguf_hparam {
    const char* suffix;
    const char* kiln_key;
    hparam_kind kind;
    bool required;
};

// Keys every transformer architecture in GGUF spells the same way. Defaults
// for the optional ones are filled in by import_hparams.
const gguf_hparam common_hparams[] = {
    {"embedding_length", "model.n_embd", hparam_kind::integer, true},
    {"block_count", "model.n_layer", hparam_kind::integer, true},
    {"attention.head_count", "model.n_head", hparam_kind::integer, true},
    {"attention.head_count_kv", "model.n_head_kv", hparam_kind::integer, false},
    {"attention.key_length", "model.head_dim", hparam_kind::integer, false},
    {"feed_forward_length", "model.n_ff", hparam_kind::integer, true},
    {"context_length", "model.n_ctx_train", hparam_kind::integer, true},
    {"attention.layer_norm_rms_epsilon", "model.norm_eps", hparam_kind::real, true},
    {"rope.freq_base", "rope.theta", hparam_kind::real, false},
    {"rope.dimension_count", "rope.n_rot", hparam_kind::integer, false},
};

// The architectures kiln can run. Adding one is an entry here: the graph that
// runs it, the RoPE pairing its GGUF weights were stored for (llama.cpp keeps
// Meta's original Q/K order for llama, "interleaved"; NeoX-style models such as
// qwen2, qwen3 and gemma2 rotate halves, "half") and any keys of its own.
struct gguf_arch {
    const char* name;          // general.architecture, also the key prefix
    const char* kiln_arch;     // model.arch
    const char* rope_pairing;  // rope.pairing
    std::vector<gguf_hparam> extra_hparams;
};

// llama: Mistral-style GGUFs may carry a sliding window (kiln honours it on every layer; llama.cpp's
// llama graph ignores it). gemma2: soft-caps and window, with llama.cpp's defaults when absent.
const std::vector<gguf_arch>& gguf_archs() {
    static const std::vector<gguf_arch> archs = {
        {"llama", "llama", "interleaved",
         {{"attention.sliding_window", "attn.sliding_window", hparam_kind::integer, false}}},
        {"qwen2", "qwen2", "half", {}},
        {"qwen3", "qwen3", "half", {}},
        {"gemma2", "gemma2", "half",
         {{"attention.sliding_window", "attn.sliding_window", hparam_kind::integer, false},
          {"attn_logit_softcapping", "attn.logit_softcap", hparam_kind::real, false},
          {"final_logit_softcapping", "model.final_logit_softcap", hparam_kind::real, false}}},
    };
    return archs;
}

const gguf_arch& find_arch(const std::string& name, const std::string& path) {
    for (const auto& a : gguf_archs()) {
        if (name == a.name) return a;
    }
    std::string supported;
    for (const auto& a : gguf_archs()) supported += (supported.empty() ? "" : ", ") + std::string(a.name);
    fail("unsupported architecture '{}' in {} (supported: {})", name, path, supported);
}

void import_hparam(const gguf_file& g, const std::string& arch, const gguf_hparam& h, metadata& out) {
    const std::string key = arch + "." + h.suffix;
    if (!g.find(key)) {
        if (h.required) fail("{}: key '{}' is missing", g.path(), key);
        return;
    }
    if (h.kind == hparam_kind::real) {
        out.set_float(h.kiln_key, g.get_float(key));
        return;
    }
    const int64_t v = g.get_int(key);
    if (v < 1 || v > (int64_t(1) << 31)) fail("{}: key '{}' = {} is out of range", g.path(), key, v);
    out.set_int(h.kiln_key, v);
}

// <arch>.rope.scaling.type: none, or linear (positions divided by the factor). Llama 3's scaling
// comes as the rope_freqs.weight tensor instead (see import_rope_freqs).
void import_rope_scaling(const gguf_file& g, const std::string& arch, metadata& out) {
    const std::string type_key = arch + ".rope.scaling.type";
    const std::string type = g.find(type_key) ? g.get_str(type_key) : "none";
    if (type == "none") return;
    if (type != "linear") fail("{}: key '{}' = '{}' is not supported (none, linear)", g.path(), type_key, type);
    const std::string factor_key = arch + ".rope.scaling.factor";
    if (!g.find(factor_key)) fail("{}: key '{}' is missing (needed by rope scaling type linear)", g.path(), factor_key);
    const double factor = g.get_float(factor_key);
    if (!(factor > 0.0) || std::isinf(factor)) {
        fail("{}: key '{}' = {} is not a positive number", g.path(), factor_key, factor);
    }
    out.set_float("rope.freq_scale", 1.0 / factor);
}

// Gemma 2 as llama.cpp runs it: soft-caps 50 and 30 and window 4096 unless the file says otherwise,
// the window on even layers, queries scaled by 1/sqrt(head_dim) except in the 46-layer (27B)
// model, whose query_pre_attn_scalar is n_embd / n_head.
void import_gemma2(metadata& out) {
    if (!out.has("attn.logit_softcap")) out.set_float("attn.logit_softcap", 50.0);
    if (!out.has("model.final_logit_softcap")) out.set_float("model.final_logit_softcap", 30.0);
    if (!out.has("attn.sliding_window")) out.set_int("attn.sliding_window", 4096);
    const int64_t n_layer = out.get_int("model.n_layer");
    std::vector<int32_t> sliding(static_cast<size_t>(n_layer));
    for (int64_t i = 0; i < n_layer; ++i) sliding[static_cast<size_t>(i)] = i % 2 == 0 ? 1 : 0;
    out.set("attn.sliding_window_layers", std::move(sliding));
    const int64_t query_scalar = n_layer == 46 ? out.get_int("model.n_embd") / out.get_int("model.n_head")
                                               : out.get_int("model.head_dim");
    out.set_float("attn.scale", 1.0 / std::sqrt(static_cast<double>(query_scalar)));
}

void import_hparams(const gguf_file& g, const gguf_arch& a, metadata& out) {
    for (const auto& h : common_hparams) import_hparam(g, a.name, h, out);
    for (const auto& h : a.extra_hparams) import_hparam(g, a.name, h, out);

    const int64_t n_embd = out.get_int("model.n_embd");
    const int64_t n_head = out.get_int("model.n_head");
    if (!out.has("model.n_head_kv")) out.set_int("model.n_head_kv", n_head);
    if (!out.has("model.head_dim")) {
        if (n_embd % n_head != 0) {
            fail("{}: {}.embedding_length {} is not a multiple of the head count {} (and no key_length is given)",
                 g.path(), a.name, n_embd, n_head);
        }
        out.set_int("model.head_dim", n_embd / n_head);
    }
    if (!out.has("rope.theta")) out.set_float("rope.theta", 10000.0);
    if (!out.has("rope.n_rot")) out.set_int("rope.n_rot", out.get_int("model.head_dim"));
    out.set_str("rope.pairing", a.rope_pairing);
    out.set_str("model.arch", a.kiln_arch);
    import_rope_scaling(g, a.name, out);
    if (std::string(a.name) == "gemma2") import_gemma2(out);
}

bool dtype_from_ggml(uint32_t ggml_type, dtype& out) {
    switch (ggml_type) {
        case 0: out = dtype::f32; return true;
        case 1: out = dtype::f16; return true;
        case 2: out = dtype::q4_0; return true;
        case 3: out = dtype::q4_1; return true;
        case 6: out = dtype::q5_0; return true;
        case 7: out = dtype::q5_1; return true;
        case 8: out = dtype::q8_0; return true;
        case 12: out = dtype::q4_k; return true;  // block_q4_k is GGUF's Q4_K block, byte for byte
        case 14: out = dtype::q6_k; return true;  // block_q6_k is GGUF's Q6_K block, byte for byte
        case 30: out = dtype::bf16; return true;
        default: return false;
    }
}

source_tensor import_tensor(const gguf_file& g, const gguf_tensor& t) {
    source_tensor s;
    s.name = t.name;
    if (!dtype_from_ggml(t.type, s.type)) {
        fail("{}: tensor '{}' has ggml type {}, which kiln cannot import (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q6_K)",
             g.path(), t.name, ggml_type_name(t.type));
    }
    s.n_dims = t.n_dims;
    for (int d = 0; d < 4; ++d) s.ne[d] = t.ne[d];
    s.data = t.data;
    // KILN keeps 1-D tensors (norm weights, biases) in f32; the rare GGUF that
    // stores them otherwise is widened here, the one place that knows.
    if (t.n_dims == 1 && s.type != dtype::f32) {
        const dtype src_type = s.type;
        const void* src = t.data;
        const int64_t n = t.ne[0];
        s.type = dtype::f32;
        s.data = nullptr;
        s.load = [src_type, src, n](void* dst) { row_to_f32(src_type, src, static_cast<float*>(dst), n); };
    }
    return s;
}

// Llama 3.1 RoPE scaling: llama.cpp's converter stores the per-pair frequency divisors as the
// tensor rope_freqs.weight [n_rot / 2]; KILN keeps them as the metadata key rope.freq_factors.
void import_rope_freqs(const gguf_file& g, const gguf_tensor& t, metadata& out) {
    const int64_t n_pairs = out.get_int("rope.n_rot") / 2;
    if (t.n_dims != 1 || static_cast<int64_t>(t.ne[0]) != n_pairs) {
        fail("{}: tensor 'rope_freqs.weight' has {} dimension(s) of {} elements, expected [{}] "
             "(rope.dimension_count / 2)", g.path(), t.n_dims, t.ne[0], n_pairs);
    }
    dtype type;
    if (!dtype_from_ggml(t.type, type) || dtype_info(type).quantized) {
        fail("{}: tensor 'rope_freqs.weight' has ggml type {}, expected F32", g.path(), ggml_type_name(t.type));
    }
    std::vector<float> factors(static_cast<size_t>(n_pairs));
    row_to_f32(type, t.data, factors.data(), n_pairs);
    out.set("rope.freq_factors", std::move(factors));
}

}  // namespace

// gguf_tokenizer_to_metadata and gguf_import_vocab: src/formats/gguf_tokenizer.cpp.

source_model gguf_import(const std::string& path) {
    const auto g = gguf_open(path);
    source_model m;
    m.meta.set_str("provenance.source_format", "gguf");
    m.meta.set_str("provenance.source", std::filesystem::path(path).filename().string());
    if (g->find("general.name")) m.meta.set_str("model.name", g->get_str("general.name"));
    const bool has_tokenizer = gguf_tokenizer_to_metadata(*g, m.meta);
    if (g->tensors().empty()) return m;  // vocabulary only: nothing to run, so no model.* keys

    const std::string arch_name = g->get_str("general.architecture", "");
    if (arch_name.empty()) fail("{}: key 'general.architecture' is missing", path);
    const gguf_arch& arch = find_arch(arch_name, path);
    import_hparams(*g, arch, m.meta);

    m.tensors.reserve(g->tensors().size());
    for (const gguf_tensor& t : g->tensors()) {
        if (t.name == "rope_freqs.weight") {
            import_rope_freqs(*g, t, m.meta);
            continue;
        }
        m.tensors.push_back(import_tensor(*g, t));
    }

    int64_t n_vocab = 0;
    if (has_tokenizer) {
        n_vocab = static_cast<int64_t>(m.meta.get_str_array("tokenizer.tokens").size());
    } else if (g->find(arch_name + ".vocab_size")) {
        n_vocab = g->get_int(arch_name + ".vocab_size");
    } else if (const gguf_tensor* embd = g->find_tensor("token_embd.weight"); embd && embd->n_dims >= 2) {
        n_vocab = embd->ne[1];
    } else {
        fail("{}: cannot tell the vocabulary size (no tokenizer, {}.vocab_size or token_embd.weight)", path, arch_name);
    }
    m.meta.set_int("model.n_vocab", n_vocab);
    m.meta.set_bool("model.tied_output", g->find_tensor("output.weight") == nullptr);

    m.keep_alive.push_back(g);  // holds the mapping the tensors point into
    return m;
}

}  // namespace kiln

#include "formats/gguf_import.h"

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

const std::vector<gguf_arch>& gguf_archs() {
    static const std::vector<gguf_arch> archs = {
        {"llama", "llama", "interleaved", {}},
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
}

bool dtype_from_ggml(uint32_t ggml_type, dtype& out) {
    switch (ggml_type) {
        case 0: out = dtype::f32; return true;
        case 1: out = dtype::f16; return true;
        case 2: out = dtype::q4_0; return true;
        case 8: out = dtype::q8_0; return true;
        case 30: out = dtype::bf16; return true;
        default: return false;
    }
}

source_tensor import_tensor(const gguf_file& g, const gguf_tensor& t) {
    source_tensor s;
    s.name = t.name;
    if (!dtype_from_ggml(t.type, s.type)) {
        fail("{}: tensor '{}' has ggml type {}, which kiln cannot import (supported: F32, F16, BF16, Q8_0, Q4_0)",
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

// A special token id: -1 when absent (or stored as u32 0xFFFFFFFF, GGUF's
// "none"), otherwise it must name a token.
int64_t special_id(const gguf_file& g, const std::string& key, size_t n_tokens) {
    if (!g.find(key)) return -1;
    const int64_t id = g.get_int(key);
    if (id == -1 || id == 0xFFFFFFFFll) return -1;
    if (id < 0 || static_cast<uint64_t>(id) >= n_tokens) {
        fail("{}: key '{}' = {} is outside the vocabulary of {} tokens", g.path(), key, id, n_tokens);
    }
    return id;
}

}  // namespace

bool gguf_tokenizer_to_metadata(const gguf_file& g, metadata& out) {
    const std::string model = g.get_str("tokenizer.ggml.model", "");
    if (model.empty() || model == "none" || model == "no_vocab") return false;

    std::string kind;
    bool add_bos_default = false, add_space_default = false;
    if (model == "llama") {
        kind = "spm";
        add_bos_default = true;
        add_space_default = true;
    } else if (model == "gpt2") {
        kind = "bpe";
    } else {
        fail("{}: tokenizer model '{}' is not supported (supported: llama (sentencepiece), gpt2 (byte-level BPE))",
             g.path(), model);
    }

    std::vector<std::string> tokens = g.get_str_array("tokenizer.ggml.tokens");
    const size_t n = tokens.size();
    if (n == 0) fail("{}: key 'tokenizer.ggml.tokens' is empty", g.path());
    if (g.find("tokenizer.ggml.scores")) {
        std::vector<float> scores = g.get_f32_array("tokenizer.ggml.scores");
        if (scores.size() != n) {
            fail("{}: tokenizer.ggml.scores has {} entries for {} tokens", g.path(), scores.size(), n);
        }
        out.set("tokenizer.scores", std::move(scores));
    }
    if (g.find("tokenizer.ggml.token_type")) {
        std::vector<int32_t> types = g.get_i32_array("tokenizer.ggml.token_type");
        if (types.size() != n) {
            fail("{}: tokenizer.ggml.token_type has {} entries for {} tokens", g.path(), types.size(), n);
        }
        out.set("tokenizer.token_type", std::move(types));
    }
    if (g.find("tokenizer.ggml.merges")) out.set("tokenizer.merges", g.get_str_array("tokenizer.ggml.merges"));

    out.set_str("tokenizer.model", kind);
    out.set_int("tokenizer.bos_id", special_id(g, "tokenizer.ggml.bos_token_id", n));
    out.set_int("tokenizer.eos_id", special_id(g, "tokenizer.ggml.eos_token_id", n));
    out.set_int("tokenizer.unk_id", special_id(g, "tokenizer.ggml.unknown_token_id", n));
    out.set_int("tokenizer.pad_id", special_id(g, "tokenizer.ggml.padding_token_id", n));
    out.set_bool("tokenizer.add_bos", g.get_bool("tokenizer.ggml.add_bos_token", add_bos_default));
    out.set_bool("tokenizer.add_eos", g.get_bool("tokenizer.ggml.add_eos_token", false));
    out.set_bool("tokenizer.add_space_prefix", g.get_bool("tokenizer.ggml.add_space_prefix", add_space_default));
    if (g.find("tokenizer.ggml.pre")) out.set_str("tokenizer.pre", g.get_str("tokenizer.ggml.pre"));
    if (g.find("tokenizer.chat_template")) out.set_str("tokenizer.chat_template", g.get_str("tokenizer.chat_template"));
    out.set("tokenizer.tokens", std::move(tokens));
    return true;
}

metadata gguf_import_vocab(const std::string& path) {
    const auto g = gguf_open(path);
    metadata m;
    if (!gguf_tokenizer_to_metadata(*g, m)) fail("{}: the file has no tokenizer (tokenizer.ggml.model is missing)", path);
    return m;
}

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
    for (const gguf_tensor& t : g->tensors()) m.tensors.push_back(import_tensor(*g, t));

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

#include "formats/hf_export.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <vector>

#include "core/error.h"
#include "formats/hf_config.h"
#include "formats/hf_tokenizer.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/unicode_utf8.h"

namespace kiln {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// ---- names -----------------------------------------------------------------------------------

struct name_pair {
    const char* kiln;
    const char* hf;
};

const std::vector<name_pair> global_names = {
    {"token_embd.weight", "model.embed_tokens.weight"},
    {"output_norm.weight", "model.norm.weight"},
    {"output.weight", "lm_head.weight"},
};

// The same tables as hf_config.cpp's import rules, read the other way.
std::vector<name_pair> layer_names(const std::string& model_type) {
    std::vector<name_pair> v = {
        {"attn_norm.weight", "input_layernorm.weight"}, {"attn_q.weight", "self_attn.q_proj.weight"},
        {"attn_k.weight", "self_attn.k_proj.weight"},   {"attn_v.weight", "self_attn.v_proj.weight"},
        {"attn_output.weight", "self_attn.o_proj.weight"}, {"ffn_gate.weight", "mlp.gate_proj.weight"},
        {"ffn_up.weight", "mlp.up_proj.weight"},        {"ffn_down.weight", "mlp.down_proj.weight"},
    };
    if (model_type == "gemma2") {
        v.push_back({"post_attention_norm.weight", "post_attention_layernorm.weight"});
        v.push_back({"ffn_norm.weight", "pre_feedforward_layernorm.weight"});
        v.push_back({"post_ffw_norm.weight", "post_feedforward_layernorm.weight"});
    } else {
        v.push_back({"ffn_norm.weight", "post_attention_layernorm.weight"});
    }
    if (model_type == "qwen2") {
        v.push_back({"attn_q.bias", "self_attn.q_proj.bias"});
        v.push_back({"attn_k.bias", "self_attn.k_proj.bias"});
        v.push_back({"attn_v.bias", "self_attn.v_proj.bias"});
    }
    if (model_type == "qwen3") {
        v.push_back({"attn_q_norm.weight", "self_attn.q_norm.weight"});
        v.push_back({"attn_k_norm.weight", "self_attn.k_norm.weight"});
    }
    return v;
}

// "blk.12.attn_q.weight" -> layer "12", kind "attn_q.weight"; global tensors keep their name as kind.
void split_kiln_name(const std::string& name, std::string& layer, std::string& kind) {
    layer.clear();
    kind = name;
    if (name.compare(0, 4, "blk.") != 0) return;
    const size_t dot = name.find('.', 4);
    if (dot == std::string::npos) return;
    layer = name.substr(4, dot - 4);
    kind = name.substr(dot + 1);
}

std::string hf_name_of(const std::string& kiln_name, const std::string& model_type, const std::string& who) {
    for (const auto& p : global_names) {
        if (kiln_name == p.kiln) return p.hf;
    }
    std::string layer, kind;
    split_kiln_name(kiln_name, layer, kind);
    if (!layer.empty()) {
        for (const auto& p : layer_names(model_type)) {
            if (kind == p.kiln) return "model.layers." + layer + "." + p.hf;
        }
    }
    fail("{}: tensor '{}' has no Hugging Face name in a {} model", who, kiln_name, model_type);
}

// ---- config.json -----------------------------------------------------------------------------

std::string model_type_of(const metadata& meta, const std::string& who) {
    const std::string arch = meta.get_str("model.arch", "");
    if (arch.empty()) fail("{}: no architecture (metadata 'model.arch'); a tokenizer-only file cannot be exported", who);
    if (arch == "llama") return meta.has("attn.sliding_window") ? "mistral" : "llama";
    if (arch == "qwen2" || arch == "qwen3" || arch == "gemma2") return arch;
    fail("{}: architecture '{}' cannot be exported to Hugging Face (supported: llama, qwen2, qwen3, gemma2)", who,
         arch);
}

int64_t need_int(const metadata& meta, const char* key, const std::string& who) {
    if (!meta.has(key)) fail("{}: metadata '{}' is missing (needed for config.json)", who, key);
    return meta.get_int(key);
}

double need_float(const metadata& meta, const char* key, const std::string& who) {
    if (!meta.has(key)) fail("{}: metadata '{}' is missing (needed for config.json)", who, key);
    return meta.get_float(key);
}

bool close(double a, double b, double rel) { return std::fabs(a - b) <= rel * std::max(std::fabs(a), std::fabs(b)); }

// Llama 3 frequency divisors are stored, not the rope_scaling that made them: find the usual
// parameters that give them back.
json llama3_rope_scaling(const std::vector<float>& factors, double theta, int n_rot, const std::string& who) {
    float max_f = 1.0f;
    for (float f : factors) max_f = std::max(max_f, f);
    for (double factor : {static_cast<double>(max_f), 8.0, 32.0, 16.0, 4.0, 2.0}) {
        for (double original : {8192.0, 4096.0, 2048.0, 16384.0, 32768.0, 131072.0}) {
            for (const auto& [low, high] : std::vector<std::pair<double, double>>{{1.0, 4.0}, {1.0, 2.0}, {2.0, 4.0}}) {
                const std::vector<float> got = rope_llama3_factors(theta, n_rot, factor, low, high, original);
                bool same = got.size() == factors.size();
                for (size_t i = 0; same && i < got.size(); ++i) same = close(got[i], factors[i], 1e-6);
                if (same) {
                    return {{"rope_type", "llama3"}, {"factor", factor}, {"low_freq_factor", low},
                            {"high_freq_factor", high}, {"original_max_position_embeddings", static_cast<int64_t>(original)}};
                }
            }
        }
    }
    fail("{}: metadata 'rope.freq_factors' matches no Llama 3 rope_scaling (factor 2..32, low/high 1/4, 1/2, 2/4, "
         "original context 2048..131072) and cannot be written to config.json",
         who);
}

const char* torch_dtype_of(dtype t) {
    if (t == dtype::f16) return "float16";
    if (t == dtype::bf16) return "bfloat16";
    return "float32";
}

json make_config(const source_model& m, const std::string& model_type, const std::string& who) {
    const metadata& meta = m.meta;
    const source_tensor* embd = m.find("token_embd.weight");
    if (!embd) fail("{}: tensor 'token_embd.weight' is missing", who);
    const std::map<std::string, std::string> class_of = {{"llama", "LlamaForCausalLM"}, {"mistral", "MistralForCausalLM"},
                                                         {"qwen2", "Qwen2ForCausalLM"}, {"qwen3", "Qwen3ForCausalLM"},
                                                         {"gemma2", "Gemma2ForCausalLM"}};
    const double theta = need_float(meta, "rope.theta", who);
    const int64_t head_dim = need_int(meta, "model.head_dim", who);
    json cfg = {{"architectures", {class_of.at(model_type)}},
                {"model_type", model_type},
                {"hidden_size", need_int(meta, "model.n_embd", who)},
                {"intermediate_size", need_int(meta, "model.n_ff", who)},
                {"num_hidden_layers", need_int(meta, "model.n_layer", who)},
                {"num_attention_heads", need_int(meta, "model.n_head", who)},
                {"num_key_value_heads", need_int(meta, "model.n_head_kv", who)},
                {"head_dim", head_dim},
                {"max_position_embeddings", need_int(meta, "model.n_ctx_train", who)},
                {"rms_norm_eps", need_float(meta, "model.norm_eps", who)},
                {"rope_theta", theta},
                {"vocab_size", need_int(meta, "model.n_vocab", who)},
                {"tie_word_embeddings", m.find("output.weight") == nullptr},
                {"torch_dtype", torch_dtype_of(embd->type)}};
    if (model_type == "gemma2") {
        cfg["hidden_activation"] = "gelu_pytorch_tanh";
        cfg["hidden_act"] = "gelu_pytorch_tanh";
        const double scale = need_float(meta, "attn.scale", who);
        double qpas = 1.0 / (scale * scale);
        if (std::fabs(qpas - std::round(qpas)) < 1e-6 * qpas) qpas = std::round(qpas);
        if (qpas == std::floor(qpas)) cfg["query_pre_attn_scalar"] = static_cast<int64_t>(qpas);
        else cfg["query_pre_attn_scalar"] = qpas;
        cfg["sliding_window"] = need_int(meta, "attn.sliding_window", who);
        cfg["attn_logit_softcapping"] = meta.has("attn.logit_softcap") ? json(meta.get_float("attn.logit_softcap")) : json();
        cfg["final_logit_softcapping"] =
            meta.has("model.final_logit_softcap") ? json(meta.get_float("model.final_logit_softcap")) : json();
    } else {
        cfg["hidden_act"] = "silu";
    }
    if (model_type == "llama" || model_type == "mistral") {
        cfg["attention_bias"] = false;
        cfg["mlp_bias"] = false;
    }
    if (model_type == "mistral") cfg["sliding_window"] = meta.get_int("attn.sliding_window");
    if (model_type == "qwen2" || model_type == "qwen3") cfg["use_sliding_window"] = false;
    if (meta.has("rope.freq_factors") && meta.has("rope.freq_scale")) {
        fail("{}: metadata has both 'rope.freq_factors' and 'rope.freq_scale'; config.json holds one rope_scaling", who);
    }
    if (meta.has("rope.freq_scale")) {
        cfg["rope_scaling"] = {{"rope_type", "linear"}, {"factor", 1.0 / meta.get_float("rope.freq_scale")}};
    } else if (meta.has("rope.freq_factors")) {
        cfg["rope_scaling"] = llama3_rope_scaling(meta.get_f32_array("rope.freq_factors"), theta,
                                                  static_cast<int>(need_int(meta, "rope.n_rot", who)), who);
    }
    return cfg;
}

bool values_match(const meta_value& a, const meta_value& b) {
    if (meta_kind_of(a) != meta_kind_of(b)) return false;
    if (meta_kind_of(a) == meta_kind::float64) return close(std::get<double>(a), std::get<double>(b), 1e-6);
    if (meta_kind_of(a) == meta_kind::float32_array) {
        const auto& x = std::get<std::vector<float>>(a);
        const auto& y = std::get<std::vector<float>>(b);
        if (x.size() != y.size()) return false;
        for (size_t i = 0; i < x.size(); ++i) {
            if (!close(x[i], y[i], 1e-6)) return false;
        }
        return true;
    }
    return a == b;
}

bool is_hparam_key(const std::string& k) {
    if (k == "model.name" || k == "model.tied_output" || k == "rope.pairing") return false;
    return k.rfind("model.", 0) == 0 || k.rfind("rope.", 0) == 0 || k.rfind("attn.", 0) == 0;
}

// config.json read back by the importer must give every hyper-parameter the source has, and no other.
void check_config(const json& cfg, const metadata& src, const std::string& who) {
    const hf_config hc = hf_read_config(cfg, who + " (exported config.json)");
    std::set<std::string> keys;
    for (const auto& [k, v] : src.items()) {
        if (is_hparam_key(k)) keys.insert(k);
    }
    for (const auto& [k, v] : hc.meta.items()) {
        if (is_hparam_key(k)) keys.insert(k);
    }
    for (const std::string& k : keys) {
        const meta_value* a = src.find(k);
        const meta_value* b = hc.meta.find(k);
        if (!a || !b || !values_match(*a, *b)) {
            fail("{}: metadata '{}' = {} cannot be expressed in a {} config.json (it would read back as {})", who, k,
                 a ? meta_value_str(*a) : "(absent)", cfg.at("model_type").get<std::string>(),
                 b ? meta_value_str(*b) : "(absent)");
        }
    }
}

// ---- safetensors -----------------------------------------------------------------------------

struct st_plan {
    const source_tensor* t;
    std::string hf_name;
    std::vector<int64_t> shape;  // outermost first
};

// GGUF llama keeps Meta's Q/K row order (rotation of adjacent pairs); Hugging Face stores each
// head's even rows first, then its odd rows (rotation of halves).
void permute_rows_to_half(std::vector<uint8_t>& data, int64_t n_heads, int64_t head_dim) {
    const size_t row = data.size() / static_cast<size_t>(n_heads * head_dim);
    std::vector<uint8_t> out(data.size());
    for (int64_t h = 0; h < n_heads; ++h) {
        for (int64_t i = 0; i < head_dim / 2; ++i) {
            for (int64_t s = 0; s < 2; ++s) {
                const size_t from = static_cast<size_t>(h * head_dim + 2 * i + s);
                const size_t to = static_cast<size_t>(h * head_dim + s * head_dim / 2 + i);
                std::memcpy(&out[to * row], &data[from * row], row);
            }
        }
    }
    data.swap(out);
}

const char* st_dtype(dtype t) {
    if (t == dtype::f32) return "F32";
    if (t == dtype::f16) return "F16";
    if (t == dtype::bf16) return "BF16";
    return nullptr;
}

void write_all(std::ofstream& f, const void* p, size_t n, const std::string& path) {
    f.write(static_cast<const char*>(p), static_cast<std::streamsize>(n));
    if (!f) fail("{}: write failed", path);
}

void write_safetensors(const std::string& path, const std::vector<st_plan>& plan, const metadata& meta,
                       float norm_offset) {
    json h = json::object();
    h["__metadata__"] = {{"format", "pt"}};
    size_t off = 0;
    for (const auto& p : plan) {
        const size_t n = p.t->n_bytes();
        h[p.hf_name] = {{"dtype", st_dtype(p.t->type)}, {"shape", p.shape}, {"data_offsets", {off, off + n}}};
        off += n;
    }
    std::string hs = h.dump();
    while (hs.size() % 8) hs += ' ';
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    if (!f) fail("{}: cannot create", path);
    const uint64_t hn = hs.size();
    write_all(f, &hn, 8, path);
    write_all(f, hs.data(), hs.size(), path);

    const bool interleaved = meta.get_str("rope.pairing", "half") == "interleaved";
    const int64_t head_dim = meta.get_int("model.head_dim");
    std::vector<uint8_t> buf;
    for (const auto& p : plan) {
        const source_tensor& t = *p.t;
        buf.resize(t.n_bytes());
        t.read_into(buf.data());
        std::string layer, kind;
        split_kiln_name(t.name, layer, kind);
        if (interleaved) {
            if (kind == "attn_q.weight" || kind == "attn_q.bias") permute_rows_to_half(buf, meta.get_int("model.n_head"), head_dim);
            if (kind == "attn_k.weight" || kind == "attn_k.bias") {
                permute_rows_to_half(buf, meta.get_int("model.n_head_kv"), head_dim);
            }
            if (kind == "attn_q_norm.weight" || kind == "attn_k_norm.weight") permute_rows_to_half(buf, 1, head_dim);
        }
        const bool is_norm = kind.size() >= 11 && kind.compare(kind.size() - 11, 11, "norm.weight") == 0;
        if (is_norm && norm_offset != 0.0f) {
            // Gemma's checkpoints hold w for a (1 + w) multiplier; KILN holds the multiplier.
            if (t.type != dtype::f32) fail("{}: norm tensor '{}' is {}, expected f32", path, t.name, dtype_name(t.type));
            for (size_t i = 0; i + 4 <= buf.size(); i += 4) {
                float x;
                std::memcpy(&x, &buf[i], 4);
                x -= norm_offset;
                std::memcpy(&buf[i], &x, 4);
            }
        }
        write_all(f, buf.data(), buf.size(), path);
    }
    f.close();
    if (!f) fail("{}: write failed", path);
}

// ---- tokenizer -------------------------------------------------------------------------------

constexpr int32_t type_normal = 1, type_control = 3, type_user_defined = 4, type_unused = 5;

// Trailing "[PAD<i>]" rows: hf_import names the rows past the tokenizer that way, so they are left out.
size_t tokens_to_write(const std::vector<std::string>& tokens, const std::vector<int32_t>& types) {
    size_t n = tokens.size();
    while (n > 0 && types[n - 1] == type_unused && tokens[n - 1] == "[PAD" + std::to_string(n - 1) + "]") --n;
    return n;
}

// A protobuf writer just big enough for a sentencepiece tokenizer.model.
struct proto {
    std::string s;
    void varint(uint64_t v) {
        do {
            uint8_t b = v & 0x7f;
            v >>= 7;
            s += static_cast<char>(b | (v ? 0x80 : 0));
        } while (v);
    }
    void len(int field, const std::string& v) {
        varint(static_cast<uint64_t>(field) << 3 | 2);
        varint(v.size());
        s += v;
    }
    void f32(int field, float v) {
        varint(static_cast<uint64_t>(field) << 3 | 5);
        s.append(reinterpret_cast<const char*>(&v), 4);
    }
    void i64(int field, int64_t v) {  // int32 fields: negative values as 10-byte two's complement
        varint(static_cast<uint64_t>(field) << 3);
        varint(static_cast<uint64_t>(v));
    }
};

std::string spm_model_bytes(const metadata& meta, size_t n) {
    const auto& tokens = meta.get_str_array("tokenizer.tokens");
    const auto& scores = meta.get_f32_array("tokenizer.scores");
    const auto& types = meta.get_i32_array("tokenizer.token_type");
    proto m;
    for (size_t i = 0; i < n; ++i) {
        proto p;
        p.len(1, tokens[i]);
        p.f32(2, i < scores.size() ? scores[i] : 0.0f);
        if (types[i] != type_normal) p.i64(3, types[i]);
        m.len(1, p.s);
    }
    proto trainer;
    trainer.i64(3, 2);  // BPE
    trainer.i64(40, meta.get_int("tokenizer.unk_id", -1));
    trainer.i64(41, meta.get_int("tokenizer.bos_id", -1));
    trainer.i64(42, meta.get_int("tokenizer.eos_id", -1));
    trainer.i64(43, meta.get_int("tokenizer.pad_id", -1));
    m.len(2, trainer.s);
    proto normalizer;
    normalizer.i64(3, meta.get_bool("tokenizer.add_space_prefix", false) ? 1 : 0);
    m.len(3, normalizer.s);
    return m.s;
}

json byte_level_tokenizer_json(const metadata& meta, size_t n, const std::string& who) {
    const pre_family& fam = pre_family_find(meta.get_str("tokenizer.pre", ""));
    if (!fam.byte_level) {
        fail("{}: tokenizer.pre '{}' is not a byte-level family; its tokenizer.json cannot be exported", who,
             fam.names[0]);
    }
    const auto& tokens = meta.get_str_array("tokenizer.tokens");
    const auto& types = meta.get_i32_array("tokenizer.token_type");
    json vocab = json::object();
    json added = json::array();
    for (size_t i = 0; i < n; ++i) {
        const bool added_token = types[i] == type_control || types[i] == type_user_defined;
        // Added tokens are kept in raw text by KILN; the vocabulary spells them in GPT-2's byte alphabet.
        const std::string key = added_token ? bytes_to_unicode(tokens[i]) : tokens[i];
        if (vocab.contains(key)) {
            fail("{}: token {} '{}' repeats token {}; a tokenizer.json vocabulary cannot hold both", who, i, tokens[i],
                 vocab[key].get<int64_t>());
        }
        vocab[key] = static_cast<int64_t>(i);
        if (added_token) {
            added.push_back({{"id", i}, {"content", tokens[i]}, {"single_word", false}, {"lstrip", false},
                             {"rstrip", false}, {"normalized", false}, {"special", types[i] == type_control}});
        }
    }
    json pre = json::array();
    for (const std::string& r : fam.regexes) {
        pre.push_back({{"type", "Split"}, {"pattern", {{"Regex", r}}}, {"behavior", "Isolated"}, {"invert", false}});
    }
    pre.push_back({{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", false}});
    const bool ignore_merges = meta.get_bool("tokenizer.ignore_merges", fam.ignore_merges);
    return {{"version", "1.0"},
            {"truncation", nullptr},
            {"padding", nullptr},
            {"added_tokens", added},
            {"normalizer", nullptr},
            {"pre_tokenizer", {{"type", "Sequence"}, {"pretokenizers", pre}}},
            {"post_processor", nullptr},
            {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}}},
            {"model",
             {{"type", "BPE"},
              {"dropout", nullptr},
              {"unk_token", nullptr},
              {"continuing_subword_prefix", nullptr},
              {"end_of_word_suffix", nullptr},
              {"fuse_unk", false},
              {"byte_fallback", false},
              {"ignore_merges", ignore_merges},
              {"vocab", vocab},
              {"merges", meta.has("tokenizer.merges") ? json(meta.get_str_array("tokenizer.merges")) : json::array()}}}};
}

void write_text(const std::string& path, const std::string& text) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    if (!f) fail("{}: cannot create", path);
    write_all(f, text.data(), text.size(), path);
    f.close();
    if (!f) fail("{}: write failed", path);
}

// The tokenizer files read back must give the source's tokenizer.* keys.
void check_tokenizer(const std::string& dir, const metadata& src, size_t n, const std::string& who) {
    metadata got;
    hf_tokenizer_to_metadata(dir, got);
    const bool bpe = src.get_str("tokenizer.model") == "bpe";
    auto mismatch = [&](const std::string& key, const std::string& detail) {
        fail("{}: '{}' does not survive the export to Hugging Face tokenizer files ({})", who, key, detail);
    };
    auto check_array = [&](const char* key, auto get) {
        const auto& a = get(src);
        const auto& b = get(got);
        const size_t want = std::string(key) == "tokenizer.merges" ? a.size() : n;
        if (b.size() != want) mismatch(key, fmt::format("{} entries read back, {} written", b.size(), want));
        for (size_t i = 0; i < want; ++i) {
            if (!(a[i] == b[i])) mismatch(key, fmt::format("entry {} differs", i));
        }
    };
    if (got.get_str("tokenizer.model") != src.get_str("tokenizer.model")) mismatch("tokenizer.model", "kind");
    check_array("tokenizer.tokens", [](const metadata& m) -> const auto& { return m.get_str_array("tokenizer.tokens"); });
    check_array("tokenizer.token_type",
                [](const metadata& m) -> const auto& { return m.get_i32_array("tokenizer.token_type"); });
    if (bpe) {
        if (src.has("tokenizer.merges")) {
            check_array("tokenizer.merges",
                        [](const metadata& m) -> const auto& { return m.get_str_array("tokenizer.merges"); });
        }
        const pre_family& a = pre_family_find(src.get_str("tokenizer.pre", ""));
        const pre_family& b = pre_family_find(got.get_str("tokenizer.pre", ""));
        if (a.regexes != b.regexes) mismatch("tokenizer.pre", "reads back as '" + b.names[0] + "'");
        if (src.get_bool("tokenizer.ignore_merges", a.ignore_merges) != got.get_bool("tokenizer.ignore_merges", b.ignore_merges)) {
            mismatch("tokenizer.ignore_merges", "value");
        }
    } else {
        if (src.has("tokenizer.scores")) {
            check_array("tokenizer.scores",
                        [](const metadata& m) -> const auto& { return m.get_f32_array("tokenizer.scores"); });
        }
        if (src.get_bool("tokenizer.add_space_prefix", false) != got.get_bool("tokenizer.add_space_prefix", false)) {
            mismatch("tokenizer.add_space_prefix", "value");
        }
    }
    for (const char* k : {"tokenizer.bos_id", "tokenizer.eos_id", "tokenizer.unk_id", "tokenizer.pad_id"}) {
        if (src.get_int(k, -1) != got.get_int(k, -1)) {
            mismatch(k, fmt::format("{} reads back as {}", src.get_int(k, -1), got.get_int(k, -1)));
        }
    }
    for (const char* k : {"tokenizer.add_bos", "tokenizer.add_eos"}) {
        if (src.get_bool(k, false) != got.get_bool(k, false)) mismatch(k, "value");
    }
    if (src.get_str("tokenizer.chat_template", "") != got.get_str("tokenizer.chat_template", "")) {
        mismatch("tokenizer.chat_template", "text");
    }
}

void write_tokenizer(const std::string& dir, const metadata& meta, const std::string& who) {
    if (!meta.has("tokenizer.model")) return;  // a model without a tokenizer stays without one
    const std::string kind = meta.get_str("tokenizer.model");
    if (kind != "spm" && kind != "bpe") fail("{}: tokenizer.model '{}' cannot be exported to Hugging Face", who, kind);
    const auto& tokens = meta.get_str_array("tokenizer.tokens");
    const auto& types = meta.get_i32_array("tokenizer.token_type");
    if (types.size() != tokens.size()) fail("{}: tokenizer.token_type and tokenizer.tokens differ in length", who);
    const size_t n = tokens_to_write(tokens, types);
    if (kind == "spm") {
        write_text(dir + "/tokenizer.model", spm_model_bytes(meta, n));
    } else {
        write_text(dir + "/tokenizer.json", byte_level_tokenizer_json(meta, n, who).dump(1));
    }
    json cfg = {{"add_bos_token", meta.get_bool("tokenizer.add_bos", false)},
                {"add_eos_token", meta.get_bool("tokenizer.add_eos", false)},
                {"model_max_length", meta.get_int("model.n_ctx_train", 2048)}};
    for (const auto& [key, field] : std::vector<std::pair<const char*, const char*>>{
             {"tokenizer.bos_id", "bos_token"}, {"tokenizer.eos_id", "eos_token"},
             {"tokenizer.unk_id", "unk_token"}, {"tokenizer.pad_id", "pad_token"}}) {
        const int64_t id = meta.get_int(key, -1);
        if (id >= static_cast<int64_t>(n)) fail("{}: {} {} is outside the vocabulary", who, key, id);
        cfg[field] = id >= 0 ? json(tokens[static_cast<size_t>(id)]) : json();
    }
    if (meta.has("tokenizer.chat_template")) cfg["chat_template"] = meta.get_str("tokenizer.chat_template");
    write_text(dir + "/tokenizer_config.json", cfg.dump(2));
    check_tokenizer(dir, meta, n, who);
}

std::string model_who(const source_model& m, const hf_export_options& o) {
    return o.source_name.empty() ? m.meta.get_str("model.name", "model") : o.source_name;
}

}  // namespace

void hf_export_into(const source_model& m, const std::string& dir, const hf_export_options& o) {
    const std::string who = model_who(m, o);
    const std::string model_type = model_type_of(m.meta, who);

    // Everything is checked before the first byte is written.
    std::vector<st_plan> plan;
    for (const source_tensor& t : m.tensors) {
        const std::string hf = hf_name_of(t.name, model_type, who);
        if (!st_dtype(t.type) || t.layout != tensor_layout::plain) {
            fail("{}: tensor '{}' is {}; Hugging Face export writes only f32, f16 and bf16 tensors (dequantize first)",
                 who, t.name, dtype_name(t.type));
        }
        std::vector<int64_t> shape;
        for (int d = t.n_dims - 1; d >= 0; --d) shape.push_back(t.ne[d]);
        plan.push_back({&t, hf, shape});
    }
    json cfg = make_config(m, model_type, who);
    check_config(cfg, m.meta, who);
    if (!o.model_type_override.empty()) cfg["model_type"] = o.model_type_override;
    for (const auto& [k, v] : o.config_overrides.items()) cfg[k] = v;

    const float norm_offset = model_type == "gemma2" ? 1.0f : 0.0f;
    const int shards = std::max(1, std::min<int>(o.shards, static_cast<int>(plan.size())));
    if (shards == 1) {
        write_safetensors(dir + "/model.safetensors", plan, m.meta, norm_offset);
    } else {
        json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", json::object()}};
        size_t total = 0;
        for (int s = 0; s < shards; ++s) {
            const std::string file = fmt::format("model-{:05d}-of-{:05d}.safetensors", s + 1, shards);
            const size_t b = plan.size() * static_cast<size_t>(s) / static_cast<size_t>(shards);
            const size_t e = plan.size() * static_cast<size_t>(s + 1) / static_cast<size_t>(shards);
            const std::vector<st_plan> part(plan.begin() + static_cast<long>(b), plan.begin() + static_cast<long>(e));
            write_safetensors(dir + "/" + file, part, m.meta, norm_offset);
            for (const auto& p : part) {
                index["weight_map"][p.hf_name] = file;
                total += p.t->n_bytes();
            }
        }
        index["metadata"]["total_size"] = total;
        write_text(dir + "/model.safetensors.index.json", index.dump(1));
    }
    write_text(dir + "/config.json", cfg.dump(2));
    write_tokenizer(dir, m.meta, who);
}

void hf_export(const source_model& m, const std::string& dir_in, const hf_export_options& o) {
    fs::path dir = fs::path(dir_in).lexically_normal();
    if (dir.filename().empty()) dir = dir.parent_path();
    std::error_code ec;
    if (fs::exists(dir, ec)) {
        if (!fs::is_directory(dir, ec)) fail("{}: exists and is not a directory", dir_in);
        if (!fs::is_empty(dir, ec)) fail("{}: directory exists and is not empty", dir_in);
    }
    const fs::path tmp = dir.string() + ".tmp";
    // Never deleted here: it may be someone's directory, not an interrupted export's.
    if (fs::exists(tmp, ec)) fail("{}: exists (left by an interrupted export?); remove it first", tmp.string());
    if (!fs::create_directories(tmp, ec) || ec) fail("{}: cannot create directory: {}", tmp.string(), ec.message());
    try {
        hf_export_into(m, tmp.string(), o);
    } catch (...) {
        fs::remove_all(tmp, ec);
        throw;
    }
    if (fs::exists(dir, ec)) fs::remove(dir, ec);  // empty (checked above)
    fs::rename(tmp, dir, ec);
    if (ec) {
        fs::remove_all(tmp, ec);
        fail("{}: cannot rename {} into place", dir_in, tmp.string());
    }
}

}  // namespace kiln

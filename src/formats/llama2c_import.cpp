#include "formats/llama2c_import.h"

#include <cstring>
#include <filesystem>
#include <map>
#include <vector>

#include "core/error.h"
#include "core/mapped_file.h"
#include "formats/byte_reader.h"
#include "tokenizer/vocab.h"

#ifndef KILN_VERSION
#define KILN_VERSION "dev"
#endif

namespace kiln {

namespace {

namespace fs = std::filesystem;

// The "ak42" magic of llama2.c's versioned exports (v1 fp32, v2 int8 groups).
constexpr uint32_t llama2c_magic = 0x616b3432;
constexpr size_t llama2c_v0_header_bytes = 7 * 4;
constexpr size_t llama2c_v1_header_bytes = 256;

struct llama2c_config {
    int64_t dim = 0, hidden_dim = 0, n_layers = 0, n_heads = 0, n_kv_heads = 0, vocab_size = 0, seq_len = 0;
    bool shared_classifier = true;
    int version = 0;
    size_t header_bytes = 0;

    int64_t head_dim() const { return dim / n_heads; }
    int64_t kv_dim() const { return head_dim() * n_kv_heads; }
};

// One fp32 array of the checkpoint: `per_layer` arrays repeat n_layers times back to back.
// An empty name marks an array that is skipped (llama2.c v0's precomputed RoPE tables).
struct llama2c_array {
    const char* name;
    bool per_layer;
    int64_t ne0, ne1;  // ne1 = 1 for vectors
};

std::string config_str(const llama2c_config& c) {
    return fmt::format("dim {}, hidden_dim {}, n_layers {}, n_heads {}, n_kv_heads {}, vocab_size {}, seq_len {}",
                       c.dim, c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads, c.vocab_size, c.seq_len);
}

llama2c_config llama2c_read_config(const mapped_file& f) {
    const std::string& path = f.name();
    byte_reader r(f.data(), f.size(), path, "llama2.c header");
    llama2c_config c;
    int32_t h[7];
    if (f.size() >= 8) {
        uint32_t magic;
        std::memcpy(&magic, f.data(), 4);
        if (magic == llama2c_magic) {
            r.u32();
            c.version = r.i32();
            if (c.version == 2) {
                fail("{}: llama2.c checkpoint version 2 (int8 Q8_0 export) is not supported; export it with "
                     "--version 0 or 1 (fp32)", path);
            }
            if (c.version != 1) fail("{}: unknown llama2.c checkpoint version {} (supported: 0 and 1)", path, c.version);
            if (f.size() < llama2c_v1_header_bytes) {
                fail("{}: truncated llama2.c v1 header ({} of {} bytes)", path, f.size(), llama2c_v1_header_bytes);
            }
            for (int32_t& v : h) v = r.i32();
            const uint8_t shared = r.u8();
            if (shared > 1) fail("{}: llama2.c v1 header: shared_classifier flag is {} (expected 0 or 1)", path, shared);
            c.shared_classifier = shared == 1;
            c.header_bytes = llama2c_v1_header_bytes;
        }
    }
    if (c.version == 0) {
        for (int32_t& v : h) v = r.i32();
        // v0 marks an unshared classifier with a negative vocabulary size.
        c.shared_classifier = h[5] > 0;
        if (h[5] < 0 && h[5] != INT32_MIN) h[5] = -h[5];
        c.header_bytes = llama2c_v0_header_bytes;
    }
    c.dim = h[0];
    c.hidden_dim = h[1];
    c.n_layers = h[2];
    c.n_heads = h[3];
    c.n_kv_heads = h[4];
    c.vocab_size = h[5];
    c.seq_len = h[6];

    // Bounds keep every size product below 2^60, so the size check below cannot overflow.
    const struct {
        const char* name;
        int64_t value, max;
    } fields[] = {{"dim", c.dim, 1 << 20},           {"hidden_dim", c.hidden_dim, 1 << 20},
                  {"n_layers", c.n_layers, 1 << 12}, {"n_heads", c.n_heads, 1 << 12},
                  {"n_kv_heads", c.n_kv_heads, 1 << 12}, {"vocab_size", c.vocab_size, 1 << 24},
                  {"seq_len", c.seq_len, 1 << 24}};
    for (const auto& fld : fields) {
        if (fld.value < 1 || fld.value > fld.max) {
            fail("{}: llama2.c header field {} = {} is out of range [1, {}] (not a llama2.c checkpoint?)", path,
                 fld.name, fld.value, fld.max);
        }
    }
    if (c.dim % c.n_heads != 0) {
        fail("{}: llama2.c header: dim {} is not a multiple of n_heads {}", path, c.dim, c.n_heads);
    }
    if (c.n_heads % c.n_kv_heads != 0) {
        fail("{}: llama2.c header: n_heads {} is not a multiple of n_kv_heads {}", path, c.n_heads, c.n_kv_heads);
    }
    if (c.head_dim() % 2 != 0) {
        fail("{}: llama2.c header: head size {} (dim / n_heads) must be even for RoPE", path, c.head_dim());
    }
    return c;
}

// The arrays of the checkpoint in file order.
std::vector<llama2c_array> llama2c_layout(const llama2c_config& c) {
    const llama2c_array token_embd{"token_embd.weight", false, c.dim, c.vocab_size};
    const llama2c_array attn_norm{"blk.{}.attn_norm.weight", true, c.dim, 1};
    const llama2c_array attn_q{"blk.{}.attn_q.weight", true, c.dim, c.n_heads * c.head_dim()};
    const llama2c_array attn_k{"blk.{}.attn_k.weight", true, c.dim, c.kv_dim()};
    const llama2c_array attn_v{"blk.{}.attn_v.weight", true, c.dim, c.kv_dim()};
    const llama2c_array attn_output{"blk.{}.attn_output.weight", true, c.n_heads * c.head_dim(), c.dim};
    const llama2c_array ffn_norm{"blk.{}.ffn_norm.weight", true, c.dim, 1};
    const llama2c_array ffn_gate{"blk.{}.ffn_gate.weight", true, c.dim, c.hidden_dim};  // w1
    const llama2c_array ffn_down{"blk.{}.ffn_down.weight", true, c.hidden_dim, c.dim};  // w2
    const llama2c_array ffn_up{"blk.{}.ffn_up.weight", true, c.dim, c.hidden_dim};      // w3
    const llama2c_array output_norm{"output_norm.weight", false, c.dim, 1};
    const llama2c_array output{"output.weight", false, c.dim, c.vocab_size};
    // freq_cis_real and freq_cis_imag: [seq_len, head_dim / 2] each; kiln computes RoPE itself.
    const llama2c_array rope_table{"", false, c.head_dim() / 2, c.seq_len};

    std::vector<llama2c_array> order;
    if (c.version == 0) {
        order = {token_embd, attn_norm, attn_q, attn_k,   attn_v,      attn_output, ffn_norm,
                 ffn_gate,   ffn_down,  ffn_up, output_norm, rope_table, rope_table};
    } else {
        order = {attn_norm, ffn_norm, output_norm, token_embd, attn_q, attn_k,
                 attn_v,    attn_output, ffn_gate, ffn_down,   ffn_up};
    }
    if (!c.shared_classifier) order.push_back(output);
    return order;
}

void llama2c_set_provenance(metadata& meta, const std::string& path) {
    meta.set_str("provenance.source_format", "llama2c");
    meta.set_str("provenance.source", fs::path(path).filename().string());
    meta.set_str("provenance.converter", std::string("kiln ") + KILN_VERSION);
}

}  // namespace

void llama2c_tokenizer_to_metadata(const std::string& tokenizer_path, int64_t n_vocab, metadata& meta) {
    const auto f = mapped_file::open(tokenizer_path);
    byte_reader r(f->data(), f->size(), tokenizer_path, "llama2.c tokenizer header");
    const int32_t max_token_length = r.i32();
    if (max_token_length < 0) {
        fail("{}: llama2.c tokenizer max_token_length is {} (not a tokenizer.bin?)", tokenizer_path,
             max_token_length);
    }
    vocab v = vocab_llama_spm();
    v.tokens.reserve(static_cast<size_t>(n_vocab));
    v.scores.reserve(static_cast<size_t>(n_vocab));
    v.types.reserve(static_cast<size_t>(n_vocab));
    for (int64_t id = 0; id < n_vocab; ++id) {
        if (r.remaining() == 0) {
            fail("{}: tokenizer holds only {} tokens but the model's vocabulary has {}", tokenizer_path, id, n_vocab);
        }
        r.set_section(fmt::format("token {}", id));
        const float score = r.f32();
        const int32_t len = r.i32();
        if (len < 0) fail("{}: token {} has negative length {}", tokenizer_path, id, len);
        std::string raw = r.str(static_cast<size_t>(len));

        // llama2.c's exporter wraps BOS/EOS in newlines ("\n<s>\n") so that they print on their own
        // line; the vocabulary's own texts are "<s>" and "</s>".
        if ((id == 1 || id == 2) && raw.size() > 2 && raw.front() == '\n' && raw.back() == '\n') {
            raw = raw.substr(1, raw.size() - 2);
        }
        // ...and it stores sentencepiece's U+2581 word marker as a plain space: map it back so the
        // vocabulary matches the sentencepiece model (and a GGUF of the same model).
        std::string text;
        text.reserve(raw.size() + 8);
        for (char ch : raw) {
            if (ch == ' ') text += "\xE2\x96\x81";
            else text += ch;
        }
        token_type type = token_type::normal;
        if (id == 0) type = token_type::unknown;
        else if (id == 1 || id == 2) type = token_type::control;
        else if (byte_token_value(text) >= 0) type = token_type::byte;  // byte fallback
        v.tokens.push_back(std::move(text));
        v.scores.push_back(score);
        v.types.push_back(type);
    }
    vocab_to_metadata(v, meta);
}

source_model llama2c_import(const std::string& model_path, const std::string& tokenizer_path) {
    const auto f = mapped_file::open(model_path);
    const llama2c_config c = llama2c_read_config(*f);
    const std::vector<llama2c_array> layout = llama2c_layout(c);

    uint64_t expected = c.header_bytes;
    for (const auto& a : layout) {
        expected += static_cast<uint64_t>(a.per_layer ? c.n_layers : 1) * a.ne0 * a.ne1 * sizeof(float);
    }
    if (expected != f->size()) {
        const std::string why = f->size() < expected
                                    ? fmt::format("truncated: {} bytes missing", expected - f->size())
                                    : fmt::format("{} bytes too many: wrong header?", f->size() - expected);
        fail("{}: llama2.c v{} checkpoint is {} bytes but its header ({}, {} classifier) implies {} bytes ({})",
             model_path, c.version, f->size(), config_str(c), c.shared_classifier ? "shared" : "unshared",
             expected, why);
    }

    std::map<std::string, source_tensor> by_name;
    const uint8_t* at = f->data() + c.header_bytes;
    for (const auto& a : layout) {
        const int64_t copies = a.per_layer ? c.n_layers : 1;
        const size_t bytes = static_cast<size_t>(a.ne0 * a.ne1) * sizeof(float);
        for (int64_t l = 0; l < copies; ++l, at += bytes) {
            if (a.name[0] == '\0') continue;
            source_tensor t;
            t.name = a.per_layer ? fmt::format(fmt::runtime(a.name), l) : std::string(a.name);
            t.type = dtype::f32;
            t.n_dims = a.ne1 == 1 ? 1 : 2;
            t.ne[0] = a.ne0;
            t.ne[1] = a.ne1;
            t.data = at;
            by_name.emplace(t.name, std::move(t));
        }
    }

    source_model m;
    // Canonical order: embeddings, blocks in order, final norm and classifier.
    auto take = [&](const std::string& name) {
        auto it = by_name.find(name);
        if (it != by_name.end()) m.tensors.push_back(std::move(it->second));
    };
    take("token_embd.weight");
    for (int64_t l = 0; l < c.n_layers; ++l) {
        for (const char* part : {"attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate",
                                 "ffn_up", "ffn_down"}) {
            take(fmt::format("blk.{}.{}.weight", l, part));
        }
    }
    take("output_norm.weight");
    take("output.weight");
    m.keep_alive.push_back(f);

    metadata& meta = m.meta;
    meta.set_str("model.arch", "llama");
    meta.set_str("model.name", fs::path(model_path).stem().string());
    meta.set_int("model.n_vocab", c.vocab_size);
    meta.set_int("model.n_embd", c.dim);
    meta.set_int("model.n_layer", c.n_layers);
    meta.set_int("model.n_head", c.n_heads);
    meta.set_int("model.n_head_kv", c.n_kv_heads);
    meta.set_int("model.head_dim", c.head_dim());
    meta.set_int("model.n_ff", c.hidden_dim);
    meta.set_int("model.n_ctx_train", c.seq_len);
    meta.set_float("model.norm_eps", 1e-5);  // llama2.c's training default; not stored in the file
    meta.set_bool("model.tied_output", c.shared_classifier);
    meta.set_float("rope.theta", 10000.0);
    meta.set_int("rope.n_rot", c.head_dim());
    // llama2.c trains and exports in Meta's original Q/K row order.
    meta.set_str("rope.pairing", "interleaved");
    llama2c_set_provenance(meta, model_path);
    llama2c_tokenizer_to_metadata(tokenizer_path, c.vocab_size, meta);
    return m;
}

}  // namespace kiln

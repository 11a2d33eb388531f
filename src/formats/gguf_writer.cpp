#include "formats/gguf_writer.h"

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "core/error.h"
#include "formats/gguf.h"
#include "formats/output_file.h"

namespace kiln {

namespace {

constexpr uint32_t gguf_alignment = 32;

// GGUF's key/value section on top of the plain byte buffer; counts the pairs for the header.
class gguf_bytes : public byte_writer {
public:
    void key(const std::string& k, gguf_type t) { str(k); u32(static_cast<uint32_t>(t)); }

    void kv_u32(const std::string& k, int64_t v) {
        if (v < 0 || v > 0xffffffffll) fail("GGUF key '{}': value {} does not fit in u32", k, v);
        key(k, gguf_type::u32);
        u32(static_cast<uint32_t>(v));
        ++n_kv;
    }
    void kv_f32(const std::string& k, double v) {
        key(k, gguf_type::f32);
        const float f = static_cast<float>(v);
        raw(&f, 4);
        ++n_kv;
    }
    void kv_bool(const std::string& k, bool v) {
        key(k, gguf_type::boolean);
        const uint8_t b = v ? 1 : 0;
        raw(&b, 1);
        ++n_kv;
    }
    void kv_str(const std::string& k, const std::string& v) { key(k, gguf_type::string); str(v); ++n_kv; }
    void kv_strs(const std::string& k, const std::vector<std::string>& v) {
        key(k, gguf_type::array);
        u32(static_cast<uint32_t>(gguf_type::string));
        u64(v.size());
        for (const auto& s : v) str(s);
        ++n_kv;
    }
    void kv_f32s(const std::string& k, const std::vector<float>& v) {
        key(k, gguf_type::array);
        u32(static_cast<uint32_t>(gguf_type::f32));
        u64(v.size());
        raw(v.data(), v.size() * 4);
        ++n_kv;
    }
    void kv_i32s(const std::string& k, const std::vector<int32_t>& v) {
        key(k, gguf_type::array);
        u32(static_cast<uint32_t>(gguf_type::i32));
        u64(v.size());
        raw(v.data(), v.size() * 4);
        ++n_kv;
    }

    uint64_t n_kv = 0;
};

uint32_t ggml_type_of(const source_tensor& t) {
    if (t.layout != tensor_layout::plain) {
        fail("tensor '{}' is stored row-interleaved (rows8); GGUF holds only the plain block layout", t.name);
    }
    switch (t.type) {
        case dtype::f32: return 0;
        case dtype::f16: return 1;
        case dtype::q4_0: return 2;
        case dtype::q4_1: return 3;
        case dtype::q5_0: return 6;
        case dtype::q5_1: return 7;
        case dtype::q8_0: return 8;
        case dtype::q4_k: return 12;
        case dtype::q6_k: return 14;
        case dtype::bf16: return 30;
    }
    fail("tensor '{}': type {} has no GGUF counterpart", t.name, dtype_name(t.type));
}

// The architecture's hyper-parameters under "<arch>.".
void write_hparams(const metadata& m, gguf_bytes& w) {
    const std::string arch = m.get_str("model.arch");
    const std::string pairing = m.get_str("rope.pairing", "interleaved");
    const char* want_pairing = arch == "llama" ? "interleaved" : arch == "qwen2" ? "half" : nullptr;
    if (!want_pairing) fail("model.arch '{}' cannot be written as GGUF (supported: llama, qwen2)", arch);
    if (pairing != want_pairing) {
        fail("rope.pairing '{}': GGUF {} weights must be stored for '{}' pairing (this writer does not permute Q/K)",
             pairing, arch, want_pairing);
    }
    const int64_t n_embd = m.get_int("model.n_embd"), n_head = m.get_int("model.n_head");
    const int64_t head_dim = m.get_int("model.head_dim", n_embd / n_head);
    w.kv_str("general.architecture", arch);
    if (m.has("model.name")) w.kv_str("general.name", m.get_str("model.name"));
    w.kv_u32("general.alignment", gguf_alignment);
    const std::string a = arch + ".";
    w.kv_u32(a + "context_length", m.get_int("model.n_ctx_train"));
    w.kv_u32(a + "embedding_length", n_embd);
    w.kv_u32(a + "block_count", m.get_int("model.n_layer"));
    w.kv_u32(a + "feed_forward_length", m.get_int("model.n_ff"));
    w.kv_u32(a + "attention.head_count", n_head);
    w.kv_u32(a + "attention.head_count_kv", m.get_int("model.n_head_kv", n_head));
    if (head_dim * n_head != n_embd) {
        w.kv_u32(a + "attention.key_length", head_dim);
        w.kv_u32(a + "attention.value_length", head_dim);
    }
    w.kv_f32(a + "attention.layer_norm_rms_epsilon", m.get_float("model.norm_eps", 1e-5));
    w.kv_f32(a + "rope.freq_base", m.get_float("rope.theta", 10000.0));
    w.kv_u32(a + "rope.dimension_count", m.get_int("rope.n_rot", head_dim));
    w.kv_u32(a + "vocab_size", m.get_int("model.n_vocab"));
    for (const char* unsupported : {"rope.freq_scale", "attn.scale", "attn.sliding_window"}) {
        if (m.has(unsupported)) fail("metadata {} cannot be written as GGUF by this writer", unsupported);
    }
}

void write_tokenizer(const metadata& m, gguf_bytes& w) {
    if (!m.has("tokenizer.tokens")) return;
    const std::string kind = m.get_str("tokenizer.model");
    if (kind == "spm") w.kv_str("tokenizer.ggml.model", "llama");
    else if (kind == "bpe") w.kv_str("tokenizer.ggml.model", "gpt2");
    else fail("tokenizer.model '{}' cannot be written as GGUF (supported: spm, bpe)", kind);
    if (m.has("tokenizer.pre")) w.kv_str("tokenizer.ggml.pre", m.get_str("tokenizer.pre"));
    w.kv_strs("tokenizer.ggml.tokens", m.get_str_array("tokenizer.tokens"));
    if (m.has("tokenizer.scores")) w.kv_f32s("tokenizer.ggml.scores", m.get_f32_array("tokenizer.scores"));
    if (m.has("tokenizer.token_type")) w.kv_i32s("tokenizer.ggml.token_type", m.get_i32_array("tokenizer.token_type"));
    if (m.has("tokenizer.merges")) w.kv_strs("tokenizer.ggml.merges", m.get_str_array("tokenizer.merges"));
    const std::pair<const char*, const char*> ids[] = {{"tokenizer.bos_id", "tokenizer.ggml.bos_token_id"},
                                                      {"tokenizer.eos_id", "tokenizer.ggml.eos_token_id"},
                                                      {"tokenizer.unk_id", "tokenizer.ggml.unknown_token_id"},
                                                      {"tokenizer.pad_id", "tokenizer.ggml.padding_token_id"}};
    for (const auto& [kiln_key, gguf_key] : ids) {
        const int64_t id = m.get_int(kiln_key, -1);
        if (id >= 0) w.kv_u32(gguf_key, id);
    }
    const std::pair<const char*, const char*> flags[] = {{"tokenizer.add_bos", "tokenizer.ggml.add_bos_token"},
                                                        {"tokenizer.add_eos", "tokenizer.ggml.add_eos_token"},
                                                        {"tokenizer.add_space_prefix", "tokenizer.ggml.add_space_prefix"}};
    for (const auto& [kiln_key, gguf_key] : flags) {
        if (m.has(kiln_key)) w.kv_bool(gguf_key, m.get_bool(kiln_key));
    }
    if (m.has("tokenizer.chat_template")) w.kv_str("tokenizer.chat_template", m.get_str("tokenizer.chat_template"));
}

void write_to_fd(const source_model& src, int fd, const std::string& dest) {
    gguf_bytes kv;
    write_hparams(src.meta, kv);
    write_tokenizer(src.meta, kv);

    // GGUF carries RoPE frequency factors (Llama 3 scaling) as the tensor rope_freqs.weight.
    source_model m;
    m.tensors = src.tensors;
    if (src.meta.has("rope.freq_factors")) {
        auto factors = std::make_shared<std::vector<float>>(src.meta.get_f32_array("rope.freq_factors"));
        source_tensor t;
        t.name = "rope_freqs.weight";
        t.type = dtype::f32;
        t.n_dims = 1;
        t.ne[0] = static_cast<int64_t>(factors->size());
        t.data = factors->data();
        m.tensors.push_back(t);
        m.keep_alive.push_back(factors);
    }

    gguf_bytes info;
    std::vector<uint64_t> offsets;
    uint64_t data_size = 0;
    for (const auto& t : m.tensors) {
        const uint32_t type = ggml_type_of(t);
        if (t.n_dims < 1 || t.n_dims > 4) fail("tensor '{}' has {} dimensions (1..4 supported)", t.name, t.n_dims);
        if (!t.data && !t.load) fail("tensor '{}' has no data", t.name);
        info.str(t.name);
        info.u32(static_cast<uint32_t>(t.n_dims));
        for (int d = 0; d < t.n_dims; ++d) info.u64(static_cast<uint64_t>(t.ne[d]));
        info.u32(type);
        data_size = align_up(data_size, gguf_alignment);
        info.u64(data_size);
        offsets.push_back(data_size);
        data_size += t.n_bytes();
    }

    gguf_bytes head;
    head.raw("GGUF", 4);
    head.u32(3);
    head.u64(m.tensors.size());
    head.u64(kv.n_kv);
    head.raw(kv.buf.data(), kv.buf.size());
    head.raw(info.buf.data(), info.buf.size());
    const uint64_t data_start = align_up(head.buf.size(), gguf_alignment);
    head.buf.resize(data_start, 0);
    output_write_all(fd, head.buf.data(), head.buf.size(), 0, dest);

    std::vector<uint8_t> staging;
    for (size_t i = 0; i < m.tensors.size(); ++i) {
        const source_tensor& t = m.tensors[i];
        output_write_all(fd, output_tensor_bytes(t, staging), t.n_bytes(), data_start + offsets[i], dest);
    }
    // Padding between tensors is a hole (zeros); the file ends after the last tensor's bytes.
    if (::ftruncate(fd, static_cast<off_t>(data_start + data_size)) != 0) fail("{}: truncate failed", dest);
}

}  // namespace

void gguf_write_file(const source_model& m, const std::string& path) {
    output_write_atomic(path, [&](int fd) { write_to_fd(m, fd, path); });
}

}  // namespace kiln

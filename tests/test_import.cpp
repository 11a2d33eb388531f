// Importers: llama2.c checkpoints (stories260K against its GGUF twin) and
// Hugging Face directories built in the test from the same weights.
#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/fp16.h"
#include "formats/hf_import.h"
#include "formats/llama2c_import.h"
#include "formats/spm_proto.h"
#include "support/test_files.h"
#include "support/test_paths.h"
#include "support/test_proto.h"

using namespace kiln;
using kiln::test::check_error;
using kiln::test::proto_writer;
namespace fs = std::filesystem;
using json = nlohmann::json;
using bytes = std::vector<uint8_t>;

namespace {

#define SKIP_WITHOUT_MODELS()                                       \
    if (test::models_dir().empty()) {                               \
        MESSAGE("models directory not available: test skipped");   \
        return;                                                     \
    }

std::string stories(const char* file) { return test::models_dir() + "/stories260K/" + file; }

bytes read_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    REQUIRE(in);
    return bytes(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const std::string& path, const void* data, size_t n) { test::write_file(path, data, n); }
void write_bytes(const std::string& path, const bytes& b) { write_bytes(path, b.data(), b.size()); }
void write_bytes(const std::string& path, const std::string& s) { write_bytes(path, s.data(), s.size()); }

bytes tensor_bytes(const source_tensor& t) {
    bytes b(t.n_bytes());
    t.read_into(b.data());
    return b;
}

// ---- a throwaway GGUF reader: token list and f32 tensors of stories260K.gguf ----------------------

struct mini_gguf {
    bytes file;
    std::vector<std::string> tokens;
    std::vector<float> scores;
    std::vector<int32_t> types;
    std::map<std::string, std::pair<std::vector<int64_t>, size_t>> tensors;  // ne, absolute data offset

    explicit mini_gguf(const std::string& path) : file(read_bytes(path)) {
        size_t p = 8;
        auto rd = [&](auto& v) {
            REQUIRE(p + sizeof(v) <= file.size());
            std::memcpy(&v, file.data() + p, sizeof(v));
            p += sizeof(v);
        };
        auto str = [&] {
            uint64_t n;
            rd(n);
            REQUIRE(n <= file.size() - p);
            std::string s(reinterpret_cast<const char*>(file.data() + p), n);
            p += n;
            return s;
        };
        uint64_t n_tensors, n_kv;
        rd(n_tensors);
        rd(n_kv);
        const size_t scalar_size[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
        uint64_t alignment = 32;
        for (uint64_t i = 0; i < n_kv; ++i) {
            const std::string key = str();
            uint32_t type;
            rd(type);
            if (type == 9) {
                uint32_t et;
                uint64_t n;
                rd(et);
                rd(n);
                for (uint64_t k = 0; k < n; ++k) {
                    if (et == 8) {
                        std::string s = str();
                        if (key == "tokenizer.ggml.tokens") tokens.push_back(s);
                    } else if (key == "tokenizer.ggml.scores") {
                        float f; rd(f); scores.push_back(f);
                    } else if (key == "tokenizer.ggml.token_type") {
                        int32_t t; rd(t); types.push_back(t);
                    } else {
                        p += scalar_size[et];
                    }
                }
            } else if (type == 8) {
                str();
            } else {
                if (key == "general.alignment") { uint32_t a; rd(a); alignment = a; continue; }
                p += scalar_size[type];
            }
        }
        std::vector<std::pair<std::string, std::pair<std::vector<int64_t>, uint64_t>>> dir;
        for (uint64_t i = 0; i < n_tensors; ++i) {
            const std::string name = str();
            uint32_t n_dims, type;
            rd(n_dims);
            std::vector<int64_t> ne(n_dims);
            for (auto& d : ne) { uint64_t v; rd(v); d = static_cast<int64_t>(v); }
            rd(type);
            REQUIRE(type == 0);  // f32
            uint64_t off;
            rd(off);
            dir.push_back({name, {ne, off}});
        }
        const size_t data = (p + alignment - 1) / alignment * alignment;
        for (auto& [name, v] : dir) tensors[name] = {v.first, data + v.second};
    }
    bytes tensor(const std::string& name, size_t n_bytes) const {
        const size_t off = tensors.at(name).second;
        REQUIRE(off + n_bytes <= file.size());
        return bytes(file.begin() + static_cast<long>(off), file.begin() + static_cast<long>(off + n_bytes));
    }
};

// ---- writers for the Hugging Face files --------------------------------------------------------

std::string spm_model_bytes(const metadata& meta, size_t n_pieces) {
    const auto& tokens = meta.get_str_array("tokenizer.tokens");
    const auto& scores = meta.get_f32_array("tokenizer.scores");
    const auto& types = meta.get_i32_array("tokenizer.token_type");
    proto_writer m;
    for (size_t i = 0; i < n_pieces; ++i) {
        proto_writer p;
        p.len(1, tokens[i]);
        p.f32(2, scores[i]);
        if (types[i] != 1) p.i64(3, types[i]);
        m.len(1, p.s);
    }
    proto_writer trainer;
    trainer.len(1, "input.txt");  // unknown to kiln: skipped
    trainer.i64(3, 2);            // model_type BPE
    trainer.i64(35, 1);           // byte_fallback: skipped
    trainer.i64(40, 0);
    trainer.i64(41, 1);
    trainer.i64(42, 2);
    trainer.i64(43, -1);  // a 10-byte negative varint
    m.len(2, trainer.s);
    proto_writer normalizer;
    normalizer.len(1, "identity");
    normalizer.i64(3, 1);
    m.len(3, normalizer.s);
    m.len(5, "denormalizer");  // unknown field
    return m.s;
}

struct st_entry {
    std::string name, dtype;
    std::vector<int64_t> shape;
    bytes data;
};

void write_safetensors(const std::string& path, const std::vector<st_entry>& entries) {
    json h = json::object();
    h["__metadata__"] = {{"format", "pt"}};
    std::string data;
    for (const auto& e : entries) {
        h[e.name] = {{"dtype", e.dtype}, {"shape", e.shape}, {"data_offsets", {data.size(), data.size() + e.data.size()}}};
        data.append(reinterpret_cast<const char*>(e.data.data()), e.data.size());
    }
    std::string hs = h.dump();
    while (hs.size() % 8) hs += ' ';
    const uint64_t n = hs.size();
    std::string out(reinterpret_cast<const char*>(&n), 8);
    write_bytes(path, out + hs + data);
}

// Meta order → Hugging Face order: within each head, row 2i goes to i and row 2i+1 to i + head_dim/2.
bytes permute_rows_hf(const bytes& in, int64_t n_heads, int64_t head_dim, size_t row_bytes) {
    bytes out(in.size());
    for (int64_t h = 0; h < n_heads; ++h) {
        for (int64_t i = 0; i < head_dim / 2; ++i) {
            const size_t base = static_cast<size_t>(h * head_dim);
            std::memcpy(&out[(base + i) * row_bytes], &in[(base + 2 * i) * row_bytes], row_bytes);
            std::memcpy(&out[(base + i + head_dim / 2) * row_bytes], &in[(base + 2 * i + 1) * row_bytes], row_bytes);
        }
    }
    return out;
}

bytes f32_to_half_bytes(const bytes& f32, bool bf16) {
    bytes out(f32.size() / 2);
    for (size_t i = 0; i < f32.size() / 4; ++i) {
        float x;
        std::memcpy(&x, &f32[4 * i], 4);
        const uint16_t h = bf16 ? bf16_from_f32(x) : fp16_from_f32(x);
        std::memcpy(&out[2 * i], &h, 2);
    }
    return out;
}

struct hf_options {
    bool sharded = false;
    bool untied = false;      // lm_head.weight present, tie_word_embeddings false
    bool half_norms = false;  // norms stored as BF16 (layers) and F16 (final norm)
};

const int64_t n_head = 8, n_head_kv = 4, head_dim = 8, n_layer = 5;

// The stories260K weights as a Hugging Face llama directory.
std::string make_hf_dir(const std::string& name, const source_model& l2c, const hf_options& opt = {}) {
    const std::string dir = test::temp_dir() + "/" + name;
    fs::create_directories(dir);
    auto get = [&](const std::string& n) { return tensor_bytes(*l2c.find(n)); };
    std::vector<st_entry> e;
    e.push_back({"model.embed_tokens.weight", "F32", {512, 64}, get("token_embd.weight")});
    auto norm = [&](const std::string& hf, const std::string& kiln, bool bf16) {
        if (opt.half_norms) e.push_back({hf, bf16 ? "BF16" : "F16", {64}, f32_to_half_bytes(get(kiln), bf16)});
        else e.push_back({hf, "F32", {64}, get(kiln)});
    };
    for (int l = 0; l < n_layer; ++l) {
        const std::string p = fmt::format("model.layers.{}.", l), b = fmt::format("blk.{}.", l);
        norm(p + "input_layernorm.weight", b + "attn_norm.weight", true);
        e.push_back({p + "self_attn.q_proj.weight", "F32", {64, 64},
                     permute_rows_hf(get(b + "attn_q.weight"), n_head, head_dim, 64 * 4)});
        e.push_back({p + "self_attn.k_proj.weight", "F32", {32, 64},
                     permute_rows_hf(get(b + "attn_k.weight"), n_head_kv, head_dim, 64 * 4)});
        e.push_back({p + "self_attn.v_proj.weight", "F32", {32, 64}, get(b + "attn_v.weight")});
        e.push_back({p + "self_attn.o_proj.weight", "F32", {64, 64}, get(b + "attn_output.weight")});
        e.push_back({p + "self_attn.rotary_emb.inv_freq", "F32", {4}, bytes(16, 0)});
        norm(p + "post_attention_layernorm.weight", b + "ffn_norm.weight", true);
        e.push_back({p + "mlp.gate_proj.weight", "F32", {172, 64}, get(b + "ffn_gate.weight")});
        e.push_back({p + "mlp.up_proj.weight", "F32", {172, 64}, get(b + "ffn_up.weight")});
        e.push_back({p + "mlp.down_proj.weight", "F32", {64, 172}, get(b + "ffn_down.weight")});
    }
    norm("model.norm.weight", "output_norm.weight", false);
    if (opt.untied) {
        bytes head = get("token_embd.weight");
        for (auto& x : head) x ^= 0x01;  // distinct from the embeddings
        e.push_back({"lm_head.weight", "F32", {512, 64}, head});
    }

    if (opt.sharded) {
        const size_t half = e.size() / 2;
        write_safetensors(dir + "/model-00001-of-00002.safetensors", {e.begin(), e.begin() + static_cast<long>(half)});
        write_safetensors(dir + "/model-00002-of-00002.safetensors", {e.begin() + static_cast<long>(half), e.end()});
        json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", json::object()}};
        for (size_t i = 0; i < e.size(); ++i) {
            index["weight_map"][e[i].name] = i < half ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
        }
        write_bytes(dir + "/model.safetensors.index.json", index.dump(2));
    } else {
        write_safetensors(dir + "/model.safetensors", e);
    }

    const json config = {{"architectures", {"LlamaForCausalLM"}}, {"model_type", "llama"}, {"hidden_size", 64},
                         {"intermediate_size", 172}, {"num_hidden_layers", 5}, {"num_attention_heads", 8},
                         {"num_key_value_heads", 4}, {"max_position_embeddings", 512}, {"rms_norm_eps", 1e-5},
                         {"vocab_size", 512}, {"tie_word_embeddings", !opt.untied}, {"rope_theta", 10000.0},
                         {"rope_scaling", nullptr}, {"hidden_act", "silu"}, {"torch_dtype", "float32"}};
    write_bytes(dir + "/config.json", config.dump(2));
    write_bytes(dir + "/tokenizer.model", spm_model_bytes(l2c.meta, 512));
    const json tok_cfg = {{"add_bos_token", true}, {"add_eos_token", false}, {"bos_token", "<s>"},
                          {"eos_token", {{"content", "</s>"}, {"lstrip", false}}}, {"pad_token", nullptr},
                          {"chat_template", "{% for m in messages %}{{ m.content }}{% endfor %}"}};
    write_bytes(dir + "/tokenizer_config.json", tok_cfg.dump(2));
    return dir;
}

// hf must hold the llama2.c model's tensors: Q/K rows in HF order, everything else byte-identical.
void check_hf_matches_llama2c(const source_model& hf, const source_model& l2c, const hf_options& opt) {
    CHECK(hf.tensors.size() == l2c.tensors.size() + (opt.untied ? 1 : 0));
    for (const auto& t : l2c.tensors) {
        CAPTURE(t.name);
        const source_tensor* h = hf.find(t.name);
        REQUIRE(h != nullptr);
        CHECK(h->type == dtype::f32);
        CHECK(h->n_dims == t.n_dims);
        for (int i = 0; i < 4; ++i) CHECK(h->ne[i] == t.ne[i]);
        bytes want = tensor_bytes(t);
        if (t.name.find("attn_q") != std::string::npos) want = permute_rows_hf(want, n_head, head_dim, 256);
        if (t.name.find("attn_k") != std::string::npos) want = permute_rows_hf(want, n_head_kv, head_dim, 256);
        if (opt.half_norms && t.n_dims == 1) {
            const bool bf16 = t.name != "output_norm.weight";
            const bytes half = f32_to_half_bytes(want, bf16);
            for (size_t i = 0; i < want.size() / 4; ++i) {
                uint16_t hbits;
                std::memcpy(&hbits, &half[2 * i], 2);
                const float f = bf16 ? bf16_to_f32(hbits) : fp16_to_f32(hbits);
                std::memcpy(&want[4 * i], &f, 4);
            }
        }
        CHECK(tensor_bytes(*h) == want);
    }
}

}  // namespace

// ---- llama2.c ---------------------------------------------------------------------------------

TEST_CASE("llama2c_import: stories260K tensors, hyper-parameters and tokenizer match its GGUF") {
    SKIP_WITHOUT_MODELS();
    const source_model m = llama2c_import(stories("stories260K.bin"), stories("tok512.bin"));
    const metadata& meta = m.meta;
    CHECK(meta.get_str("model.arch") == "llama");
    CHECK(meta.get_int("model.n_vocab") == 512);
    CHECK(meta.get_int("model.n_embd") == 64);
    CHECK(meta.get_int("model.n_layer") == 5);
    CHECK(meta.get_int("model.n_head") == 8);
    CHECK(meta.get_int("model.n_head_kv") == 4);
    CHECK(meta.get_int("model.head_dim") == 8);
    CHECK(meta.get_int("model.n_ff") == 172);
    CHECK(meta.get_int("model.n_ctx_train") == 512);
    CHECK(meta.get_float("model.norm_eps") == doctest::Approx(1e-5));
    CHECK(meta.get_bool("model.tied_output"));
    CHECK(meta.get_float("rope.theta") == 10000.0);
    CHECK(meta.get_int("rope.n_rot") == 8);
    CHECK(meta.get_str("rope.pairing") == "interleaved");
    CHECK(meta.get_str("provenance.source_format") == "llama2c");
    CHECK(meta.get_str("provenance.source") == "stories260K.bin");

    // 1 embedding + 5 × 9 block tensors + final norm; tied, so no output.weight.
    REQUIRE(m.tensors.size() == 47);
    CHECK(m.find("output.weight") == nullptr);
    const mini_gguf g(stories("stories260K.gguf"));
    auto shape = [](const source_tensor& t) { return std::vector<int64_t>(t.ne, t.ne + t.n_dims); };
    const std::map<std::string, std::vector<int64_t>> want_shape = {
        {"attn_norm", {64}},      {"attn_q", {64, 64}},     {"attn_k", {64, 32}},  {"attn_v", {64, 32}},
        {"attn_output", {64, 64}}, {"ffn_norm", {64}},       {"ffn_gate", {64, 172}}, {"ffn_up", {64, 172}},
        {"ffn_down", {172, 64}}};
    CHECK(shape(*m.find("token_embd.weight")) == std::vector<int64_t>{64, 512});
    CHECK(shape(*m.find("output_norm.weight")) == std::vector<int64_t>{64});
    for (int l = 0; l < 5; ++l) {
        for (const auto& [kind, s] : want_shape) {
            const source_tensor* t = m.find(fmt::format("blk.{}.{}.weight", l, kind));
            REQUIRE(t != nullptr);
            CHECK(shape(*t) == s);
        }
    }
    // The GGUF holds the same weights in the same (Meta) order: every tensor is byte-identical.
    for (const auto& t : m.tensors) {
        CAPTURE(t.name);
        CHECK(t.type == dtype::f32);
        CHECK(t.data != nullptr);  // zero copy
        REQUIRE(g.tensors.count(t.name));
        CHECK(g.tensors.at(t.name).first == shape(t));
        CHECK(g.tensor(t.name, t.n_bytes()) == tensor_bytes(t));
    }
    CHECK(g.tensor("output.weight", 512 * 64 * 4) == tensor_bytes(*m.find("token_embd.weight")));

    CHECK(meta.get_str("tokenizer.model") == "spm");
    CHECK(meta.get_str_array("tokenizer.tokens") == g.tokens);
    CHECK(meta.get_f32_array("tokenizer.scores") == g.scores);
    CHECK(meta.get_i32_array("tokenizer.token_type") == g.types);
    CHECK(meta.get_str_array("tokenizer.tokens")[259] == "\xE2\x96\x81t");
    CHECK(meta.get_int("tokenizer.bos_id") == 1);
    CHECK(meta.get_int("tokenizer.eos_id") == 2);
    CHECK(meta.get_int("tokenizer.unk_id") == 0);
    CHECK(meta.get_int("tokenizer.pad_id") == -1);
    CHECK(meta.get_bool("tokenizer.add_bos"));
    CHECK(!meta.get_bool("tokenizer.add_eos"));
    CHECK(meta.get_bool("tokenizer.add_space_prefix"));
}

TEST_CASE("llama2c_import: truncated, padded and inconsistent checkpoints are errors") {
    SKIP_WITHOUT_MODELS();
    const bytes good = read_bytes(stories("stories260K.bin"));
    REQUIRE(good.size() == 1056540);
    const std::string tok = stories("tok512.bin");
    const std::string path = test::temp_dir() + "/bad.bin";
    for (size_t keep : {good.size() - 1, good.size() - 4, size_t(1000), size_t(28)}) {
        CAPTURE(keep);
        write_bytes(path, good.data(), keep);
        check_error([&] { llama2c_import(path, tok); },
                    {path, "1056540", std::to_string(keep), "truncated"});
    }
    write_bytes(path, good.data(), 20);
    check_error([&] { llama2c_import(path, tok); }, {path, "truncated"});

    bytes longer = good;
    longer.resize(good.size() + 8);
    write_bytes(path, longer);
    check_error([&] { llama2c_import(path, tok); }, {path, "1056548", "1056540"});

    auto with_header = [&](int field, int32_t value) {
        bytes b = good;
        std::memcpy(&b[4 * field], &value, 4);
        write_bytes(path, b);
    };
    with_header(3, 7);  // n_heads 7 does not divide dim 64
    check_error([&] { llama2c_import(path, tok); }, {path, "n_heads"});
    with_header(2, 0);
    check_error([&] { llama2c_import(path, tok); }, {path, "n_layers"});
    with_header(5, 513);  // a vocabulary the file is not sized for
    check_error([&] { llama2c_import(path, tok); }, {path, "vocab_size 513"});
    with_header(5, -512);  // claims an unshared classifier that is not there
    check_error([&] { llama2c_import(path, tok); }, {path, "unshared", "truncated"});

    bytes v2(256, 0);
    const uint32_t magic = 0x616b3432;
    const int32_t version = 2;
    std::memcpy(&v2[0], &magic, 4);
    std::memcpy(&v2[4], &version, 4);
    write_bytes(path, v2);
    check_error([&] { llama2c_import(path, tok); }, {path, "version 2"});
}

TEST_CASE("llama2c_import: unshared classifier and the v1 (ak42) export") {
    SKIP_WITHOUT_MODELS();
    const std::string tok = stories("tok512.bin");
    const bytes good = read_bytes(stories("stories260K.bin"));
    const source_model v0 = llama2c_import(stories("stories260K.bin"), tok);

    // v0 with a negative vocab_size and a classifier appended.
    bytes untied = good;
    const int32_t neg_vocab = -512;
    std::memcpy(&untied[20], &neg_vocab, 4);
    bytes wcls(512 * 64 * 4);
    for (size_t i = 0; i < wcls.size(); ++i) wcls[i] = static_cast<uint8_t>(i * 7);
    untied.insert(untied.end(), wcls.begin(), wcls.end());
    const std::string untied_path = test::temp_dir() + "/untied.bin";
    write_bytes(untied_path, untied);
    const source_model u = llama2c_import(untied_path, tok);
    CHECK(!u.meta.get_bool("model.tied_output"));
    CHECK(u.meta.get_int("model.n_vocab") == 512);
    REQUIRE(u.find("output.weight") != nullptr);
    CHECK(tensor_bytes(*u.find("output.weight")) == wcls);

    // v1: 256-byte header, norms first, no RoPE tables.
    bytes v1(256, 0);
    const uint32_t magic = 0x616b3432;
    const int32_t version = 1;
    std::memcpy(&v1[0], &magic, 4);
    std::memcpy(&v1[4], &version, 4);
    std::memcpy(&v1[8], &good[0], 28);
    v1[36] = 1;  // shared classifier
    auto append = [&](const std::string& name) {
        const bytes b = tensor_bytes(*v0.find(name));
        v1.insert(v1.end(), b.begin(), b.end());
    };
    for (const char* kind : {"attn_norm", "ffn_norm"}) {
        for (int l = 0; l < 5; ++l) append(fmt::format("blk.{}.{}.weight", l, kind));
    }
    append("output_norm.weight");
    append("token_embd.weight");
    for (const char* kind : {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_down", "ffn_up"}) {
        for (int l = 0; l < 5; ++l) append(fmt::format("blk.{}.{}.weight", l, kind));
    }
    const std::string v1_path = test::temp_dir() + "/v1.bin";
    write_bytes(v1_path, v1);
    const source_model m1 = llama2c_import(v1_path, tok);
    REQUIRE(m1.tensors.size() == v0.tensors.size());
    for (size_t i = 0; i < v0.tensors.size(); ++i) {
        CHECK(m1.tensors[i].name == v0.tensors[i].name);
        CHECK(tensor_bytes(m1.tensors[i]) == tensor_bytes(v0.tensors[i]));
    }
    v1.resize(v1.size() - 4);
    write_bytes(v1_path, v1);
    check_error([&] { llama2c_import(v1_path, tok); }, {v1_path, "v1", "truncated"});
}

TEST_CASE("llama2c tokenizer: truncated or short tokenizer.bin is an error; Llama 2's 32000 tokens load") {
    SKIP_WITHOUT_MODELS();
    const bytes tok = read_bytes(stories("tok512.bin"));
    const std::string path = test::temp_dir() + "/tok_bad.bin";
    write_bytes(path, tok.data(), tok.size() / 2);
    check_error([&] { llama2c_import(stories("stories260K.bin"), path); }, {path, "truncated", "token"});
    write_bytes(path, tok.data(), 4);
    check_error([&] { llama2c_import(stories("stories260K.bin"), path); }, {path, "only 0 tokens", "512"});
    metadata meta;
    check_error([&] { llama2c_tokenizer_to_metadata(stories("tok512.bin"), 600, meta); },
                {"tok512.bin", "only 512 tokens", "600"});

    // Llama 2's tokenizer.bin is its tokenizer.model with spaces for U+2581: both readers agree.
    const std::string dir = test::models_dir() + "/tokenizers/llama2/";
    llama2c_tokenizer_to_metadata(dir + "tokenizer.bin", 32000, meta);
    const spm_model sp = spm_load(dir + "tokenizer.model");
    REQUIRE(sp.pieces.size() == 32000);
    const auto& tokens = meta.get_str_array("tokenizer.tokens");
    const auto& scores = meta.get_f32_array("tokenizer.scores");
    const auto& types = meta.get_i32_array("tokenizer.token_type");
    size_t mismatches = 0;
    for (size_t i = 0; i < 32000; ++i) {
        if (tokens[i] != sp.pieces[i].piece || scores[i] != sp.pieces[i].score ||
            types[i] != static_cast<int32_t>(sp.pieces[i].type)) {
            if (++mismatches < 5) MESSAGE("token ", i, ": '", tokens[i], "' vs '", sp.pieces[i].piece, "'");
        }
    }
    CHECK(mismatches == 0);
    CHECK(sp.model_type == spm_model_type::bpe);
    CHECK(sp.unk_id == 0);
    CHECK(sp.bos_id == 1);
    CHECK(sp.eos_id == 2);
    CHECK(sp.pad_id == -1);
    CHECK(sp.add_dummy_prefix);
}

// ---- Hugging Face ------------------------------------------------------------------------------

TEST_CASE("hf_import: a llama directory built from stories260K") {
    SKIP_WITHOUT_MODELS();
    const source_model l2c = llama2c_import(stories("stories260K.bin"), stories("tok512.bin"));
    for (const hf_options opt : {hf_options{}, hf_options{true, false, false}, hf_options{false, true, true}}) {
        CAPTURE(opt.sharded);
        CAPTURE(opt.untied);
        const std::string dir = make_hf_dir(fmt::format("hf_{}_{}", opt.sharded, opt.untied), l2c, opt);
        const source_model hf = hf_import(dir);
        check_hf_matches_llama2c(hf, l2c, opt);
        const metadata& meta = hf.meta;
        CHECK(meta.get_str("rope.pairing") == "half");
        CHECK(meta.get_bool("model.tied_output") == !opt.untied);
        if (opt.untied) {
            bytes head = tensor_bytes(*l2c.find("token_embd.weight"));
            for (auto& x : head) x ^= 0x01;
            CHECK(tensor_bytes(*hf.find("output.weight")) == head);
        }
        for (const char* key : {"model.arch", "model.n_vocab", "model.n_embd", "model.n_layer", "model.n_head",
                                "model.n_head_kv", "model.head_dim", "model.n_ff", "model.n_ctx_train",
                                "model.norm_eps", "rope.theta", "rope.n_rot", "tokenizer.model", "tokenizer.tokens",
                                "tokenizer.scores", "tokenizer.token_type", "tokenizer.bos_id", "tokenizer.eos_id",
                                "tokenizer.unk_id", "tokenizer.pad_id", "tokenizer.add_bos", "tokenizer.add_eos",
                                "tokenizer.add_space_prefix"}) {
            CAPTURE(key);
            REQUIRE(meta.find(key) != nullptr);
            CHECK(*meta.find(key) == *l2c.meta.find(key));
        }
        CHECK(meta.get_str("tokenizer.chat_template") == "{% for m in messages %}{{ m.content }}{% endfor %}");
        CHECK(meta.get_str("provenance.source_format") == "hf");
    }
}

TEST_CASE("hf_import: config.json and checkpoint errors") {
    SKIP_WITHOUT_MODELS();
    const source_model l2c = llama2c_import(stories("stories260K.bin"), stories("tok512.bin"));
    const std::string dir = make_hf_dir("hf_errors", l2c);
    const std::string cfg_path = dir + "/config.json";
    const json cfg = json::parse(test::read_text(cfg_path));
    auto with_config = [&](const json& c) { write_bytes(cfg_path, c.dump()); };

    for (const char* field : {"hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                              "vocab_size", "rms_norm_eps", "max_position_embeddings"}) {
        json c = cfg;
        c.erase(field);
        with_config(c);
        check_error([&] { hf_import(dir); }, {"config.json", field, "missing"});
    }
    json c = cfg;
    c["model_type"] = "falcon";
    with_config(c);
    check_error([&] { hf_import(dir); }, {"config.json", "model_type 'falcon'"});
    c = cfg;
    c["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 8.0}};
    with_config(c);
    check_error([&] { hf_import(dir); }, {"config.json", "rope_scaling.rope_type", "'yarn'"});
    c = cfg;
    c["num_hidden_layers"] = 4;  // the checkpoint has a layer 4 then
    with_config(c);
    check_error([&] { hf_import(dir); }, {"model.layers.4.", "num_hidden_layers 4"});
    c = cfg;
    c["intermediate_size"] = 128;
    with_config(c);
    check_error([&] { hf_import(dir); }, {"model.safetensors", "mlp.down_proj", "[64, 172]", "[64, 128]"});
    write_bytes(cfg_path, std::string("{\"model_type\": \"llama\",,}"));
    check_error([&] { hf_import(dir); }, {"config.json", "malformed"});
    with_config(cfg);
    hf_import(dir);  // back to a good config

    // A tokenizer one token short of vocab_size: the embedding row past the last token is padding.
    write_bytes(dir + "/tokenizer.model", spm_model_bytes(l2c.meta, 511));
    {
        const source_model padded = hf_import(dir);
        const auto& toks = padded.meta.get_str_array("tokenizer.tokens");
        REQUIRE(toks.size() == 512);
        CHECK(toks[511] == "[PAD511]");
        CHECK(padded.meta.get_i32_array("tokenizer.token_type")[511] == 5);
        CHECK(padded.meta.get_f32_array("tokenizer.scores").size() == 512);
    }
    // A tokenizer with more tokens than the model has rows: an error.
    {
        metadata more = l2c.meta;
        auto toks = more.get_str_array("tokenizer.tokens");
        auto scores = more.get_f32_array("tokenizer.scores");
        auto types = more.get_i32_array("tokenizer.token_type");
        toks.push_back("extra");
        scores.push_back(0.0f);
        types.push_back(1);
        more.set("tokenizer.tokens", toks);
        more.set("tokenizer.scores", scores);
        more.set("tokenizer.token_type", types);
        write_bytes(dir + "/tokenizer.model", spm_model_bytes(more, 513));
        check_error([&] { hf_import(dir); }, {"513 tokens", "vocab_size is only 512"});
    }
    write_bytes(dir + "/tokenizer.model", spm_model_bytes(l2c.meta, 512));

    // An unknown tensor name and a missing tensor.
    const std::string st = dir + "/model.safetensors";
    const bytes original = read_bytes(st);
    write_safetensors(st, {{"model.layers.0.self_attn.q_norm.weight", "F32", {8}, bytes(32, 0)}});
    check_error([&] { hf_import(dir); }, {"model.safetensors", "model.layers.0.self_attn.q_norm.weight", "unknown"});
    write_safetensors(st, {{"model.norm.weight", "F32", {64}, bytes(256, 0)}});
    check_error([&] { hf_import(dir); }, {"model.embed_tokens.weight", "missing"});
    write_bytes(st, original);
    hf_import(dir);
}

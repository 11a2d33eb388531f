// The GGUF reader and importer: stories260K in its v3, v1, Q8_0 and Q4_0
// forms, crafted Q4_1, Q5_0, Q5_1 and Q4_K files (imported and written back byte for byte),
// vocabulary-only files, and crafted or damaged files that must each fail with
// one kiln::error line naming the file.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <fstream>

#include "core/convert_row.h"
#include "core/error.h"
#include "core/fp16.h"
#include "formats/gguf.h"
#include "formats/gguf_import.h"
#include "formats/gguf_writer.h"
#include "quant/pack.h"
#include "quant/recipe.h"
#include "support/test_files.h"
#include "support/test_paths.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/vocab.h"

using namespace kiln;
using kiln::test::write_file;
namespace kt = kiln::test;

namespace {

std::string stories_gguf() {
    const std::string m = kt::models_dir();
    return m.empty() ? "" : m + "/stories260K/stories260K.gguf";
}

const source_tensor* find_tensor(const source_model& m, const std::string& name) {
    for (const auto& t : m.tensors) {
        if (t.name == name) return &t;
    }
    return nullptr;
}

// Builds small GGUF v3 files byte by byte, so tests can corrupt any field.
struct gguf_builder {
    std::string kv;
    std::string infos;
    std::string data;
    uint64_t n_kv = 0, n_tensors = 0;
    uint32_t version = 3;

    template <typename T> static void put(std::string& s, T v) { s.append(reinterpret_cast<const char*>(&v), sizeof(T)); }
    static void put_str(std::string& s, const std::string& v) {
        put<uint64_t>(s, v.size());
        s += v;
    }
    void kv_str(const std::string& key, const std::string& v) {
        put_str(kv, key);
        put<uint32_t>(kv, 8);
        put_str(kv, v);
        ++n_kv;
    }
    void kv_u32(const std::string& key, uint32_t v) {
        put_str(kv, key);
        put<uint32_t>(kv, 4);
        put<uint32_t>(kv, v);
        ++n_kv;
    }
    void kv_f32(const std::string& key, float v) {
        put_str(kv, key);
        put<uint32_t>(kv, 6);
        put<float>(kv, v);
        ++n_kv;
    }
    // A tensor whose bytes follow the previous one's (32-byte aligned).
    void tensor(const std::string& name, uint32_t type, std::vector<uint64_t> ne, size_t n_bytes) {
        while (data.size() % 32) data += '\0';
        put_str(infos, name);
        put<uint32_t>(infos, static_cast<uint32_t>(ne.size()));
        for (uint64_t d : ne) put<uint64_t>(infos, d);
        put<uint32_t>(infos, type);
        put<uint64_t>(infos, data.size());
        data.append(n_bytes, '\x01');
        ++n_tensors;
    }
    void llama_hparams(const std::string& arch = "llama") {
        kv_str("general.architecture", arch);
        kv_u32(arch + ".embedding_length", 32);
        kv_u32(arch + ".block_count", 1);
        kv_u32(arch + ".attention.head_count", 4);
        kv_u32(arch + ".feed_forward_length", 64);
        kv_u32(arch + ".context_length", 128);
        kv_f32(arch + ".attention.layer_norm_rms_epsilon", 1e-5f);
    }
    std::string bytes() const {
        std::string s = "GGUF";
        put<uint32_t>(s, version);
        put<uint64_t>(s, n_tensors);
        put<uint64_t>(s, n_kv);
        s += kv;
        s += infos;
        while (s.size() % 32) s += '\0';
        return s + data;
    }
};

// Runs f and checks it throws one kiln::error line that names `file`.
template <typename F> std::string expect_error(F f, const std::string& file) {
    std::string msg;
    try {
        f();
    } catch (const error& e) {
        msg = e.what();
    }
    CHECK_MESSAGE(!msg.empty(), "no kiln::error for " << file);
    CHECK_MESSAGE(msg.find(file) != std::string::npos, msg);
    CHECK(msg.find('\n') == std::string::npos);
    return msg;
}

}  // namespace

TEST_CASE("gguf: stories260K v3 header, keys and tensors") {
    const std::string path = stories_gguf();
    if (path.empty()) {
        MESSAGE("models not available; skipped");
        return;
    }
    CHECK(gguf_is_gguf(path));
    CHECK_FALSE(gguf_is_gguf(kt::models_dir() + "/stories260K/stories260K.bin"));
    const auto g = gguf_open(path);
    CHECK(g->version() == 3);
    CHECK(g->alignment() == 32);
    CHECK(g->get_str("general.architecture") == "llama");
    CHECK(g->get_int("llama.embedding_length") == 64);
    CHECK(g->get_float("llama.attention.layer_norm_rms_epsilon") == doctest::Approx(1e-5));
    CHECK(g->get_str_array("tokenizer.ggml.tokens").size() == 512);
    CHECK_THROWS_AS(g->get_int("general.architecture"), error);
    CHECK_THROWS_AS(g->get_str("no.such.key"), error);
    CHECK(g->tensors().size() == 48);
    const gguf_tensor* q = g->find_tensor("blk.0.attn_q.weight");
    REQUIRE(q);
    CHECK(q->type == 0);
    CHECK(q->n_dims == 2);
    CHECK(q->ne[0] == 64);
    CHECK(q->ne[1] == 64);
    CHECK(q->n_bytes == 64 * 64 * 4);
    CHECK(q->data == g->mapping()->data() + g->data_offset() + q->offset);
    const gguf_tensor* k = g->find_tensor("blk.4.attn_k.weight");
    REQUIRE(k);
    CHECK(k->ne[1] == 32);
}

TEST_CASE("gguf: import stories260K as a llama model") {
    const std::string path = stories_gguf();
    if (path.empty()) {
        MESSAGE("models not available; skipped");
        return;
    }
    const source_model m = gguf_import(path);
    const metadata& md = m.meta;
    CHECK(md.get_str("model.arch") == "llama");
    CHECK(md.get_str("model.name") == "tinyllamas-stories-260k");
    CHECK(md.get_int("model.n_vocab") == 512);
    CHECK(md.get_int("model.n_embd") == 64);
    CHECK(md.get_int("model.n_layer") == 5);
    CHECK(md.get_int("model.n_head") == 8);
    CHECK(md.get_int("model.n_head_kv") == 4);
    CHECK(md.get_int("model.head_dim") == 8);
    CHECK(md.get_int("model.n_ff") == 172);
    CHECK(md.get_int("model.n_ctx_train") == 512);
    CHECK(md.get_float("model.norm_eps") == doctest::Approx(1e-5));
    CHECK_FALSE(md.get_bool("model.tied_output"));  // the file carries output.weight (a copy of the embedding)
    CHECK(md.get_float("rope.theta") == 10000.0);
    CHECK(md.get_int("rope.n_rot") == 8);
    CHECK(md.get_str("rope.pairing") == "interleaved");
    CHECK(md.get_str("provenance.source_format") == "gguf");
    CHECK(md.get_str("provenance.source") == "stories260K.gguf");
    CHECK(md.get_str("tokenizer.model") == "spm");
    CHECK(md.get_str_array("tokenizer.tokens").size() == 512);
    CHECK(md.get_f32_array("tokenizer.scores").size() == 512);
    CHECK(md.get_i32_array("tokenizer.token_type").size() == 512);
    CHECK(md.get_int("tokenizer.bos_id") == 1);
    CHECK(md.get_int("tokenizer.eos_id") == 2);
    CHECK(md.get_int("tokenizer.unk_id") == -1);
    CHECK(md.get_int("tokenizer.pad_id") == 0);
    CHECK(md.get_bool("tokenizer.add_bos"));
    CHECK_FALSE(md.get_bool("tokenizer.add_eos"));
    CHECK(md.get_bool("tokenizer.add_space_prefix"));

    CHECK(m.tensors.size() == 48);
    const source_tensor* embd = find_tensor(m, "token_embd.weight");
    REQUIRE(embd);
    const source_tensor* output = find_tensor(m, "output.weight");
    REQUIRE(output);
    CHECK(output->type == dtype::f32);
    CHECK(output->n_bytes() == embd->n_bytes());
    CHECK(embd->type == dtype::f32);
    CHECK(embd->n_dims == 2);
    CHECK(embd->ne[0] == 64);
    CHECK(embd->ne[1] == 512);
    REQUIRE(embd->data);
    const source_tensor* norm = find_tensor(m, "blk.2.ffn_norm.weight");
    REQUIRE(norm);
    CHECK(norm->n_dims == 1);
    CHECK(norm->type == dtype::f32);
    const source_tensor* down = find_tensor(m, "blk.3.ffn_down.weight");
    REQUIRE(down);
    CHECK(down->ne[0] == 172);
    CHECK(down->ne[1] == 64);

    // The same weights as the llama2.c checkpoint: its embedding table follows a 7-int header.
    const std::string bin = kt::read_text(kt::models_dir() + "/stories260K/stories260K.bin");
    REQUIRE(bin.size() >= 28 + embd->n_bytes());
    CHECK(std::memcmp(bin.data() + 28, embd->data, embd->n_bytes()) == 0);
}

TEST_CASE("gguf: the v1 file holds the same model") {
    if (kt::models_dir().empty()) {
        MESSAGE("models not available; skipped");
        return;
    }
    const auto v1 = gguf_open(kt::models_dir() + "/stories260K/stories260K.v1.gguf");
    const auto v3 = gguf_open(stories_gguf());
    CHECK(v1->version() == 1);
    REQUIRE(v1->tensors().size() == v3->tensors().size());
    for (size_t i = 0; i < v1->tensors().size(); ++i) {
        const gguf_tensor& a = v1->tensors()[i];
        const gguf_tensor* b = v3->find_tensor(a.name);
        REQUIRE(b);
        CHECK(a.n_bytes == b->n_bytes);
        CHECK(std::memcmp(a.data, b->data, a.n_bytes) == 0);
    }
    CHECK(v1->get_str_array("tokenizer.ggml.tokens") == v3->get_str_array("tokenizer.ggml.tokens"));
    const source_model m = gguf_import(kt::models_dir() + "/stories260K/stories260K.v1.gguf");
    CHECK(m.meta.get_int("model.n_head_kv") == 4);
}

TEST_CASE("gguf: Q8_0 and Q4_0 files import with their quantized types") {
    const std::string refs = kt::refs_dir();
    if (refs.empty() || kt::models_dir().empty()) {
        MESSAGE("refs not available; skipped");
        return;
    }
    const source_model f32 = gguf_import(stories_gguf());
    const source_tensor* ref = find_tensor(f32, "token_embd.weight");
    REQUIRE(ref);
    for (auto [file, want, tol] : {std::tuple{"stories260K-q8_0.gguf", dtype::q8_0, 0.01},
                                   std::tuple{"stories260K-q4_0.gguf", dtype::q4_0, 0.15}}) {
        CAPTURE(file);
        const source_model m = gguf_import(refs + "/stories260K/" + file);
        CHECK(m.meta.get_int("model.n_vocab") == 512);
        CHECK_FALSE(m.meta.get_bool("model.tied_output"));
        const source_tensor* output = find_tensor(m, "output.weight");
        REQUIRE(output);
        CHECK(output->type == dtype::q8_0);  // llama-quantize keeps the output projection at 8 bits
        const source_tensor* embd = find_tensor(m, "token_embd.weight");
        REQUIRE(embd);
        CHECK(embd->type == want);
        CHECK(embd->n_bytes() == dtype_row_bytes(want, 64) * 512);
        const source_tensor* q = find_tensor(m, "blk.1.attn_q.weight");
        REQUIRE(q);
        CHECK(q->type == want);
        const source_tensor* down = find_tensor(m, "blk.1.ffn_down.weight");
        REQUIRE(down);
        CHECK(down->type == dtype::f16);  // 172 is not a multiple of 32: llama.cpp kept f16
        const source_tensor* norm = find_tensor(m, "output_norm.weight");
        REQUIRE(norm);
        CHECK(norm->type == dtype::f32);

        // Same block layout as ggml: dequantized rows match the f32 weights.
        std::vector<float> row(64);
        double max_err = 0;
        for (int r = 0; r < 512; r += 37) {
            row_to_f32(embd->type, static_cast<const uint8_t*>(embd->data) + r * dtype_row_bytes(want, 64), row.data(), 64);
            const float* expect = static_cast<const float*>(ref->data) + r * 64;
            for (int i = 0; i < 64; ++i) max_err = std::max(max_err, double(std::fabs(row[i] - expect[i])));
        }
        CHECK(max_err < tol);
    }
}

TEST_CASE("gguf: vocabulary-only files") {
    if (kt::models_dir().empty()) {
        MESSAGE("models not available; skipped");
        return;
    }
    const std::string spm = kt::models_dir() + "/vocab/ggml-vocab-llama-spm.gguf";
    const metadata v = gguf_import_vocab(spm);
    CHECK(v.get_str("tokenizer.model") == "spm");
    CHECK(v.get_str_array("tokenizer.tokens").size() == 32000);
    CHECK(v.get_int("tokenizer.unk_id") == 0);
    CHECK_FALSE(v.has("model.arch"));

    const source_model m = gguf_import(spm);
    CHECK(m.tensors.empty());
    CHECK_FALSE(m.meta.has("model.arch"));
    CHECK(m.meta.get_str_array("tokenizer.tokens").size() == 32000);

    const metadata gpt2 = gguf_import_vocab(kt::models_dir() + "/vocab/ggml-vocab-gpt-2.gguf");
    CHECK(gpt2.get_str("tokenizer.model") == "bpe");
    CHECK(gpt2.get_str("tokenizer.pre") == "gpt-2");
    CHECK(gpt2.get_str_array("tokenizer.merges").size() == 50000);
    CHECK_FALSE(gpt2.get_bool("tokenizer.add_space_prefix"));
}

TEST_CASE("gguf: a minimal crafted llama imports, defaults filled in") {
    gguf_builder b;
    b.llama_hparams();
    b.kv_u32("llama.vocab_size", 10);
    b.tensor("token_embd.weight", 0, {32, 10}, 32 * 10 * 4);
    b.tensor("blk.0.attn_norm.weight", 1, {32}, 32 * 2);  // an f16 norm: widened to f32
    const std::string path = kt::temp_dir() + "/minimal.gguf";
    write_file(path, b.bytes());
    const source_model m = gguf_import(path);
    CHECK(m.meta.get_int("model.n_vocab") == 10);
    CHECK(m.meta.get_int("model.n_head_kv") == 4);
    CHECK(m.meta.get_int("model.head_dim") == 8);
    CHECK(m.meta.get_int("rope.n_rot") == 8);
    CHECK(m.meta.get_float("rope.theta") == 10000.0);
    CHECK(m.meta.get_bool("model.tied_output"));
    CHECK_FALSE(m.meta.has("tokenizer.model"));
    const source_tensor* norm = find_tensor(m, "blk.0.attn_norm.weight");
    REQUIRE(norm);
    CHECK(norm->type == dtype::f32);
    CHECK(norm->data == nullptr);
    REQUIRE(norm->load);
    std::vector<float> out(32);
    norm->load(out.data());
    CHECK(out[31] == fp16_to_f32(0x0101));
}

TEST_CASE("gguf: Q4_1 tensors import losslessly, repack to rows8 and write back byte for byte") {
    gguf_builder b;
    b.llama_hparams();
    b.kv_u32("llama.vocab_size", 10);
    b.tensor("token_embd.weight", 3, {64, 10}, 2 * 20 * 10);  // Q4_1: 2 blocks of 20 bytes per row
    const std::string path = kt::temp_dir() + "/q4_1.gguf";
    write_file(path, b.bytes());
    const source_model m = gguf_import(path);
    const source_tensor* t = find_tensor(m, "token_embd.weight");
    REQUIRE(t);
    CHECK(t->type == dtype::q4_1);
    CHECK(t->layout == tensor_layout::plain);
    REQUIRE(t->n_bytes() == 400);
    // Every byte is 0x01: d = m = fp16 0x0101, codes 1 (low nibbles, weights 0..15) and 0 (16..31).
    const float h = fp16_to_f32(0x0101);
    std::vector<float> row(64);
    row_to_f32(dtype::q4_1, t->data, row.data(), 64);
    for (int i = 0; i < 64; ++i) CHECK(row[i] == (i % 32 < 16 ? h * 1.0f + h : h));
    const std::vector<uint8_t> want(static_cast<const uint8_t*>(t->data), static_cast<const uint8_t*>(t->data) + 400);

    source_model packed = gguf_import(path);
    recipe_pack(packed);
    const source_tensor* p = find_tensor(packed, "token_embd.weight");
    REQUIRE(p);
    CHECK(p->layout == tensor_layout::rows8);
    std::vector<uint8_t> pb(p->n_bytes()), r(40);
    p->read_into(pb.data());
    for (int64_t i = 0; i < 10; ++i) {
        quant_unpack_row_rows8(dtype::q4_1, pb.data(), 10, 64, i, r.data());
        CHECK(std::memcmp(r.data(), want.data() + i * 40, 40) == 0);
    }

    const std::string out = kt::temp_dir() + "/q4_1_back.gguf";
    gguf_write_file(m, out);
    const source_model back = gguf_import(out);
    const source_tensor* bt = find_tensor(back, "token_embd.weight");
    REQUIRE(bt);
    CHECK(bt->type == dtype::q4_1);
    REQUIRE(bt->n_bytes() == 400);
    CHECK(std::memcmp(bt->data, want.data(), 400) == 0);
}

TEST_CASE("gguf: Q5_0 and Q5_1 tensors import losslessly, repack to rows8 and write back byte for byte") {
    struct variant {
        uint32_t ggml;
        dtype type;
        size_t block_bytes;
        const char* file;
    };
    for (const variant& v : {variant{6, dtype::q5_0, 22, "q5_0"}, variant{7, dtype::q5_1, 24, "q5_1"}}) {
        CAPTURE(v.file);
        const size_t row_bytes = 2 * v.block_bytes, n_bytes = 10 * row_bytes;
        gguf_builder b;
        b.llama_hparams();
        b.kv_u32("llama.vocab_size", 10);
        b.tensor("token_embd.weight", v.ggml, {64, 10}, n_bytes);  // 2 blocks per row
        const std::string path = kt::temp_dir() + "/" + v.file + ".gguf";
        write_file(path, b.bytes());
        const source_model m = gguf_import(path);
        const source_tensor* t = find_tensor(m, "token_embd.weight");
        REQUIRE(t);
        CHECK(t->type == v.type);
        CHECK(t->layout == tensor_layout::plain);
        REQUIRE(t->n_bytes() == n_bytes);
        // Every byte is 0x01: d (and m) = fp16 0x0101; low nibbles 1 (weights 0..15), high 0 (16..31);
        // qh = 0x01010101 sets the 5th bit of weights 0, 8, 16 and 24 (bit i of qh is weight i's).
        const float h = fp16_to_f32(0x0101);
        std::vector<float> row(64);
        row_to_f32(v.type, t->data, row.data(), 64);
        for (int i = 0; i < 64; ++i) {
            const int q = (i % 32 < 16 ? 1 : 0) + (i % 8 == 0 ? 16 : 0);
            CHECK(row[i] == (v.type == dtype::q5_0 ? h * static_cast<float>(q - 16) : h * static_cast<float>(q) + h));
        }
        const std::vector<uint8_t> want(static_cast<const uint8_t*>(t->data), static_cast<const uint8_t*>(t->data) + n_bytes);

        source_model packed = gguf_import(path);
        recipe_pack(packed);
        const source_tensor* p = find_tensor(packed, "token_embd.weight");
        REQUIRE(p);
        CHECK(p->layout == tensor_layout::rows8);
        std::vector<uint8_t> pb(p->n_bytes()), r(row_bytes);
        p->read_into(pb.data());
        for (int64_t i = 0; i < 10; ++i) {
            quant_unpack_row_rows8(v.type, pb.data(), 10, 64, i, r.data());
            CHECK(std::memcmp(r.data(), want.data() + i * row_bytes, row_bytes) == 0);
        }

        const std::string out = kt::temp_dir() + "/" + v.file + "_back.gguf";
        gguf_write_file(m, out);
        const source_model back = gguf_import(out);
        const source_tensor* bt = find_tensor(back, "token_embd.weight");
        REQUIRE(bt);
        CHECK(bt->type == v.type);
        REQUIRE(bt->n_bytes() == n_bytes);
        CHECK(std::memcmp(bt->data, want.data(), n_bytes) == 0);
    }
}

TEST_CASE("gguf: Q4_K tensors import losslessly, repack to rows8 and write back byte for byte") {
    gguf_builder b;
    b.llama_hparams();
    b.kv_u32("llama.vocab_size", 8);
    b.tensor("token_embd.weight", 12, {256, 8}, 144 * 8);  // Q4_K: one 144-byte super-block per row
    const std::string path = kt::temp_dir() + "/q4_k.gguf";
    write_file(path, b.bytes());
    const source_model m = gguf_import(path);
    const source_tensor* t = find_tensor(m, "token_embd.weight");
    REQUIRE(t);
    CHECK(t->type == dtype::q4_k);
    CHECK(t->layout == tensor_layout::plain);
    REQUIRE(t->n_bytes() == 144 * 8);
    const std::vector<uint8_t> want(static_cast<const uint8_t*>(t->data), static_cast<const uint8_t*>(t->data) + 144 * 8);

    source_model packed = gguf_import(path);
    recipe_pack(packed);
    const source_tensor* p = find_tensor(packed, "token_embd.weight");
    REQUIRE(p);
    CHECK(p->layout == tensor_layout::rows8);
    std::vector<uint8_t> pb(p->n_bytes()), r(144);
    p->read_into(pb.data());
    for (int64_t i = 0; i < 8; ++i) {
        quant_unpack_row_rows8(dtype::q4_k, pb.data(), 8, 256, i, r.data());
        CHECK(std::memcmp(r.data(), want.data() + i * 144, 144) == 0);
    }

    const std::string out = kt::temp_dir() + "/q4_k_back.gguf";
    gguf_write_file(m, out);
    const source_model back = gguf_import(out);
    const source_tensor* bt = find_tensor(back, "token_embd.weight");
    REQUIRE(bt);
    CHECK(bt->type == dtype::q4_k);
    REQUIRE(bt->n_bytes() == 144 * 8);
    CHECK(std::memcmp(bt->data, want.data(), 144 * 8) == 0);
}

TEST_CASE("gguf: Q6_K tensors import losslessly, decode as GGUF's layout says, repack and write back") {
    gguf_builder b;
    b.llama_hparams();
    b.kv_u32("llama.vocab_size", 9);
    b.tensor("token_embd.weight", 14, {512, 9}, 210 * 2 * 9);  // Q6_K: 210 bytes per 256 weights
    // varied codes and scales; d = 1/8 in every block (an fp16 that is never inf or NaN)
    const size_t at = b.data.size() - 210 * 2 * 9;
    for (size_t i = 0; i < 210 * 2 * 9; ++i) {
        b.data[at + i] = static_cast<char>(i % 210 == 208 ? 0x00 : i % 210 == 209 ? 0x30 : (i * 37 + 11) & 0xff);
    }
    const std::string path = kt::temp_dir() + "/q6_k.gguf";
    write_file(path, b.bytes());
    const source_model m = gguf_import(path);
    const source_tensor* t = find_tensor(m, "token_embd.weight");
    REQUIRE(t);
    CHECK(t->type == dtype::q6_k);
    CHECK(t->layout == tensor_layout::plain);
    REQUIRE(t->n_bytes() == 210 * 2 * 9);
    const auto* raw = static_cast<const uint8_t*>(t->data);
    const std::vector<uint8_t> want(raw, raw + 210 * 2 * 9);
    // element e of a block: ql (128 bytes) low 4 bits, qh (64) top 2, int8 scales (16), fp16 d
    std::vector<float> row(512);
    row_to_f32(dtype::q6_k, raw + 420, row.data(), 512);  // row 1
    for (int e = 0; e < 512; ++e) {
        const uint8_t* blk = raw + 420 + 210 * (e / 256);
        const int i = e % 256, h = i / 128, quarter = (i % 128) / 32, l = i % 32;
        const int lo = (blk[64 * h + 32 * (quarter % 2) + l] >> (quarter >= 2 ? 4 : 0)) & 15;
        const int hi = (blk[128 + 32 * h + l] >> (2 * quarter)) & 3;
        const int8_t sc = static_cast<int8_t>(blk[192 + i / 16]);
        REQUIRE(row[e] == 0.125f * static_cast<float>(sc) * static_cast<float>((lo | hi << 4) - 32));
    }

    source_model packed = gguf_import(path);
    recipe_pack(packed);
    const source_tensor* p = find_tensor(packed, "token_embd.weight");
    REQUIRE(p);
    CHECK(p->layout == tensor_layout::rows8);
    std::vector<uint8_t> pb(p->n_bytes()), r(420);
    p->read_into(pb.data());
    for (int64_t i = 0; i < 9; ++i) {
        quant_unpack_row_rows8(dtype::q6_k, pb.data(), 9, 512, i, r.data());
        CHECK(std::memcmp(r.data(), want.data() + i * 420, 420) == 0);
    }

    const std::string out = kt::temp_dir() + "/q6_k_back.gguf";
    gguf_write_file(m, out);
    const source_model back = gguf_import(out);
    const source_tensor* bt = find_tensor(back, "token_embd.weight");
    REQUIRE(bt);
    CHECK(bt->type == dtype::q6_k);
    REQUIRE(bt->n_bytes() == 210 * 2 * 9);
    CHECK(std::memcmp(bt->data, want.data(), 210 * 2 * 9) == 0);
}

TEST_CASE("gguf: every value type, nested arrays") {
    gguf_builder b;
    using B = gguf_builder;
    auto key = [&](const std::string& k, uint32_t type) {
        B::put_str(b.kv, k);
        B::put<uint32_t>(b.kv, type);
        ++b.n_kv;
    };
    key("u8", 0); B::put<uint8_t>(b.kv, 200);
    key("i8", 1); B::put<int8_t>(b.kv, -100);
    key("u16", 2); B::put<uint16_t>(b.kv, 60000);
    key("i16", 3); B::put<int16_t>(b.kv, -30000);
    key("u32", 4); B::put<uint32_t>(b.kv, 4000000000u);
    key("i32", 5); B::put<int32_t>(b.kv, -2000000000);
    key("f32", 6); B::put<float>(b.kv, 0.5f);
    key("bool", 7); B::put<uint8_t>(b.kv, 1);
    key("str", 8); B::put_str(b.kv, "hello");
    key("u64", 10); B::put<uint64_t>(b.kv, ~uint64_t(0));
    key("i64", 11); B::put<int64_t>(b.kv, -(int64_t(1) << 40));
    key("f64", 12); B::put<double>(b.kv, 0.25);
    key("arr_i16", 9); B::put<uint32_t>(b.kv, 3); B::put<uint64_t>(b.kv, 3);
    for (int16_t x : {-1, 2, 300}) B::put<int16_t>(b.kv, x);
    key("arr_u32", 9); B::put<uint32_t>(b.kv, 4); B::put<uint64_t>(b.kv, 2);
    B::put<uint32_t>(b.kv, 7); B::put<uint32_t>(b.kv, 4000000000u);
    key("arr_f64", 9); B::put<uint32_t>(b.kv, 12); B::put<uint64_t>(b.kv, 2);
    B::put<double>(b.kv, 1.5); B::put<double>(b.kv, -2.0);
    key("arr_str", 9); B::put<uint32_t>(b.kv, 8); B::put<uint64_t>(b.kv, 3);
    for (const char* x : {"a", "", "ccc"}) B::put_str(b.kv, x);
    key("nested", 9); B::put<uint32_t>(b.kv, 9); B::put<uint64_t>(b.kv, 2);  // [[1, 2], ["x"]]
    B::put<uint32_t>(b.kv, 5); B::put<uint64_t>(b.kv, 2); B::put<int32_t>(b.kv, 1); B::put<int32_t>(b.kv, 2);
    B::put<uint32_t>(b.kv, 8); B::put<uint64_t>(b.kv, 1); B::put_str(b.kv, "x");
    key("after", 8); B::put_str(b.kv, "still in step");

    const std::string path = kt::temp_dir() + "/values.gguf";
    write_file(path, b.bytes());
    const auto g = gguf_open(path);
    CHECK(g->tensors().empty());
    CHECK(g->get_int("u8") == 200);
    CHECK(g->get_int("i8") == -100);
    CHECK(g->get_int("u16") == 60000);
    CHECK(g->get_int("i16") == -30000);
    CHECK(g->get_int("u32") == 4000000000ll);
    CHECK(g->get_int("i32") == -2000000000);
    CHECK(g->get_float("f32") == 0.5);
    CHECK(g->get_bool("bool", false));
    CHECK(g->get_str("str") == "hello");
    CHECK_THROWS_AS(g->get_int("u64"), error);  // above INT64_MAX
    CHECK(std::get<uint64_t>(g->find("u64")->scalar) == ~uint64_t(0));
    CHECK(g->get_int("i64") == -(int64_t(1) << 40));
    CHECK(g->get_float("f64") == 0.25);
    CHECK(g->get_float("u8") == 200.0);
    CHECK(g->get_i32_array("arr_i16") == std::vector<int32_t>{-1, 2, 300});
    CHECK_THROWS_AS(g->get_i32_array("arr_u32"), error);  // 4e9 does not fit
    CHECK(g->get_f32_array("arr_f64") == std::vector<float>{1.5f, -2.0f});
    CHECK(g->get_str_array("arr_str") == std::vector<std::string>{"a", "", "ccc"});
    CHECK_THROWS_AS(g->get_str_array("arr_i16"), error);
    CHECK_THROWS_AS(g->get_f32_array("str"), error);
    const gguf_value* nested = g->find("nested");
    REQUIRE(nested);
    CHECK(nested->elem_type == gguf_type::array);
    const std::vector<gguf_value> items = g->array_items(*nested);
    REQUIRE(items.size() == 2);
    CHECK(items[0].elem_type == gguf_type::i32);
    const std::vector<gguf_value> inner = g->array_items(items[0]);
    REQUIRE(inner.size() == 2);
    CHECK(std::get<int64_t>(inner[1].scalar) == 2);
    const std::vector<gguf_value> strs = g->array_items(items[1]);
    REQUIRE(strs.size() == 1);
    CHECK(std::get<std::string>(strs[0].scalar) == "x");
    CHECK(g->get_str("after") == "still in step");
    // No architecture and no tensors: the import is the (absent) tokenizer and provenance only.
    const source_model m = gguf_import(path);
    CHECK(m.tensors.empty());
    CHECK(m.meta.get_str("provenance.source_format") == "gguf");
    CHECK_THROWS_AS(gguf_import_vocab(path), error);
}

TEST_CASE("gguf: crafted faults each give one error line naming the file") {
    const std::string dir = kt::temp_dir();
    auto check_fault = [&](const std::string& name, const std::string& bytes, const char* expect_in_msg,
                           bool via_import = false) {
        CAPTURE(name);
        const std::string path = dir + "/" + name + ".gguf";
        write_file(path, bytes);
        const std::string msg = expect_error(
            [&] {
                if (via_import) gguf_import(path);
                else gguf_open(path);
            },
            path);
        CHECK_MESSAGE(msg.find(expect_in_msg) != std::string::npos, msg);
    };
    auto base = [] {
        gguf_builder b;
        b.llama_hparams();
        return b;
    };

    {
        gguf_builder b = base();
        b.tensor("token_embd.weight", 99, {32, 10}, 1280);
        check_fault("unknown_type", b.bytes(), "unknown ggml type 99");
    }
    {
        gguf_builder b = base();
        b.tensor("blk.0.attn_q.weight", 20, {32, 2}, 2 * 18);  // IQ4_NL: parses, but kiln cannot import it
        check_fault("unsupported_type", b.bytes(), "tensor 'blk.0.attn_q.weight' has ggml type IQ4_NL", true);
    }
    {
        gguf_builder c;
        c.llama_hparams("gpt9");
        c.tensor("token_embd.weight", 0, {32, 10}, 1280);
        check_fault("unknown_arch", c.bytes(), "unsupported architecture 'gpt9' in", true);
    }
    {
        gguf_builder b = base();
        b.tensor("token_embd.weight", 0, {32, 10}, 1280);
        std::string bytes = b.bytes();
        bytes.resize(bytes.size() - 4);  // the data ends early
        check_fault("offset_out_of_range", bytes, "tensor 'token_embd.weight' data [");
    }
    {
        gguf_builder b = base();
        gguf_builder::put_str(b.infos, "token_embd.weight");
        gguf_builder::put<uint32_t>(b.infos, 2);
        gguf_builder::put<uint64_t>(b.infos, 32);
        gguf_builder::put<uint64_t>(b.infos, 10);
        gguf_builder::put<uint32_t>(b.infos, 0);
        gguf_builder::put<uint64_t>(b.infos, uint64_t(1) << 62);  // offset far past the end
        b.n_tensors = 1;
        check_fault("huge_offset", b.bytes(), "outside the file");
    }
    {
        gguf_builder b = base();
        gguf_builder::put_str(b.infos, "token_embd.weight");
        gguf_builder::put<uint32_t>(b.infos, 2);
        gguf_builder::put<uint64_t>(b.infos, 32);
        gguf_builder::put<uint64_t>(b.infos, 10);
        gguf_builder::put<uint32_t>(b.infos, 0);
        gguf_builder::put<uint64_t>(b.infos, 4);  // not a multiple of the alignment
        b.n_tensors = 1;
        b.data.assign(400, '\0');
        check_fault("misaligned", b.bytes(), "not a multiple of the alignment");
    }
    {
        gguf_builder b = base();
        b.tensor("token_embd.weight", 0, {uint64_t(1) << 40, uint64_t(1) << 40}, 0);
        check_fault("huge_shape", b.bytes(), "too large");
    }
    {
        gguf_builder b = base();
        b.tensor("x.weight", 0, {1, 1, 1, 1, 1}, 4);
        check_fault("five_dims", b.bytes(), "5 dimensions");
    }
    {
        gguf_builder b = base();
        b.tensor("x.weight", 8, {33}, 34);  // Q8_0 rows must be whole blocks
        check_fault("partial_block", b.bytes(), "not a multiple of the Q8_0 block size");
    }
    {
        gguf_builder b = base();
        b.tensor("x.weight", 0, {4}, 16);
        b.tensor("x.weight", 0, {4}, 16);
        check_fault("duplicate_tensor", b.bytes(), "appears twice");
    }
    {
        gguf_builder b = base();
        b.kv_u32("llama.block_count", 2);
        check_fault("duplicate_key", b.bytes(), "appears twice");
    }
    {
        gguf_builder b = base();
        b.n_kv = uint64_t(1) << 60;  // absurd count: refused before any allocation
        check_fault("absurd_kv_count", b.bytes(), "key/value count");
    }
    {
        gguf_builder b = base();
        b.n_tensors = uint64_t(1) << 60;
        check_fault("absurd_tensor_count", b.bytes(), "tensor info count");
    }
    {
        gguf_builder b = base();
        gguf_builder::put_str(b.kv, "tokenizer.ggml.tokens");
        gguf_builder::put<uint32_t>(b.kv, 9);
        gguf_builder::put<uint32_t>(b.kv, 8);
        gguf_builder::put<uint64_t>(b.kv, uint64_t(1) << 59);  // absurd array length
        ++b.n_kv;
        check_fault("absurd_array", b.bytes(), "count");
    }
    {
        gguf_builder b = base();
        gguf_builder::put_str(b.kv, "general.name");
        gguf_builder::put<uint32_t>(b.kv, 8);
        gguf_builder::put<uint64_t>(b.kv, uint64_t(1) << 62);  // absurd string length
        ++b.n_kv;
        check_fault("absurd_string", b.bytes(), "truncated");
    }
    {
        gguf_builder b = base();
        gguf_builder::put_str(b.kv, "deep");
        gguf_builder::put<uint32_t>(b.kv, 9);  // the value is an array
        for (int i = 0; i < 64; ++i) {  // arrays of arrays of ... of one element each
            gguf_builder::put<uint32_t>(b.kv, 9);
            gguf_builder::put<uint64_t>(b.kv, 1);
        }
        gguf_builder::put<uint32_t>(b.kv, 4);
        gguf_builder::put<uint64_t>(b.kv, 1);
        gguf_builder::put<uint32_t>(b.kv, 7);
        ++b.n_kv;
        check_fault("deep_arrays", b.bytes(), "nests arrays deeper");
    }
    {
        gguf_builder b = base();
        gguf_builder::put_str(b.kv, "bad.type");
        gguf_builder::put<uint32_t>(b.kv, 13);
        ++b.n_kv;
        check_fault("bad_value_type", b.bytes(), "unknown value type 13");
    }
    {
        gguf_builder b = base();
        b.kv_u32("general.alignment", 48);
        check_fault("bad_alignment", b.bytes(), "general.alignment");
    }
    {
        gguf_builder b = base();
        b.version = 4;
        check_fault("bad_version", b.bytes(), "version 4");
        b.version = 0x03000000;
        check_fault("big_endian", b.bytes(), "big-endian");
    }
    {
        gguf_builder b = base();
        b.tensor("token_embd.weight", 0, {32, 10}, 1280);
        std::string bytes = b.bytes();
        bytes[0] = 'X';
        check_fault("wrong_magic", bytes, "not a GGUF file");
    }
    {
        gguf_builder c;
        c.kv_str("general.architecture", "llama");
        c.kv_u32("llama.embedding_length", 32);
        c.kv_u32("llama.block_count", 1);
        c.kv_u32("llama.attention.head_count", 0);
        c.kv_u32("llama.feed_forward_length", 64);
        c.kv_u32("llama.context_length", 128);
        c.kv_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
        c.tensor("token_embd.weight", 0, {32, 10}, 1280);
        check_fault("zero_heads", c.bytes(), "llama.attention.head_count", true);
    }
    {
        gguf_builder c;
        c.kv_str("general.architecture", "llama");
        c.kv_u32("llama.embedding_length", 32);
        c.tensor("token_embd.weight", 0, {32, 10}, 1280);
        check_fault("missing_key", c.bytes(), "llama.block_count", true);
    }
    {
        gguf_builder c = base();
        c.kv_str("tokenizer.ggml.model", "bert");
        c.tensor("token_embd.weight", 0, {32, 10}, 1280);
        check_fault("bad_tokenizer", c.bytes(), "tokenizer model 'bert'", true);
    }
}

TEST_CASE("gguf: truncated copies of a real file all fail cleanly") {
    const std::string path = stories_gguf();
    if (path.empty()) {
        MESSAGE("models not available; skipped");
        return;
    }
    const std::string bytes = kt::read_text(path);
    const size_t cuts[] = {1, 3, 4, 7, 8, 15, 23, 24, 100, 1000, 5000, 9000, 13000, 14100, 14144, 14200,
                           100000, bytes.size() / 2, bytes.size() - 1};
    for (size_t cut : cuts) {
        CAPTURE(cut);
        REQUIRE(cut < bytes.size());
        const std::string p = kt::temp_dir() + "/cut_" + std::to_string(cut) + ".gguf";
        write_file(p, bytes.substr(0, cut));
        expect_error([&] { gguf_import(p); }, p);
    }
}

TEST_CASE("gguf: random byte damage never crashes") {
    const std::string path = stories_gguf();
    if (path.empty()) {
        MESSAGE("models not available; skipped");
        return;
    }
    const std::string bytes = kt::read_text(path);
    uint64_t state = 12345;
    auto next = [&] {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        return state >> 33;
    };
    const std::string p = kt::temp_dir() + "/damaged.gguf";
    int failures = 0;
    for (int round = 0; round < 200; ++round) {
        std::string damaged = bytes;
        // Damage the header and index, where a wrong byte changes how the file is read.
        for (int k = 0; k < 4; ++k) damaged[next() % 14144] = static_cast<char>(next());
        write_file(p, damaged);
        try {
            const source_model m = gguf_import(p);
            // What imports must also give a usable tokenizer or a clean error.
            const tokenizer tok(vocab_from_metadata(m.meta));
            const std::vector<int32_t> ids = tok.encode("Once upon a time, \xF0\x9F\x98\x80 <s>", true, true);
            tok.decode(ids);
        } catch (const error&) {
            ++failures;
        }
    }
    MESSAGE(failures << " of 200 damaged files were refused");
}

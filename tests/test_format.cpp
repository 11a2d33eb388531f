// KILN format: round trip, validation of every header/index field, checksums.
#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include "core/error.h"
#include "formats/checksum.h"
#include "formats/kiln_format.h"
#include "formats/kiln_reader.h"
#include "formats/kiln_writer.h"
#include "model/model.h"
#include "support/test_files.h"
#include "support/test_paths.h"

using namespace kiln;
using kiln::test::error_of;

namespace {

// A tiny but complete llama model (random weights) as a source_model.
struct tiny_model {
    source_model m;
    std::vector<std::vector<float>> storage;

    void add(const std::string& name, std::initializer_list<int64_t> ne) {
        source_tensor t;
        t.name = name;
        t.type = dtype::f32;
        t.n_dims = static_cast<int>(ne.size());
        int i = 0;
        for (int64_t x : ne) t.ne[i++] = x;
        storage.emplace_back(static_cast<size_t>(t.n_elements()));
        auto& s = storage.back();
        for (size_t k = 0; k < s.size(); ++k) s[k] = static_cast<float>((k * 2654435761u) % 1000) / 1000.0f - 0.5f;
        t.data = s.data();
        m.tensors.push_back(t);
    }

    tiny_model() {
        storage.reserve(64);
        const int embd = 32, ff = 64, vocab = 16;
        m.meta.set_str("model.arch", "llama");
        m.meta.set_int("model.n_vocab", vocab);
        m.meta.set_int("model.n_embd", embd);
        m.meta.set_int("model.n_layer", 1);
        m.meta.set_int("model.n_head", 4);
        m.meta.set_int("model.n_head_kv", 2);
        m.meta.set_int("model.n_ff", ff);
        m.meta.set_int("model.n_ctx_train", 64);
        m.meta.set_float("model.norm_eps", 1e-5);
        m.meta.set_bool("model.tied_output", true);
        m.meta.set_str("rope.pairing", "interleaved");
        m.meta.set("tokenizer.scores", std::vector<float>{0.5f, -1.0f});
        m.meta.set("tokenizer.tokens", std::vector<std::string>{"a", "b"});
        m.meta.set("tokenizer.token_type", std::vector<int32_t>{1, 3});
        add("token_embd.weight", {embd, vocab});
        add("output_norm.weight", {embd});
        add("blk.0.attn_norm.weight", {embd});
        add("blk.0.attn_q.weight", {embd, embd});
        add("blk.0.attn_k.weight", {embd, embd / 2});
        add("blk.0.attn_v.weight", {embd, embd / 2});
        add("blk.0.attn_output.weight", {embd, embd});
        add("blk.0.ffn_norm.weight", {embd});
        add("blk.0.ffn_gate.weight", {embd, ff});
        add("blk.0.ffn_up.weight", {embd, ff});
        add("blk.0.ffn_down.weight", {ff, embd});
    }
};

std::vector<uint8_t> read_bytes(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& b, size_t n) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(n));
}

std::string tmp(const std::string& name) { return kiln::test::temp_dir() + "/" + name; }

std::string write_tiny(const std::string& name, const source_model& m) {
    const std::string p = tmp(name);
    kiln_write_file(m, p);
    return p;
}

// Patches bytes of a KILN file and re-seals the index checksum, so the loader's
// specific check (not the checksum) is what must catch the problem.
void patch_and_reseal(std::vector<uint8_t>& b, size_t at, const void* v, size_t n) {
    std::memcpy(b.data() + at, v, n);
    kiln_header h;
    std::memcpy(&h, b.data(), sizeof(h));
    h.index_checksum = checksum_kiln64(b.data() + h.meta_offset, h.data_offset - h.meta_offset);
    std::memcpy(b.data(), &h, sizeof(h));
}

// Offset of the first directory entry's fixed fields (after its name).
size_t first_entry_fixed(const std::vector<uint8_t>& b) {
    kiln_header h;
    std::memcpy(&h, b.data(), sizeof(h));
    uint32_t name_len;
    std::memcpy(&name_len, b.data() + h.dir_offset, 4);
    return h.dir_offset + 4 + name_len;
}

}  // namespace

TEST_CASE("kiln file round trip keeps metadata and tensor bytes, aligned") {
    tiny_model t;
    const std::string p = write_tiny("roundtrip.kiln", t.m);
    for (bool use_mmap : {true, false}) {
        auto f = kiln_file::open(p, use_mmap);
        CHECK(f->is_mapped() == use_mmap);
        CHECK(f->meta().get_str("model.arch") == "llama");
        CHECK(f->meta().get_int("model.n_embd") == 32);
        CHECK(f->meta().get_f32_array("tokenizer.scores") == std::vector<float>{0.5f, -1.0f});
        CHECK(f->meta().get_str_array("tokenizer.tokens")[1] == "b");
        REQUIRE(f->entries().size() == t.m.tensors.size());
        for (size_t i = 0; i < t.m.tensors.size(); ++i) {
            const tensor& x = f->entries()[i].t;
            CHECK(x.name == t.m.tensors[i].name);
            CHECK(reinterpret_cast<uintptr_t>(x.data) % 64 == 0);
            CHECK(std::memcmp(x.data, t.m.tensors[i].data, x.n_bytes()) == 0);
        }
        CHECK_NOTHROW(f->verify());
        auto m = model_from_file(f);
        CHECK(m->hp.n_head_kv == 2);
        CHECK(m->output == m->tok_embd);
    }
}

TEST_CASE("no temporary file is left behind and a failed write leaves no output") {
    tiny_model t;
    t.m.tensors[1].data = nullptr;  // no data and no loader: the writer must refuse
    const std::string p = tmp("failed.kiln");
    CHECK_THROWS_AS(kiln_write_file(t.m, p), kiln::error);
    CHECK_FALSE(kiln::test::file_exists(p));
    int leftovers = 0;
    for (const auto& e : std::filesystem::directory_iterator(kiln::test::temp_dir())) {
        if (e.path().filename().string().find(".tmp.") != std::string::npos) ++leftovers;
    }
    CHECK(leftovers == 0);
}

TEST_CASE("bad KILN files give one clear error") {
    tiny_model t;
    const std::string good = write_tiny("good.kiln", t.m);
    const std::vector<uint8_t> bytes = read_bytes(good);

    SUBCASE("missing file") {
        CHECK(error_of([] { kiln_file::open("/nonexistent/model.kiln"); }).find("cannot open") != std::string::npos);
    }
    SUBCASE("wrong magic") {
        auto b = bytes;
        b[0] = 'X';
        write_bytes(tmp("magic.kiln"), b, b.size());
        CHECK(error_of([&] { kiln_file::open(tmp("magic.kiln")); }).find("wrong magic") != std::string::npos);
    }
    SUBCASE("truncated at several cut points") {
        for (size_t cut : {size_t(3), size_t(64), size_t(127), size_t(128), size_t(200), bytes.size() / 2,
                           bytes.size() - 1}) {
            write_bytes(tmp("cut.kiln"), bytes, cut);
            const std::string e = error_of([&] { kiln_file::open(tmp("cut.kiln")); });
            INFO("cut at " << cut << ": " << e);
            CHECK(!e.empty());
            if (cut >= 4) CHECK(e.find("truncated") != std::string::npos);
        }
    }
    SUBCASE("corrupt index is caught by its checksum") {
        auto b = bytes;
        b[sizeof(kiln_header) + 10] ^= 0x55;
        write_bytes(tmp("index.kiln"), b, b.size());
        CHECK(error_of([&] { kiln_file::open(tmp("index.kiln")); }).find("checksum") != std::string::npos);
    }
    SUBCASE("tensor offset out of range") {
        auto b = bytes;
        const uint64_t far = uint64_t(1) << 40;
        patch_and_reseal(b, first_entry_fixed(b) + 12 + 32, &far, 8);
        write_bytes(tmp("offset.kiln"), b, b.size());
        CHECK(error_of([&] { kiln_file::open(tmp("offset.kiln")); }).find("outside the data region") != std::string::npos);
    }
    SUBCASE("unsupported tensor type") {
        auto b = bytes;
        const uint32_t type = 77;
        patch_and_reseal(b, first_entry_fixed(b), &type, 4);
        write_bytes(tmp("type.kiln"), b, b.size());
        const std::string e = error_of([&] { kiln_file::open(tmp("type.kiln")); });
        CHECK(e.find("unsupported type 77") != std::string::npos);
        CHECK(e.find("token_embd.weight") != std::string::npos);
    }
    SUBCASE("byte size inconsistent with the shape") {
        auto b = bytes;
        const uint64_t ne0 = 33;
        patch_and_reseal(b, first_entry_fixed(b) + 12, &ne0, 8);
        write_bytes(tmp("shape.kiln"), b, b.size());
        CHECK(error_of([&] { kiln_file::open(tmp("shape.kiln")); }).find("shape needs") != std::string::npos);
    }
    SUBCASE("corrupt tensor data is caught by verify") {
        auto b = bytes;
        b[b.size() - 8] ^= 0x01;
        write_bytes(tmp("data.kiln"), b, b.size());
        auto f = kiln_file::open(tmp("data.kiln"));
        CHECK(error_of([&] { f->verify(); }).find("checksum mismatch") != std::string::npos);
    }
}

TEST_CASE("model loading checks shapes and architecture") {
    SUBCASE("shape mismatch names the tensor") {
        tiny_model t;
        t.m.tensors[4].ne[1] = 8;  // attn_k with too few rows
        t.storage[4].resize(32 * 8);
        auto f = kiln_file::open(write_tiny("badshape.kiln", t.m));
        const std::string e = error_of([&] { model_from_file(f); });
        CHECK(e.find("blk.0.attn_k.weight") != std::string::npos);
        CHECK(e.find("expected [32, 16]") != std::string::npos);
    }
    SUBCASE("unknown architecture") {
        tiny_model t;
        t.m.meta.set_str("model.arch", "mamba9");
        auto f = kiln_file::open(write_tiny("arch.kiln", t.m));
        CHECK(error_of([&] { model_from_file(f); }).find("unsupported architecture 'mamba9'") != std::string::npos);
    }
    SUBCASE("missing tensor") {
        tiny_model t;
        t.m.tensors.pop_back();
        auto f = kiln_file::open(write_tiny("missing.kiln", t.m));
        CHECK(error_of([&] { model_from_file(f); }).find("'blk.0.ffn_down.weight' is missing") != std::string::npos);
    }
    SUBCASE("hyper-parameter out of range") {
        tiny_model t;
        t.m.meta.set_int("model.n_head", 0);
        auto f = kiln_file::open(write_tiny("hp.kiln", t.m));
        CHECK(error_of([&] { model_from_file(f); }).find("model.n_head") != std::string::npos);
    }
}

TEST_CASE("kiln64 checksum depends on every byte and on length") {
    std::vector<uint8_t> a(1000, 7);
    const uint64_t h = checksum_kiln64(a.data(), a.size());
    for (size_t i : {size_t(0), size_t(31), size_t(500), size_t(999)}) {
        auto b = a;
        b[i] ^= 1;
        CHECK(checksum_kiln64(b.data(), b.size()) != h);
    }
    CHECK(checksum_kiln64(a.data(), 999) != h);
}

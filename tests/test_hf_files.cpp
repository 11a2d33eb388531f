// Readers of Hugging Face files: safetensors validation (every malformed header
// is a one-line kiln::error naming file and tensor), sharded indexes, the
// sentencepiece protobuf reader and tokenizer.json / tokenizer_config.json.
#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "formats/hf_tokenizer.h"
#include "formats/safetensors.h"
#include "formats/spm_proto.h"
#include "support/test_files.h"
#include "support/test_paths.h"
#include "support/test_proto.h"

using namespace kiln;
using kiln::test::check_error;
using kiln::test::proto_writer;
using kiln::test::write_file;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// A safetensors file with the given header text (padded to 8 bytes) and `data_bytes` bytes of data.
std::string safetensors_with_header(const std::string& name, const std::string& header, size_t data_bytes) {
    const std::string path = test::temp_dir() + "/" + name;
    std::string h = header;
    while (h.size() % 8) h += ' ';
    const uint64_t n = h.size();
    std::string file(reinterpret_cast<const char*>(&n), 8);
    file += h;
    for (size_t i = 0; i < data_bytes; ++i) file += static_cast<char>(i);
    write_file(path, file);
    return path;
}

std::string piece_bytes(const std::string& text, float score, int type) {
    proto_writer p;
    p.len(1, text);
    p.f32(2, score);
    p.i64(3, type);
    return p.s;
}

std::string fresh_dir(const std::string& name) {
    const std::string dir = test::temp_dir() + "/" + name;
    fs::remove_all(dir);
    fs::create_directories(dir);
    return dir;
}

}  // namespace

TEST_CASE("safetensors: a valid file maps every tensor") {
    const std::string path = safetensors_with_header(
        "ok.safetensors",
        R"({"__metadata__": {"format": "pt"}, "a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
            "b": {"dtype": "BF16", "shape": [3], "data_offsets": [16, 22]},
            "c": {"dtype": "F16", "shape": [1], "data_offsets": [22, 24]},
            "empty": {"dtype": "F32", "shape": [0], "data_offsets": [24, 24]}})",
        24);
    const auto f = safetensors_file::open(path);
    REQUIRE(f->tensors().size() == 4);
    const safetensors_tensor* a = f->find("a");
    REQUIRE(a != nullptr);
    CHECK(a->type == dtype::f32);
    CHECK(a->shape == std::vector<int64_t>{2, 2});
    CHECK(a->n_bytes == 16);
    CHECK(a->data[1] == 1);
    CHECK(f->find("b")->type == dtype::bf16);
    CHECK(f->find("b")->data[0] == 16);
    CHECK(f->find("c")->type == dtype::f16);
    CHECK(f->find("empty")->n_bytes == 0);
    CHECK(f->find("__metadata__") == nullptr);
}

TEST_CASE("safetensors: malformed files are errors naming the file and tensor") {
    const std::string tiny = test::temp_dir() + "/tiny.safetensors";
    write_file(tiny, "abc");
    check_error([&] { safetensors_file::open(tiny); }, {tiny, "too small"});

    {
        const std::string path = test::temp_dir() + "/longheader.safetensors";
        const uint64_t n = 1000;
        write_file(path, std::string(reinterpret_cast<const char*>(&n), 8) + "{}      ");
        check_error([&] { safetensors_file::open(path); }, {path, "header length 1000", "16 bytes"});
    }
    const struct {
        const char* name;
        const char* header;
        size_t data;
        std::vector<std::string> parts;
    } cases[] = {
        {"badjson", R"({"a": {"dtype": "F32", )", 0, {"malformed"}},
        {"notobject", R"([1, 2, 3])", 0, {"not a JSON object"}},
        {"dtype", R"({"weights": {"dtype": "I64", "shape": [2], "data_offsets": [0, 16]}})", 16, {"'weights'", "I64"}},
        {"overlap",
         R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
             "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}})",
         24, {"'a'", "'b'", "overlap"}},
        {"range", R"({"a": {"dtype": "F32", "shape": [100], "data_offsets": [0, 400]}})", 16, {"'a'", "400", "past"}},
        {"order", R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [16, 8]}})", 16, {"'a'", "begin 16"}},
        {"size", R"({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 16]}})", 16, {"'a'", "16 bytes", "12"}},
        {"negshape", R"({"a": {"dtype": "F32", "shape": [-4], "data_offsets": [0, 16]}})", 16, {"'a'", "shape"}},
        {"nooffsets", R"({"a": {"dtype": "F32", "shape": [4]}})", 16, {"'a'", "data_offsets"}},
        {"floatoffset", R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0.5, 16]}})", 16, {"'a'", "data_offsets"}},
        {"entry", R"({"a": 5})", 0, {"'a'", "not a JSON object"}},
        {"huge", R"({"a": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 16]}})", 16, {"'a'", "too large"}},
    };
    for (const auto& c : cases) {
        CAPTURE(c.name);
        const std::string path = safetensors_with_header(std::string(c.name) + ".safetensors", c.header, c.data);
        try {
            safetensors_file::open(path);
            FAIL("no error for " << c.name);
        } catch (const error& e) {
            const std::string msg = e.what();
            CHECK_MESSAGE(msg.find(path) != std::string::npos, msg);
            for (const auto& p : c.parts) CHECK_MESSAGE(msg.find(p) != std::string::npos, msg, " lacks: ", p);
        }
    }
}

TEST_CASE("safetensors: sharded checkpoints and their index") {
    const std::string dir = fresh_dir("shards");
    const std::string a = R"({"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})";
    const std::string b = R"({"y": {"dtype": "F16", "shape": [4], "data_offsets": [0, 8]}})";
    fs::rename(safetensors_with_header("s1", a, 8), dir + "/part-1.safetensors");
    fs::rename(safetensors_with_header("s2", b, 8), dir + "/part-2.safetensors");
    const std::string index = dir + "/model.safetensors.index.json";
    write_file(index, R"({"metadata": {}, "weight_map": {"x": "part-1.safetensors", "y": "part-2.safetensors"}})");
    const auto ck = safetensors_checkpoint::open_dir(dir);
    CHECK(ck.tensors().size() == 2);
    CHECK(ck.files().size() == 2);
    REQUIRE(ck.find("y") != nullptr);
    CHECK(ck.find("y")->type == dtype::f16);
    CHECK(ck.find("y")->file == dir + "/part-2.safetensors");

    write_file(index, R"({"weight_map": {"x": "part-2.safetensors"}})");
    check_error([&] { safetensors_checkpoint::open_dir(dir); }, {index, "'x'", "part-2.safetensors"});
    write_file(index, R"({"weight_map": {"x": "../part-1.safetensors"}})");
    check_error([&] { safetensors_checkpoint::open_dir(dir); }, {index, "plain file name"});
    write_file(index, R"({"weight_map": {"x": "missing.safetensors"}})");
    check_error([&] { safetensors_checkpoint::open_dir(dir); }, {"missing.safetensors"});
    write_file(index, R"({"weight_map": [1]})");
    check_error([&] { safetensors_checkpoint::open_dir(dir); }, {index, "weight_map"});
    write_file(index, R"({"weight_map": )");
    check_error([&] { safetensors_checkpoint::open_dir(dir); }, {index, "malformed"});

    // Without an index every .safetensors file is read; a name in two of them is an error.
    fs::remove(index);
    CHECK(safetensors_checkpoint::open_dir(dir).tensors().size() == 2);
    fs::rename(safetensors_with_header("s3", a, 8), dir + "/part-3.safetensors");
    check_error([&] { safetensors_checkpoint::open_dir(dir); }, {"'x'", "part-1.safetensors", "part-3.safetensors"});
    check_error([&] { safetensors_checkpoint::open_dir(fresh_dir("no_weights")); }, {"no_weights", "safetensors"});
}

TEST_CASE("spm_proto: parses pieces, trainer and normalizer specs; rejects corrupt input") {
    proto_writer m;
    m.len(1, piece_bytes("<unk>", 0.0f, 2));
    m.len(1, piece_bytes("<s>", 0.0f, 3));
    m.len(1, piece_bytes("</s>", 0.0f, 3));
    m.len(1, piece_bytes("\xE2\x96\x81the", -1.5f, 1));
    proto_writer trainer;
    trainer.i64(3, 2);
    trainer.i64(40, 0);
    trainer.i64(41, 2);
    trainer.i64(42, 1);
    trainer.i64(43, 3);
    trainer.f32(20, 0.5f);  // a fixed32 field kiln skips
    m.len(2, trainer.s);
    proto_writer norm;
    norm.i64(3, 0);
    m.len(3, norm.s);
    const spm_model sp = spm_parse(reinterpret_cast<const uint8_t*>(m.s.data()), m.s.size(), "test.model");
    REQUIRE(sp.pieces.size() == 4);
    CHECK(sp.pieces[3].piece == "\xE2\x96\x81the");
    CHECK(sp.pieces[3].score == -1.5f);
    CHECK(sp.pieces[0].type == spm_piece_type::unknown);
    CHECK(sp.model_type == spm_model_type::bpe);
    CHECK(sp.bos_id == 2);
    CHECK(sp.eos_id == 1);
    CHECK(sp.pad_id == 3);
    CHECK(!sp.add_dummy_prefix);

    auto parse = [](const std::string& s) {
        spm_parse(reinterpret_cast<const uint8_t*>(s.data()), s.size(), "bad.model");
    };
    for (size_t cut : {size_t(1), size_t(7), m.s.size() / 2, m.s.size() - 1}) {
        CAPTURE(cut);
        check_error([&] { parse(m.s.substr(0, cut)); }, {"bad.model"});
    }
    check_error([&] { parse(std::string(12, '\xff')); }, {"bad.model", "varint"});
    check_error([&] { parse(std::string("\x0b", 1)); }, {"bad.model", "wire type 3"});
    proto_writer bad_type;
    bad_type.len(1, piece_bytes("x", 0.0f, 9));
    check_error([&] { parse(bad_type.s); }, {"bad.model", "piece 0", "type 9"});
    proto_writer bad_id;
    bad_id.len(1, piece_bytes("x", 0.0f, 1));
    proto_writer t2;
    t2.i64(41, 7);
    bad_id.len(2, t2.s);
    check_error([&] { parse(bad_id.s); }, {"bad.model", "bos_id = 7"});
    check_error([&] { parse(std::string()); }, {"bad.model", "no pieces"});

    if (test::models_dir().empty()) {
        MESSAGE("models directory not available: Llama 2 tokenizer.model part skipped");
        return;
    }
    const std::string real = test::models_dir() + "/tokenizers/llama2/tokenizer.model";
    std::ifstream in(real, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), {});
    const spm_model llama = spm_parse(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), real);
    REQUIRE(llama.pieces.size() == 32000);
    CHECK(llama.pieces[1].piece == "<s>");
    CHECK(llama.pieces[3].type == spm_piece_type::byte);
    for (size_t cut : {size_t(100), bytes.size() / 3, bytes.size() - 3}) {
        CAPTURE(cut);
        check_error([&] { spm_parse(reinterpret_cast<const uint8_t*>(bytes.data()), cut, real); }, {real});
    }
}

TEST_CASE("hf tokenizer: sentencepiece-style tokenizer.json, added tokens and tokenizer_config.json") {
    const std::string dir = fresh_dir("tok_json");
    json tj = {
        {"added_tokens",
         {{{"id", 1}, {"content", "<s>"}, {"special", true}},
          {{"id", 2}, {"content", "</s>"}, {"special", true}},
          {{"id", 12}, {"content", "<pad>"}, {"special", true}},
          {{"id", 13}, {"content", "<tool>"}, {"special", false}}}},
        {"normalizer",
         {{"type", "Sequence"},
          {"normalizers",
           {{{"type", "Prepend"}, {"prepend", "\xE2\x96\x81"}},
            {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\xE2\x96\x81"}}}}}},
        {"pre_tokenizer", nullptr},
        {"decoder", {{"type", "Sequence"}, {"decoders", json::array()}}},
        {"model",
         {{"type", "BPE"},
          {"byte_fallback", true},
          {"unk_token", "<unk>"},
          {"vocab",
           {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}, {"<0x00>", 3}, {"\xE2\x96\x81", 4}, {"t", 5}, {"h", 6}, {"e", 7},
            {"th", 8}, {"\xE2\x96\x81t", 9}, {"the", 10}, {"\xE2\x96\x81the", 11}}},
          {"merges", {"t h", "\xE2\x96\x81 t", json::array({"th", "e"}), "\xE2\x96\x81 the", "\xE2\x96\x81t he"}}}}};
    // "▁t he" uses a token missing from the vocabulary.
    write_file(dir + "/tokenizer.json", tj.dump());
    metadata meta;
    check_error([&] { hf_tokenizer_to_metadata(dir, meta); }, {"tokenizer.json", "merge 4"});
    tj["model"]["merges"].erase(4);
    write_file(dir + "/tokenizer.json", tj.dump());
    write_file(dir + "/tokenizer_config.json",
               R"({"bos_token": {"content": "<s>"}, "eos_token": "</s>", "pad_token": "<pad>", "add_bos_token": true,
                   "chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}]})");
    hf_tokenizer_to_metadata(dir, meta);
    const auto& tokens = meta.get_str_array("tokenizer.tokens");
    REQUIRE(tokens.size() == 14);
    CHECK(tokens[12] == "<pad>");
    CHECK(tokens[13] == "<tool>");
    // score = -(rank of the merge creating the token); unmerged normal tokens rank below all merges.
    CHECK(meta.get_f32_array("tokenizer.scores") ==
          std::vector<float>{0, 0, 0, 0, -4, -4, -4, -4, -0.0f, -1, -2, -3, 0, 0});
    CHECK(meta.get_i32_array("tokenizer.token_type") == std::vector<int32_t>{2, 3, 3, 6, 1, 1, 1, 1, 1, 1, 1, 1, 3, 4});
    CHECK(meta.get_int("tokenizer.unk_id") == 0);
    CHECK(meta.get_int("tokenizer.bos_id") == 1);
    CHECK(meta.get_int("tokenizer.eos_id") == 2);
    CHECK(meta.get_int("tokenizer.pad_id") == 12);
    CHECK(meta.get_bool("tokenizer.add_bos"));
    CHECK(!meta.get_bool("tokenizer.add_eos"));
    CHECK(meta.get_bool("tokenizer.add_space_prefix"));
    CHECK(meta.get_str("tokenizer.chat_template") == "D");

    write_file(dir + "/tokenizer_config.json", R"({"eos_token": "<|eot|>"})");
    check_error([&] { hf_tokenizer_to_metadata(dir, meta); }, {"tokenizer_config.json", "eos_token", "<|eot|>"});
    write_file(dir + "/tokenizer_config.json", "{}");

    // A tokenizer.model takes precedence; tokenizer.json then only contributes added tokens.
    proto_writer m;
    m.len(1, piece_bytes("<unk>", 0.0f, 2));
    m.len(1, piece_bytes("<s>", 0.0f, 3));
    m.len(1, piece_bytes("</s>", 0.0f, 3));
    write_file(dir + "/tokenizer.model", m.s);
    write_file(dir + "/tokenizer.json", json{{"added_tokens", {{{"id", 3}, {"content", "<pad>"}, {"special", true}}}}}.dump());
    hf_tokenizer_to_metadata(dir, meta);
    CHECK(meta.get_str_array("tokenizer.tokens") == std::vector<std::string>{"<unk>", "<s>", "</s>", "<pad>"});
    CHECK(meta.get_bool("tokenizer.add_space_prefix"));  // sentencepiece's default
    write_file(dir + "/tokenizer.json", json{{"added_tokens", {{{"id", 5}, {"content", "<gap>"}}}}}.dump());
    check_error([&] { hf_tokenizer_to_metadata(dir, meta); }, {"tokenizer.model", "<gap>", "consecutive"});
    write_file(dir + "/tokenizer.json", json{{"added_tokens", {{{"id", 1}, {"content", "<bos>"}}}}}.dump());
    check_error([&] { hf_tokenizer_to_metadata(dir, meta); }, {"<bos>", "conflicts"});
}

TEST_CASE("hf tokenizer: byte-level BPE tokenizer.json, its pre-tokenizer family, and what is refused") {
    const std::string dir = fresh_dir("tok_bytelevel");
    metadata meta;
    check_error([&] { hf_tokenizer_to_metadata(dir, meta); }, {dir, "no tokenizer.model or tokenizer.json"});

    // GPT-2 style: ByteLevel with its own regex; added tokens restated in raw text.
    json tj = {{"model",
                {{"type", "BPE"},
                 {"vocab", {{"a", 0}, {"b", 1}, {"ab", 2}, {"\xC4\xA0", 3}, {"\xC4\xA0" "ab", 4}, {"<|end|>", 5}}},
                 {"merges", {"a b", json::array({"\xC4\xA0", "ab"})}}}},
               {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}}},
               {"added_tokens", {{{"id", 5}, {"content", "<|end|>"}, {"special", true}}}}};
    write_file(dir + "/tokenizer.json", tj.dump());
    write_file(dir + "/tokenizer_config.json", R"({"eos_token": "<|end|>", "bos_token": "<|end|>"})");
    hf_tokenizer_to_metadata(dir, meta);
    CHECK(meta.get_str("tokenizer.model") == "bpe");
    CHECK(meta.get_str("tokenizer.pre") == "gpt-2");
    CHECK(meta.get_str_array("tokenizer.merges") == std::vector<std::string>{"a b", "\xC4\xA0 ab"});
    CHECK(!meta.has("tokenizer.scores"));
    CHECK(meta.get_i32_array("tokenizer.token_type") == std::vector<int32_t>{1, 1, 1, 1, 1, 3});
    CHECK(meta.get_int("tokenizer.eos_id") == 5);
    CHECK(!meta.get_bool("tokenizer.add_bos"));  // GPT-2's family adds no BOS unless the config says so

    // Llama 3 style: a Split regex then ByteLevel without its own; ignore_merges names the family.
    const std::string llama3_re =
        R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
    tj["pre_tokenizer"] = {{"type", "Sequence"},
                           {"pretokenizers",
                            {{{"type", "Split"}, {"pattern", {{"Regex", llama3_re}}}, {"behavior", "Isolated"}, {"invert", false}},
                             {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}}}};
    tj["model"]["ignore_merges"] = true;
    write_file(dir + "/tokenizer.json", tj.dump());
    hf_tokenizer_to_metadata(dir, meta);
    CHECK(meta.get_str("tokenizer.pre") == "llama-bpe");
    CHECK(meta.get_bool("tokenizer.add_bos"));
    tj["model"]["ignore_merges"] = false;
    write_file(dir + "/tokenizer.json", tj.dump());
    hf_tokenizer_to_metadata(dir, meta);
    CHECK(meta.get_str("tokenizer.pre") == "dbrx");
    CHECK(!meta.has("tokenizer.ignore_merges"));
    // A known regex with an ignore_merges its family does not default to: kept as its own key.
    const std::string qwen2_re =
        R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
    json q = tj;
    q["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = qwen2_re;
    q["model"]["ignore_merges"] = true;
    write_file(dir + "/tokenizer.json", q.dump());
    hf_tokenizer_to_metadata(dir, meta);
    CHECK(meta.get_str("tokenizer.pre") == "qwen2");
    CHECK(meta.get_bool("tokenizer.ignore_merges"));

    // Refused, each with a line naming what: an unknown regex, an unknown step, other normalizers.
    json bad = tj;
    bad["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "\\w+";
    write_file(dir + "/tokenizer.json", bad.dump());
    check_error([&] { hf_tokenizer_to_metadata(dir, meta); }, {"tokenizer.json", "matches no known pre-tokenizer", "\\w+"});
    bad = tj;
    bad["pre_tokenizer"]["pretokenizers"][0] = {{"type", "Whitespace"}};
    write_file(dir + "/tokenizer.json", bad.dump());
    check_error([&] { hf_tokenizer_to_metadata(dir, meta); }, {"tokenizer.json", "'Whitespace' is not supported"});
    bad = tj;
    bad["pre_tokenizer"]["pretokenizers"][0]["behavior"] = "Removed";
    write_file(dir + "/tokenizer.json", bad.dump());
    check_error([&] { hf_tokenizer_to_metadata(dir, meta); }, {"tokenizer.json", "Removed"});
    bad = tj;
    bad["normalizer"] = {{"type", "Lowercase"}};
    write_file(dir + "/tokenizer.json", bad.dump());
    check_error([&] { hf_tokenizer_to_metadata(dir, meta); }, {"tokenizer.json", "Lowercase"});
    bad = tj;
    bad["model"]["merges"] = {"ab"};
    write_file(dir + "/tokenizer.json", bad.dump());
    check_error([&] { hf_tokenizer_to_metadata(dir, meta); }, {"tokenizer.json", "merge 0"});
    bad = tj;
    bad["added_tokens"] = {{{"id", 2}, {"content", "xy"}, {"special", true}}};
    write_file(dir + "/tokenizer.json", bad.dump());
    check_error([&] { hf_tokenizer_to_metadata(dir, meta); }, {"xy", "conflicts"});

    write_file(dir + "/tokenizer.json", R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}})");
    check_error([&] { hf_tokenizer_to_metadata(dir, meta); }, {"tokenizer.json", "neither byte-level"});
    write_file(dir + "/tokenizer.json", R"({"model": {"type": "Unigram", "vocab": [["a", 0.0]]}})");
    check_error([&] { hf_tokenizer_to_metadata(dir, meta); }, {"tokenizer.json", "Unigram"});
    write_file(dir + "/tokenizer.json", R"({"model": {"type": "WordPiece", "vocab": {"a": 0}}})");
    check_error([&] { hf_tokenizer_to_metadata(dir, meta); }, {"tokenizer.json", "WordPiece"});
    write_file(dir + "/tokenizer.json", R"({"model": {"type": "BPE", "byte_fallback": true, "vocab": {"a": 0, "b": 0}}})");
    check_error([&] { hf_tokenizer_to_metadata(dir, meta); }, {"tokenizer.json", "ids must be"});
    write_file(dir + "/tokenizer.json", R"({"model": {"type": "BPE", "byte_fallback": "yes", "vocab": {"a": 0}}})");
    check_error([&] { hf_tokenizer_to_metadata(dir, meta); }, {"tokenizer.json"});

    if (test::models_dir().empty()) {
        MESSAGE("models directory not available: Llama 3 tokenizer.json part skipped");
        return;
    }
    fs::copy_file(test::models_dir() + "/tokenizers/llama3/tokenizer.json", dir + "/tokenizer.json",
                  fs::copy_options::overwrite_existing);
    fs::copy_file(test::models_dir() + "/tokenizers/llama3/tokenizer_config.json", dir + "/tokenizer_config.json",
                  fs::copy_options::overwrite_existing);
    hf_tokenizer_to_metadata(dir, meta);
    CHECK(meta.get_str("tokenizer.pre") == "llama-bpe");
    CHECK(meta.get_str_array("tokenizer.tokens").size() == 128256);
    CHECK(meta.get_int("tokenizer.bos_id") == 128000);
    CHECK(meta.get_int("tokenizer.eos_id") == 128001);
    CHECK(meta.has("tokenizer.chat_template"));
}

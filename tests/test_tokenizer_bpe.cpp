// Byte-level BPE and the llama.cpp vocabulary test vectors: every
// vocab/*.gguf.inp beside its .gguf and .out is checked (so vectors added to
// the directory are checked too), the same vectors through the Hugging Face
// tokenizer.json of Llama 3 and Qwen3, vocabularies without vectors by
// properties of their own metadata, round trips, malformed UTF-8 and speed.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <random>
#include <sstream>

#include "core/error.h"
#include "formats/gguf_import.h"
#include "formats/hf_tokenizer.h"
#include "support/test_paths.h"
#include "support/test_vocab.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode_utf8.h"
#include "tokenizer/vocab.h"

using namespace kiln;
using kiln::test::read_vocab_inputs;
using kiln::test::read_vocab_outputs;
namespace kt = kiln::test;
namespace fs = std::filesystem;

namespace {

std::string vocab_dir() {
    const std::string m = kt::models_dir();
    return m.empty() || !fs::exists(m + "/vocab") ? "" : m + "/vocab";
}

std::string ids_str(const std::vector<int32_t>& ids) {
    std::string s;
    for (int32_t id : ids) s += " " + std::to_string(id);
    return s;
}

const tokenizer& gguf_tokenizer(const std::string& file) {
    static std::map<std::string, std::unique_ptr<tokenizer>> cache;
    auto& t = cache[file];
    if (!t) t = std::make_unique<tokenizer>(vocab_from_metadata(gguf_import_vocab(vocab_dir() + "/" + file)));
    return *t;
}

const tokenizer& hf_tokenizer(const std::string& name) {
    static std::map<std::string, std::unique_ptr<tokenizer>> cache;
    auto& t = cache[name];
    if (!t) {
        metadata m;
        hf_tokenizer_to_metadata(kt::models_dir() + "/tokenizers/" + name, m);
        t = std::make_unique<tokenizer>(vocab_from_metadata(m));
    }
    return *t;
}

// Mismatching inputs of one vector file, each reported.
int check_vectors(const tokenizer& tok, const std::string& inp, const std::string& outp, bool check_decode) {
    const auto inputs = read_vocab_inputs(inp);
    const auto outputs = read_vocab_outputs(outp);
    REQUIRE_MESSAGE(inputs.size() == outputs.size(), inp);
    int bad = 0;
    for (size_t i = 0; i < inputs.size(); ++i) {
        const std::vector<int32_t> got = tok.encode(inputs[i], false, false);
        if (got != outputs[i]) {
            ++bad;
            MESSAGE(inp << " input " << i << " '" << inputs[i] << "'\n  expected" << ids_str(outputs[i])
                        << "\n  got     " << ids_str(got));
        }
        if (check_decode) CHECK_MESSAGE(tok.decode(got) == inputs[i], inp << " input " << i);
    }
    MESSAGE(fs::path(inp).filename().string() << ": " << inputs.size() - bad << "/" << inputs.size() << " pass");
    return bad;
}

std::string random_text(std::mt19937& rng, size_t n_chars) {
    static const std::pair<uint32_t, uint32_t> ranges[] = {
        {0x20, 0x7E}, {0x09, 0x0D}, {0x20, 0x20}, {0x30, 0x39}, {0xA0, 0x24F}, {0x300, 0x36F}, {0x391, 0x3C9},
        {0x400, 0x4FF}, {0x600, 0x6FF}, {0x900, 0x97F}, {0xE00, 0xE7F}, {0x1780, 0x17FF}, {0x3040, 0x30FF},
        {0x4E00, 0x9FFF}, {0xAC00, 0xD7A3}, {0xFF00, 0xFFEF}, {0x1F300, 0x1F64F}, {0x10000, 0x1FFFF},
    };
    std::string s;
    for (size_t i = 0; i < n_chars; ++i) {
        const auto& r = ranges[rng() % std::size(ranges)];
        uint32_t cp = r.first + rng() % (r.second - r.first + 1);
        if (cp >= 0xD800 && cp <= 0xDFFF) cp = 'x';
        if (rng() % 8 == 0) s += "'s";
        utf8_append(s, cp);
    }
    return s;
}


// A vocabulary-only GGUF v3 file: string keys and string-array keys only.
struct gguf_vocab_file {
    std::string bytes;
    uint64_t n_kv = 0;
    void raw(const void* p, size_t n) { bytes.append(static_cast<const char*>(p), n); }
    void u32(uint32_t v) { raw(&v, 4); }
    void u64(uint64_t v) { raw(&v, 8); }
    void str(const std::string& s) {
        u64(s.size());
        bytes += s;
    }
    void kv_str(const std::string& k, const std::string& v) {
        str(k);
        u32(8);
        str(v);
        ++n_kv;
    }
    void kv_strs(const std::string& k, const std::vector<std::string>& v) {
        str(k);
        u32(9);
        u32(8);
        u64(v.size());
        for (const auto& s : v) str(s);
        ++n_kv;
    }
    std::string write(const std::string& name) const {
        std::string file = "GGUF";
        const uint32_t version = 3;
        const uint64_t n_tensors = 0;
        file.append(reinterpret_cast<const char*>(&version), 4);
        file.append(reinterpret_cast<const char*>(&n_tensors), 8);
        file.append(reinterpret_cast<const char*>(&n_kv), 8);
        file += bytes;
        const std::string path = kt::temp_dir() + "/" + name;
        FILE* f = std::fopen(path.c_str(), "wb");
        REQUIRE(f);
        std::fwrite(file.data(), 1, file.size(), f);
        std::fclose(f);
        return path;
    }
};
}  // namespace

TEST_CASE("tokenizer vectors: every vocab/*.gguf.inp matches llama.cpp's expected ids") {
    if (vocab_dir().empty()) {
        MESSAGE("models not available; skipped");
        return;
    }
    std::vector<std::string> files;
    for (const auto& e : fs::directory_iterator(vocab_dir())) {
        const std::string name = e.path().filename().string();
        if (name.size() > 9 && name.compare(name.size() - 9, 9, ".gguf.inp") == 0) files.push_back(name);
    }
    std::sort(files.begin(), files.end());
    CHECK(files.size() >= 7);
    int total_bad = 0;
    for (const std::string& inp : files) {
        const std::string gguf = inp.substr(0, inp.size() - 4);
        const std::string base = vocab_dir() + "/" + gguf;
        if (!fs::exists(base) || !fs::exists(base + ".out")) continue;
        // bert-bge-style WordPiece vocabularies are refused clearly, not run.
        if (gguf.find("bert") != std::string::npos) {
            CHECK_THROWS_AS(gguf_import_vocab(base), error);
            continue;
        }
        const int bad = check_vectors(gguf_tokenizer(gguf), base + ".inp", base + ".out", true);
        CHECK_MESSAGE(bad == 0, gguf);
        total_bad += bad;
    }
    CHECK(total_bad == 0);
}

TEST_CASE("tokenizer vectors: the same ids from Hugging Face tokenizer.json (Llama 3, Qwen3)") {
    if (vocab_dir().empty() || !fs::exists(kt::models_dir() + "/tokenizers/llama3/tokenizer.json")) {
        MESSAGE("models not available; skipped");
        return;
    }
    const std::string v = vocab_dir();
    CHECK(check_vectors(hf_tokenizer("llama3"), v + "/ggml-vocab-llama-bpe.gguf.inp",
                        v + "/ggml-vocab-llama-bpe.gguf.out", true) == 0);
    CHECK(check_vectors(hf_tokenizer("qwen3"), v + "/ggml-vocab-qwen2.gguf.inp", v + "/ggml-vocab-qwen2.gguf.out",
                        true) == 0);

    const tokenizer& l3 = hf_tokenizer("llama3");
    const vocab& lv = l3.get_vocab();
    CHECK(lv.kind == vocab_kind::bpe);
    CHECK(lv.pre == "llama-bpe");
    CHECK(l3.n_vocab() == 128256);
    CHECK(l3.bos_id() == 128000);
    CHECK(lv.add_bos);
    CHECK(!lv.chat_template.empty());
    CHECK(l3.encode("Hello", true, false) == std::vector<int32_t>{128000, 9906});
    CHECK(l3.encode("<|begin_of_text|>Hi", false, true) == std::vector<int32_t>{128000, 13347});
    CHECK(l3.is_end_of_generation(l3.encode("<|eot_id|>", false, true).at(0)));

    const tokenizer& q3 = hf_tokenizer("qwen3");
    CHECK(q3.get_vocab().pre == "qwen2");
    CHECK(!q3.get_vocab().add_bos);
    CHECK(q3.eos_id() == 151645);  // <|im_end|> per tokenizer_config.json
    CHECK(q3.encode("<|im_start|>user", false, true) == std::vector<int32_t>{151644, 872});
    // The GGUF and the tokenizer.json agree on the regular vocabulary and its merges.
    const tokenizer& qg = gguf_tokenizer("ggml-vocab-qwen2.gguf");
    std::mt19937 rng(11);
    for (int i = 0; i < 100; ++i) {
        const std::string s = random_text(rng, 1 + rng() % 30);
        REQUIRE_MESSAGE(q3.encode(s, false) == qg.encode(s, false), "'" << s << "'");
    }
}

TEST_CASE("tokenizer bpe: vocabularies without vectors (baichuan, gpt-neox, aquila, ...) by their metadata") {
    if (vocab_dir().empty()) {
        MESSAGE("models not available; skipped");
        return;
    }
    const char* files[] = {"ggml-vocab-baichuan.gguf", "ggml-vocab-gpt-neox.gguf",     "ggml-vocab-aquila.gguf",
                           "ggml-vocab-falcon.gguf",   "ggml-vocab-deepseek-llm.gguf", "ggml-vocab-deepseek-coder.gguf",
                           "ggml-vocab-mpt.gguf",      "ggml-vocab-starcoder.gguf",    "ggml-vocab-refact.gguf",
                           "ggml-vocab-phi-3.gguf"};
    std::mt19937 rng(5);
    for (const char* f : files) {
        if (!fs::exists(vocab_dir() + "/" + f)) continue;
        const tokenizer& tok = gguf_tokenizer(f);
        const vocab& v = tok.get_vocab();
        // Every normal token's own text, fed as text, decodes back to itself.
        for (int i = 0; i < 200; ++i) {
            const auto id = static_cast<int32_t>(rng() % static_cast<uint32_t>(v.size()));
            if (v.type_of(id) != token_type::normal) continue;
            const std::string piece = tok.token_to_piece(id);
            const std::vector<int32_t> ids = tok.encode(piece, false);
            REQUIRE_MESSAGE(tok.decode(ids) == piece, std::string(f) << " token " << id);
        }
        // Random text round trips, where the vocabulary can spell every byte: some (falcon) lack a
        // few byte characters, which are then dropped, as Hugging Face and llama.cpp drop them.
        bool spells[256];
        for (int b = 0; b < 256; ++b) spells[b] = !tok.encode(std::string(1, static_cast<char>(b)), false).empty();
        for (int i = 0; i < 60; ++i) {
            const std::string s = random_text(rng, 1 + rng() % 40);
            if (!std::all_of(s.begin(), s.end(), [&](char c) { return spells[static_cast<unsigned char>(c)]; })) continue;
            REQUIRE_MESSAGE(tok.decode(tok.encode(s, false)) == s, std::string(f) << " '" << s << "'");
        }
    }
    // What each family's splitting implies, from tokens of the files themselves.
    auto id_of = [](const tokenizer& t, const std::string& text) {
        const auto& toks = t.get_vocab().tokens;
        const auto it = std::find(toks.begin(), toks.end(), text);
        REQUIRE_MESSAGE(it != toks.end(), text);
        return static_cast<int32_t>(it - toks.begin());
    };
    {
        // gpt-neox names no pre-tokenizer: llama.cpp's default splitting, which isolates
        // punctuation and cuts digits into runs of three.
        const tokenizer& t = gguf_tokenizer("ggml-vocab-gpt-neox.gguf");
        CHECK(t.get_vocab().pre == "default");
        CHECK(t.encode("Hello world", false) == std::vector<int32_t>{id_of(t, "Hello"), id_of(t, "\xC4\xA0world")});
        const auto digits = t.encode("1234567", false);
        CHECK(t.decode(digits) == "1234567");
        CHECK(digits.front() == id_of(t, "123"));
        // The many-spaces user-defined tokens are matched whole, before splitting.
        CHECK(t.encode(std::string(24, ' '), false) == std::vector<int32_t>{50254});
    }
    {
        const tokenizer& t = gguf_tokenizer("ggml-vocab-aquila.gguf");
        CHECK(t.get_vocab().pre == "default");
        CHECK(t.decode(t.encode("Hello, 世界! 12345", false)) == "Hello, 世界! 12345");
    }
    {
        // baichuan is sentencepiece: BOS added, space prefix, byte fallback.
        const tokenizer& t = gguf_tokenizer("ggml-vocab-baichuan.gguf");
        CHECK(t.get_vocab().kind == vocab_kind::spm);
        const auto ids = t.encode("Hello world", true);
        CHECK(ids.front() == 1);
        CHECK(t.decode(ids) == "Hello world");
        const std::string rare = "\xF0\x9F\xA6\x99";  // 🦙, likely only as bytes
        CHECK(t.decode(t.encode(rare, false)) == rare);
    }
    {
        // starcoder cuts every digit; deepseek-coder too; falcon groups three.
        const tokenizer& sc = gguf_tokenizer("ggml-vocab-starcoder.gguf");
        CHECK(sc.encode("2024", false) ==
              std::vector<int32_t>{id_of(sc, "2"), id_of(sc, "0"), id_of(sc, "2"), id_of(sc, "4")});
        const tokenizer& dc = gguf_tokenizer("ggml-vocab-deepseek-coder.gguf");
        CHECK(dc.encode("42", false) == std::vector<int32_t>{id_of(dc, "4"), id_of(dc, "2")});
        const tokenizer& fa = gguf_tokenizer("ggml-vocab-falcon.gguf");
        CHECK(fa.decode(fa.encode("1234567 x", false)) == "1234567 x");
    }
}

TEST_CASE("tokenizer bpe: round trips, malformed UTF-8, specials and pieces (llama-bpe)") {
    if (vocab_dir().empty()) {
        MESSAGE("models not available; skipped");
        return;
    }
    const tokenizer& tok = gguf_tokenizer("ggml-vocab-llama-bpe.gguf");
    CHECK(tok.get_vocab().add_bos);  // llama-bpe adds BOS though the file does not say
    CHECK(tok.encode("Hello world") == std::vector<int32_t>{128000, 9906, 1917});
    CHECK(tok.token_to_piece(1917) == " world");
    CHECK(tok.token_to_piece(128000).empty());
    CHECK(tok.decode({128000, 9906, 1917}) == "Hello world");
    // Specials: literal text unless parsed.
    CHECK(tok.encode("<|eot_id|>", false, true) == std::vector<int32_t>{128009});
    CHECK(tok.encode("<|eot_id|>", false, false).size() > 1);
    CHECK(tok.is_end_of_generation(128009));

    std::mt19937 rng(3);
    const char* others[] = {"ggml-vocab-gpt-2.gguf", "ggml-vocab-qwen35.gguf", "ggml-vocab-command-r.gguf",
                            "ggml-vocab-gemma-4.gguf"};
    for (int i = 0; i < 300; ++i) {
        const std::string s = random_text(rng, 1 + rng() % 50);
        REQUIRE_MESSAGE(tok.decode(tok.encode(s, false)) == s, "'" << s << "'");
        const tokenizer& o = gguf_tokenizer(others[i % 4]);
        REQUIRE_MESSAGE(o.decode(o.encode(s, false)) == s, others[i % 4] << " '" << s << "'");
    }

    // Malformed UTF-8 is encoded byte for byte (each bad byte its own piece) and decodes back
    // exactly; documented in docs/FORMAT.md.
    const std::string bad[] = {"abc\xFF" "def", "\xC3", "caf\xE9 au lait", "\xED\xA0\x80", "x\xF0\x9F\x98", "\x80\x80 a"};
    for (const std::string& s : bad) {
        const auto ids = tok.encode(s, false);
        CHECK_MESSAGE(tok.decode(ids) == s, s);
        const tokenizer& g = gguf_tokenizer("ggml-vocab-gemma-4.gguf");
        CHECK_MESSAGE(g.decode(g.encode(s, false)) == s, s);
    }
    const tokenizer& spm = gguf_tokenizer("ggml-vocab-llama-spm.gguf");
    for (const std::string& s : bad) CHECK_MESSAGE(spm.decode(spm.encode(s, false)) == s, s);
    // A lone 0xFF byte is the token of its mapped character (U+00FF).
    CHECK(tok.encode("\xFF", false).size() == 1);
    CHECK(tok.token_to_piece(tok.encode("\xFF", false)[0]) == "\xFF");
}

TEST_CASE("tokenizer bpe: long text encodes fast") {
    if (vocab_dir().empty()) {
        MESSAGE("models not available; skipped");
        return;
    }
    std::string text;
    for (const auto& s : read_vocab_inputs(vocab_dir() + "/ggml-vocab-llama-bpe.gguf.inp")) text += s + " ";
    std::string big;
    while (big.size() < 300000) big += text;
    big += std::string(20000, 'a');  // one 20000-letter piece
    for (const char* f : {"ggml-vocab-llama-bpe.gguf", "ggml-vocab-gemma-4.gguf"}) {
        const tokenizer& tok = gguf_tokenizer(f);
        const auto t0 = std::chrono::steady_clock::now();
        const std::vector<int32_t> ids = tok.encode(big, false);
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        MESSAGE(std::string(f) << ": " << big.size() << " bytes -> " << ids.size() << " tokens in " << s << " s");
        CHECK(s < 5.0);  // generous for sanitizer builds and a busy machine
        CHECK(tok.decode(ids) == big);
    }
}

TEST_CASE("pretokenizer: families, splitting rules and errors") {
    auto split = [](const std::string& family, const std::string& text) {
        pre_splitter s(pre_family_find(family).regexes);
        std::vector<std::string_view> pieces;
        s.split(text, pieces);
        return std::vector<std::string>(pieces.begin(), pieces.end());
    };
    using sv = std::vector<std::string>;
    CHECK(split("gpt-2", "Hello world's 12 end!") == sv{"Hello", " world", "'s", " 12", " end", "!"});
    CHECK(split("gpt-2", "a  b") == sv{"a", " ", " b"});
    // Llama 3: contractions case-insensitive, digits by three, punctuation with its newline.
    CHECK(split("llama-bpe", "I'VE 1234567 x!\n\ny") == sv{"I", "'VE", " ", "123", "456", "7", " x", "!\n\n", "y"});
    CHECK(split("qwen2", "ab 123") == sv{"ab", " ", "1", "2", "3"});
    CHECK(split("starcoder", "x12") == sv{"x", "1", "2"});
    CHECK(split("gemma4", "a b\n\nc") == sv{"a b", "\n\n", "c"});
    // Unicode classes: letters of any script, combining marks in qwen35.
    CHECK(split("gpt-2", "\xD0\xBD\xD0\xB5 \xE4\xB8\xAD") == sv{"\xD0\xBD\xD0\xB5", " \xE4\xB8\xAD"});
    CHECK(split("qwen35", "e\xCC\x81t") == sv{"e\xCC\x81t"});
    CHECK(split("qwen2", "e\xCC\x81t") == sv{"e", "\xCC\x81t"});
    // Malformed UTF-8 is never matched: it is a piece of its own and nothing is lost.
    CHECK(split("gpt-2", "ab\xFF" "cd") == sv{"ab", "\xFF", "cd"});
    CHECK(split("llama-bpe", "") == sv{});
    // Nested repeats over a long piece need more than PCRE2's default JIT stack.
    CHECK(split("exaone-moe", std::string(100000, 'a')) == sv{std::string(100000, 'a')});
    // Zero-width matches cut too (superbpe groups digits by three from the right).
    CHECK(split("superbpe", "x1234567") == sv{"x", "1", "234", "567"});

    // Every family's regexes compile and split any text losslessly into non-empty pieces.
    std::mt19937 rng(9);
    std::string names = pre_family_names() + ",";
    for (size_t pos = 0, comma; (comma = names.find(',', pos)) != std::string::npos; pos = comma + 2) {
        const std::string name = names.substr(pos, comma - pos);
        for (int i = 0; i < 20; ++i) {
            std::string text = random_text(rng, 30);
            if (i % 4 == 0) text += "\xFF\xC3 x";
            const sv pieces = split(name, text);
            std::string joined;
            for (const auto& p : pieces) {
                CHECK_MESSAGE(!p.empty(), name);
                joined += p;
            }
            REQUIRE_MESSAGE(joined == text, name);
        }
    }

    CHECK_THROWS_WITH_AS(pre_family_find("no-such-family"),
                         doctest::Contains("tokenizer.pre 'no-such-family' is not a known pre-tokenizer"), error);
    CHECK(pre_family_find("").names[0] == "default");
    CHECK(pre_family_find("llama3").names[0] == "llama-bpe");
    CHECK_THROWS_WITH_AS(pre_splitter({"(unclosed"}), doctest::Contains("does not compile"), error);

    // A vocabulary naming an unknown family is refused when the tokenizer is built.
    vocab v;
    v.kind = vocab_kind::bpe;
    v.tokens = {"a", "b", "ab"};
    v.types.assign(3, token_type::normal);
    v.merges = {"a b"};
    v.pre = "mystery";
    CHECK_THROWS_WITH_AS(tokenizer{v}, doctest::Contains("'mystery'"), error);
    v.pre = "gpt-2";
    const tokenizer t(v);
    CHECK(t.encode("abab", false) == std::vector<int32_t>{2, 2});
    CHECK(t.encode("ba", false) == std::vector<int32_t>{1, 0});
    CHECK(t.encode("abc", false) == std::vector<int32_t>{2});  // 'c' has no token and no <unk>: dropped
    // ignore_merges: a piece that is a token is taken whole even when merges would not build it.
    v.tokens = {"a", "b", "c", "ab", "bc", "abc"};
    v.types.assign(6, token_type::normal);
    v.merges = {"b c", "a b"};
    CHECK(tokenizer(v).encode("abc", false) == std::vector<int32_t>{0, 4});
    v.ignore_merges = true;
    CHECK(tokenizer(v).encode("abc", false) == std::vector<int32_t>{5});
    metadata md;
    vocab_to_metadata(v, md);
    CHECK(md.get_bool("tokenizer.ignore_merges"));
    CHECK(vocab_from_metadata(md).ignore_merges == std::optional<bool>(true));
    v.merges = {"ab"};
    CHECK_THROWS_WITH_AS(tokenizer{v}, doctest::Contains("tokenizer.merges[0]"), error);
}

TEST_CASE("unicode: UTF-8 validation and GPT-2 byte mapping") {
    CHECK(utf8_valid_len("a") == 1);
    CHECK(utf8_valid_len("\xC3\xA9") == 2);
    CHECK(utf8_valid_len("\xE2\x82\xAC") == 3);
    CHECK(utf8_valid_len("\xF0\x9F\x98\x80") == 4);
    CHECK(utf8_valid_len("\xC0\x80") == 0);      // overlong
    CHECK(utf8_valid_len("\xED\xA0\x80") == 0);  // surrogate
    CHECK(utf8_valid_len("\xF4\x90\x80\x80") == 0);
    CHECK(utf8_valid_len("\xE2\x82") == 0);      // truncated
    CHECK(utf8_valid_len("\x80") == 0);
    CHECK(bytes_to_unicode(" \n!") == "\xC4\xA0\xC4\x8A!");  // Ġ Ċ !
    std::string all;
    for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
    CHECK(unicode_to_bytes(bytes_to_unicode(all)) == all);
    CHECK(byte_to_unicode_cp(0xAD) == 0x143);
}

TEST_CASE("gguf tokenizer: unsupported models, unknown pre-tokenizers and missing merges are clear errors") {
    auto message = [](auto&& f) {
        try {
            f();
        } catch (const error& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    gguf_vocab_file bert;
    bert.kv_str("tokenizer.ggml.model", "bert");
    bert.kv_strs("tokenizer.ggml.tokens", {"[PAD]", "a"});
    const std::string bert_path = bert.write("bert.gguf");
    CHECK_MESSAGE(message([&] { gguf_import_vocab(bert_path); }).find("'bert' (WordPiece) is not supported") != std::string::npos,
                  message([&] { gguf_import_vocab(bert_path); }));

    gguf_vocab_file t5;
    t5.kv_str("tokenizer.ggml.model", "t5");
    t5.kv_strs("tokenizer.ggml.tokens", {"a"});
    const std::string t5_path = t5.write("t5.gguf");
    CHECK(message([&] { gguf_import_vocab(t5_path); }).find("tokenizer model 't5' is not supported") != std::string::npos);

    gguf_vocab_file no_merges;
    no_merges.kv_str("tokenizer.ggml.model", "gpt2");
    no_merges.kv_str("tokenizer.ggml.pre", "gpt-2");
    no_merges.kv_strs("tokenizer.ggml.tokens", {"a"});
    const std::string nm_path = no_merges.write("no_merges.gguf");
    CHECK(message([&] { gguf_import_vocab(nm_path); }).find("tokenizer.ggml.merges' is missing") != std::string::npos);

    gguf_vocab_file unknown;
    unknown.kv_str("tokenizer.ggml.model", "gpt2");
    unknown.kv_str("tokenizer.ggml.pre", "kimi-k2");
    unknown.kv_strs("tokenizer.ggml.tokens", {"a", "b", "ab"});
    unknown.kv_strs("tokenizer.ggml.merges", {"a b"});
    const std::string unk_path = unknown.write("unknown_pre.gguf");
    const std::string msg = message([&] { tokenizer{vocab_from_metadata(gguf_import_vocab(unk_path))}; });
    CHECK_MESSAGE(msg.find("tokenizer.pre 'kimi-k2' is not a known pre-tokenizer") != std::string::npos, msg);

    // No pre name: llama.cpp's "default" splitting.
    gguf_vocab_file plain;
    plain.kv_str("tokenizer.ggml.model", "gpt2");
    plain.kv_strs("tokenizer.ggml.tokens", {"a", "b", "ab", "!"});
    plain.kv_strs("tokenizer.ggml.merges", {"a b"});
    const tokenizer t(vocab_from_metadata(gguf_import_vocab(plain.write("plain.gguf"))));
    CHECK(t.get_vocab().pre == "default");
    CHECK(t.encode("ab!ab", false) == std::vector<int32_t>{2, 3, 2});
}

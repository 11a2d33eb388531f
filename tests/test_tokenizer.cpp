// The sentencepiece-style tokenizer against llama.cpp's test vectors for the
// Llama 2 vocabulary, round trips, special tokens, and vocab validation.
#include <doctest/doctest.h>

#include <chrono>
#include <random>
#include <sstream>

#include "core/error.h"
#include "formats/gguf_import.h"
#include "support/test_paths.h"
#include "support/test_vocab.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/vocab.h"

using namespace kiln;
using kiln::test::read_vocab_inputs;
using kiln::test::read_vocab_outputs;
namespace kt = kiln::test;

namespace {

std::string vocab_path(const char* name) {
    const std::string m = kt::models_dir();
    return m.empty() ? "" : m + "/vocab/" + name;
}

const tokenizer& llama_spm() {
    static const tokenizer tok(vocab_from_metadata(gguf_import_vocab(vocab_path("ggml-vocab-llama-spm.gguf"))));
    return tok;
}

std::string ids_str(const std::vector<int32_t>& ids) {
    std::string s;
    for (int32_t id : ids) s += " " + std::to_string(id);
    return s;
}

// A random string of code points from ranges that exercise 1- to 4-byte UTF-8.
std::string random_utf8(std::mt19937& rng, size_t n_chars, bool ascii_only) {
    static const std::pair<uint32_t, uint32_t> ranges[] = {
        {0x20, 0x7E}, {0x09, 0x0A}, {0xA0, 0x24F}, {0x400, 0x4FF}, {0x3040, 0x30FF}, {0x4E00, 0x4FFF}, {0x1F300, 0x1F64F},
    };
    std::string s;
    for (size_t i = 0; i < n_chars; ++i) {
        const auto& r = ranges[ascii_only ? rng() % 2 : rng() % std::size(ranges)];
        const uint32_t cp = r.first + rng() % (r.second - r.first + 1);
        if (cp < 0x80) {
            s += static_cast<char>(cp);
        } else if (cp < 0x800) {
            s += static_cast<char>(0xC0 | (cp >> 6));
            s += static_cast<char>(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            s += static_cast<char>(0xE0 | (cp >> 12));
            s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            s += static_cast<char>(0x80 | (cp & 0x3F));
        } else {
            s += static_cast<char>(0xF0 | (cp >> 18));
            s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
            s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            s += static_cast<char>(0x80 | (cp & 0x3F));
        }
    }
    return s;
}

}  // namespace

TEST_CASE("tokenizer: llama-spm matches every llama.cpp test vector") {
    const std::string gguf = vocab_path("ggml-vocab-llama-spm.gguf");
    if (gguf.empty()) {
        MESSAGE("models not available; skipped");
        return;
    }
    const auto inputs = read_vocab_inputs(gguf + ".inp");
    const auto outputs = read_vocab_outputs(gguf + ".out");
    REQUIRE(inputs.size() == outputs.size());
    REQUIRE(inputs.size() > 40);
    const tokenizer& tok = llama_spm();
    int mismatches = 0;
    for (size_t i = 0; i < inputs.size(); ++i) {
        const std::vector<int32_t> got = tok.encode(inputs[i], false, false);
        if (got != outputs[i]) {
            ++mismatches;
            MESSAGE("input " << i << " '" << inputs[i] << "'\n  expected" << ids_str(outputs[i]) << "\n  got     "
                             << ids_str(got));
        }
        CHECK_MESSAGE(tok.decode(got) == inputs[i], "input " << i);
    }
    CHECK(mismatches == 0);
}

TEST_CASE("tokenizer: llama-spm basics: specials, pieces, decode") {
    if (kt::models_dir().empty()) {
        MESSAGE("models not available; skipped");
        return;
    }
    const tokenizer& tok = llama_spm();
    CHECK(tok.n_vocab() == 32000);
    CHECK(tok.bos_id() == 1);
    CHECK(tok.eos_id() == 2);
    CHECK(tok.is_end_of_generation(2));
    CHECK_FALSE(tok.is_end_of_generation(1));
    CHECK_FALSE(tok.is_end_of_generation(15043));
    CHECK_FALSE(tok.is_end_of_generation(-5));

    CHECK(tok.encode("Hello world") == std::vector<int32_t>{1, 15043, 3186});
    CHECK(tok.encode("") == std::vector<int32_t>{1});
    CHECK(tok.encode("", false).empty());
    // "<s>" is plain text unless specials are parsed; after a special the space prefix applies again.
    CHECK(tok.encode("<s>Hello", false, true) == std::vector<int32_t>{1, 15043});
    const std::vector<int32_t> literal = tok.encode("<s>Hello", false, false);
    CHECK(std::find(literal.begin(), literal.end(), 1) == literal.end());
    CHECK(tok.decode(literal) == "<s>Hello");
    CHECK(tok.encode("a</s>", false, true).back() == 2);

    CHECK(tok.token_to_piece(15043) == " Hello");
    CHECK(tok.token_to_piece(13) == "\n");  // <0x0A>
    CHECK(tok.token_to_piece(1).empty());
    CHECK_THROWS_AS(tok.token_to_piece(32000), error);
    CHECK_THROWS_AS(tok.token_to_piece(-1), error);
    CHECK_THROWS_AS(tok.decode({15043, 40000}), error);
    CHECK(tok.decode({1, 15043, 3186, 2}) == "Hello world");
    CHECK(tok.decode({1, 29871, 15043}) == " Hello");
}

TEST_CASE("tokenizer: round trips of random text") {
    if (kt::models_dir().empty()) {
        MESSAGE("models not available; skipped");
        return;
    }
    const tokenizer& tok = llama_spm();
    std::mt19937 rng(7);
    for (int i = 0; i < 300; ++i) {
        const std::string s = random_utf8(rng, 1 + rng() % 40, i % 2 == 0);
        const std::vector<int32_t> ids = tok.encode(s, i % 3 == 0);
        REQUIRE_MESSAGE(tok.decode(ids) == s, "'" << s << "'");
    }
}

TEST_CASE("tokenizer: long text encodes in linearithmic time") {
    if (kt::models_dir().empty()) {
        MESSAGE("models not available; skipped");
        return;
    }
    const tokenizer& tok = llama_spm();
    std::string text;
    for (const auto& s : read_vocab_inputs(vocab_path("ggml-vocab-llama-spm.gguf") + ".inp")) text += s + " ";
    std::string big;
    while (big.size() < 400000) big += text;
    big += std::string(20000, 'a');  // one long run of a single character
    const auto t0 = std::chrono::steady_clock::now();
    const std::vector<int32_t> ids = tok.encode(big, false);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    MESSAGE(big.size() << " bytes -> " << ids.size() << " tokens in " << s << " s");
    CHECK(s < 5.0);  // generous for sanitizer builds; a quadratic merge takes minutes
    CHECK(tok.decode(ids) == big);
}

TEST_CASE("tokenizer: stories260K") {
    if (kt::models_dir().empty()) {
        MESSAGE("models not available; skipped");
        return;
    }
    const source_model m = gguf_import(kt::models_dir() + "/stories260K/stories260K.gguf");
    const tokenizer tok(vocab_from_metadata(m.meta));
    CHECK(tok.n_vocab() == 512);
    CHECK(tok.encode("Once upon a time") == std::vector<int32_t>{1, 403, 407, 261, 378});
    CHECK(tok.decode({1, 403, 407, 261, 378}) == "Once upon a time");
    const std::string emoji = "a \xF0\x9F\x98\x80 b\n";  // byte fallback
    CHECK(tok.decode(tok.encode(emoji)) == emoji);
}

TEST_CASE("tokenizer: byte-level BPE vocabularies load (tests in test_tokenizer_bpe.cpp)") {
    if (kt::models_dir().empty()) {
        MESSAGE("models not available; skipped");
        return;
    }
    const metadata md = gguf_import_vocab(vocab_path("ggml-vocab-gpt-2.gguf"));
    const vocab v = vocab_from_metadata(md);
    CHECK(v.kind == vocab_kind::bpe);
    CHECK(v.pre == "gpt-2");
    const tokenizer tok(v);
    CHECK(tok.encode("Hello world", false) == std::vector<int32_t>{15496, 995});
}

TEST_CASE("vocab: metadata round trip and validation") {
    vocab v;
    v.kind = vocab_kind::spm;
    v.tokens = {"<unk>", "<s>", "</s>", "<0x41>", "\xE2\x96\x81" "a", "b", "\xE2\x96\x81" "ab", "<|im_end|>", "<x>"};
    v.scores = {0, 0, 0, 0, -1, -2, -3, 0, 0};
    v.types = {token_type::unknown, token_type::control, token_type::control, token_type::byte, token_type::normal,
               token_type::normal, token_type::normal, token_type::control, token_type::user_defined};
    v.bos_id = 1;
    v.eos_id = 2;
    v.unk_id = 0;
    v.add_bos = true;
    v.add_space_prefix = true;
    v.chat_template = "{{ messages }}";

    metadata m;
    vocab_to_metadata(v, m);
    const vocab back = vocab_from_metadata(m);
    CHECK(back.tokens == v.tokens);
    CHECK(back.scores == v.scores);
    CHECK(back.types == v.types);
    CHECK(back.bos_id == 1);
    CHECK(back.eos_id == 2);
    CHECK(back.unk_id == 0);
    CHECK(back.pad_id == -1);
    CHECK(back.add_bos);
    CHECK_FALSE(back.add_eos);
    CHECK(back.chat_template == v.chat_template);

    const tokenizer tok(back);
    CHECK(tok.encode("ab", false) == std::vector<int32_t>{6});
    CHECK(tok.encode("abA", false) == std::vector<int32_t>{6, 3});            // 'A' only as a byte token
    CHECK(tok.encode("abZ", false) == std::vector<int32_t>{6, 0});            // no byte token: unknown
    // User-defined tokens are always matched whole; text after a special token gets the space prefix again.
    CHECK(tok.encode("a<x>ab", false) == std::vector<int32_t>{4, 8, 6});
    CHECK(tok.encode("<|im_end|>", false, true) == std::vector<int32_t>{7});
    CHECK(tok.is_end_of_generation(7));
    CHECK(tok.is_end_of_generation(2));
    CHECK(tok.token_to_piece(0) == " \xE2\x81\x87 ");
    CHECK(tok.token_to_piece(8) == "<x>");

    auto expect_fail = [](metadata bad, const char* needle) {
        std::string msg;
        try {
            vocab_from_metadata(bad);
        } catch (const error& e) {
            msg = e.what();
        }
        CHECK_MESSAGE(msg.find(needle) != std::string::npos, "'" << msg << "' lacks '" << needle << "'");
    };
    {
        metadata bad = m;
        bad.set("tokenizer.scores", std::vector<float>{0, 1});
        expect_fail(bad, "tokenizer.scores has 2 entries for 9 tokens");
    }
    {
        metadata bad = m;
        bad.set("tokenizer.token_type", std::vector<int32_t>(9, 7));
        expect_fail(bad, "tokenizer.token_type[0] = 7");
    }
    {
        metadata bad = m;
        bad.set_int("tokenizer.bos_id", 9);
        expect_fail(bad, "tokenizer.bos_id = 9");
    }
    {
        metadata bad = m;
        bad.set_int("tokenizer.eos_id", -2);
        expect_fail(bad, "tokenizer.eos_id = -2");
    }
    {
        metadata bad = m;
        bad.set_str("tokenizer.model", "wordpiece");
        expect_fail(bad, "'wordpiece'");
    }
    {
        metadata bad = m;
        bad.erase("tokenizer.scores");
        expect_fail(bad, "tokenizer.scores is missing");
    }
    expect_fail(metadata{}, "no tokenizer");

    vocab broken = v;
    broken.types.pop_back();
    CHECK_THROWS_AS(tokenizer{broken}, error);
}

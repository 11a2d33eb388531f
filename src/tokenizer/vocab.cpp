#include "tokenizer/vocab.h"

#include <cmath>

#include "core/error.h"

namespace kiln {

namespace {

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

int32_t special_id(const metadata& m, const char* key, int32_t n_tokens) {
    const int64_t id = m.get_int(key, -1);
    if (id < -1 || id >= n_tokens) fail("metadata {} = {} is outside the vocabulary (0..{}, or -1 for none)", key, id, n_tokens - 1);
    return static_cast<int32_t>(id);
}

}  // namespace

const char* vocab_kind_name(vocab_kind k) { return k == vocab_kind::spm ? "spm" : "bpe"; }

int byte_token_value(const std::string& text) {
    if (text.size() != 6 || text.compare(0, 3, "<0x") != 0 || text[5] != '>') return -1;
    const int hi = hex_digit(text[3]), lo = hex_digit(text[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

vocab vocab_from_metadata(const metadata& m) {
    if (!m.has("tokenizer.model")) fail("metadata has no tokenizer (key tokenizer.model is missing)");
    vocab v;
    const std::string& model = m.get_str("tokenizer.model");
    if (model == "spm") v.kind = vocab_kind::spm;
    else if (model == "bpe") v.kind = vocab_kind::bpe;
    else fail("metadata tokenizer.model = '{}' is not one of: spm, bpe", model);

    v.tokens = m.get_str_array("tokenizer.tokens");
    if (v.tokens.empty()) fail("metadata tokenizer.tokens is empty");
    if (v.tokens.size() >= (size_t(1) << 31)) fail("metadata tokenizer.tokens has {} entries, too many", v.tokens.size());
    const int32_t n = v.size();

    if (m.has("tokenizer.scores")) {
        v.scores = m.get_f32_array("tokenizer.scores");
        if (v.scores.size() != v.tokens.size()) {
            fail("metadata tokenizer.scores has {} entries for {} tokens", v.scores.size(), n);
        }
        // Merges are ordered by score: a NaN would leave no order at all.
        for (size_t i = 0; i < v.scores.size(); ++i) {
            if (std::isnan(v.scores[i])) fail("metadata tokenizer.scores[{}] is NaN", i);
        }
    } else if (v.kind == vocab_kind::spm) {
        fail("metadata tokenizer.scores is missing (an spm tokenizer merges by score)");
    }

    v.types.resize(v.tokens.size(), token_type::normal);
    if (m.has("tokenizer.token_type")) {
        const auto& types = m.get_i32_array("tokenizer.token_type");
        if (types.size() != v.tokens.size()) {
            fail("metadata tokenizer.token_type has {} entries for {} tokens", types.size(), n);
        }
        for (size_t i = 0; i < types.size(); ++i) {
            if (types[i] < 0 || types[i] > static_cast<int32_t>(token_type::byte)) {
                fail("metadata tokenizer.token_type[{}] = {} is not a known token type (0..6)", i, types[i]);
            }
            v.types[i] = static_cast<token_type>(types[i]);
        }
    } else {
        for (size_t i = 0; i < v.tokens.size(); ++i) {
            if (byte_token_value(v.tokens[i]) >= 0) v.types[i] = token_type::byte;
        }
    }
    if (m.has("tokenizer.merges")) v.merges = m.get_str_array("tokenizer.merges");

    v.bos_id = special_id(m, "tokenizer.bos_id", n);
    v.eos_id = special_id(m, "tokenizer.eos_id", n);
    v.unk_id = special_id(m, "tokenizer.unk_id", n);
    v.pad_id = special_id(m, "tokenizer.pad_id", n);
    const bool spm = v.kind == vocab_kind::spm;
    v.add_bos = m.get_bool("tokenizer.add_bos", spm);
    v.add_eos = m.get_bool("tokenizer.add_eos", false);
    v.add_space_prefix = m.get_bool("tokenizer.add_space_prefix", spm);
    v.pre = m.get_str("tokenizer.pre", "");
    if (m.has("tokenizer.ignore_merges")) v.ignore_merges = m.get_bool("tokenizer.ignore_merges");
    v.chat_template = m.get_str("tokenizer.chat_template", "");
    return v;
}

vocab vocab_llama_spm() {
    vocab v;
    v.kind = vocab_kind::spm;
    v.unk_id = 0;
    v.bos_id = 1;
    v.eos_id = 2;
    v.add_bos = true;
    v.add_space_prefix = true;
    return v;
}

void vocab_to_metadata(const vocab& v, metadata& m) {
    m.set_str("tokenizer.model", vocab_kind_name(v.kind));
    m.set("tokenizer.tokens", v.tokens);
    if (!v.scores.empty()) m.set("tokenizer.scores", v.scores);
    else m.erase("tokenizer.scores");
    std::vector<int32_t> types(v.types.size());
    for (size_t i = 0; i < types.size(); ++i) types[i] = static_cast<int32_t>(v.types[i]);
    m.set("tokenizer.token_type", std::move(types));
    if (!v.merges.empty()) m.set("tokenizer.merges", v.merges);
    else m.erase("tokenizer.merges");
    m.set_int("tokenizer.bos_id", v.bos_id);
    m.set_int("tokenizer.eos_id", v.eos_id);
    m.set_int("tokenizer.unk_id", v.unk_id);
    m.set_int("tokenizer.pad_id", v.pad_id);
    m.set_bool("tokenizer.add_bos", v.add_bos);
    m.set_bool("tokenizer.add_eos", v.add_eos);
    m.set_bool("tokenizer.add_space_prefix", v.add_space_prefix);
    if (!v.pre.empty()) m.set_str("tokenizer.pre", v.pre);
    else m.erase("tokenizer.pre");
    if (v.ignore_merges) m.set_bool("tokenizer.ignore_merges", *v.ignore_merges);
    else m.erase("tokenizer.ignore_merges");
    if (!v.chat_template.empty()) m.set_str("tokenizer.chat_template", v.chat_template);
    else m.erase("tokenizer.chat_template");
}

}  // namespace kiln

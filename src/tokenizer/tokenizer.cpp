#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/segmenter.h"
#include "tokenizer/unicode_utf8.h"

namespace kiln {

namespace {

// Texts of control tokens that end a turn in common chat formats; a model
// emitting one is done even when it is not the vocabulary's EOS.
constexpr const char* end_of_turn_texts[] = {
    "<|eot_id|>", "<|eom_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
    "<EOT>", "<|return|>", "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>",
};

constexpr std::string_view unknown_surface = " \xE2\x81\x87 ";  // " ⁇ ", as sentencepiece prints <unk>

std::string spm_piece(const std::string& text) {
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size();) {
        if (text.compare(i, 3, "\xE2\x96\x81") == 0) {
            out += ' ';
            i += 3;
        } else {
            out += text[i++];
        }
    }
    return out;
}

struct special_token {
    std::string_view text;
    int32_t id;
    bool needs_parse_special;  // control and unknown tokens: only when asked
};

}  // namespace

struct tokenizer::tables {
    vocab v;
    std::unique_ptr<text_segmenter> segmenter;
    std::vector<std::string> pieces;
    std::vector<bool> end_of_generation;
    // Special tokens by first byte, longest first, so matching at a position is a short scan.
    std::vector<special_token> specials_by_byte[256];

    explicit tables(vocab voc) : v(std::move(voc)) {
        check_vocab();
        // Byte-level BPE tokens spell bytes in GPT-2's alphabet; the others (sentencepiece and
        // sentencepiece-style BPE) spell a space as U+2581.
        bool byte_level = false;
        switch (v.kind) {
            case vocab_kind::spm: segmenter = spm_segmenter_create(v); break;
            case vocab_kind::bpe:
                byte_level = pre_family_find(v.pre).byte_level;
                segmenter = bpe_segmenter_create(v);
                break;
        }
        const size_t n = v.tokens.size();
        pieces.resize(n);
        end_of_generation.assign(n, false);
        for (size_t i = 0; i < n; ++i) {
            const std::string& text = v.tokens[i];
            const token_type type = v.types[i];
            switch (type) {
                case token_type::control: pieces[i] = ""; break;
                case token_type::unknown: pieces[i] = v.kind == vocab_kind::spm ? std::string(unknown_surface) : ""; break;
                case token_type::user_defined: pieces[i] = text; break;
                case token_type::byte: {
                    const int b = byte_token_value(text);
                    if (b >= 0) pieces[i] = std::string(1, static_cast<char>(b));
                    else pieces[i] = byte_level ? unicode_to_bytes(text) : spm_piece(text);
                    break;
                }
                default: pieces[i] = byte_level ? unicode_to_bytes(text) : spm_piece(text); break;
            }
            const bool special = type == token_type::control || type == token_type::user_defined ||
                                 type == token_type::unknown;
            if (special && !text.empty()) {
                specials_by_byte[static_cast<unsigned char>(text[0])].push_back(
                    {text, static_cast<int32_t>(i), type != token_type::user_defined});
            }
            if (type == token_type::control || type == token_type::user_defined) {
                for (const char* eot : end_of_turn_texts) end_of_generation[i] = end_of_generation[i] || text == eot;
            }
        }
        if (v.eos_id >= 0) end_of_generation[static_cast<size_t>(v.eos_id)] = true;
        for (auto& list : specials_by_byte) {
            std::stable_sort(list.begin(), list.end(),
                             [](const special_token& a, const special_token& b) { return a.text.size() > b.text.size(); });
        }
    }

    // A vocab built by hand rather than by vocab_from_metadata gets the same guarantees.
    void check_vocab() const {
        const size_t n = v.tokens.size();
        if (n == 0 || n >= (size_t(1) << 31)) fail("tokenizer: the vocabulary has {} tokens", n);
        if (v.types.size() != n) fail("tokenizer: {} token types for {} tokens", v.types.size(), n);
        if (v.kind == vocab_kind::spm && v.scores.size() != n) {
            fail("tokenizer: {} scores for {} tokens", v.scores.size(), n);
        }
        for (float score : v.scores) {
            if (std::isnan(score)) fail("tokenizer: a token score is NaN");
        }
        for (int32_t id : {v.bos_id, v.eos_id, v.unk_id, v.pad_id}) {
            if (id < -1 || id >= static_cast<int32_t>(n)) fail("tokenizer: special token id {} is outside the vocabulary", id);
        }
    }

    // The special token whose text starts `rest`, or nullptr.
    const special_token* match_special(std::string_view rest, bool parse_special) const {
        for (const special_token& s : specials_by_byte[static_cast<unsigned char>(rest[0])]) {
            if ((parse_special || !s.needs_parse_special) && rest.substr(0, s.text.size()) == s.text) return &s;
        }
        return nullptr;
    }
};

tokenizer::tokenizer(vocab v) : t_(std::make_shared<const tables>(std::move(v))) {}

std::vector<int32_t> tokenizer::encode(std::string_view text, bool add_special, bool parse_special) const {
    const vocab& v = t_->v;
    std::vector<int32_t> out;
    out.reserve(text.size() / 3 + 4);
    if (add_special && v.add_bos && v.bos_id >= 0) out.push_back(v.bos_id);

    bool starts_text = true;
    size_t span_start = 0;
    for (size_t pos = 0; pos < text.size();) {
        const special_token* s = t_->match_special(text.substr(pos), parse_special);
        if (!s) {
            ++pos;
            continue;
        }
        if (pos > span_start) t_->segmenter->encode(text.substr(span_start, pos - span_start), starts_text, out);
        out.push_back(s->id);
        starts_text = true;
        pos += s->text.size();
        span_start = pos;
    }
    if (span_start < text.size()) t_->segmenter->encode(text.substr(span_start), starts_text, out);

    if (add_special && v.add_eos && v.eos_id >= 0) out.push_back(v.eos_id);
    return out;
}

std::string tokenizer::token_to_piece(int32_t id) const {
    if (id < 0 || id >= n_vocab()) fail("token id {} is outside the vocabulary (0..{})", id, n_vocab() - 1);
    return t_->pieces[static_cast<size_t>(id)];
}

std::string tokenizer::decode(const std::vector<int32_t>& ids) const {
    const vocab& v = t_->v;
    const bool strip_prefix_space = v.kind == vocab_kind::spm && v.add_space_prefix;
    std::string out;
    bool before_text = true;  // only control tokens (BOS) so far
    for (int32_t id : ids) {
        const std::string piece = token_to_piece(id);
        if (before_text && v.type_of(id) == token_type::control) continue;
        if (before_text && strip_prefix_space && !piece.empty() && piece[0] == ' ') out.append(piece, 1);
        else out += piece;
        before_text = false;
    }
    return out;
}

int32_t tokenizer::bos_id() const { return t_->v.bos_id; }
int32_t tokenizer::eos_id() const { return t_->v.eos_id; }
int32_t tokenizer::n_vocab() const { return t_->v.size(); }

bool tokenizer::is_end_of_generation(int32_t id) const {
    return id >= 0 && id < n_vocab() && t_->end_of_generation[static_cast<size_t>(id)];
}

const vocab& tokenizer::get_vocab() const { return t_->v; }

}  // namespace kiln

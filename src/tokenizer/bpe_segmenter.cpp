// Byte-level BPE (GPT-2 family): the text is cut into pieces by the family's
// pre-tokenizer; each piece is mapped byte-to-unicode and starts as one symbol
// per character; the adjacent pair with the lowest merge rank (leftmost on
// ties) is merged until no pair has a rank. A priority queue over a linked
// list of symbols keeps this O(n log n) per piece, and pieces repeated within
// one call are encoded once.
//
// Symbols carry ids rather than strings: a merge's parts and result are
// looked up once, at construction. Texts a merge names that are not tokens
// (malformed vocabularies) get ids past the vocabulary so that they still
// merge exactly as their strings would; a symbol left with such an id (or a
// character that is no token) falls back per character, as llama.cpp and
// Hugging Face do: the character's token, else the unknown token, else
// nothing.
#include <algorithm>
#include <deque>
#include <queue>
#include <string>
#include <unordered_map>

#include "core/error.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/segmenter.h"
#include "tokenizer/unicode_utf8.h"

namespace kiln {

namespace {

constexpr std::string_view space_marker = "\xE2\x96\x81";  // U+2581

class bpe_segmenter final : public text_segmenter {
public:
    explicit bpe_segmenter(const vocab& v)
        : v_(v),
          family_(pre_family_find(v.pre)),
          ignore_merges_(v.ignore_merges.value_or(family_.ignore_merges)),
          splitter_(family_.regexes) {
        ids_.reserve(v.tokens.size() + v.merges.size() / 8);
        for (int32_t id = 0; id < v.size(); ++id) {
            const std::string& text = v.tokens[static_cast<size_t>(id)];
            if (!text.empty()) ids_.emplace(std::string_view(text), id);  // first id wins on duplicates
        }
        std::fill(std::begin(byte_ids_), std::end(byte_ids_), -1);
        if (!family_.byte_level) {
            for (int32_t id = 0; id < v.size(); ++id) {
                const int b = byte_token_value(v.tokens[static_cast<size_t>(id)]);
                if (b >= 0 && byte_ids_[b] < 0) byte_ids_[b] = id;
            }
        }
        merges_.reserve(v.merges.size());
        for (size_t rank = 0; rank < v.merges.size(); ++rank) {
            const std::string& m = v.merges[rank];
            // Split at the first space after the first byte: a part may itself be a lone space.
            const size_t sp = m.size() > 1 ? m.find(' ', 1) : std::string::npos;
            if (sp == std::string::npos || sp + 1 >= m.size()) {
                fail("tokenizer.merges[{}] = '{}' is not of the form 'a b'", rank, m);
            }
            const int32_t a = intern(std::string_view(m).substr(0, sp));
            const int32_t b = intern(std::string_view(m).substr(sp + 1));
            const int32_t r = intern(m.substr(0, sp) + m.substr(sp + 1));
            merges_.emplace(pair_key(a, b), merge_rule{static_cast<int32_t>(rank), r});  // first rank wins
        }
    }

    void encode(std::string_view text, bool /*starts_text*/, std::vector<int32_t>& out) const override {
        std::string escaped;
        if (family_.escape_spaces) {
            escaped.reserve(text.size() + 16);
            for (char c : text) {
                if (c == ' ') escaped += space_marker;
                else escaped += c;
            }
            text = escaped;
        }
        std::vector<std::string_view> pieces;
        splitter_.split(text, pieces);

        std::unordered_map<std::string, std::vector<int32_t>> cache;
        std::vector<int32_t> ids;
        for (std::string_view piece : pieces) {
            std::string word = family_.byte_level ? bytes_to_unicode(piece) : std::string(piece);
            auto it = cache.find(word);
            if (it != cache.end()) {
                out.insert(out.end(), it->second.begin(), it->second.end());
                continue;
            }
            ids.clear();
            encode_word(word, ids);
            out.insert(out.end(), ids.begin(), ids.end());
            if (word.size() <= 256) cache.emplace(std::move(word), ids);
        }
    }

private:
    struct merge_rule {
        int32_t rank;
        int32_t result;
    };
    struct symbol {
        uint32_t off, n;  // bytes of the word; n == 0 once merged into the left neighbour
        int32_t id;       // token (or interned text) id, -1 when the text is no token
        int32_t prev, next;
    };
    struct pair_candidate {
        int32_t rank;
        int32_t left, right;
        int32_t left_id, right_id;
    };
    struct lower_priority {
        bool operator()(const pair_candidate& a, const pair_candidate& b) const {
            return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
        }
    };

    static uint64_t pair_key(int32_t a, int32_t b) {
        return (uint64_t{static_cast<uint32_t>(a)} << 32) | static_cast<uint32_t>(b);
    }

    int32_t find(std::string_view text) const {
        auto it = ids_.find(text);
        return it == ids_.end() ? -1 : it->second;
    }

    // The id of `text`: its token, or a new id past the vocabulary.
    int32_t intern(std::string_view text) {
        if (const int32_t id = find(text); id >= 0) return id;
        extra_.emplace_back(text);
        const auto id = static_cast<int32_t>(v_.tokens.size() + extra_.size() - 1);
        ids_.emplace(std::string_view(extra_.back()), id);
        return id;
    }

    bool is_token(int32_t id) const { return id >= 0 && id < v_.size(); }

    void encode_word(const std::string& word, std::vector<int32_t>& out) const {
        if (ignore_merges_ || (family_.newline_runs_whole && word.find_first_not_of('\n') == std::string::npos)) {
            const int32_t id = find(word);
            if (is_token(id)) {
                out.push_back(id);
                return;
            }
        }
        std::vector<symbol> sym;
        sym.reserve(word.size());
        const std::string_view w(word);
        for (size_t off = 0; off < word.size();) {
            const size_t n = std::max<size_t>(1, utf8_valid_len(w.substr(off)));  // a malformed byte alone
            const auto i = static_cast<int32_t>(sym.size());
            sym.push_back({static_cast<uint32_t>(off), static_cast<uint32_t>(n), find(w.substr(off, n)), i - 1, -1});
            if (i > 0) sym[static_cast<size_t>(i) - 1].next = i;
            off += n;
        }

        std::priority_queue<pair_candidate, std::vector<pair_candidate>, lower_priority> q;
        auto queue_pair = [&](int32_t l, int32_t r) {
            if (l < 0 || r < 0 || sym[l].id < 0 || sym[r].id < 0) return;
            auto it = merges_.find(pair_key(sym[l].id, sym[r].id));
            if (it != merges_.end()) q.push({it->second.rank, l, r, sym[l].id, sym[r].id});
        };
        for (int32_t i = 0; i + 1 < static_cast<int32_t>(sym.size()); ++i) queue_pair(i, i + 1);

        while (!q.empty()) {
            const pair_candidate c = q.top();
            q.pop();
            symbol& left = sym[c.left];
            symbol& right = sym[c.right];
            // Symbols only grow or empty; a changed id or emptied symbol means the pair is stale.
            if (left.n == 0 || right.n == 0 || left.id != c.left_id || right.id != c.right_id) continue;
            left.n += right.n;
            left.id = merges_.at(pair_key(c.left_id, c.right_id)).result;
            right.n = 0;
            left.next = right.next;
            if (left.next >= 0) sym[left.next].prev = c.left;
            queue_pair(left.prev, c.left);
            queue_pair(c.left, left.next);
        }

        for (int32_t i = 0; i >= 0; i = sym[i].next) {
            const symbol& s = sym[i];
            if (is_token(s.id)) out.push_back(s.id);
            else fallback(w.substr(s.off, s.n), out);
        }
    }

    void fallback(std::string_view text, std::vector<int32_t>& out) const {
        if (!family_.byte_level) {
            for (char c : text) {
                const int32_t id = byte_ids_[static_cast<unsigned char>(c)];
                if (id >= 0) out.push_back(id);
                else if (v_.unk_id >= 0) out.push_back(v_.unk_id);
            }
            return;
        }
        for (size_t off = 0; off < text.size();) {
            const size_t n = std::max<size_t>(1, utf8_valid_len(text.substr(off)));
            const int32_t id = find(text.substr(off, n));
            if (is_token(id)) out.push_back(id);
            else if (v_.unk_id >= 0) out.push_back(v_.unk_id);
            off += n;
        }
    }

    const vocab& v_;
    const pre_family& family_;
    const bool ignore_merges_;
    pre_splitter splitter_;
    std::unordered_map<std::string_view, int32_t> ids_;
    std::deque<std::string> extra_;  // texts merges name that are not tokens (stable addresses)
    std::unordered_map<uint64_t, merge_rule> merges_;
    int32_t byte_ids_[256];
};

}  // namespace

std::unique_ptr<text_segmenter> bpe_segmenter_create(const vocab& v) { return std::make_unique<bpe_segmenter>(v); }

}  // namespace kiln

// Sentencepiece-style BPE: the text, spaces written as U+2581, starts as one
// symbol per UTF-8 character; the adjacent pair whose concatenation is the
// highest-scoring token (leftmost on ties) is merged until no pair forms a
// token. A priority queue of candidate pairs keeps this O(n log n). Symbols
// that are not tokens fall back to their `<0xXX>` byte tokens.
#include <algorithm>
#include <queue>
#include <string>
#include <unordered_map>

#include "core/error.h"
#include "tokenizer/segmenter.h"
#include "tokenizer/unicode_utf8.h"

namespace kiln {

namespace {

constexpr std::string_view space_marker = "\xE2\x96\x81";  // U+2581, sentencepiece's visible space

class spm_segmenter final : public text_segmenter {
public:
    explicit spm_segmenter(const vocab& v) : v_(v) {
        std::fill(std::begin(byte_ids_), std::end(byte_ids_), -1);
        for (int32_t id = 0; id < v.size(); ++id) {
            const std::string& text = v.tokens[static_cast<size_t>(id)];
            switch (v.type_of(id)) {
                // Texts the merges may produce. Unused tokens can form but are
                // split back into the pieces they were merged from.
                case token_type::undefined:
                case token_type::normal:
                case token_type::user_defined:
                case token_type::unused:
                    if (!text.empty()) {
                        pieces_.emplace(std::string_view(text), id);  // first id wins on duplicate texts
                        max_piece_len_ = std::max(max_piece_len_, text.size());
                    }
                    break;
                case token_type::byte: {
                    const int b = byte_token_value(text);
                    if (b >= 0 && byte_ids_[b] < 0) byte_ids_[b] = id;
                    break;
                }
                case token_type::unknown:
                    if (unk_id_ < 0) unk_id_ = id;
                    break;
                case token_type::control: break;
            }
        }
        if (v.unk_id >= 0) unk_id_ = v.unk_id;
    }

    void encode(std::string_view text, bool starts_text, std::vector<int32_t>& out) const override {
        std::string s;
        s.reserve(text.size() + 8);
        if (starts_text && v_.add_space_prefix) s += space_marker;
        for (char c : text) {
            if (c == ' ') s += space_marker;
            else s += c;
        }
        if (s.empty()) return;
        run(s, out);
    }

private:
    struct symbol {
        uint32_t off, n;  // bytes [off, off + n) of the text; n == 0 once merged into its left neighbour
        int32_t prev, next;
    };
    struct pair_candidate {
        float score;
        int32_t left, right;
        uint32_t size;  // bytes of the concatenation when the pair was queued
    };
    struct lower_priority {
        bool operator()(const pair_candidate& a, const pair_candidate& b) const {
            return a.score < b.score || (a.score == b.score && a.left > b.left);
        }
    };
    using pair_queue = std::priority_queue<pair_candidate, std::vector<pair_candidate>, lower_priority>;

    int32_t piece_id(std::string_view text) const {
        if (text.size() > max_piece_len_) return -1;
        auto it = pieces_.find(text);
        return it == pieces_.end() ? -1 : it->second;
    }

    void queue_pair(const std::string& s, const std::vector<symbol>& sym, int32_t l, int32_t r, pair_queue& q) const {
        if (l < 0 || r < 0) return;
        const uint32_t size = sym[l].n + sym[r].n;
        const int32_t id = piece_id(std::string_view(s).substr(sym[l].off, size));
        if (id < 0) return;
        q.push({v_.scores[static_cast<size_t>(id)], l, r, size});
    }

    void run(const std::string& s, std::vector<int32_t>& out) const {
        std::vector<symbol> sym;
        sym.reserve(s.size());
        for (size_t off = 0; off < s.size();) {
            // A malformed byte is a symbol of its own (it then falls back to its byte token), so it
            // never swallows the characters after it.
            const size_t n = std::max<size_t>(1, utf8_valid_len(std::string_view(s).substr(off)));
            const auto i = static_cast<int32_t>(sym.size());
            sym.push_back({static_cast<uint32_t>(off), static_cast<uint32_t>(n), i - 1, -1});
            if (i > 0) sym[i - 1].next = i;
            off += n;
        }

        pair_queue q;
        for (int32_t i = 0; i + 1 < static_cast<int32_t>(sym.size()); ++i) queue_pair(s, sym, i, i + 1, q);

        // Where each merged unused token splits, keyed by (offset, length).
        std::unordered_map<uint64_t, uint32_t> unused_splits;
        while (!q.empty()) {
            const pair_candidate c = q.top();
            q.pop();
            symbol& left = sym[c.left];
            symbol& right = sym[c.right];
            // A symbol only grows or empties, so a size mismatch means the pair is stale.
            if (left.n == 0 || right.n == 0 || left.n + right.n != c.size) continue;
            const uint32_t left_n = left.n;
            left.n += right.n;
            right.n = 0;
            left.next = right.next;
            if (left.next >= 0) sym[left.next].prev = c.left;
            const int32_t id = piece_id(std::string_view(s).substr(left.off, left.n));
            if (id >= 0 && v_.type_of(id) == token_type::unused) unused_splits[key(left.off, left.n)] = left_n;
            queue_pair(s, sym, left.prev, c.left, q);
            queue_pair(s, sym, c.left, left.next, q);
        }

        for (int32_t i = 0; i >= 0; i = sym[i].next) emit(s, sym[i].off, sym[i].n, unused_splits, out);
    }

    static uint64_t key(uint32_t off, uint32_t n) { return (uint64_t{off} << 32) | n; }

    void emit(const std::string& s, uint32_t off, uint32_t n, const std::unordered_map<uint64_t, uint32_t>& splits,
              std::vector<int32_t>& out) const {
        const int32_t id = piece_id(std::string_view(s).substr(off, n));
        if (id >= 0 && v_.type_of(id) != token_type::unused) {
            out.push_back(id);
            return;
        }
        if (id >= 0) {
            auto it = splits.find(key(off, n));
            if (it != splits.end()) {
                emit(s, off, it->second, splits, out);
                emit(s, off + it->second, n - it->second, splits, out);
                return;
            }
        }
        byte_fallback(s, off, n, out);
    }

    // One character the vocabulary lacks: its bytes as byte tokens, or the unknown token.
    void byte_fallback(const std::string& s, uint32_t off, uint32_t n, std::vector<int32_t>& out) const {
        bool all_bytes = true;
        for (uint32_t i = 0; i < n; ++i) all_bytes &= byte_ids_[static_cast<unsigned char>(s[off + i])] >= 0;
        if (all_bytes) {
            for (uint32_t i = 0; i < n; ++i) out.push_back(byte_ids_[static_cast<unsigned char>(s[off + i])]);
            return;
        }
        if (unk_id_ < 0) {
            fail("cannot encode '{}': the vocabulary has neither byte tokens for it nor an unknown token",
                 s.substr(off, n));
        }
        out.push_back(unk_id_);
    }

    const vocab& v_;
    std::unordered_map<std::string_view, int32_t> pieces_;
    size_t max_piece_len_ = 0;
    int32_t byte_ids_[256];
    int32_t unk_id_ = -1;
};

}  // namespace

std::unique_ptr<text_segmenter> spm_segmenter_create(const vocab& v) { return std::make_unique<spm_segmenter>(v); }

}  // namespace kiln

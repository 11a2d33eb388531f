// N-gram (prompt lookup) drafting: find the most recent earlier place where the
// last n tokens occurred (longest n first) and propose what followed there. An
// incremental hash index maps each n-gram to the position it last ended at, so
// each new token costs O(n_max) and a lookup O(n_max); the history is never
// rescanned (except once after a rewind).
#include <algorithm>
#include <unordered_map>

#include "core/error.h"
#include "spec/drafter.h"

namespace kiln {

namespace {

uint64_t mix(uint64_t h, uint64_t v) {
    h ^= v + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
    h *= 0xBF58476D1CE4E5B9ull;
    return h ^ (h >> 31);
}

class lookup_drafter final : public drafter {
public:
    lookup_drafter(int n_min, int n_max) : n_min_(n_min), n_max_(n_max) {}

    std::string name() const override { return "n-gram lookup"; }
    double cost_per_token() const override { return 0.01; }

    void rewind(int n) override {
        if (n < static_cast<int>(hist_.size())) {
            // Entries may point into the cut part: rebuild from the kept tokens on the next proposal.
            hist_.resize(static_cast<size_t>(std::max(n, 0)));
            index_.clear();
            indexed_ = 0;
        }
    }

    void propose(const std::vector<int32_t>& history, int k, draft& out) override {
        if (history.size() < hist_.size() || (!hist_.empty() && history[hist_.size() - 1] != hist_.back())) rewind(0);
        hist_.insert(hist_.end(), history.begin() + static_cast<std::ptrdiff_t>(hist_.size()), history.end());
        const int n = static_cast<int>(hist_.size());
        // Index every n-gram that ends before the last token (so that a continuation exists).
        for (; indexed_ < n - 1; ++indexed_) {
            uint64_t h = 0;
            for (int len = 1; len <= n_max_ && indexed_ - len + 1 >= 0; ++len) {
                h = mix(h, static_cast<uint32_t>(hist_[static_cast<size_t>(indexed_ - len + 1)]));
                if (len >= n_min_) index_[mix(h, static_cast<uint64_t>(len))] = indexed_;
            }
        }
        // The suffix's hashes for every length, then the longest one that occurred before.
        uint64_t hs[64];
        uint64_t h = 0;
        int max_len = std::min(n_max_, n - 1);
        for (int len = 1; len <= max_len; ++len) {
            h = mix(h, static_cast<uint32_t>(hist_[static_cast<size_t>(n - len)]));
            hs[len] = mix(h, static_cast<uint64_t>(len));
        }
        for (int len = max_len; len >= n_min_; --len) {
            const auto it = index_.find(hs[len]);
            if (it == index_.end()) continue;
            const int e = it->second;
            if (!same(e, n - 1, len)) continue;  // a hash collision
            // Continue from e+1; past the end of history the continuation reads the draft itself,
            // which extends a periodic text by whole periods.
            for (int j = 0; j < k; ++j) {
                const int idx = e + 1 + j;
                out.tokens.push_back(idx < n ? hist_[static_cast<size_t>(idx)] : out.tokens[static_cast<size_t>(idx - n)]);
            }
            return;
        }
    }

private:
    bool same(int end_a, int end_b, int len) const {
        for (int i = 0; i < len; ++i) {
            if (hist_[static_cast<size_t>(end_a - i)] != hist_[static_cast<size_t>(end_b - i)]) return false;
        }
        return true;
    }
    int n_min_, n_max_;
    std::vector<int32_t> hist_;
    std::unordered_map<uint64_t, int> index_;
    int indexed_ = 0;  // n-grams ending at positions < indexed_ are in index_
};

}  // namespace

std::unique_ptr<drafter> drafter_lookup_create(int n_min, int n_max) {
    if (n_max < 1 || n_max > 32) fail("--lookup-n {} is out of range [1, 32]", n_max);
    if (n_min < 1 || n_min > n_max) fail("lookup: shortest n-gram {} must be in [1, {}]", n_min, n_max);
    return std::make_unique<lookup_drafter>(n_min, n_max);
}

}  // namespace kiln

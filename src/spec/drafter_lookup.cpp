// N-gram (prompt lookup) drafting with statistics and a calibrated confidence.
//
// Every n-gram of the committed text (n = 1..n_max) records which tokens followed
// it, how often, and where last. A proposal takes the longest suffix of the text
// seen before and its most frequent continuation (the most recent on a tie), then
// continues from the draft itself, so a periodic text is drafted whole periods
// ahead. n-grams shorter than n_min are used only when their statistics are
// strong (seen at least twice, two thirds agreeing).
//
// Each proposed token carries an estimate of the chance it is right, from a small
// table of hit rates keyed by how far back the context matches the occurrence it
// copies (match length, up to 32) and how well earlier occurrences agree. The
// table learns on EVERY committed token: before a token is indexed, the drafter
// predicts it and scores the prediction. That is exactly the acceptance of a
// draft token whose predecessors were accepted (greedy; with sampling, its
// expectation), it costs O(n_max) per token, and it keeps learning while
// nothing is drafted, so a text that starts repeating late is noticed at once.
// The state is a function of the committed tokens alone (deterministic; a
// rewind rebuilds it from the kept tokens).
#include <algorithm>
#include <array>
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

constexpr int max_match = 32;   // match lengths are measured up to this many tokens
constexpr int n_conts = 4;      // continuations remembered per n-gram (the rarest one is replaced)
constexpr int n_len_classes = 9;
constexpr int n_agree_classes = 3;
constexpr double calib_decay = 0.97;  // per observation of a class: recent text weighs more
constexpr double prior_weight = 4.0;  // the prior counts as this many observations
constexpr int max_n = 32;

// Match length classes: 1, 2, 3, 4, 5-6, 7-8, 9-12, 13-16, 17+.
int length_class(int len) {
    static constexpr int upper[n_len_classes - 1] = {1, 2, 3, 4, 6, 8, 12, 16};
    for (int c = 0; c < n_len_classes - 1; ++c) {
        if (len <= upper[c]) return c;
    }
    return n_len_classes - 1;
}

// Before anything is observed: longer matches and agreeing occurrences predict better (the shape
// measured on stories260K's greedy text; the learned rates replace it within a few dozen tokens).
double prior_hit_rate(int len_class, int agree_class) {
    static constexpr double by_len[n_len_classes] = {0.2, 0.4, 0.55, 0.65, 0.72, 0.8, 0.85, 0.9, 0.93};
    static constexpr double by_agree[n_agree_classes] = {1.0, 0.85, 0.6};
    return by_len[len_class] * by_agree[agree_class];
}

struct continuation {
    int32_t token = -1;
    int32_t count = 0;
    int32_t last = -1;  // position of the latest occurrence of this token after the n-gram
};

struct ngram_stats {
    std::array<continuation, n_conts> c;
    int32_t total = 0;
};

struct prediction {
    int32_t token = -1;
    int klass = -1;  // calibration class; -1: nothing to propose
};

class lookup_drafter final : public drafter {
public:
    lookup_drafter(int n_min, int n_max) : n_min_(n_min), n_max_(n_max) { reset(); }

    std::string name() const override { return "n-gram lookup"; }
    double cost_per_token() const override { return 0.01; }
    bool calibrated() const override { return true; }

    void rewind(int n) override {
        // The statistics and their calibration cover the cut part: rebuild from the kept tokens
        // (deterministically the same state as if the cut part had never been seen).
        if (n < static_cast<int>(hist_.size())) {
            hist_.resize(static_cast<size_t>(std::max(n, 0)));
            const std::vector<int32_t> kept = std::move(hist_);
            reset();
            catch_up(kept);
        }
    }

    void propose(const std::vector<int32_t>& history, int k, draft& out) override {
        if (history.size() < hist_.size() || (!hist_.empty() && history[hist_.size() - 1] != hist_.back())) rewind(0);
        catch_up(history);
        const int n = static_cast<int>(hist_.size());
        draft_.clear();
        double all_right = 1.0;
        for (int j = 0; j < k; ++j) {
            const prediction pr = predict(n + j);
            if (pr.klass < 0) break;
            const double p = hit_rate(pr.klass);
            draft_.push_back(pr.token);
            out.tokens.push_back(pr.token);
            out.p.push_back(static_cast<float>(p));
            all_right *= p;
            if (all_right < 0.02) break;  // nothing further can pay for its verification
        }
    }

private:
    void reset() {
        hist_.clear();
        index_.clear();
        hits_.fill(0.0);
        seen_.fill(0.0);
    }

    // The token at position i of the history followed by the current draft.
    int32_t at(int i) const {
        const int n = static_cast<int>(hist_.size());
        return i < n ? hist_[static_cast<size_t>(i)] : draft_[static_cast<size_t>(i - n)];
    }

    // Appends the new committed tokens: each is first predicted from the text before it (scoring
    // the calibration table), then recorded as the continuation of the n-grams ending before it.
    void catch_up(const std::vector<int32_t>& history) {
        for (size_t i = hist_.size(); i < history.size(); ++i) {
            const int32_t t = history[i];
            const int pos = static_cast<int>(i);
            if (pos > 0) {
                const prediction pr = predict(pos);
                if (pr.klass >= 0) {
                    hits_[static_cast<size_t>(pr.klass)] = hits_[static_cast<size_t>(pr.klass)] * calib_decay + (pr.token == t);
                    seen_[static_cast<size_t>(pr.klass)] = seen_[static_cast<size_t>(pr.klass)] * calib_decay + 1.0;
                }
            }
            uint64_t h = 0;
            for (int len = 1; len <= n_max_ && pos - len >= 0; ++len) {
                h = mix(h, static_cast<uint32_t>(hist_[static_cast<size_t>(pos - len)]));
                record(index_[mix(h, static_cast<uint64_t>(len))], t, pos);
            }
            hist_.push_back(t);
        }
    }

    static void record(ngram_stats& s, int32_t t, int32_t pos) {
        ++s.total;
        continuation* slot = nullptr;
        for (continuation& c : s.c) {
            if (c.token == t) {
                slot = &c;
                break;
            }
        }
        if (!slot) {
            // A new continuation takes an empty place, or the rarest (the oldest of equals).
            slot = &s.c[0];
            for (continuation& c : s.c) {
                if (c.count < slot->count || (c.count == slot->count && c.last < slot->last)) slot = &c;
            }
            *slot = continuation{t, 0, pos};
        }
        ++slot->count;
        slot->last = pos;
    }

    // What follows the first n tokens of history+draft, by the longest n-gram seen before.
    prediction predict(int n) const {
        uint64_t hs[max_n + 1];
        uint64_t h = 0;
        const int longest = std::min(n_max_, n);
        for (int len = 1; len <= longest; ++len) {
            h = mix(h, static_cast<uint32_t>(at(n - len)));
            hs[len] = mix(h, static_cast<uint64_t>(len));
        }
        for (int len = longest; len >= 1; --len) {
            const auto it = index_.find(hs[len]);
            if (it == index_.end()) continue;
            const ngram_stats& s = it->second;
            const continuation* best = &s.c[0];
            for (const continuation& c : s.c) {
                if (c.count > best->count || (c.count == best->count && c.last > best->last)) best = &c;
            }
            // How far back the text matches at the best continuation's latest occurrence; shorter
            // than len means a hash collision.
            int match = 0;
            while (match < max_match && best->last - 1 - match >= 0 && at(best->last - 1 - match) == at(n - 1 - match)) ++match;
            if (match < len) continue;
            const bool agree = best->count == s.total;
            if (len < n_min_ && !(best->count >= 2 && 3 * best->count >= 2 * s.total)) continue;
            const int agree_class = agree ? (best->count >= 2 ? 0 : 1) : 2;
            return {best->token, length_class(match) * n_agree_classes + agree_class};
        }
        return {};
    }

    double hit_rate(int klass) const {
        const double prior = prior_hit_rate(klass / n_agree_classes, klass % n_agree_classes);
        return (hits_[static_cast<size_t>(klass)] + prior_weight * prior) / (seen_[static_cast<size_t>(klass)] + prior_weight);
    }

    int n_min_, n_max_;
    std::vector<int32_t> hist_;
    std::unordered_map<uint64_t, ngram_stats> index_;  // hash of (n-gram, n) -> its continuations
    std::array<double, n_len_classes * n_agree_classes> hits_{}, seen_{};  // decayed calibration counts
    std::vector<int32_t> draft_;  // the draft being built (read by at())
};

}  // namespace

std::unique_ptr<drafter> drafter_lookup_create(int n_min, int n_max) {
    if (n_max < 1 || n_max > max_n) fail("--lookup-n {} is out of range [1, {}]", n_max, max_n);
    if (n_min < 1 || n_min > n_max) fail("lookup: shortest n-gram {} must be in [1, {}]", n_min, n_max);
    return std::make_unique<lookup_drafter>(n_min, n_max);
}

}  // namespace kiln

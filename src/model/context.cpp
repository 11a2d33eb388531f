#include "model/context.h"

#include <algorithm>

#include "core/error.h"

namespace kiln {

context::context(std::shared_ptr<const model> m, int n_ctx)
    : model_(std::move(m)), kv_(model_->hp, n_ctx > 0 ? n_ctx : model_->hp.n_ctx_train) {}

const std::vector<float>& context::eval(const std::vector<int32_t>& tokens, bool all_logits) {
    const int n = static_cast<int>(tokens.size());
    std::vector<int32_t> pos(tokens.size());
    std::vector<uint8_t> want(tokens.size(), all_logits ? 1 : 0);
    for (int i = 0; i < n; ++i) pos[static_cast<size_t>(i)] = kv_.n_past() + i;
    if (n > 0) want.back() = 1;
    return eval_at(tokens, pos, want);
}

const std::vector<float>& context::eval_at(const std::vector<int32_t>& tokens, const std::vector<int32_t>& pos,
                                           const std::vector<uint8_t>& want_logits) {
    return eval_at(tokens, pos, want_logits, nullptr);
}

const std::vector<float>& context::eval_at(const std::vector<int32_t>& tokens, const std::vector<int32_t>& pos,
                                           const std::vector<uint8_t>& want_logits, const uint8_t* skip_layer) {
    const size_t n = tokens.size();
    if (pos.size() != n || want_logits.size() != n) fail("eval: tokens, positions and logit flags differ in length");
    const int n_vocab = model_->hp.n_vocab;
    int n_past = kv_.n_past();
    for (size_t i = 0; i < n; ++i) {
        if (tokens[i] < 0 || tokens[i] >= n_vocab) fail("token id {} is outside the vocabulary (0..{})", tokens[i], n_vocab - 1);
        if (pos[i] < 0 || pos[i] >= kv_.n_ctx()) {
            fail("position {} is outside the context of {} tokens (use a larger -c)", pos[i], kv_.n_ctx());
        }
        if (pos[i] > n_past) fail("position {} would leave a gap in the KV cache (next free position is {})", pos[i], n_past);
        n_past = std::max(n_past, pos[i] + 1);
    }
    const size_t n_out = static_cast<size_t>(std::count_if(want_logits.begin(), want_logits.end(), [](uint8_t w) { return w != 0; }));
    logits_.resize(n_out * static_cast<size_t>(n_vocab));

    size_t done_out = 0;
    for (size_t start = 0; start < n; start += max_batch) {
        const size_t len = std::min(n - start, static_cast<size_t>(max_batch));
        batch_view b;
        b.tokens = tokens.data() + start;
        b.pos = pos.data() + start;
        b.want_logits = want_logits.data() + start;
        b.n = static_cast<int>(len);
        b.skip_layer = skip_layer;
        model_->arch->forward(*model_, kv_, scratch_, b, logits_.data() + done_out * static_cast<size_t>(n_vocab));
        done_out += static_cast<size_t>(std::count_if(b.want_logits, b.want_logits + len, [](uint8_t w) { return w != 0; }));
    }
    kv_.set_n_past(n_past);
    return logits_;
}

}  // namespace kiln

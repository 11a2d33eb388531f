// An inference context: one model, its KV cache and scratch buffers. This is
// the interface generation, speculative decoding and chat build on: evaluate
// a batch of new tokens at the next positions (prefill and decode are the same
// call), get logits for the positions asked for, truncate the cache to any
// earlier position.
#pragma once

#include <memory>
#include <vector>

#include "model/arch.h"
#include "model/forward_scratch.h"
#include "model/kv_cache.h"
#include "model/model.h"

namespace kiln {

class context {
public:
    // n_ctx <= 0 means the model's training context.
    context(std::shared_ptr<const model> m, int n_ctx);

    const model& get_model() const { return *model_; }
    int n_ctx() const { return kv_.n_ctx(); }
    int n_past() const { return kv_.n_past(); }
    int n_vocab() const { return model_->hp.n_vocab; }

    // Appends `tokens` at positions n_past, n_past+1, ... Returns logits
    // [n_out, n_vocab]: every token's when all_logits, else only the last one's.
    // Long batches are processed in chunks of max_batch tokens.
    const std::vector<float>& eval(const std::vector<int32_t>& tokens, bool all_logits = false);

    // The general form: tokens at explicit positions (each < n_ctx), logits for
    // those with want_logits set. Positions must not leave gaps in the cache.
    const std::vector<float>& eval_at(const std::vector<int32_t>& tokens, const std::vector<int32_t>& pos,
                                      const std::vector<uint8_t>& want_logits);
    // The same with some layers left out: skip_layer has n_layer entries (nonzero = skipped) or is
    // nullptr. Self-speculative drafting runs the target this way; the skipped layers' KV entries at
    // these positions are left as they were, so a later full pass must overwrite them before use.
    const std::vector<float>& eval_at(const std::vector<int32_t>& tokens, const std::vector<int32_t>& pos,
                                      const std::vector<uint8_t>& want_logits, const uint8_t* skip_layer);

    void truncate(int n_past) { kv_.truncate(n_past); }
    // The cache itself, for saving and restoring a session's keys/values (chat /save --kv).
    kv_cache& kv() { return kv_; }
    const kv_cache& kv() const { return kv_; }
    const std::vector<float>& logits() const { return logits_; }

    static constexpr int max_batch = 512;

private:
    std::shared_ptr<const model> model_;
    kv_cache kv_;
    forward_scratch scratch_;
    std::vector<float> logits_;
};

}  // namespace kiln

// One graph builder per model architecture. Each registers an arch_def: how to
// bind its tensors and how to run a forward pass over a batch.
#pragma once

#include <cstdint>
#include <string>

namespace kiln {

struct model;
class kv_cache;
struct forward_scratch;

// A batch of tokens for one forward pass: tokens[i] sits at position pos[i];
// logits are produced for the tokens with want_logits[i] != 0, in batch order.
struct batch_view {
    const int32_t* tokens = nullptr;
    const int32_t* pos = nullptr;
    const uint8_t* want_logits = nullptr;
    int n = 0;
    // Optional, n_layer entries: layers with a nonzero entry are skipped (self-speculative drafting
    // runs the model with some layers left out). Every graph builder honours it.
    const uint8_t* skip_layer = nullptr;
};

struct arch_def {
    const char* name;
    void (*bind)(model& m);
    // Writes the batch's K/V into the cache and n_wanted × n_vocab logits into `logits`.
    void (*forward)(const model& m, kv_cache& kv, forward_scratch& s, const batch_view& b, float* logits);
};

// The builder for an architecture name, or nullptr.
const arch_def* arch_find(const std::string& name);
// "llama, qwen2, ..." for error messages.
std::string arch_list();

extern const arch_def arch_llama;
extern const arch_def arch_qwen2;
extern const arch_def arch_qwen3;
extern const arch_def arch_gemma2;

}  // namespace kiln

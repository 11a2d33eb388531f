// The Qwen2 graph (Qwen 1.5, Qwen 2, Qwen 2.5): the Llama graph with biases on
// the Q, K and V projections.
#include "model/blocks.h"

namespace kiln {

namespace {

void qwen2_bind(model& m) {
    decoder_tensors want;
    want.qkv_bias = true;
    decoder_bind(m, want);
}

void qwen2_forward(const model& m, kv_cache& kv, forward_scratch& s, const batch_view& b, float* logits) {
    decoder_forward(m, kv, s, b, logits, ffn_activation::silu);
}

}  // namespace

const arch_def arch_qwen2 = {"qwen2", qwen2_bind, qwen2_forward};

}  // namespace kiln

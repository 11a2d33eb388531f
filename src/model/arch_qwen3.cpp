// The Qwen3 graph (dense models): the Llama graph with an RMSNorm over each
// head of Q and of K (weights [head_dim], shared by the heads) before RoPE, and
// no projection biases. n_head * head_dim may differ from n_embd.
#include "model/blocks.h"

namespace kiln {

namespace {

void qwen3_bind(model& m) {
    decoder_tensors want;
    want.qk_norm = true;
    decoder_bind(m, want);
}

void qwen3_forward(const model& m, kv_cache& kv, forward_scratch& s, const batch_view& b, float* logits) {
    decoder_forward(m, kv, s, b, logits, ffn_activation::silu);
}

}  // namespace

const arch_def arch_qwen3 = {"qwen3", qwen3_bind, qwen3_forward};

}  // namespace kiln

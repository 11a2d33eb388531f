// The Gemma 2 graph: embeddings scaled by sqrt(n_embd); each block is
// RMSNorm -> attention -> RMSNorm (post-attention) -> residual, then
// RMSNorm -> GELU(tanh)-gated FFN -> RMSNorm (post-FFN) -> residual.
// From metadata: the query scale (attn.scale), attention and final logit
// soft-caps, and the sliding window with the layers that use it (even layers).
// Norm weights are the multipliers themselves: Gemma's (1 + w) is folded in by
// the importers (llama.cpp's GGUF converter already stores 1 + w).
#include <cmath>

#include "model/blocks.h"

namespace kiln {

namespace {

void gemma2_bind(model& m) {
    decoder_tensors want;
    want.post_norms = true;
    decoder_bind(m, want);
}

void gemma2_forward(const model& m, kv_cache& kv, forward_scratch& s, const batch_view& b, float* logits) {
    decoder_forward(m, kv, s, b, logits, ffn_activation::gelu_tanh, std::sqrt(static_cast<float>(m.hp.n_embd)));
}

}  // namespace

const arch_def arch_gemma2 = {"gemma2", gemma2_bind, gemma2_forward};

}  // namespace kiln

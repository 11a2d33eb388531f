// The Llama graph: Llama 1/2/3, Mistral, TinyStories, SmolLM. Pre-norm blocks of
// RMSNorm -> attention (RoPE with optional Llama 3 frequency factors, grouped-query
// heads, optional sliding window) -> residual, then RMSNorm -> SwiGLU -> residual;
// final RMSNorm and output projection.
#include "model/blocks.h"

namespace kiln {

namespace {

void llama_bind(model& m) { decoder_bind(m, {}); }

void llama_forward(const model& m, kv_cache& kv, forward_scratch& s, const batch_view& b, float* logits) {
    decoder_forward(m, kv, s, b, logits, ffn_activation::silu);
}

}  // namespace

const arch_def arch_llama = {"llama", llama_bind, llama_forward};

}  // namespace kiln

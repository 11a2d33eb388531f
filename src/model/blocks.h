// The pieces every decoder-only graph builder is assembled from. A builder
// (arch_<name>.cpp) says which tensors its architecture has (decoder_bind) and
// strings the blocks together in its order; numeric hyper-parameters (RoPE
// scaling, sliding window, soft-caps, query scale) come from model_hparams,
// and optional weights (biases, q/k norms, post-norms) are applied when bound.
#pragma once

#include "model/arch.h"
#include "model/forward_scratch.h"
#include "model/kv_cache.h"
#include "model/model.h"

namespace kiln {

// Which optional tensors an architecture requires (all of them, in every layer).
struct decoder_tensors {
    bool qkv_bias = false;    // blk.N.attn_{q,k,v}.bias
    bool qk_norm = false;     // blk.N.attn_{q,k}_norm.weight [head_dim]
    bool post_norms = false;  // blk.N.post_attention_norm.weight, blk.N.post_ffw_norm.weight
};

// Binds and shape-checks the embedding, output, and every layer's tensors.
void decoder_bind(model& m, const decoder_tensors& want);

enum class ffn_activation { silu, gelu_tanh };

// Sizes the scratch buffers for a batch and writes the token embeddings, times `scale`, into s.x.
void block_embed(const model& m, forward_scratch& s, const batch_view& b, float scale = 1.0f);

// s.x += [post_norm](attention(rms_norm(s.x))): Q/K/V projections (+ biases), per-head q/k norms,
// RoPE, the layer's K/V written to the cache, attention (sliding window when the layer has one,
// logit soft-cap), output projection.
void block_attention(const model& m, int il, kv_cache& kv, forward_scratch& s, const batch_view& b);

// s.x += [post_norm](down(act(gate(h)) * up(h))), h = rms_norm(s.x).
void block_ffn(const model& m, int il, forward_scratch& s, const batch_view& b, ffn_activation act);

// Final RMSNorm and output projection of the rows whose logits are wanted, then the final
// logit soft-cap when the model has one.
void block_output(const model& m, forward_scratch& s, const batch_view& b, float* logits);

inline bool layer_skipped(const batch_view& b, int il) { return b.skip_layer && b.skip_layer[il]; }

// The pre-norm decoder stack the architectures share: embed (times embed_scale), then in each
// layer the batch does not skip, attention and FFN (with `act`), then the output.
void decoder_forward(const model& m, kv_cache& kv, forward_scratch& s, const batch_view& b, float* logits,
                     ffn_activation act, float embed_scale = 1.0f);

}  // namespace kiln

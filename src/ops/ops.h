// The operations a transformer forward pass is built from.
//
// Two implementations of each: kiln::ref (plain scalar C++, single-threaded:
// the oracle in tests) and kiln::ops (what the model calls: multithreaded over
// rows with OpenMP, and using the SIMD kernels chosen at start-up by CPUID,
// see arch/cpu_dispatch.h). Both namespaces have exactly the same functions.
//
// Conventions: activations are f32, row-major, one row per token.
// A weight matrix W [out, in] is a kiln::tensor with ne[0] = in, ne[1] = out.
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace kiln {

// Which dimensions RoPE rotates together.
enum class rope_pairing : uint32_t {
    interleaved = 0,  // (x[2i], x[2i+1]): Meta's original layout (llama2.c, GGUF llama)
    half = 1,         // (x[i], x[i + n_rot/2]): GPT-NeoX / Hugging Face layout
};

struct rope_params {
    int n_rot = 0;             // rotated dimensions per head (<= head_dim, even); the rest pass through
    float theta = 10000.0f;    // base frequency
    rope_pairing pairing = rope_pairing::interleaved;
    float freq_scale = 1.0f;   // linear position scaling (1 = none)
    // Optional per-pair divisors of the frequency (n_rot/2 values, e.g. Llama 3 scaling); nullptr = none.
    const float* freq_factors = nullptr;
};

struct attention_params {
    int n_head = 0;
    int n_head_kv = 0;         // n_head must be a multiple (grouped-query attention)
    int head_dim = 0;
    float scale = 0.0f;        // multiplies q.k; usually 1/sqrt(head_dim)
    int window = 0;            // > 0: sliding window, a token at position p sees keys at q with p - q < window
    float softcap = 0.0f;      // > 0: scaled scores s become softcap * tanh(s / softcap) before the softmax
};

#define KILN_OPS_DECLARE                                                                                         \
    /* out[t, :] = table row ids[t] converted to f32; table is [n_cols, n_rows] of any dtype. */                 \
    void get_rows(const tensor& table, const int32_t* ids, int64_t n_ids, float* out);                          \
    /* out = x / sqrt(mean(x^2) + eps) * w per row of length n; w may be nullptr (no scale). */                 \
    void rms_norm(const float* x, const float* w, float* out, int64_t n_rows, int64_t n, float eps);             \
    /* Rotates every head of x [n_tokens, n_heads * head_dim] in place; token t is at position pos[t]. */      \
    void rope(float* x, int64_t n_tokens, int n_heads, int head_dim, const int32_t* pos, const rope_params& p);  \
    /* Numerically stable softmax of one row of length n in place; -inf entries become 0. */                   \
    void softmax(float* x, int64_t n);                                                                           \
    /* x = x * sigmoid(x) */                                                                                     \
    void silu(float* x, int64_t n);                                                                              \
    /* out = silu(gate) * up (the SwiGLU gate); out may alias gate. */                                           \
    void swiglu(const float* gate, const float* up, float* out, int64_t n);                                     \
    void add(const float* a, const float* b, float* out, int64_t n);                                            \
    /* x[r, :] += bias for each of n_rows rows of length n (attention biases). */                               \
    void add_bias(float* x, const float* bias, int64_t n_rows, int64_t n);                                     \
    /* out = gelu(gate) * up with GELU's tanh approximation (Gemma's gated FFN); out may alias gate. */          \
    void geglu(const float* gate, const float* up, float* out, int64_t n);                                      \
    /* x = cap * tanh(x / cap), cap > 0 (logit soft-capping). */                                                \
    void softcap(float* x, int64_t n, float cap);                                                               \
    void mul(const float* a, const float* b, float* out, int64_t n);                                            \
    /* y [n_tokens, out] = x [n_tokens, in] . W^T, W [out, in] of any dtype; rows8: int8 kernels */           \
    void matmul(const tensor& w, const float* x, int64_t n_tokens, float* y);                                    \
    /* Causal attention over a KV cache. q [n_tokens, n_head*head_dim]; k_cache, v_cache                      \
       [n_kv, n_head_kv*head_dim] (rows 0..n_kv-1 hold positions 0..n_kv-1); token t attends to cache           \
       rows p <= pos[t]. out [n_tokens, n_head*head_dim]. */                                                     \
    void attention(const float* q, int64_t n_tokens, const int32_t* pos, const float* k_cache,                  \
                   const float* v_cache, int64_t n_kv, const attention_params& p, float* out);

namespace ref {
KILN_OPS_DECLARE
}  // namespace ref

namespace ops {
KILN_OPS_DECLARE
// ys[i] = x . ws[i]^T for n_w matrices applied to the same activations (q/k/v, gate/up): for rows8
// matrices of one row length the activations are quantized once and the products run as one
// parallel loop (fewer waits for the slower thread); the outputs are the bits ops::matmul gives.
void matmul_many(const tensor* const* ws, float* const* ys, int n_w, const float* x, int64_t n_tokens);
}  // namespace ops

#undef KILN_OPS_DECLARE

// bf16 weights with 16 or more tokens (prefill): unless exact is set (or KILN_BF16_EXACT=1),
// ops::matmul rounds the activations to bf16 once per call and multiplies bf16 x bf16 with oneDNN's
// vdpbf16ps kernels (normalized error ~1e-6 on a dot product; 2.6x the exact path measured). With
// exact, or fewer tokens, or no oneDNN: the exact path (weights widened to f32, activations
// untouched). ref::matmul is always exact. Not to be changed while a forward pass runs.
void matmul_bf16_exact_set(bool exact);
bool matmul_bf16_exact();

// Threads used by kiln::ops (OpenMP). Default: the number of physical cores.
void threads_set(int n);
int threads_get();
int threads_physical_cores();

}  // namespace kiln

// The Llama graph: Llama 1/2/3 shapes, TinyStories, SmolLM. Pre-norm blocks of
// RMSNorm -> attention (RoPE, grouped-query heads, KV cache) -> residual, then
// RMSNorm -> SwiGLU feed-forward -> residual; final RMSNorm and output projection.
#include <cmath>
#include <cstring>
#include <string>

#include "core/error.h"
#include "model/arch.h"
#include "model/forward_scratch.h"
#include "model/kv_cache.h"
#include "model/model.h"
#include "ops/ops.h"

namespace kiln {

namespace {

void llama_bind(model& m) {
    const model_hparams& hp = m.hp;
    const kiln_file& f = *m.file;
    m.tok_embd = model_bind(f, "token_embd.weight", {hp.n_embd, hp.n_vocab});
    m.output_norm = model_bind(f, "output_norm.weight", {hp.n_embd});
    if (hp.tied_output) {
        if (f.find("output.weight")) fail("{}: model.tied_output is true but 'output.weight' exists", f.name());
        m.output = m.tok_embd;
    } else {
        m.output = model_bind(f, "output.weight", {hp.n_embd, hp.n_vocab});
    }
    m.layers.resize(static_cast<size_t>(hp.n_layer));
    for (int i = 0; i < hp.n_layer; ++i) {
        const std::string p = "blk." + std::to_string(i) + ".";
        layer_weights& l = m.layers[static_cast<size_t>(i)];
        l.attn_norm = model_bind(f, p + "attn_norm.weight", {hp.n_embd});
        l.wq = model_bind(f, p + "attn_q.weight", {hp.n_embd, hp.q_dim()});
        l.wk = model_bind(f, p + "attn_k.weight", {hp.n_embd, hp.kv_dim()});
        l.wv = model_bind(f, p + "attn_v.weight", {hp.n_embd, hp.kv_dim()});
        l.wo = model_bind(f, p + "attn_output.weight", {hp.q_dim(), hp.n_embd});
        l.ffn_norm = model_bind(f, p + "ffn_norm.weight", {hp.n_embd});
        l.ffn_gate = model_bind(f, p + "ffn_gate.weight", {hp.n_embd, hp.n_ff});
        l.ffn_up = model_bind(f, p + "ffn_up.weight", {hp.n_embd, hp.n_ff});
        l.ffn_down = model_bind(f, p + "ffn_down.weight", {hp.n_ff, hp.n_embd});
    }
}

void llama_forward(const model& m, kv_cache& kv, forward_scratch& s, const batch_view& b, float* logits) {
    const model_hparams& hp = m.hp;
    const size_t n = static_cast<size_t>(b.n);
    const size_t embd = static_cast<size_t>(hp.n_embd);
    const size_t q_dim = static_cast<size_t>(hp.q_dim());
    const size_t kv_dim = static_cast<size_t>(hp.kv_dim());
    const size_t ff = static_cast<size_t>(hp.n_ff);
    forward_scratch::fit(s.x, n * embd);
    forward_scratch::fit(s.xb, n * embd);
    forward_scratch::fit(s.q, n * q_dim);
    forward_scratch::fit(s.k, n * kv_dim);
    forward_scratch::fit(s.v, n * kv_dim);
    forward_scratch::fit(s.att, n * q_dim);
    forward_scratch::fit(s.proj, n * embd);
    forward_scratch::fit(s.gate, n * ff);
    forward_scratch::fit(s.up, n * ff);

    rope_params rope;
    rope.n_rot = hp.rope_n_rot;
    rope.theta = hp.rope_theta;
    rope.pairing = hp.rope_pair;

    attention_params ap;
    ap.n_head = hp.n_head;
    ap.n_head_kv = hp.n_head_kv;
    ap.head_dim = hp.head_dim;
    ap.scale = 1.0f / std::sqrt(static_cast<float>(hp.head_dim));

    int32_t max_pos = 0;
    for (int i = 0; i < b.n; ++i) max_pos = std::max(max_pos, b.pos[i]);
    const int64_t n_kv = max_pos + 1;

    float* x = s.x.data();
    ops::get_rows(*m.tok_embd, b.tokens, b.n, x);

    for (int il = 0; il < hp.n_layer; ++il) {
        if (b.skip_layer && b.skip_layer[il]) continue;
        const layer_weights& l = m.layers[static_cast<size_t>(il)];

        // attention
        ops::rms_norm(x, l.attn_norm->data_as<float>(), s.xb.data(), b.n, hp.n_embd, hp.norm_eps);
        ops::matmul(*l.wq, s.xb.data(), b.n, s.q.data());
        ops::matmul(*l.wk, s.xb.data(), b.n, s.k.data());
        ops::matmul(*l.wv, s.xb.data(), b.n, s.v.data());
        ops::rope(s.q.data(), b.n, hp.n_head, hp.head_dim, b.pos, rope);
        ops::rope(s.k.data(), b.n, hp.n_head_kv, hp.head_dim, b.pos, rope);
        float* k_cache = kv.k(il);
        float* v_cache = kv.v(il);
        for (size_t t = 0; t < n; ++t) {
            const size_t row = static_cast<size_t>(b.pos[t]) * kv_dim;
            std::memcpy(k_cache + row, s.k.data() + t * kv_dim, kv_dim * sizeof(float));
            std::memcpy(v_cache + row, s.v.data() + t * kv_dim, kv_dim * sizeof(float));
        }
        ops::attention(s.q.data(), b.n, b.pos, k_cache, v_cache, n_kv, ap, s.att.data());
        ops::matmul(*l.wo, s.att.data(), b.n, s.proj.data());
        ops::add(x, s.proj.data(), x, static_cast<int64_t>(n * embd));

        // feed-forward (SwiGLU)
        ops::rms_norm(x, l.ffn_norm->data_as<float>(), s.xb.data(), b.n, hp.n_embd, hp.norm_eps);
        ops::matmul(*l.ffn_gate, s.xb.data(), b.n, s.gate.data());
        ops::matmul(*l.ffn_up, s.xb.data(), b.n, s.up.data());
        ops::swiglu(s.gate.data(), s.up.data(), s.gate.data(), static_cast<int64_t>(n * ff));
        ops::matmul(*l.ffn_down, s.gate.data(), b.n, s.proj.data());
        ops::add(x, s.proj.data(), x, static_cast<int64_t>(n * embd));
    }

    // Only the rows whose logits are wanted go through the final norm and the (large) output matrix.
    int n_out = 0;
    forward_scratch::fit(s.rows, n * embd);
    for (size_t t = 0; t < n; ++t) {
        if (b.want_logits && !b.want_logits[t]) continue;
        std::memcpy(s.rows.data() + static_cast<size_t>(n_out) * embd, x + t * embd, embd * sizeof(float));
        ++n_out;
    }
    if (n_out == 0) return;
    ops::rms_norm(s.rows.data(), m.output_norm->data_as<float>(), s.xb.data(), n_out, hp.n_embd, hp.norm_eps);
    ops::matmul(*m.output, s.xb.data(), n_out, logits);
}

}  // namespace

const arch_def arch_llama = {"llama", llama_bind, llama_forward};

}  // namespace kiln

#include "model/blocks.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "core/error.h"
#include "ops/ops.h"

namespace kiln {

void decoder_bind(model& m, const decoder_tensors& want) {
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
        if (want.qkv_bias) {
            l.bq = model_bind(f, p + "attn_q.bias", {hp.q_dim()});
            l.bk = model_bind(f, p + "attn_k.bias", {hp.kv_dim()});
            l.bv = model_bind(f, p + "attn_v.bias", {hp.kv_dim()});
        }
        if (want.qk_norm) {
            l.q_norm = model_bind(f, p + "attn_q_norm.weight", {hp.head_dim});
            l.k_norm = model_bind(f, p + "attn_k_norm.weight", {hp.head_dim});
        }
        if (want.post_norms) {
            l.attn_post_norm = model_bind(f, p + "post_attention_norm.weight", {hp.n_embd});
            l.ffn_post_norm = model_bind(f, p + "post_ffw_norm.weight", {hp.n_embd});
        }
    }
}

void block_embed(const model& m, forward_scratch& s, const batch_view& b, float scale) {
    const model_hparams& hp = m.hp;
    const size_t n = static_cast<size_t>(b.n);
    const size_t embd = static_cast<size_t>(hp.n_embd);
    forward_scratch::fit(s.x, n * embd);
    forward_scratch::fit(s.xb, n * embd);
    forward_scratch::fit(s.q, n * static_cast<size_t>(hp.q_dim()));
    forward_scratch::fit(s.k, n * static_cast<size_t>(hp.kv_dim()));
    forward_scratch::fit(s.v, n * static_cast<size_t>(hp.kv_dim()));
    forward_scratch::fit(s.att, n * static_cast<size_t>(hp.q_dim()));
    forward_scratch::fit(s.proj, n * embd);
    forward_scratch::fit(s.gate, n * static_cast<size_t>(hp.n_ff));
    forward_scratch::fit(s.up, n * static_cast<size_t>(hp.n_ff));
    forward_scratch::fit(s.rows, n * embd);
    ops::get_rows(*m.tok_embd, b.tokens, b.n, s.x.data());
    if (scale != 1.0f) {
        float* x = s.x.data();
        for (size_t i = 0; i < n * embd; ++i) x[i] *= scale;
    }
}

namespace {

const float* f32(const tensor* t) { return t ? t->data_as<float>() : nullptr; }

// s.x += rms_norm(s.proj) * w (or s.x += s.proj without a post-norm).
void residual_add(const model& m, const tensor* post_norm, forward_scratch& s, int n) {
    const model_hparams& hp = m.hp;
    const int64_t len = static_cast<int64_t>(n) * hp.n_embd;
    if (post_norm) {
        ops::rms_norm(s.proj.data(), f32(post_norm), s.proj.data(), n, hp.n_embd, hp.norm_eps);
    }
    ops::add(s.x.data(), s.proj.data(), s.x.data(), len);
}

}  // namespace

void block_attention(const model& m, int il, kv_cache& kv, forward_scratch& s, const batch_view& b) {
    const model_hparams& hp = m.hp;
    const layer_weights& l = m.layers[static_cast<size_t>(il)];
    const size_t n = static_cast<size_t>(b.n);
    const size_t kv_dim = static_cast<size_t>(hp.kv_dim());

    ops::rms_norm(s.x.data(), f32(l.attn_norm), s.xb.data(), b.n, hp.n_embd, hp.norm_eps);
    {
        // one pass over the three projections of the same activations (ops::matmul_many)
        const tensor* ws[3] = {l.wq, l.wk, l.wv};
        float* ys[3] = {s.q.data(), s.k.data(), s.v.data()};
        ops::matmul_many(ws, ys, 3, s.xb.data(), b.n);
    }
    if (l.bq) ops::add_bias(s.q.data(), f32(l.bq), b.n, hp.q_dim());
    if (l.bk) ops::add_bias(s.k.data(), f32(l.bk), b.n, hp.kv_dim());
    if (l.bv) ops::add_bias(s.v.data(), f32(l.bv), b.n, hp.kv_dim());
    // per-head norms: every head of every token is one row of head_dim
    const int64_t q_heads = int64_t(b.n) * hp.n_head, k_heads = int64_t(b.n) * hp.n_head_kv;
    if (l.q_norm) ops::rms_norm(s.q.data(), f32(l.q_norm), s.q.data(), q_heads, hp.head_dim, hp.norm_eps);
    if (l.k_norm) ops::rms_norm(s.k.data(), f32(l.k_norm), s.k.data(), k_heads, hp.head_dim, hp.norm_eps);

    rope_params rope;
    rope.n_rot = hp.rope_n_rot;
    rope.theta = hp.rope_theta;
    rope.pairing = hp.rope_pair;
    rope.freq_scale = hp.rope_freq_scale;
    rope.freq_factors = hp.rope_freq_factors.empty() ? nullptr : hp.rope_freq_factors.data();
    ops::rope(s.q.data(), b.n, hp.n_head, hp.head_dim, b.pos, rope);
    ops::rope(s.k.data(), b.n, hp.n_head_kv, hp.head_dim, b.pos, rope);

    float* k_cache = kv.k(il);
    float* v_cache = kv.v(il);
    int32_t max_pos = 0;
    for (size_t t = 0; t < n; ++t) {
        const size_t row = static_cast<size_t>(b.pos[t]) * kv_dim;
        std::memcpy(k_cache + row, s.k.data() + t * kv_dim, kv_dim * sizeof(float));
        std::memcpy(v_cache + row, s.v.data() + t * kv_dim, kv_dim * sizeof(float));
        max_pos = std::max(max_pos, b.pos[t]);
    }

    attention_params ap;
    ap.n_head = hp.n_head;
    ap.n_head_kv = hp.n_head_kv;
    ap.head_dim = hp.head_dim;
    ap.scale = hp.attn_scale;
    ap.window = hp.sliding_layers[static_cast<size_t>(il)] ? hp.sliding_window : 0;
    ap.softcap = hp.attn_softcap;
    ops::attention(s.q.data(), b.n, b.pos, k_cache, v_cache, int64_t(max_pos) + 1, ap, s.att.data());
    ops::matmul(*l.wo, s.att.data(), b.n, s.proj.data());
    residual_add(m, l.attn_post_norm, s, b.n);
}

void block_ffn(const model& m, int il, forward_scratch& s, const batch_view& b, ffn_activation act) {
    const model_hparams& hp = m.hp;
    const layer_weights& l = m.layers[static_cast<size_t>(il)];
    const int64_t n_ff = static_cast<int64_t>(b.n) * hp.n_ff;
    ops::rms_norm(s.x.data(), f32(l.ffn_norm), s.xb.data(), b.n, hp.n_embd, hp.norm_eps);
    {
        const tensor* ws[2] = {l.ffn_gate, l.ffn_up};
        float* ys[2] = {s.gate.data(), s.up.data()};
        ops::matmul_many(ws, ys, 2, s.xb.data(), b.n);
    }
    if (act == ffn_activation::silu) {
        ops::swiglu(s.gate.data(), s.up.data(), s.gate.data(), n_ff);
    } else {
        ops::geglu(s.gate.data(), s.up.data(), s.gate.data(), n_ff);
    }
    ops::matmul(*l.ffn_down, s.gate.data(), b.n, s.proj.data());
    residual_add(m, l.ffn_post_norm, s, b.n);
}

void block_output(const model& m, forward_scratch& s, const batch_view& b, float* logits) {
    const model_hparams& hp = m.hp;
    const size_t embd = static_cast<size_t>(hp.n_embd);
    // Only the rows whose logits are wanted go through the final norm and the (large) output matrix.
    int n_out = 0;
    for (size_t t = 0; t < static_cast<size_t>(b.n); ++t) {
        if (b.want_logits && !b.want_logits[t]) continue;
        std::memcpy(s.rows.data() + static_cast<size_t>(n_out) * embd, s.x.data() + t * embd, embd * sizeof(float));
        ++n_out;
    }
    if (n_out == 0) return;
    ops::rms_norm(s.rows.data(), f32(m.output_norm), s.xb.data(), n_out, hp.n_embd, hp.norm_eps);
    ops::matmul(*m.output, s.xb.data(), n_out, logits);
    if (hp.final_softcap > 0.0f) ops::softcap(logits, static_cast<int64_t>(n_out) * hp.n_vocab, hp.final_softcap);
}

void decoder_forward(const model& m, kv_cache& kv, forward_scratch& s, const batch_view& b, float* logits,
                     ffn_activation act, float embed_scale) {
    block_embed(m, s, b, embed_scale);
    for (int il = 0; il < m.hp.n_layer; ++il) {
        if (layer_skipped(b, il)) continue;
        block_attention(m, il, kv, s, b);
        block_ffn(m, il, s, b, act);
    }
    block_output(m, s, b, logits);
}

}  // namespace kiln

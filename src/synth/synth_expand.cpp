#include "synth/synth_expand.h"

#include <cmath>
#include <memory>
#include <vector>

#include "core/convert_row.h"
#include "core/error.h"
#include "model/hparams.h"
#include "synth/synth_model.h"
#include "synth/synth_tensor.h"

namespace kiln {

namespace {

using matrix = std::shared_ptr<const std::vector<float>>;

// A small-model tensor in f32 (row-major, ne[0] per row).
matrix read_f32(const source_model& m, const std::string& name, int64_t ne0, int64_t ne1) {
    const source_tensor* t = m.find(name);
    if (!t) fail("--expand: the small model has no tensor '{}'", name);
    if (t->ne[0] != ne0 || t->ne[1] * t->ne[2] * t->ne[3] != ne1) {
        fail("--expand: tensor '{}' is [{}, {}], expected [{}, {}]", name, t->ne[0], t->ne[1], ne0, ne1);
    }
    if (t->layout != tensor_layout::plain) fail("--expand: tensor '{}' is row-interleaved; expand an unquantized model", name);
    std::vector<uint8_t> raw(t->n_bytes());
    t->read_into(raw.data());
    auto out = std::make_shared<std::vector<float>>(static_cast<size_t>(ne0 * ne1));
    const size_t row_bytes = dtype_row_bytes(t->type, ne0);
    for (int64_t r = 0; r < ne1; ++r) row_to_f32(t->type, raw.data() + r * row_bytes, out->data() + r * ne0, ne0);
    return out;
}

double rms_of(const std::vector<float>& v) {
    double s = 0;
    for (float x : v) s += double(x) * x;
    return v.empty() ? 0.0 : std::sqrt(s / double(v.size()));
}

double mean_of(const std::vector<float>& v) {
    double s = 0;
    for (float x : v) s += x;
    return v.empty() ? 0.0 : s / double(v.size());
}

// Where the small model's heads and head dimensions go in the large one.
struct head_map {
    std::vector<int> q_src;   // large query head -> small query head, -1 for a new (zero) head
    std::vector<int> kv_src;  // large KV head -> small KV head, -1 for an unused one
    std::vector<int> d_src;   // large in-head dimension -> small in-head dimension, -1 for padding
};

// Small KV group j (its G query heads) takes ceil(G / G') consecutive large KV groups, filling up
// to G' query slots of each; the large groups' KV heads copy small KV head j. Every large query
// head then reads the KV head that its small counterpart read.
head_map map_heads(const model_hparams& s, const synth_shape& b, rope_pairing pairing) {
    const int g_small = s.n_head / s.n_head_kv, g_big = b.n_head / b.n_head_kv;
    const int per_group = (g_small + g_big - 1) / g_big;
    if (s.n_head_kv * per_group > b.n_head_kv) {
        fail("--expand: the target's {} KV heads (groups of {} query heads) cannot hold the small model's {} KV "
             "heads with {} query heads each (needs at least {} KV heads)",
             b.n_head_kv, g_big, s.n_head_kv, g_small, s.n_head_kv * per_group);
    }
    head_map hm;
    hm.q_src.assign(static_cast<size_t>(b.n_head), -1);
    hm.kv_src.assign(static_cast<size_t>(b.n_head_kv), -1);
    int next = 0;
    for (int j = 0; j < s.n_head_kv; ++j) {
        for (int done = 0; done < g_small; ++next) {
            hm.kv_src[static_cast<size_t>(next)] = j;
            for (int slot = 0; slot < g_big && done < g_small; ++slot, ++done) {
                hm.q_src[static_cast<size_t>(next * g_big + slot)] = j * g_small + done;
            }
        }
    }
    // RoPE pairs must stay pairs: interleaved pairs (2i, 2i+1) keep their index; half pairs
    // (i, i + hd/2) move their second member to i + hd'/2.
    hm.d_src.assign(static_cast<size_t>(b.head_dim), -1);
    const int hd = s.head_dim, hdb = b.head_dim;
    for (int k = 0; k < hd; ++k) {
        const int dst = pairing == rope_pairing::interleaved || k < hd / 2 ? k : hdb / 2 + (k - hd / 2);
        hm.d_src[static_cast<size_t>(dst)] = k;
    }
    return hm;
}

}  // namespace

source_model synth_expand(const source_model& small, const std::string& small_name, const synth_expand_options& o) {
    const model_hparams s = hparams_from_metadata(small.meta, small_name);
    synth_shape b = o.shape;
    b.n_vocab = s.n_vocab;  // the drafter and the expanded model share the small model's vocabulary
    synth_shape_check(b, dtype_info(o.type).block_size);

    if (s.arch != "llama") fail("--expand: {} is a '{}' model; only llama models can be expanded", small_name, s.arch);
    if (s.rope_n_rot != s.head_dim) fail("--expand: {} rotates {} of {} head dimensions; only full RoPE is supported", small_name, s.rope_n_rot, s.head_dim);
    for (const char* key : {"rope.freq_scale", "rope.freq_factors", "attn.scale", "attn.sliding_window",
                            "attn.logit_softcap", "model.final_logit_softcap"}) {
        if (small.meta.has(key)) fail("--expand: {} has metadata {}, which --expand does not carry over", small_name, key);
    }
    struct dim { const char* what; int small, big; };
    const dim dims[] = {{"width (--dim)", s.n_embd, b.n_embd}, {"layers", s.n_layer, b.n_layer},
                        {"query heads", s.n_head, b.n_head},  {"head width (--dim/--heads)", s.head_dim, b.head_dim},
                        {"feed-forward width (--ffn)", s.n_ff, b.n_ff}};
    for (const auto& d : dims) {
        if (d.big < d.small) fail("--expand: the target's {} {} is smaller than the small model's {}", d.what, d.big, d.small);
    }
    const head_map hm = map_heads(s, b, s.rope_pair);

    const int64_t d = s.n_embd, D = b.n_embd, hd = s.head_dim, hdb = b.head_dim, F = s.n_ff, Fb = b.n_ff, V = s.n_vocab;
    const int64_t kv_s = int64_t(s.n_head_kv) * hd, q_s = int64_t(s.n_head) * hd;
    const int64_t kv_b = int64_t(b.n_head_kv) * hdb, q_b = int64_t(b.n_head) * hdb;
    // RMSNorm over the padded width: mean(x^2) shrinks by d/D, so the weights shrink by sqrt(d/D)
    // and eps by d/D; the normalized values the small model saw are then reproduced exactly.
    const float norm_scale = static_cast<float>(std::sqrt(double(d) / double(D)));
    // Scores are scaled by 1/sqrt(head width): the wider heads need q larger by sqrt(hd'/hd).
    const float q_scale = static_cast<float>(std::sqrt(double(hdb) / double(hd)));

    source_model m;
    m.meta = small.meta;
    for (const char* k : {"model.name", "provenance.dtype"}) m.meta.erase(k);
    synth_shape sh = b;
    sh.arch = "llama";  // the small model's graph, whatever the shape's original architecture
    sh.tied_output = s.tied_output;
    sh.n_ctx_train = s.n_ctx_train;
    sh.norm_eps = double(s.norm_eps) * double(d) / double(D);
    // Pair i rotates at theta^(-2i/hd) in the small model and theta'^(-2i/hd') in the large one.
    sh.rope_theta = std::pow(double(s.rope_theta), double(hdb) / double(hd));
    synth_shape_to_metadata(sh, m.meta);
    m.meta.set_str("rope.pairing", s.rope_pair == rope_pairing::interleaved ? "interleaved" : "half");
    m.meta.set_str("model.name", small_name + " expanded to " + b.name);
    m.meta.set_str("provenance.source_format", "synth");
    m.meta.set_str("provenance.source", "expand " + small_name + ", shape " + b.name + ", noise " +
                                            std::to_string(o.noise) + ", seed " + std::to_string(o.seed));
    m.meta.set_str("provenance.dtype", dtype_name(o.type));

    const dtype type = synth_generation_type(o.type);
    const double noise = o.noise;
    const uint64_t seed = o.seed;
    // A matrix [ne0, ne1] of the large model: rows from `body`, plus noise of `ref_rms` * noise.
    auto matrix_tensor = [&](const std::string& name, int64_t ne0, int64_t ne1, double ref_rms,
                             std::function<void(int64_t, float*)> body) {
        const uint64_t stream = synth_stream(seed, name);
        const float sd = static_cast<float>(noise * ref_rms);
        return synth_tensor(name, 2, ne0, ne1, type, [=](int64_t r, float* out) {
            body(r, out);
            if (sd == 0.0f) return;
            const uint64_t base = static_cast<uint64_t>(r) * static_cast<uint64_t>(ne0);
            for (int64_t i = 0; i < ne0; ++i) out[i] += sd * synth_normal(stream, base + static_cast<uint64_t>(i));
        });
    };
    // Row r of a small [d, rows] matrix in the first d columns, zeros after (src_row < 0: all zero).
    auto pad_row = [d, D](const matrix& src, int64_t src_row, float scale, float* out) {
        for (int64_t i = 0; i < D; ++i) out[i] = 0.0f;
        if (src_row < 0) return;
        const float* row = src->data() + src_row * d;
        for (int64_t i = 0; i < d; ++i) out[i] = row[i] * scale;
    };
    auto norm_tensor = [&](const std::string& name, const matrix& w) {
        const float pad = static_cast<float>(w ? mean_of(*w) : 1.0) * norm_scale;
        return synth_tensor(name, 1, D, 1, dtype::f32, [=](int64_t, float* out) {
            for (int64_t i = 0; i < D; ++i) out[i] = w && i < d ? (*w)[static_cast<size_t>(i)] * norm_scale : pad;
        });
    };

    const matrix embd = read_f32(small, "token_embd.weight", d, V);
    m.tensors.push_back(matrix_tensor("token_embd.weight", D, V, rms_of(*embd),
                                      [=](int64_t r, float* out) { pad_row(embd, r, 1.0f, out); }));

    // Small layer i goes to large layer floor(i * L' / L); the others are identity blocks (zero
    // output projections). Identity blocks take their noise scale from the small model's layer 0.
    std::vector<int> layer_src(static_cast<size_t>(b.n_layer), -1);
    for (int i = 0; i < s.n_layer; ++i) layer_src[static_cast<size_t>(int64_t(i) * b.n_layer / s.n_layer)] = i;
    for (int il = 0; il < b.n_layer; ++il) {
        const int src = layer_src[static_cast<size_t>(il)];
        const std::string sp = "blk." + std::to_string(src < 0 ? 0 : src) + ".";
        const std::string p = "blk." + std::to_string(il) + ".";
        const matrix an = read_f32(small, sp + "attn_norm.weight", d, 1);
        const matrix wq = read_f32(small, sp + "attn_q.weight", d, q_s);
        const matrix wk = read_f32(small, sp + "attn_k.weight", d, kv_s);
        const matrix wv = read_f32(small, sp + "attn_v.weight", d, kv_s);
        const matrix wo = read_f32(small, sp + "attn_output.weight", q_s, d);
        const matrix fn = read_f32(small, sp + "ffn_norm.weight", d, 1);
        const matrix wg = read_f32(small, sp + "ffn_gate.weight", d, F);
        const matrix wu = read_f32(small, sp + "ffn_up.weight", d, F);
        const matrix wd = read_f32(small, sp + "ffn_down.weight", F, d);
        const bool real = src >= 0;

        m.tensors.push_back(norm_tensor(p + "attn_norm.weight", real ? an : nullptr));
        m.tensors.push_back(matrix_tensor(p + "attn_q.weight", D, q_b, rms_of(*wq), [=](int64_t r, float* out) {
            const int h = hm.q_src[static_cast<size_t>(r / hdb)], k = hm.d_src[static_cast<size_t>(r % hdb)];
            pad_row(wq, real && h >= 0 && k >= 0 ? int64_t(h) * hd + k : -1, q_scale, out);
        }));
        for (const auto& [name, w] : {std::make_pair(std::string("attn_k.weight"), wk), std::make_pair(std::string("attn_v.weight"), wv)}) {
            m.tensors.push_back(matrix_tensor(p + name, D, kv_b, rms_of(*w), [=, w = w](int64_t r, float* out) {
                const int g = hm.kv_src[static_cast<size_t>(r / hdb)], k = hm.d_src[static_cast<size_t>(r % hdb)];
                pad_row(w, real && g >= 0 && k >= 0 ? int64_t(g) * hd + k : -1, 1.0f, out);
            }));
        }
        m.tensors.push_back(matrix_tensor(p + "attn_output.weight", q_b, D, rms_of(*wo), [=](int64_t r, float* out) {
            for (int64_t c = 0; c < q_b; ++c) out[c] = 0.0f;
            if (!real || r >= d) return;
            const float* row = wo->data() + r * q_s;
            for (int64_t c = 0; c < q_b; ++c) {
                const int h = hm.q_src[static_cast<size_t>(c / hdb)], k = hm.d_src[static_cast<size_t>(c % hdb)];
                if (h >= 0 && k >= 0) out[c] = row[int64_t(h) * hd + k];
            }
        }));
        m.tensors.push_back(norm_tensor(p + "ffn_norm.weight", real ? fn : nullptr));
        for (const auto& [name, w] : {std::make_pair(std::string("ffn_gate.weight"), wg), std::make_pair(std::string("ffn_up.weight"), wu)}) {
            m.tensors.push_back(matrix_tensor(p + name, D, Fb, rms_of(*w), [=, w = w](int64_t r, float* out) {
                pad_row(w, real && r < F ? r : -1, 1.0f, out);
            }));
        }
        m.tensors.push_back(matrix_tensor(p + "ffn_down.weight", Fb, D, rms_of(*wd), [=](int64_t r, float* out) {
            for (int64_t c = 0; c < Fb; ++c) out[c] = 0.0f;
            if (!real || r >= d) return;
            for (int64_t c = 0; c < F; ++c) out[c] = (*wd)[static_cast<size_t>(r * F + c)];
        }));
    }
    m.tensors.push_back(norm_tensor("output_norm.weight", read_f32(small, "output_norm.weight", d, 1)));
    if (!s.tied_output) {
        const matrix out_w = read_f32(small, "output.weight", d, V);
        m.tensors.push_back(matrix_tensor("output.weight", D, V, rms_of(*out_w),
                                          [=](int64_t r, float* out) { pad_row(out_w, r, 1.0f, out); }));
    }
    synth_apply_type(m, o.type, o.plain_layout, o.note);
    return m;
}

}  // namespace kiln

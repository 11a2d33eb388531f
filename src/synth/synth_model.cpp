#include "synth/synth_model.h"

#include <cmath>

#include "core/error.h"
#include "formats/hf_config.h"
#include "model/arch.h"
#include "synth/synth_tensor.h"
#include "synth/synth_vocab.h"

namespace kiln {

void synth_shape_to_metadata(const synth_shape& s, metadata& m) {
    m.set_str("model.arch", s.arch);
    m.set_int("model.n_vocab", s.n_vocab);
    m.set_int("model.n_embd", s.n_embd);
    m.set_int("model.n_layer", s.n_layer);
    m.set_int("model.n_head", s.n_head);
    m.set_int("model.n_head_kv", s.n_head_kv);
    m.set_int("model.head_dim", s.head_dim);
    m.set_int("model.n_ff", s.n_ff);
    m.set_int("model.n_ctx_train", s.n_ctx_train);
    m.set_float("model.norm_eps", s.norm_eps);
    m.set_bool("model.tied_output", s.tied_output);
    m.set_float("rope.theta", s.rope_theta);
    m.set_int("rope.n_rot", s.head_dim);
    // GGUF stores llama weights for interleaved pairs and qwen2 weights for half pairs; random
    // weights work with either, so each architecture gets the pairing its GGUF files use.
    m.set_str("rope.pairing", s.arch == "qwen2" ? "half" : "interleaved");
    if (s.llama3_rope) m.set("rope.freq_factors", rope_llama3_factors(s.rope_theta, s.head_dim, 32.0, 1.0, 4.0, 8192.0));
}

source_model synth_random_model(const synth_options& o, std::string* vocab_desc) {
    const synth_shape& s = o.shape;
    synth_shape_check(s, dtype_info(o.type).block_size);
    if (s.arch != "llama" && s.arch != "qwen2") fail("--arch {}: not supported (llama, qwen2)", s.arch);
    if (!arch_find(s.arch)) fail("--arch {}: this build of kiln has no {} graph (use --arch llama)", s.arch, s.arch);

    source_model m;
    synth_shape_to_metadata(s, m.meta);
    m.meta.set_str("model.name", s.name + " (random weights)");
    m.meta.set_str("provenance.source_format", "synth");
    m.meta.set_str("provenance.source", "random, seed " + std::to_string(o.seed) + ", shape " + s.name);
    m.meta.set_str("provenance.dtype", dtype_name(o.type));
    const std::string desc = synth_vocab_fill(s.n_vocab, o.vocab, s.vocab_file, m.meta);
    if (vocab_desc) *vocab_desc = desc;

    const uint64_t seed = o.seed;
    auto random = [&](const std::string& name, int64_t ne0, int64_t ne1, float sd) {
        const uint64_t stream = synth_stream(seed, name);
        return synth_tensor(name, 2, ne0, ne1, synth_generation_type(o.type), [stream, ne0, sd](int64_t r, float* out) {
            const uint64_t base = static_cast<uint64_t>(r) * static_cast<uint64_t>(ne0);
            for (int64_t i = 0; i < ne0; ++i) out[i] = sd * synth_normal(stream, base + static_cast<uint64_t>(i));
        });
    };
    auto bias = [&](const std::string& name, int64_t n) {
        const uint64_t stream = synth_stream(seed, name);
        return synth_tensor(name, 1, n, 1, dtype::f32, [stream, n, sd = 0.02f](int64_t, float* out) {
            for (int64_t i = 0; i < n; ++i) out[i] = sd * synth_normal(stream, static_cast<uint64_t>(i));
        });
    };
    auto ones = [&](const std::string& name, int64_t n) {
        return synth_tensor(name, 1, n, 1, dtype::f32, [n](int64_t, float* out) {
            for (int64_t i = 0; i < n; ++i) out[i] = 1.0f;
        });
    };

    const float sd = 0.02f;
    const float sd_out = sd / std::sqrt(2.0f * static_cast<float>(s.n_layer));
    const int64_t e = s.n_embd, q = int64_t(s.n_head) * s.head_dim, kv = int64_t(s.n_head_kv) * s.head_dim;
    m.tensors.push_back(random("token_embd.weight", e, s.n_vocab, sd));
    for (int il = 0; il < s.n_layer; ++il) {
        const std::string p = "blk." + std::to_string(il) + ".";
        m.tensors.push_back(ones(p + "attn_norm.weight", e));
        m.tensors.push_back(random(p + "attn_q.weight", e, q, sd));
        m.tensors.push_back(random(p + "attn_k.weight", e, kv, sd));
        m.tensors.push_back(random(p + "attn_v.weight", e, kv, sd));
        if (s.arch == "qwen2") {
            m.tensors.push_back(bias(p + "attn_q.bias", q));
            m.tensors.push_back(bias(p + "attn_k.bias", kv));
            m.tensors.push_back(bias(p + "attn_v.bias", kv));
        }
        m.tensors.push_back(random(p + "attn_output.weight", q, e, sd_out));
        m.tensors.push_back(ones(p + "ffn_norm.weight", e));
        m.tensors.push_back(random(p + "ffn_gate.weight", e, s.n_ff, sd));
        m.tensors.push_back(random(p + "ffn_up.weight", e, s.n_ff, sd));
        m.tensors.push_back(random(p + "ffn_down.weight", s.n_ff, e, sd_out));
    }
    m.tensors.push_back(ones("output_norm.weight", e));
    if (!s.tied_output) m.tensors.push_back(random("output.weight", e, s.n_vocab, sd));
    synth_apply_type(m, o.type, o.plain_layout, o.note);
    return m;
}

}  // namespace kiln

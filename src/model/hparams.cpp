#include "model/hparams.h"

#include <cmath>

#include "core/error.h"

namespace kiln {

namespace {

int positive_int(const metadata& m, const std::string& key, const std::string& source, int64_t max = 1 << 24) {
    const int64_t v = m.get_int(key);
    if (v < 1 || v > max) fail("{}: metadata {} = {} is out of range [1, {}]", source, key, v, max);
    return static_cast<int>(v);
}

}  // namespace

model_hparams hparams_from_metadata(const metadata& m, const std::string& source) {
    model_hparams hp;
    try {
        hp.arch = m.get_str("model.arch");
        hp.name = m.get_str("model.name", "");
        hp.n_vocab = positive_int(m, "model.n_vocab", source, 1 << 22);
        hp.n_embd = positive_int(m, "model.n_embd", source, 1 << 17);
        hp.n_layer = positive_int(m, "model.n_layer", source, 1 << 12);
        hp.n_head = positive_int(m, "model.n_head", source, 1 << 12);
        hp.n_head_kv = m.has("model.n_head_kv") ? positive_int(m, "model.n_head_kv", source, 1 << 12) : hp.n_head;
        hp.head_dim = m.has("model.head_dim") ? positive_int(m, "model.head_dim", source, 1 << 14)
                                              : hp.n_embd / hp.n_head;
        hp.n_ff = positive_int(m, "model.n_ff", source, 1 << 20);
        hp.n_ctx_train = positive_int(m, "model.n_ctx_train", source, 1 << 24);
        hp.norm_eps = static_cast<float>(m.get_float("model.norm_eps", 1e-5));
        hp.tied_output = m.get_bool("model.tied_output", false);
        hp.rope_theta = static_cast<float>(m.get_float("rope.theta", 10000.0));
        hp.rope_n_rot = m.has("rope.n_rot") ? positive_int(m, "rope.n_rot", source, 1 << 14) : hp.head_dim;
        const std::string pairing = m.get_str("rope.pairing", "interleaved");
        if (pairing == "interleaved") hp.rope_pair = rope_pairing::interleaved;
        else if (pairing == "half") hp.rope_pair = rope_pairing::half;
        else fail("{}: metadata rope.pairing = '{}' is not one of: interleaved, half", source, pairing);
        hp.rope_freq_scale = static_cast<float>(m.get_float("rope.freq_scale", 1.0));
        if (m.has("rope.freq_factors")) hp.rope_freq_factors = m.get_f32_array("rope.freq_factors");
        const double default_scale = 1.0 / std::sqrt(static_cast<double>(hp.head_dim));
        hp.attn_scale = static_cast<float>(m.get_float("attn.scale", default_scale));
        const int64_t window = m.get_int("attn.sliding_window", 0);
        if (window < 0 || window > (int64_t(1) << 30)) {
            fail("{}: metadata attn.sliding_window = {} is out of range [0, 2^30]", source, window);
        }
        hp.sliding_window = static_cast<int>(window);
        if (m.has("attn.sliding_window_layers")) {
            const std::vector<int32_t>& flags = m.get_i32_array("attn.sliding_window_layers");
            if (flags.size() != static_cast<size_t>(hp.n_layer)) {
                fail("{}: metadata attn.sliding_window_layers has {} entries for {} layers", source, flags.size(),
                     hp.n_layer);
            }
            for (int32_t f : flags) {
                if (f != 0 && f != 1) fail("{}: metadata attn.sliding_window_layers holds {}, not 0 or 1", source, f);
                hp.sliding_layers.push_back(static_cast<uint8_t>(f));
            }
        } else {
            hp.sliding_layers.assign(static_cast<size_t>(hp.n_layer), 1);
        }
        hp.attn_softcap = static_cast<float>(m.get_float("attn.logit_softcap", 0.0));
        hp.final_softcap = static_cast<float>(m.get_float("model.final_logit_softcap", 0.0));
    } catch (const error& e) {
        // getters name the key; add the file
        if (std::string(e.what()).rfind(source, 0) == 0) throw;
        fail("{}: {}", source, e.what());
    }
    if (hp.n_head % hp.n_head_kv != 0) {
        fail("{}: model.n_head {} is not a multiple of model.n_head_kv {}", source, hp.n_head, hp.n_head_kv);
    }
    if (hp.rope_n_rot > hp.head_dim || hp.rope_n_rot % 2 != 0) {
        fail("{}: rope.n_rot {} must be even and at most head_dim {}", source, hp.rope_n_rot, hp.head_dim);
    }
    if (!(hp.norm_eps > 0.0f) || !(hp.rope_theta > 0.0f)) {
        fail("{}: model.norm_eps and rope.theta must be positive", source);
    }
    if (!hp.rope_freq_factors.empty()) {
        if (hp.rope_freq_factors.size() != static_cast<size_t>(hp.rope_n_rot / 2)) {
            fail("{}: metadata rope.freq_factors has {} entries, expected rope.n_rot / 2 = {}", source,
                 hp.rope_freq_factors.size(), hp.rope_n_rot / 2);
        }
        for (float f : hp.rope_freq_factors) {
            if (!(f > 0.0f) || std::isinf(f)) {
                fail("{}: metadata rope.freq_factors holds {}, not a positive number", source, f);
            }
        }
    }
    auto positive = [&](float v, const char* key, bool zero_ok) {
        if (std::isnan(v) || std::isinf(v) || v < 0.0f || (!zero_ok && v == 0.0f)) {
            fail("{}: metadata {} = {} must be {}", source, key, v,
                 zero_ok ? "finite and not negative" : "positive and finite");
        }
    };
    positive(hp.rope_freq_scale, "rope.freq_scale", false);
    positive(hp.attn_scale, "attn.scale", false);
    positive(hp.attn_softcap, "attn.logit_softcap", true);
    positive(hp.final_softcap, "model.final_logit_softcap", true);
    return hp;
}

}  // namespace kiln

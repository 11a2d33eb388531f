#include "model/hparams.h"

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
    return hp;
}

}  // namespace kiln

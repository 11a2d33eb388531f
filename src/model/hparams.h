// Hyper-parameters of a model, read from KILN metadata (docs/FORMAT.md).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "formats/metadata.h"
#include "ops/ops.h"

namespace kiln {

struct model_hparams {
    std::string arch;
    std::string name;
    int n_vocab = 0;
    int n_embd = 0;
    int n_layer = 0;
    int n_head = 0;
    int n_head_kv = 0;
    int head_dim = 0;
    int n_ff = 0;
    int n_ctx_train = 0;
    float norm_eps = 1e-5f;
    bool tied_output = false;
    float rope_theta = 10000.0f;
    int rope_n_rot = 0;
    rope_pairing rope_pair = rope_pairing::interleaved;
    float rope_freq_scale = 1.0f;            // rope.freq_scale (linear position scaling)
    std::vector<float> rope_freq_factors;    // rope.freq_factors: n_rot/2 divisors, or empty
    float attn_scale = 0.0f;                 // attn.scale (default 1/sqrt(head_dim))
    int sliding_window = 0;                  // attn.sliding_window, 0 = none
    std::vector<uint8_t> sliding_layers;     // n_layer flags: layer uses the sliding window
    float attn_softcap = 0.0f;               // attn.logit_softcap, 0 = none
    float final_softcap = 0.0f;              // model.final_logit_softcap, 0 = none

    int q_dim() const { return n_head * head_dim; }
    int kv_dim() const { return n_head_kv * head_dim; }
};

// Reads and checks the hyper-parameters; throws kiln::error naming the key
// that is missing or out of range. `source` names the file in messages.
model_hparams hparams_from_metadata(const metadata& m, const std::string& source);

}  // namespace kiln

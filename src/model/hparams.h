// Hyper-parameters of a model, read from KILN metadata (docs/FORMAT.md).
#pragma once

#include <string>

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

    int q_dim() const { return n_head * head_dim; }
    int kv_dim() const { return n_head_kv * head_dim; }
};

// Reads and checks the hyper-parameters; throws kiln::error naming the key
// that is missing or out of range. `source` names the file in messages.
model_hparams hparams_from_metadata(const metadata& m, const std::string& source);

}  // namespace kiln

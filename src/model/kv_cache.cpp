#include "model/kv_cache.h"

#include "core/error.h"

namespace kiln {

kv_cache::kv_cache(const model_hparams& hp, int n_ctx) : n_ctx_(n_ctx), kv_dim_(hp.kv_dim()), n_layer_(hp.n_layer) {
    if (n_ctx < 1) fail("context size {} must be at least 1", n_ctx);
    const size_t n = static_cast<size_t>(hp.n_layer) * static_cast<size_t>(n_ctx) * static_cast<size_t>(kv_dim_);
    const double gib = 2.0 * static_cast<double>(n) * sizeof(float) / (1u << 30);
    if (gib > 64.0) fail("context size {} needs a {:.1f} GiB KV cache; use a smaller -c", n_ctx, gib);
    k_.assign(n, 0.0f);
    v_.assign(n, 0.0f);
}

}  // namespace kiln

// A hook in ops::matmul that sees every weight matrix with the activations it is applied to.
// `kiln quantize --calibrate` installs one to collect per-column activation statistics (the
// importance matrix); with no observer installed the cost is one relaxed atomic load per matmul.
#pragma once

#include <cstdint>
#include <functional>

#include "core/tensor.h"

namespace kiln {

// Called on the thread that calls ops::matmul, before the product: w, x [n_tokens, w.ne[0]].
using matmul_observer_fn = std::function<void(const tensor& w, const float* x, int64_t n_tokens)>;

// Installs f (an empty function removes the observer). Not to be changed while a forward pass runs.
void matmul_observer_set(matmul_observer_fn f);
bool matmul_observer_active();
void matmul_observe(const tensor& w, const float* x, int64_t n_tokens);

// Installs an observer for the lifetime of the guard.
class matmul_observer_scope {
public:
    explicit matmul_observer_scope(matmul_observer_fn f) { matmul_observer_set(std::move(f)); }
    ~matmul_observer_scope() { matmul_observer_set({}); }
    matmul_observer_scope(const matmul_observer_scope&) = delete;
    matmul_observer_scope& operator=(const matmul_observer_scope&) = delete;
};

}  // namespace kiln

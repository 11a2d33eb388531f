#include "ops/matmul_observer.h"

#include <atomic>

namespace kiln {

namespace {

std::atomic<bool> g_active{false};
matmul_observer_fn& observer() {
    static matmul_observer_fn f;
    return f;
}

}  // namespace

void matmul_observer_set(matmul_observer_fn f) {
    g_active.store(false, std::memory_order_relaxed);
    observer() = std::move(f);
    g_active.store(static_cast<bool>(observer()), std::memory_order_release);
}

bool matmul_observer_active() { return g_active.load(std::memory_order_relaxed); }

void matmul_observe(const tensor& w, const float* x, int64_t n_tokens) {
    if (g_active.load(std::memory_order_acquire)) observer()(w, x, n_tokens);
}

}  // namespace kiln

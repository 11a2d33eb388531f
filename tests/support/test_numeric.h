// Inputs and error measures the kernel and model tests share: seeded random
// vectors, distances between a result and its oracle, and running a check once
// per kernel level the CPU supports.
#pragma once

#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "arch/cpu_dispatch.h"
#include "ops/ops.h"

namespace kiln::test {

// n values uniform in [lo, hi), the same for the same seed.
std::vector<float> random_vec(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f);

// sum((a - b)^2) / sum(b^2): 0 for equal vectors, NaN (failing every bound) if either has a NaN.
double nmse(const std::vector<float>& a, const std::vector<float>& b);

// Largest |a - b| / |b| (|b| floored at 1e-20, below which values do not matter): catches a
// few-ulp bias that a mean-square measure averages away.
double max_rel_err(const std::vector<float>& a, const std::vector<float>& b);

// Largest |a - b|.
float max_abs_diff(const float* a, const float* b, size_t n);
float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b);  // sizes must match

// Runs f (or f(isa)) once per kernel level this CPU supports (scalar included), then restores
// the active level.
template <class F>
void for_each_isa(F&& f) {
    const cpu_isa before = cpu_kernels_get().isa;
    for (cpu_isa isa : cpu_isa_supported()) {
        cpu_kernels_select(isa);
        INFO("kernels: " << std::string(cpu_isa_name(isa)));
        if constexpr (std::is_invocable_v<F&, cpu_isa>) f(isa);
        else f();
    }
    cpu_kernels_select(before);
}

// Restores the ops thread count on scope exit (for tests that change it).
struct threads_guard {
    int saved = threads_get();
    ~threads_guard() { threads_set(saved); }
};

}  // namespace kiln::test

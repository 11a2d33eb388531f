// oneDNN routes of ops::matmul, taken where they measured faster than kiln's own kernels on the
// development machine (docs/KERNELS.md): f32 weights through dnnl_sgemm and bf16 weights through a
// bf16 matmul primitive (brgemm with vdpbf16ps; the activations are rounded to bf16 once per call),
// both only for prefill-sized batches.
#include "ops/matmul_dnnl.h"

#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <stdexcept>
#include <tuple>
#include <vector>

#include "arch/cpu_dispatch.h"
#include "core/error.h"
#include "ops/ops.h"
#include "ops/thread_pool.h"

#ifdef KILN_HAVE_DNNL
#include <omp.h>

#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl.hpp>
#endif

namespace kiln::ops {

namespace {

// Below this many tokens the product is closer to a matrix-vector one, bound by reading the
// weights, and kiln's kernels (which read each weight row once per token block) are as fast.
constexpr int64_t k_dnnl_min_tokens = 16;

bool dnnl_enabled() {
    static const bool on = [] {
        const char* e = std::getenv("KILN_DNNL");
        return e == nullptr || std::string(e) != "0";
    }();
    return on;
}

#ifdef KILN_HAVE_DNNL

// Rows [r0, r1) of y [n_tokens, n_out] = x [n_tokens, k] . W^T, W [n_out, k] with row stride nb[1].
dnnl_status_t sgemm_rows(const tensor& w, const float* x, int64_t n_tokens, int64_t r0, int64_t r1, float* y) {
    const int64_t k = w.ne[0], n_out = w.ne[1], ldw = static_cast<int64_t>(w.nb[1] / sizeof(float));
    const float* wr = static_cast<const float*>(w.data) + r0 * ldw;
    return dnnl_sgemm('N', 'T', n_tokens, r1 - r0, k, 1.0f, x, k, wr, ldw, 0.0f, y + r0, n_out);
}

// Primitives are compiled (JIT) once per shape and kept: a model has a handful of matrix shapes.
struct bf16_prim {
    dnnl::matmul prim;
    dnnl::memory::desc src, wei, dst;
};

dnnl::engine& cpu_engine() {
    static dnnl::engine eng(dnnl::engine::kind::cpu, 0);
    return eng;
}

// The bf16 x bf16 -> f32 primitive for rows [r0, r1) (r1 - r0 rows of W, output columns r0.. of y).
const bf16_prim& bf16_prim_for(int64_t n_tokens, int64_t k, int64_t rows, int64_t ldw, int64_t n_out) {
    using namespace dnnl;
    static std::mutex mu;
    static std::map<std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t>, std::unique_ptr<bf16_prim>> cache;
    std::lock_guard<std::mutex> lock(mu);
    auto& slot = cache[{n_tokens, k, rows, ldw, n_out}];
    if (!slot) {
        auto p = std::make_unique<bf16_prim>();
        p->src = memory::desc({n_tokens, k}, memory::data_type::bf16, memory::format_tag::ab);
        p->wei = memory::desc({k, rows}, memory::data_type::bf16, memory::dims{1, ldw});  // W^T, rows ldw apart
        p->dst = memory::desc({n_tokens, rows}, memory::data_type::f32, memory::dims{n_out, 1});
        p->prim = dnnl::matmul(dnnl::matmul::primitive_desc(dnnl::matmul::desc(p->src, p->wei, p->dst), cpu_engine()));
        slot = std::move(p);
    }
    // Entries are never erased while the process runs (a reference may be in use on another
    // thread); a model has few shapes, and each batch size adds one per slice size.
    return *slot;
}

void bf16_rows(const tensor& w, const uint16_t* xb, int64_t n_tokens, int64_t r0, int64_t r1, float* y) {
    using namespace dnnl;
    const int64_t k = w.ne[0], n_out = w.ne[1], ldw = static_cast<int64_t>(w.nb[1] / 2);
    const bf16_prim& p = bf16_prim_for(n_tokens, k, r1 - r0, ldw, n_out);
    stream strm(cpu_engine());
    memory src_m(p.src, cpu_engine(), const_cast<uint16_t*>(xb));
    memory wei_m(p.wei, cpu_engine(), static_cast<uint16_t*>(const_cast<void*>(w.data)) + r0 * ldw);
    memory dst_m(p.dst, cpu_engine(), y + r0);
    p.prim.execute(strm, {{DNNL_ARG_SRC, src_m}, {DNNL_ARG_WEIGHTS, wei_m}, {DNNL_ARG_DST, dst_m}});
    strm.wait();
}

// Output rows per work item: whole cache lines of y, and enough rows that a slice is still a
// GEMM oneDNN blocks well.
constexpr int64_t k_dnnl_slice_align = 64;
constexpr int64_t k_dnnl_slice_min = 256;

#endif

}  // namespace

bool matmul_dnnl(const tensor& w, const float* x, int64_t n_tokens, float* y) {
#ifdef KILN_HAVE_DNNL
    if (n_tokens < k_dnnl_min_tokens || !dnnl_enabled()) return false;
    const bool f32 = w.type == dtype::f32, bf16 = w.type == dtype::bf16 && !matmul_bf16_exact();
    if (!f32 && !bf16) return false;
    if (w.nb[1] % (f32 ? sizeof(float) : 2) != 0) return false;
    const int64_t k = w.ne[0], n_out = w.ne[1];
    thread_local std::vector<uint16_t> xb;
    if (bf16) {
        if (xb.size() < static_cast<size_t>(n_tokens * k)) xb.resize(static_cast<size_t>(n_tokens * k));
        cpu_kernels_get().round_bf16(x, xb.data(), n_tokens * k);
    }
    const uint16_t* const xbp = xb.data();
    const auto run_rows = [&](int64_t r0, int64_t r1) {
        if (f32) {
            const dnnl_status_t st = sgemm_rows(w, x, n_tokens, r0, r1, y);
            if (st != dnnl_success) fail("matmul: oneDNN sgemm failed on tensor {} (status {})", w.name, static_cast<int>(st));
        } else {
            bf16_rows(w, xbp, n_tokens, r0, r1, y);
        }
    };
    const int nt = threads_get();
    try {
        if (nt <= 1 || !pool_enabled()) {
            omp_set_num_threads(nt);
            run_rows(0, n_out);
            return true;
        }
        // Threads come from kiln's pool, each slice run by oneDNN on one thread: its own OpenMP
        // team would end every call in a barrier, which a core taken by another process turns into
        // a stall (measured under load: 600 ms instead of 43 for 16 tokens of stories110M f32).
        // Several slices per thread, claimed dynamically, keep both cores busy when one is slowed.
        const int64_t per = std::max(k_dnnl_slice_min, (n_out + 4 * nt - 1) / (4 * nt));
        const int64_t rows = (per + k_dnnl_slice_align - 1) / k_dnnl_slice_align * k_dnnl_slice_align;
        const int64_t n_slices = (n_out + rows - 1) / rows;
        std::vector<std::string> errors(static_cast<size_t>(n_slices));
        pool_for(n_slices, nt, [&](int64_t i, int) {
            const int prev = omp_get_max_threads();
            omp_set_num_threads(1);
            try {
                run_rows(i * rows, std::min(n_out, (i + 1) * rows));
            } catch (const std::exception& e) {
                errors[static_cast<size_t>(i)] = e.what();  // items must not throw (ops/thread_pool.h)
            }
            omp_set_num_threads(prev);
        });
        for (const std::string& e : errors) {
            if (!e.empty()) fail("matmul: oneDNN failed on tensor {}: {}", w.name, e);
        }
        return true;
    } catch (const dnnl::error& e) {
        fail("matmul: oneDNN failed on tensor {}: {}", w.name, e.what());
    }
#else
    (void)w, (void)x, (void)n_tokens, (void)y;
    return false;
#endif
}

}  // namespace kiln::ops

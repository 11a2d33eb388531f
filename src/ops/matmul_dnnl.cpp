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
#include <tuple>
#include <vector>

#include "arch/cpu_dispatch.h"
#include "core/error.h"
#include "ops/ops.h"

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

bool sgemm(const tensor& w, const float* x, int64_t n_tokens, float* y) {
    if (w.nb[1] % sizeof(float) != 0) return false;
    const int64_t k = w.ne[0], n_out = w.ne[1];
    // Row-major: y [n_tokens, n_out] = x [n_tokens, k] . W^T, W [n_out, k] with row stride nb[1].
    const dnnl_status_t st = dnnl_sgemm('N', 'T', n_tokens, n_out, k, 1.0f, x, k, static_cast<const float*>(w.data),
                                        static_cast<int64_t>(w.nb[1] / sizeof(float)), 0.0f, y, n_out);
    if (st != dnnl_success) fail("matmul: oneDNN sgemm failed on tensor {} (status {})", w.name, static_cast<int>(st));
    return true;
}

// Primitives are compiled (JIT) once per shape and kept: a model has a handful of matrix shapes.
struct bf16_prim {
    dnnl::matmul prim;
    dnnl::memory::desc src, wei, dst;
};

bool bf16_matmul(const tensor& w, const float* x, int64_t n_tokens, float* y) {
    using namespace dnnl;
    if (w.nb[1] % 2 != 0) return false;
    const int64_t k = w.ne[0], n_out = w.ne[1], ldw = static_cast<int64_t>(w.nb[1] / 2);
    static engine eng(engine::kind::cpu, 0);
    static std::mutex mu;
    static std::map<std::tuple<int64_t, int64_t, int64_t, int64_t>, std::unique_ptr<bf16_prim>> cache;
    std::lock_guard<std::mutex> lock(mu);
    if (cache.size() > 256) cache.clear();  // many batch sizes: recompile rather than grow without bound
    auto& slot = cache[{n_tokens, k, n_out, ldw}];
    if (!slot) {
        auto p = std::make_unique<bf16_prim>();
        p->src = memory::desc({n_tokens, k}, memory::data_type::bf16, memory::format_tag::ab);
        p->wei = memory::desc({k, n_out}, memory::data_type::bf16, memory::dims{1, ldw});  // W^T, rows ldw apart
        p->dst = memory::desc({n_tokens, n_out}, memory::data_type::f32, memory::format_tag::ab);
        p->prim = dnnl::matmul(dnnl::matmul::primitive_desc(dnnl::matmul::desc(p->src, p->wei, p->dst), eng));
        slot = std::move(p);
    }
    thread_local std::vector<uint16_t> xb;
    if (xb.size() < static_cast<size_t>(n_tokens * k)) xb.resize(static_cast<size_t>(n_tokens * k));
    cpu_kernels_get().round_bf16(x, xb.data(), n_tokens * k);
    stream strm(eng);
    memory src_m(slot->src, eng, xb.data()), wei_m(slot->wei, eng, w.data), dst_m(slot->dst, eng, y);
    slot->prim.execute(strm, {{DNNL_ARG_SRC, src_m}, {DNNL_ARG_WEIGHTS, wei_m}, {DNNL_ARG_DST, dst_m}});
    strm.wait();
    return true;
}

#endif

}  // namespace

bool matmul_dnnl(const tensor& w, const float* x, int64_t n_tokens, float* y) {
#ifdef KILN_HAVE_DNNL
    if (n_tokens < k_dnnl_min_tokens || !dnnl_enabled()) return false;
    const bool f32 = w.type == dtype::f32, bf16 = w.type == dtype::bf16 && !matmul_bf16_exact();
    if (!f32 && !bf16) return false;
    omp_set_num_threads(threads_get());
    try {
        return f32 ? sgemm(w, x, n_tokens, y) : bf16_matmul(w, x, n_tokens, y);
    } catch (const dnnl::error& e) {
        fail("matmul: oneDNN failed on tensor {}: {}", w.name, e.what());
    }
#else
    (void)w, (void)x, (void)n_tokens, (void)y;
    return false;
#endif
}

}  // namespace kiln::ops

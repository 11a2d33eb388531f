// kiln::ops: the ops the model runs. Work is split across kiln's worker threads here
// (ops/thread_pool.h; OpenMP with KILN_POOL=0);
// the arithmetic is done by the SIMD kernels of the table chosen at start-up
// (arch/cpu_dispatch.h). Small calls stay on the calling thread: below a few
// tens of thousands of multiply-adds a parallel region costs more than it saves.
#include <omp.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "arch/cpu_dispatch.h"
#include "core/error.h"
#include "ops/ops.h"
#include "ops/matmul_observer.h"
#include "ops/matmul_dnnl.h"
#include "ops/matmul_rows8.h"
#include "ops/ops_check.h"
#include "ops/thread_pool.h"
#include "quant/pack.h"

namespace kiln {

// ---- threads ----------------------------------------------------------------------------------

namespace {

std::atomic<int> g_threads{0};  // 0: not set, use the physical core count

bool read_long(const std::string& path, long& out) {
    std::ifstream f(path);
    return static_cast<bool>(f >> out);
}

// Distinct (package, core) pairs among the CPUs this process may run on: hyper-threads share a
// core's FMA units and memory bandwidth, so they add little to these kernels.
int cores_from_sysfs(const cpu_set_t& allowed) {
    std::set<std::pair<long, long>> cores;
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
        if (!CPU_ISSET(cpu, &allowed)) continue;
        const std::string dir = "/sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/topology/";
        long package = 0, core = 0;
        if (!read_long(dir + "physical_package_id", package) || !read_long(dir + "core_id", core)) return 0;
        cores.insert({package, core});
    }
    return static_cast<int>(cores.size());
}

int cores_from_cpuinfo(const cpu_set_t* allowed) {
    std::ifstream f("/proc/cpuinfo");
    std::set<std::pair<long, long>> cores;
    long cpu = -1, package = -1;
    std::string line;
    while (std::getline(f, line)) {
        const size_t colon = line.find(':');
        if (colon == std::string::npos) continue;
        const std::string key = line.substr(0, line.find_last_not_of(" \t", colon - 1) + 1);
        long value = 0;
        try {
            value = std::stol(line.substr(colon + 1));
        } catch (const std::exception&) {
            continue;
        }
        if (key == "processor") {
            cpu = value;
            package = -1;
        } else if (key == "physical id") {
            package = value;
        } else if (key == "core id" && cpu >= 0 && package >= 0) {
            if (allowed == nullptr || (cpu < CPU_SETSIZE && CPU_ISSET(static_cast<int>(cpu), allowed))) {
                cores.insert({package, value});
            }
        }
    }
    return static_cast<int>(cores.size());
}

int physical_cores_detect() {
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    const bool have_affinity = sched_getaffinity(0, sizeof(allowed), &allowed) == 0 && CPU_COUNT(&allowed) > 0;
    int n = have_affinity ? cores_from_sysfs(allowed) : 0;
    if (n <= 0) n = cores_from_cpuinfo(have_affinity ? &allowed : nullptr);
    if (n <= 0) n = omp_get_num_procs();
    return std::max(n, 1);
}

}  // namespace

int threads_physical_cores() {
    static const int n = physical_cores_detect();
    return n;
}

void threads_set(int n) {
    if (n < 1 || n > 1024) fail("threads: {} is not a valid thread count (1..1024)", n);
    g_threads.store(n);
}

int threads_get() {
    const int n = g_threads.load();
    return n > 0 ? n : threads_physical_cores();
}

// ---- ops ----------------------------------------------------------------------------------------

namespace ops {

namespace {

// Below this many multiply-adds (or elements) per call, one thread does the whole op.
constexpr int64_t k_parallel_min_work = 1 << 15;
// Floats per cache line: per-thread output ranges start on multiples of this so threads do not
// write the same line.
constexpr int64_t k_line_floats = 16;
// Activation rows per matmul token block: about 256 KiB of them stay in L2 while the weights stream past.
constexpr int64_t k_token_block_bytes = 256 * 1024;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
int64_t round_up(int64_t a, int64_t m) { return ceil_div(a, m) * m; }

int threads_for(int64_t work) { return work < k_parallel_min_work ? 1 : threads_get(); }

// f(i, thread) for i in [0, n), thread in [0, n_threads) indexing per-thread scratch. Dynamic
// scheduling because the machine may be shared and items uneven.
template <class F>
void parallel_for(int64_t n, int n_threads, const F& f) {
    const int nt = static_cast<int>(std::min<int64_t>(n_threads, n));
    if (nt <= 1) {
        for (int64_t i = 0; i < n; ++i) f(i, 0);
        return;
    }
    if (pool_enabled()) {  // kiln's workers: no barrier waiting for a descheduled thread (ops/thread_pool.h)
        pool_for(n, nt, f);
        return;
    }
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
    for (int64_t i = 0; i < n; ++i) f(i, omp_get_thread_num());
}

// Element-wise ops: chunks of whole cache lines.
template <class F>
void parallel_chunks(int64_t n, const F& f) {
    constexpr int64_t chunk = 16384;
    const int nt = threads_for(n * 2);
    parallel_for(ceil_div(n, chunk), nt, [&](int64_t c, int) { f(c * chunk, std::min(chunk, n - c * chunk)); });
}

gemm_fn gemm_for(const cpu_kernels& k, const tensor& w) {
    switch (w.type) {
        case dtype::f32: return k.gemm_f32;
        case dtype::f16: return k.gemm_f16;
        case dtype::bf16: return k.gemm_bf16;
        case dtype::q8_0: return k.gemm_q8_0;
        case dtype::q4_0: return k.gemm_q4_0;
        case dtype::q4_1: return k.gemm_q4_1;
        case dtype::q5_0: return k.gemm_q5_0;
        case dtype::q5_1: return k.gemm_q5_1;
        case dtype::q4_k: return k.gemm_q4_k;
        case dtype::q6_k: return k.gemm_q6_k;
    }
    fail("matmul: no kernel for tensor {} of type {}", w.name, static_cast<uint32_t>(w.type));
}

row_to_f32_fn to_f32_for(const cpu_kernels& k, const tensor& t) {
    switch (t.type) {
        case dtype::f32: return k.to_f32_f32;
        case dtype::f16: return k.to_f32_f16;
        case dtype::bf16: return k.to_f32_bf16;
        case dtype::q8_0: return k.to_f32_q8_0;
        case dtype::q4_0: return k.to_f32_q4_0;
        case dtype::q4_1: return k.to_f32_q4_1;
        case dtype::q5_0: return k.to_f32_q5_0;
        case dtype::q5_1: return k.to_f32_q5_1;
        case dtype::q4_k: return k.to_f32_q4_k;
        case dtype::q6_k: return k.to_f32_q6_k;
    }
    fail("get_rows: no conversion for tensor {} of type {}", t.name, static_cast<uint32_t>(t.type));
}

}  // namespace

void get_rows(const tensor& table, const int32_t* ids, int64_t n_ids, float* out) {
    ops_check::get_rows(table, ids, n_ids);
    const row_to_f32_fn convert = to_f32_for(cpu_kernels_get(), table);
    const int64_t n_cols = table.ne[0];
    if (table.layout == tensor_layout::rows8) {
        // The tied output matrix doubles as the embedding table: unpack the row's blocks first.
        parallel_for(n_ids, threads_for(n_ids * n_cols), [&](int64_t i, int) {
            std::vector<uint8_t> plain(table.row_bytes());
            quant_unpack_row_rows8(table.type, table.data, table.ne[1], n_cols, ids[i], plain.data());
            convert(plain.data(), out + i * n_cols, n_cols);
        });
        return;
    }
    parallel_for(n_ids, threads_for(n_ids * n_cols), [&](int64_t i, int) {
        convert(table.row(ids[i]), out + i * n_cols, n_cols);
    });
}

void rms_norm(const float* x, const float* w, float* out, int64_t n_rows, int64_t n, float eps) {
    ops_check::rms_norm(n_rows, n);
    const auto kernel = cpu_kernels_get().rms_norm;
    parallel_for(n_rows, threads_for(n_rows * n), [&](int64_t r, int) { kernel(x + r * n, w, out + r * n, n, eps); });
}

// The angles depend only on the token, so they are computed once per token (in double, exactly as
// kiln::ref does) and applied to every head.
namespace {

// cos and sin of every (position, pair) angle of one rope call. A forward pass rotates q and k of
// every layer at the same positions with the same parameters, so the table is kept (per calling
// thread) and recomputed only when the positions or the parameters change: 2 of the 2 x n_layer
// calls of a step compute it, the rest reuse it (and no call allocates once warm).
struct rope_table {
    int n_rot = 0;
    float theta = 0.0f, freq_scale = 0.0f;
    const float* freq_factors = nullptr;
    std::vector<float> factors;  // a copy: the pointer alone may be reused for other values
    std::vector<int32_t> pos;
    std::vector<double> freq, cs;  // cs[t * 2 * n_pairs + 2 * i] = cos, + 1 = sin

    bool matches(const int32_t* p, int64_t n, const rope_params& rp) const {
        if (rp.n_rot != n_rot || rp.theta != theta || rp.freq_scale != freq_scale || rp.freq_factors != freq_factors) return false;
        if (rp.freq_factors && !std::equal(factors.begin(), factors.end(), rp.freq_factors)) return false;
        return static_cast<int64_t>(pos.size()) == n && std::equal(pos.begin(), pos.end(), p);
    }
};

}  // namespace

void rope(float* x, int64_t n_tokens, int n_heads, int head_dim, const int32_t* pos, const rope_params& p) {
    ops_check::rope(n_tokens, n_heads, head_dim, p);
    const int n_pairs = p.n_rot / 2;
    const int nt = threads_for(n_tokens * n_heads * head_dim * 4);
    thread_local rope_table table;
    if (!table.matches(pos, n_tokens, p)) {
        if (table.n_rot != p.n_rot || table.theta != p.theta || table.freq_factors != p.freq_factors ||
            (p.freq_factors && !std::equal(table.factors.begin(), table.factors.end(), p.freq_factors))) {
            table.freq.resize(static_cast<size_t>(n_pairs));
            for (int i = 0; i < n_pairs; ++i) {
                table.freq[i] = std::pow(static_cast<double>(p.theta), -2.0 * i / p.n_rot);
                if (p.freq_factors) table.freq[i] /= p.freq_factors[i];
            }
            table.factors.assign(p.freq_factors ? p.freq_factors : nullptr, p.freq_factors ? p.freq_factors + n_pairs : nullptr);
        }
        table.n_rot = p.n_rot;
        table.theta = p.theta;
        table.freq_scale = p.freq_scale;
        table.freq_factors = p.freq_factors;
        table.pos.assign(pos, pos + n_tokens);
        table.cs.resize(static_cast<size_t>(n_tokens) * 2 * n_pairs);
        double* const cs_all = table.cs.data();
        const double* const freq = table.freq.data();
        parallel_for(n_tokens, threads_for(n_tokens * n_pairs * 64), [&](int64_t t, int) {
            double* cs = cs_all + static_cast<size_t>(t) * 2 * n_pairs;
            for (int i = 0; i < n_pairs; ++i) {
                const double angle = static_cast<double>(pos[t]) * p.freq_scale * freq[i];
                cs[2 * i] = std::cos(angle);
                cs[2 * i + 1] = std::sin(angle);
            }
        });
    }
    const double* const cs_all = table.cs.data();
    const bool interleaved = p.pairing == rope_pairing::interleaved;
    parallel_for(n_tokens, nt, [&](int64_t t, int) {
        const double* cs = cs_all + static_cast<size_t>(t) * 2 * n_pairs;
        for (int h = 0; h < n_heads; ++h) {
            float* v = x + (t * n_heads + h) * head_dim;
            for (int i = 0; i < n_pairs; ++i) {
                const int i0 = interleaved ? 2 * i : i;
                const int i1 = interleaved ? 2 * i + 1 : i + n_pairs;
                const double x0 = v[i0], x1 = v[i1], c = cs[2 * i], s = cs[2 * i + 1];
                v[i0] = static_cast<float>(x0 * c - x1 * s);
                v[i1] = static_cast<float>(x0 * s + x1 * c);
            }
        }
    });
}

void softmax(float* x, int64_t n) {
    ops_check::length("softmax", n);
    cpu_kernels_get().softmax(x, n);
}

void silu(float* x, int64_t n) {
    ops_check::length("silu", n);
    const auto kernel = cpu_kernels_get().silu;
    parallel_chunks(n, [&](int64_t i, int64_t len) { kernel(x + i, len); });
}

void swiglu(const float* gate, const float* up, float* out, int64_t n) {
    ops_check::length("swiglu", n);
    const auto kernel = cpu_kernels_get().swiglu;
    parallel_chunks(n, [&](int64_t i, int64_t len) { kernel(gate + i, up + i, out + i, len); });
}

void add(const float* a, const float* b, float* out, int64_t n) {
    ops_check::length("add", n);
    const auto kernel = cpu_kernels_get().add;
    parallel_chunks(n, [&](int64_t i, int64_t len) { kernel(a + i, b + i, out + i, len); });
}

void add_bias(float* x, const float* bias, int64_t n_rows, int64_t n) {
    ops_check::add_bias(n_rows, n);
    const auto kernel = cpu_kernels_get().add;
    parallel_for(n_rows, threads_for(n_rows * n), [&](int64_t r, int) { kernel(x + r * n, bias, x + r * n, n); });
}

// GELU and soft-capping run once per FFN element or logit, far from the matmuls' cost: plain
// loops in f32 (tanh in float), held to kiln::ref's double-precision result in the tests.
void geglu(const float* gate, const float* up, float* out, int64_t n) {
    ops_check::length("geglu", n);
    parallel_chunks(n, [&](int64_t i0, int64_t len) {
        for (int64_t i = i0; i < i0 + len; ++i) {
            // 0.5 g (1 + tanh(u)) = g / (1 + exp(-2u)): no cancellation for negative g
            const float g = gate[i];
            const float u = 0.7978845608f * (g + 0.044715f * g * g * g);
            out[i] = g / (1.0f + std::exp(-2.0f * u)) * up[i];
        }
    });
}

void softcap(float* x, int64_t n, float cap) {
    ops_check::softcap(n, cap);
    const float inv = 1.0f / cap;
    parallel_chunks(n, [&](int64_t i0, int64_t len) {
        for (int64_t i = i0; i < i0 + len; ++i) x[i] = cap * std::tanh(x[i] * inv);
    });
}

void mul(const float* a, const float* b, float* out, int64_t n) {
    ops_check::length("mul", n);
    const auto kernel = cpu_kernels_get().mul;
    parallel_chunks(n, [&](int64_t i, int64_t len) { kernel(a + i, b + i, out + i, len); });
}

void matmul_many(const tensor* const* ws, float* const* ys, int n_w, const float* x, int64_t n_tokens) {
    bool together = n_w > 1;
    for (int i = 0; i < n_w && together; ++i) {
        together = ws[i]->layout == tensor_layout::rows8 && ws[i]->ne[0] == ws[0]->ne[0];
    }
    if (!together) {
        for (int i = 0; i < n_w; ++i) matmul(*ws[i], x, n_tokens, ys[i]);
        return;
    }
    ops_check::length("matmul", n_tokens);
    for (int i = 0; i < n_w; ++i) {
        ops_check::matrix_2d("matmul", *ws[i]);
        if (matmul_observer_active()) matmul_observe(*ws[i], x, n_tokens);  // --calibrate statistics
    }
    matmul_rows8_many(ws, ys, n_w, x, n_tokens);
}

// Work items are (token block, row chunk) pairs, token blocks outermost, so the threads share one
// block of activations at a time. Within an item the kernel reads each group of weight rows once
// and applies it to every token of the block: a weight row is read from memory once per token
// block (once in all for a single token), which is what makes prefill faster than token-by-token.
void matmul(const tensor& w, const float* x, int64_t n_tokens, float* y) {
    ops_check::matrix_2d("matmul", w);
    ops_check::length("matmul", n_tokens);
    if (matmul_observer_active()) matmul_observe(w, x, n_tokens);  // --calibrate statistics
    if (w.layout == tensor_layout::rows8) {
        matmul_rows8(w, x, n_tokens, y);  // int8 activations, integer kernels (ops/matmul_rows8.cpp)
        return;
    }
    const int64_t k = w.ne[0], n_out = w.ne[1];
    if (n_tokens == 0 || n_out == 0) return;
    if (matmul_dnnl(w, x, n_tokens, y)) return;  // f32 prefill: oneDNN where built in (ops/matmul_dnnl.cpp)
    const cpu_kernels& kern = cpu_kernels_get();
    const gemm_fn gemm = gemm_for(kern, w);
    const size_t w_stride = w.nb[1];
    // kiln's own vdpbf16ps kernel measured slower than the exact path here (docs/KERNELS.md): taken
    // only when asked for with KILN_BF16_DOT=1 (and activations may be rounded).
    static const bool bf16_dot_wanted = std::getenv("KILN_BF16_DOT") != nullptr && std::string(std::getenv("KILN_BF16_DOT")) == "1";
    const bool bf16_dot = w.type == dtype::bf16 && n_tokens >= 2 && kern.bf16_dot_native && bf16_dot_wanted &&
                          !matmul_bf16_exact();
    thread_local std::vector<uint16_t> xb_storage;
    const uint16_t* xb = nullptr;
    if (bf16_dot) {
        if (xb_storage.size() < static_cast<size_t>(n_tokens * k)) xb_storage.resize(static_cast<size_t>(n_tokens * k));
        uint16_t* const xb_out = xb_storage.data();  // workers see their own thread_local: share the pointer
        parallel_for(n_tokens, threads_for(n_tokens * k), [&](int64_t t, int) { kern.round_bf16(x + t * k, xb_out + t * k, k); });
        xb = xb_out;
    }

    const int64_t tok_block =
        n_tokens == 1 ? 1 : std::min(n_tokens, std::clamp<int64_t>(k_token_block_bytes / (k * 4), 4, 64));
    const int64_t n_tok_blocks = ceil_div(n_tokens, tok_block);
    const int nt = threads_for(n_out * k * n_tokens);
    // About four row chunks per thread (balance on a shared machine), each a whole number of
    // cache lines of output.
    const int64_t chunk = nt == 1 ? n_out : round_up(ceil_div(n_out, 4 * static_cast<int64_t>(nt)), k_line_floats);
    const int64_t n_chunks = ceil_div(n_out, chunk);

    parallel_for(n_tok_blocks * n_chunks, nt, [&](int64_t item, int) {
        const int64_t t0 = (item / n_chunks) * tok_block, r0 = (item % n_chunks) * chunk;
        const int64_t n_t = std::min(tok_block, n_tokens - t0), n_r = std::min(chunk, n_out - r0);
        if (bf16_dot) {
            kern.gemm_bf16_dot(w.row(r0), w_stride, n_r, xb + t0 * k, k, n_t, k, y + t0 * n_out + r0, n_out);
        } else {
            gemm(w.row(r0), w_stride, n_r, x + t0 * k, k, n_t, k, y + t0 * n_out + r0, n_out);
        }
    });
}

}  // namespace ops

namespace {
std::atomic<int> g_bf16_exact{-1};  // -1: not set, read $KILN_BF16_EXACT
}  // namespace

void matmul_bf16_exact_set(bool exact) { g_bf16_exact.store(exact ? 1 : 0); }

bool matmul_bf16_exact() {
    int v = g_bf16_exact.load(std::memory_order_relaxed);
    if (v < 0) {
        const char* e = std::getenv("KILN_BF16_EXACT");
        v = e != nullptr && *e != '\0' && std::string(e) != "0" ? 1 : 0;
        g_bf16_exact.store(v);
    }
    return v == 1;
}

namespace ops {

namespace {

// Query rows (token, head pairs sharing one KV head) per work item of the blocked attention.
constexpr int64_t k_attn_rows = 32;
// Fewer query rows per KV head than this: the per-query path (decode, short verification
// batches), where transposing V once per call would cost more than it saves.
constexpr int64_t k_attn_blocked_min_rows = 32;

// Blocked attention for many query tokens: a work item is one KV head and a block of consecutive
// query tokens with all the query heads that share that KV head (about k_attn_rows rows). Scores
// for the block come from one f32 GEMM against the K rows, and P.V from one GEMM against V
// transposed once per call (the GEMM kernel takes dot products along contiguous rows), so each K
// and V row is read once per block instead of once per query. Only the key range every row of
// the block sees goes through the P.V GEMM; each row's own extra keys (causal or window edges)
// are added with axpy, so masked cache rows are never multiplied, not even by zero (they may
// hold anything). Work items and their arithmetic do not depend on the thread count.
void attention_blocked(const float* q, int64_t n_tokens, const int32_t* pos, const float* k_cache,
                       const float* v_cache, const attention_params& p, float* out) {
    const cpu_kernels& kern = cpu_kernels_get();
    const int64_t hd = p.head_dim;
    const int64_t q_stride = p.n_head * hd, kv_stride = p.n_head_kv * hd;
    const int group = p.n_head / p.n_head_kv;
    const int64_t blk_tokens = std::max<int64_t>(1, k_attn_rows / group);
    const int64_t rows_max = blk_tokens * group;
    const int64_t n_blocks = ceil_div(n_tokens, blk_tokens);

    // the keys token t sees: [first, end)
    const auto key_first = [&](int64_t t) {
        const int64_t end = static_cast<int64_t>(pos[t]) + 1;
        return p.window > 0 ? std::max<int64_t>(0, end - p.window) : int64_t{0};
    };
    int64_t span_max = 0, work = 0, lo_all = INT64_MAX, hi_all = 0;
    for (int64_t t = 0; t < n_tokens; ++t) {
        lo_all = std::min(lo_all, key_first(t));
        hi_all = std::max<int64_t>(hi_all, static_cast<int64_t>(pos[t]) + 1);
    }
    for (int64_t b = 0; b < n_blocks; ++b) {
        const int64_t t0 = b * blk_tokens, t1 = std::min(n_tokens, t0 + blk_tokens);
        int64_t lo = INT64_MAX, hi = 0;
        for (int64_t t = t0; t < t1; ++t) {
            lo = std::min(lo, key_first(t));
            hi = std::max<int64_t>(hi, static_cast<int64_t>(pos[t]) + 1);
        }
        span_max = std::max(span_max, hi - lo);
        work += (hi - lo) * 2 * (t1 - t0) * q_stride;
    }
    const int nt = threads_for(work);
    const int64_t ld_s = round_up(span_max, k_line_floats);  // score row stride
    const int64_t qb_size = round_up(rows_max * hd, k_line_floats);
    const int64_t s_size = rows_max * ld_s;
    const int64_t thread_stride = 2 * qb_size + s_size + k_line_floats;
    // Kept between calls (grown, never shrunk): a fresh allocation of this size per layer would
    // page-fault on every call. The V^T buffer holds as much as one layer's V cache.
    static thread_local std::vector<float> scratch, vt;
    const auto reserve = [](std::vector<float>& buf, int64_t n) {
        if (buf.size() < static_cast<size_t>(n)) buf.resize(static_cast<size_t>(n));
    };
    reserve(scratch, std::max(nt, 1) * thread_stride);

    // vt[g][d][j - lo_all] = V[j][g * hd + d]: every block's shared keys are a range of these rows.
    const int64_t ld_v = round_up(hi_all - lo_all, k_line_floats);
    reserve(vt, p.n_head_kv * hd * ld_v);
    // the workers must use this thread's buffers (a thread_local named inside an item is the worker's)
    float* const scratch_p = scratch.data();
    float* const vt_p = vt.data();
    constexpr int64_t tr_keys = 256;  // keys per transposition item
    const int64_t tr_chunks = ceil_div(hi_all - lo_all, tr_keys);
    parallel_for(p.n_head_kv * tr_chunks, threads_for(kv_stride * (hi_all - lo_all)), [&](int64_t item, int) {
        const int64_t g = item / tr_chunks, j_begin = lo_all + (item % tr_chunks) * tr_keys;
        const int64_t j_end = std::min(hi_all, j_begin + tr_keys);
        float* vg = vt_p + g * hd * ld_v;
        // 16 keys at a time: their V rows stay in L1 while each output row gets 16 contiguous values
        for (int64_t j0 = j_begin; j0 < j_end; j0 += 16) {
            const int64_t j1 = std::min(j_end, j0 + 16);
            for (int64_t d = 0; d < hd; ++d) {
                const float* src = v_cache + g * hd + d;
                float* dst = vg + d * ld_v;
                for (int64_t j = j0; j < j1; ++j) dst[j - lo_all] = src[j * kv_stride];
            }
        }
    });

    // Latest blocks (the most keys) first, so the short ones fill in at the end.
    parallel_for(n_blocks * p.n_head_kv, nt, [&](int64_t item, int thread) {
        const int64_t b = n_blocks - 1 - item / p.n_head_kv;
        const int g = static_cast<int>(item % p.n_head_kv);
        const int64_t t0 = b * blk_tokens, t1 = std::min(n_tokens, t0 + blk_tokens);
        const int64_t n_rows = (t1 - t0) * group;
        float* qb = scratch_p + thread * thread_stride;  // [n_rows, hd] query rows
        float* ob = qb + qb_size;                        // [n_rows, hd] outputs
        float* s = ob + qb_size;                         // [n_rows, ld_s] scores, then P

        int64_t lo = INT64_MAX, hi = 0, c_lo = 0, c_hi = INT64_MAX;  // union and intersection of key ranges
        for (int64_t t = t0; t < t1; ++t) {
            const int64_t f = key_first(t), e = static_cast<int64_t>(pos[t]) + 1;
            lo = std::min(lo, f), hi = std::max(hi, e);
            c_lo = std::max(c_lo, f), c_hi = std::min(c_hi, e);
        }
        if (c_hi < c_lo) c_hi = c_lo;
        const int64_t kv_off = static_cast<int64_t>(g) * hd;
        for (int64_t t = t0; t < t1; ++t) {
            std::copy_n(q + t * q_stride + kv_off * group, group * hd, qb + (t - t0) * group * hd);
        }
        // s[r, j - lo] = q_r . k_j for every key of the union (masked ones are never read)
        kern.gemm_f32(k_cache + lo * kv_stride + kv_off, static_cast<size_t>(kv_stride) * sizeof(float), hi - lo, qb,
                      hd, n_rows, hd, s, ld_s);
        for (int64_t r = 0; r < n_rows; ++r) {
            const int64_t t = t0 + r / group;
            const int64_t f = key_first(t), n_seen = static_cast<int64_t>(pos[t]) + 1 - f;
            float* sr = s + r * ld_s + (f - lo);
            for (int64_t j = 0; j < n_seen; ++j) sr[j] *= p.scale;
            if (p.softcap > 0.0f) {
                const float inv = 1.0f / p.softcap;
                for (int64_t j = 0; j < n_seen; ++j) sr[j] = p.softcap * std::tanh(sr[j] * inv);
            }
            kern.softmax(sr, n_seen);
        }
        const int64_t n_c = c_hi - c_lo;
        if (n_c > 0) {
            const float* vg = vt_p + g * hd * ld_v + (c_lo - lo_all);
            kern.gemm_f32(vg, static_cast<size_t>(ld_v) * sizeof(float), hd, s + (c_lo - lo), ld_s, n_rows, n_c, ob,
                          hd);
        } else {
            std::fill(ob, ob + n_rows * hd, 0.0f);
        }
        for (int64_t r = 0; r < n_rows; ++r) {
            const int64_t t = t0 + r / group;
            const int64_t f = key_first(t), e = static_cast<int64_t>(pos[t]) + 1;
            const float* sr = s + r * ld_s;
            float* o = ob + r * hd;
            const auto add_keys = [&](int64_t j0, int64_t j1) {  // cache rows j0..j1-1
                for (int64_t j = j0; j < j1; ++j) kern.axpy_f32(sr[j - lo], v_cache + j * kv_stride + kv_off, o, hd);
            };
            if (n_c > 0) {
                add_keys(f, c_lo);
                add_keys(c_hi, e);
            } else {
                add_keys(f, e);
            }
        }
        for (int64_t t = t0; t < t1; ++t) {
            std::copy_n(ob + (t - t0) * group * hd, group * hd, out + t * q_stride + kv_off * group);
        }
    });
}

}  // namespace

// Decode (few query rows per KV head): two passes per (token, head): scores into a per-thread
// buffer, softmax, then the weighted sum of V rows. Items are token-major so the heads that share
// a KV head run close together.
void attention(const float* q, int64_t n_tokens, const int32_t* pos, const float* k_cache, const float* v_cache,
               int64_t n_kv, const attention_params& p, float* out) {
    ops_check::attention(n_tokens, pos, n_kv, p);
    if (n_tokens == 0) return;
    // Several query rows per KV head (prefill, speculative verification): the blocked GEMM path.
    if (n_tokens * (p.n_head / p.n_head_kv) >= k_attn_blocked_min_rows) {
        attention_blocked(q, n_tokens, pos, k_cache, v_cache, p, out);
        return;
    }
    const cpu_kernels& kern = cpu_kernels_get();
    const int64_t hd = p.head_dim;
    const int64_t q_stride = p.n_head * hd, kv_stride = p.n_head_kv * hd;
    const int group = p.n_head / p.n_head_kv;

    int64_t max_ctx = 0, work = 0;
    for (int64_t t = 0; t < n_tokens; ++t) {
        const int64_t n_ctx = static_cast<int64_t>(pos[t]) + 1;
        max_ctx = std::max(max_ctx, n_ctx);
        work += n_ctx * 2 * q_stride;
    }
    const int nt = threads_for(work);
    const int64_t scratch_stride = round_up(max_ctx, k_line_floats);
    std::vector<float> scratch(static_cast<size_t>(std::max(nt, 1) * scratch_stride));
    // Small heads are grouped so that each item writes at least a cache line of output.
    const int heads_per_item = static_cast<int>(std::max<int64_t>(1, k_line_floats / hd));
    const int64_t items_per_token = ceil_div(p.n_head, heads_per_item);

    parallel_for(n_tokens * items_per_token, nt, [&](int64_t item, int thread) {
        const int64_t t = item / items_per_token;
        const int h_first = static_cast<int>(item % items_per_token) * heads_per_item;
        const int h_end = std::min(p.n_head, h_first + heads_per_item);
        const int64_t n_ctx = static_cast<int64_t>(pos[t]) + 1;
        // the keys this token sees: the last `window` positions, or all of them
        const int64_t first = p.window > 0 ? std::max<int64_t>(0, n_ctx - p.window) : 0;
        const int64_t n_seen = n_ctx - first;
        float* score = scratch.data() + thread * scratch_stride;
        for (int h = h_first; h < h_end; ++h) {
            const int64_t kv_off = static_cast<int64_t>(h / group) * hd;
            const float* qh = q + t * q_stride + h * hd;
            const float* k0 = k_cache + first * kv_stride + kv_off;
            const float* v0 = v_cache + first * kv_stride + kv_off;
            for (int64_t j = 0; j < n_seen; ++j) score[j] = kern.dot_f32(qh, k0 + j * kv_stride, hd) * p.scale;
            if (p.softcap > 0.0f) {
                const float inv = 1.0f / p.softcap;
                for (int64_t j = 0; j < n_seen; ++j) score[j] = p.softcap * std::tanh(score[j] * inv);
            }
            kern.softmax(score, n_seen);
            float* o = out + t * q_stride + h * hd;
            std::fill(o, o + hd, 0.0f);
            for (int64_t j = 0; j < n_seen; ++j) kern.axpy_f32(score[j], v0 + j * kv_stride, o, hd);
        }
    });
}

}  // namespace ops

}  // namespace kiln

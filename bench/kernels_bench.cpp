// kiln_kbench: standalone timing of the matmul kernels (not a test, not part of `make`; build with
// `cmake --build BUILD --target kiln_kbench`). Prints medians and ratios measured in one run:
//   membw      read bandwidth of a 1 GiB buffer, 1 and 2 threads
//   vnni peak  vpdpbusd throughput of one core (the int8 roof)
//   matvec     one token against a ~1 GiB rows8 q4_0 / q8_0 matrix: GB/s of weights and share of membw
//   batch-dram 1..16 tokens on TinyLlama FFN matrices (5632 x 2048) read from DRAM, cost vs one token
//   batch      2..16 tokens on a TinyLlama FFN matrix (5632 x 2048), cost relative to one token
//   gemm       128 tokens on the same matrix: GOP/s and share of the int8 peak; f32 path for contrast
// Compiled with -march=native: run it only on the machine that built it.
#include "arch/x86/x86_intrinsics.h"
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#ifdef KILN_HAVE_DNNL
#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl.hpp>
#endif

#include "arch/cpu_dispatch.h"
#include "xbyak_q4_0.h"
#include "core/fp16.h"
#include "core/tensor.h"
#include "ops/ops.h"
#include "quant/pack.h"

using namespace kiln;
using clk = std::chrono::steady_clock;

namespace {

// KBENCH_CPU=1: time single-threaded work by the thread's CPU time instead of the wall clock, so
// that a shared, oversubscribed machine (other processes taking the core) does not count; memory
// and cache contention still do.
bool g_cpu_time = std::getenv("KBENCH_CPU") != nullptr;

double now_s(bool cpu) {
    if (cpu) {
        timespec ts;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return ts.tv_sec + ts.tv_nsec * 1e-9;
    }
    return std::chrono::duration<double>(clk::now().time_since_epoch()).count();
}

template <class F>
double median_s(int reps, F&& f) {
    const bool cpu = g_cpu_time && threads_get() == 1;
    std::vector<double> t;
    for (int i = 0; i < reps; ++i) {
        const double a = now_s(cpu);
        f();
        t.push_back(now_s(cpu) - a);
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

double membw(const std::vector<uint64_t>& buf, int threads) {
    volatile uint64_t sink = 0;
    const double s = median_s(5, [&] {
        uint64_t total = 0;
#pragma omp parallel for num_threads(threads) reduction(+ : total) schedule(static)
        for (size_t i = 0; i < buf.size(); i += 8) {
            total += buf[i] ^ buf[i + 1] ^ buf[i + 2] ^ buf[i + 3] ^ buf[i + 4] ^ buf[i + 5] ^ buf[i + 6] ^ buf[i + 7];
        }
        sink = total;
    });
    (void)sink;
    return buf.size() * 8.0 / s / 1e9;
}

// 28 independent vpdpbusd chains: GOP/s of one core (2 ops per multiply-add).
double vnni_peak() {
    const long iters = 20'000'000;
    const double s = median_s(3, [&] {
        __m512i acc[28];
        for (auto& a : acc) a = _mm512_setzero_si512();
        __m512i w = _mm512_set1_epi8(3), x = _mm512_set1_epi8(5);
        __asm__ volatile("" : "+v"(w), "+v"(x));
        for (long i = 0; i < iters; ++i) {
            for (auto& a : acc) a = _mm512_dpbusd_epi32(a, w, x);
        }
        __m512i s = acc[0];
        for (int i = 1; i < 28; ++i) s = _mm512_add_epi32(s, acc[i]);
        volatile int sink = _mm512_reduce_add_epi32(s);
        (void)sink;
    });
    return iters * 28.0 * 64 * 2 / s / 1e9;
}

// A random rows8 matrix: codes uniform, scales small fp16 (speed does not depend on values).
struct packed_matrix {
    std::vector<uint8_t> bytes;
    tensor t;
    packed_matrix(dtype type, int64_t k, int64_t rows, uint32_t seed) {
        std::vector<uint8_t> plain(dtype_row_bytes(type, k) * rows);
        std::mt19937 rng(seed);
        for (auto& b : plain) b = static_cast<uint8_t>(rng());
        const size_t bb = dtype_info(type).block_bytes;
        for (size_t i = 0; i < plain.size(); i += bb) {
            const uint16_t d = fp16_from_f32(0.01f);
            std::memcpy(&plain[i], &d, 2);
            if (type == dtype::q4_k) std::memcpy(&plain[i + 2], &d, 2);
        }
        bytes.resize(quant_rows8_bytes(type, rows, k));
        quant_pack_rows8(type, plain.data(), rows, k, bytes.data());
        const int64_t ne[2] = {k, rows};
        t = tensor_make("w", type, 2, ne, bytes.data(), tensor_layout::rows8);
    }
};

}  // namespace

int main(int argc, char** argv) {
    const int reps = argc > 1 ? std::atoi(argv[1]) : 7;
    std::printf("kernels: %s; cpu: %s\n", cpu_kernels_get().name, cpu_features_str().c_str());
    std::vector<uint64_t> buf(size_t(1) << 27, 1);  // 1 GiB
    threads_set(1);
    const double bw1 = membw(buf, 1);
    threads_set(2);
    const double bw2 = membw(buf, 2);
    threads_set(1);
    buf = {};
    std::printf("membw: 1 thread %.1f GB/s, 2 threads %.1f GB/s\n", bw1, bw2);
    const double peak = vnni_peak();
    std::printf("vnni peak (1 core): %.0f GOP/s\n", peak);

    const char* only = std::getenv("KBENCH_ONLY");
    const bool do_matvec = !only || std::string(only) == "matvec";
    for (dtype type : {dtype::q4_0, dtype::q8_0, dtype::q4_k}) {
        if (!do_matvec) break;
        const int64_t k = 4096;
        const int64_t rows = (int64_t(1) << 30) / static_cast<int64_t>(dtype_row_bytes(type, k)) / 16 * 16;
        packed_matrix m(type, k, rows, 1);
        std::vector<float> x(k, 0.5f), y(rows);
        for (int th : {1, 2}) {
            threads_set(th);
            ops::matmul(m.t, x.data(), 1, y.data());
            const double s = median_s(reps, [&] { ops::matmul(m.t, x.data(), 1, y.data()); });
            const double gbs = m.bytes.size() / s / 1e9;
            std::printf("matvec %s rows8 %.2f GB, %d thread(s): %.1f GB/s = %.0f%% of membw\n", dtype_name(type),
                        m.bytes.size() / 1e9, th, gbs, 100.0 * gbs / (th == 1 ? bw1 : bw2));
        }
    }

    // Batch cost with the weights coming from DRAM, as in decode: calls rotate over enough copies of
    // the 5632 x 2048 matrix (> 3x the 32 MiB L3) that each call finds its matrix out of cache.
    const bool do_batch = !only || std::string(only) == "batch";
    for (dtype type : {dtype::q4_0, dtype::q8_0, dtype::q4_k}) {
        if (!do_batch) break;
        const int64_t k = 2048, rows = 5632;
        const int64_t n_mats = std::max<int64_t>(4, (int64_t(112) << 20) / static_cast<int64_t>(dtype_row_bytes(type, k) * rows));
        std::vector<packed_matrix> mats;
        mats.reserve(static_cast<size_t>(n_mats));
        for (int64_t i = 0; i < n_mats; ++i) mats.emplace_back(type, k, rows, static_cast<uint32_t>(10 + i));
        std::vector<float> x(static_cast<size_t>(k) * 16), y(static_cast<size_t>(rows) * 16);
        std::mt19937 rng(3);
        std::uniform_real_distribution<float> u(-1, 1);
        for (auto& v : x) v = u(rng);
        threads_set(1);
        std::printf("batch-dram %s [%lld x %lld] x %lld matrices, 1 thread:", dtype_name(type), (long long)rows,
                    (long long)k, (long long)n_mats);
        double t1 = 0;
        int64_t next = 0;
        for (int64_t n : {1, 2, 4, 8, 16}) {
            const double s = median_s(reps * 4 * static_cast<int>(n_mats), [&] {
                ops::matmul(mats[static_cast<size_t>(next)].t, x.data(), n, y.data());
                next = (next + 1) % n_mats;
            });
            if (n == 1) t1 = s;
            std::printf("  b%lld %.2fx", (long long)n, s / t1);
        }
        std::printf("  (b1 %.0f us = %.1f GB/s)\n", t1 * 1e6, mats[0].bytes.size() / t1 / 1e9);
    }
    if (only && std::string(only) == "batch") return 0;

    threads_set(2);
    const bool do_int = !only || std::string(only) == "gemm";
    for (dtype type : {dtype::q4_0, dtype::q8_0, dtype::q4_k}) {
        if (!do_int) break;
        const int64_t k = 2048, rows = 5632;
        packed_matrix m(type, k, rows, 2);
        std::vector<float> x(static_cast<size_t>(k) * 512), y(static_cast<size_t>(rows) * 512);
        std::mt19937 rng(3);
        std::uniform_real_distribution<float> u(-1, 1);
        for (auto& v : x) v = u(rng);
        double t1 = 0;
        if (g_cpu_time) threads_set(1);
        std::printf("batch %s [%lld x %lld], %d thread(s):", dtype_name(type), (long long)rows, (long long)k, threads_get());
        for (int64_t n : {1, 2, 4, 8, 16}) {
            const double s = median_s(reps * 3, [&] { ops::matmul(m.t, x.data(), n, y.data()); });
            if (n == 1) t1 = s;
            std::printf("  b%lld %.2fx", (long long)n, s / t1);
        }
        std::printf("  (b1 %.0f us)\n", t1 * 1e6);
        for (int64_t n : {128, 512}) {
            for (int th : {1, 2}) {
                threads_set(th);
                const double s = median_s(std::max(3, reps / 2), [&] { ops::matmul(m.t, x.data(), n, y.data()); });
                const double gops = 2.0 * k * rows * n / s / 1e9;
                std::printf("gemm %s %lld tokens, %d thread(s): %.0f GOP/s = %.0f%% of the int8 peak\n", dtype_name(type),
                            (long long)n, th, gops, 100.0 * gops / (peak * th));
            }
        }
        threads_set(2);
    }
    // xbyak JIT of the q4_0 GEMM tile (2 groups x 4 tokens, specialised for K) against the
    // intrinsics kernel, 1 thread, 128 tokens.
    {
        const int64_t k = 2048, rows = 5632, n = 128, nb = k / 32;
        packed_matrix m(dtype::q4_0, k, rows, 4);
        std::vector<float> x(static_cast<size_t>(k * n)), y1(static_cast<size_t>(rows * n)), y2(y1.size());
        std::mt19937 rng(6);
        std::uniform_real_distribution<float> u(-1, 1);
        for (auto& v : x) v = u(rng);
        std::vector<block_q8_act> act(static_cast<size_t>(n * nb));
        for (int64_t t = 0; t < n; ++t) cpu_kernels_get().quantize_act(x.data() + t * k, k, act.data() + t * nb);
        const auto intr = cpu_kernels_get().qgemm_q4_0x8;
        bench::q4_0_tile_jit jit(nb);
        const auto jf = jit.get();
        const auto* w = reinterpret_cast<const block_q4_0x8*>(m.bytes.data());
        auto run_jit = [&] {
            alignas(64) float acc[8][16];
            for (int64_t g = 0; g < rows / 8; g += 2) {
                for (int64_t t = 0; t < n; t += 4) {
                    jf(w + g * nb, act.data() + t * nb, &acc[0][0]);
                    for (int gg = 0; gg < 2; ++gg)
                        for (int tt = 0; tt < 4; ++tt)
                            for (int r = 0; r < 8; ++r)
                                y2[(t + tt) * rows + (g + gg) * 8 + r] = acc[gg * 4 + tt][r] + acc[gg * 4 + tt][8 + r];
                }
            }
        };
        threads_set(1);
        const double s_i = median_s(5, [&] { intr(w, rows, k, act.data(), n, y1.data(), rows); });
        const double s_j = median_s(5, run_jit);
        double maxd = 0;
        for (size_t i = 0; i < y1.size(); ++i) maxd = std::max(maxd, static_cast<double>(std::fabs(y1[i] - y2[i])));
        const double op = 2.0 * k * rows * n;
        std::printf("q4_0 GEMM 128 tok, 1 thread: intrinsics %.0f GOP/s, xbyak JIT %.0f GOP/s (%.2fx; max |diff| %.2g)\n",
                    op / s_i / 1e9, op / s_j / 1e9, s_i / s_j, maxd);
    }
    // Floating-point prefill paths: f32 weights (kiln's FMA kernel vs oneDNN's sgemm) and bf16
    // weights (exact widening vs vdpbf16ps), 128 tokens on the TinyLlama FFN matrix.
    {
        const int64_t k = 2048, rows = 5632, n = 128;
        std::vector<float> wf(static_cast<size_t>(k * rows)), x(static_cast<size_t>(k * n)), y(static_cast<size_t>(rows * n));
        std::mt19937 rng(5);
        std::uniform_real_distribution<float> u(-1, 1);
        for (auto& v : wf) v = u(rng);
        for (auto& v : x) v = u(rng);
        std::vector<uint16_t> wb(wf.size());
        for (size_t i = 0; i < wf.size(); ++i) wb[i] = bf16_from_f32(wf[i]);
        const tensor tf = tensor_make_2d("w", dtype::f32, k, rows, wf.data());
        const tensor tb = tensor_make_2d("w", dtype::bf16, k, rows, wb.data());
        const double flop = 2.0 * k * rows * n;
        for (int th : {1}) {
            threads_set(th);
            // kiln's own f32 kernel, called directly (ops::matmul hands f32 prefill to oneDNN), one
            // 64-token block at a time as ops::matmul would; 1 thread.
            const gemm_fn f32k = cpu_kernels_get().gemm_f32;
            const double s_f32 = median_s(3, [&] {
                for (int64_t t = 0; t < n; t += 64)
                    f32k(wf.data(), k * 4, rows, x.data() + t * k, k, std::min<int64_t>(64, n - t), k, y.data() + t * rows, rows);
            });
            matmul_bf16_exact_set(true);
            const double s_exact = median_s(3, [&] { ops::matmul(tb, x.data(), n, y.data()); });
            // kiln's own vdpbf16ps kernel, called directly on activations rounded once.
            std::vector<uint16_t> xbf(x.size());
            cpu_kernels_get().round_bf16(x.data(), xbf.data(), static_cast<int64_t>(x.size()));
            const auto dotk = cpu_kernels_get().gemm_bf16_dot;
            const double s_dot = median_s(3, [&] {
                for (int64_t t = 0; t < n; t += 64)
                    dotk(wb.data(), k * 2, rows, xbf.data() + t * k, k, std::min<int64_t>(64, n - t), k, y.data() + t * rows, rows);
            });
            matmul_bf16_exact_set(false);
            const double s_ops = median_s(3, [&] { ops::matmul(tb, x.data(), n, y.data()); });
            std::printf("prefill 128 tok, %d thread(s): f32 kiln %.0f GFLOP/s; bf16 exact %.0f, bf16 kiln vdpbf16ps %.0f GFLOP/s (%.2fx), "
                        "bf16 ops::matmul default %.0f GFLOP/s (%.2fx)\n",
                        th, flop / s_f32 / 1e9, flop / s_exact / 1e9, flop / s_dot / 1e9, s_exact / s_dot, flop / s_ops / 1e9,
                        s_exact / s_ops);
#ifdef KILN_HAVE_DNNL
            omp_set_num_threads(th);
            {
                // oneDNN matmul primitive, bf16 activations x bf16 weights -> f32 (the same rounding of
                // the activations as the vdpbf16ps path).
                using namespace dnnl;
                engine eng(engine::kind::cpu, 0);
                stream strm(eng);
                const memory::desc src_md({n, k}, memory::data_type::bf16, memory::format_tag::ab);
                const memory::desc wei_md({k, rows}, memory::data_type::bf16, memory::format_tag::ba);
                const memory::desc dst_md({n, rows}, memory::data_type::f32, memory::format_tag::ab);
                matmul::primitive_desc pd(matmul::desc(src_md, wei_md, dst_md), eng);  // oneDNN 2.x API
                matmul prim(pd);
                std::vector<uint16_t> xbf(x.size());
                for (size_t i = 0; i < x.size(); ++i) xbf[i] = bf16_from_f32(x[i]);
                memory src_m(src_md, eng, xbf.data()), wei_m(wei_md, eng, wb.data()), dst_m(dst_md, eng, y.data());
                const double s_dbf = median_s(3, [&] {
                    prim.execute(strm, {{DNNL_ARG_SRC, src_m}, {DNNL_ARG_WEIGHTS, wei_m}, {DNNL_ARG_DST, dst_m}});
                    strm.wait();
                });
                std::printf("prefill 128 tok, %d thread(s): bf16 oneDNN matmul %.0f GFLOP/s (%.2fx the exact bf16 path; impl %s)\n",
                            th, flop / s_dbf / 1e9, s_exact / s_dbf, pd.impl_info_str());
                // oneDNN's int8 matmul (u8 activations x s8 weights -> s32), the same shape: how close
                // kiln's integer GEMM is to what oneDNN gets from vpdpbusd on this machine.
                const memory::desc s8_src({n, k}, memory::data_type::u8, memory::format_tag::ab);
                const memory::desc s8_wei({k, rows}, memory::data_type::s8, memory::format_tag::ba);
                const memory::desc s8_dst({n, rows}, memory::data_type::s32, memory::format_tag::ab);
                matmul::primitive_desc pd8(matmul::desc(s8_src, s8_wei, s8_dst), eng);
                matmul prim8(pd8);
                std::vector<uint8_t> xs(static_cast<size_t>(n * k), 3), ws(static_cast<size_t>(k * rows), 5);
                std::vector<int32_t> ys(static_cast<size_t>(n * rows));
                memory a(s8_src, eng, xs.data()), b(s8_wei, eng, ws.data()), c(s8_dst, eng, ys.data());
                const double s8 = median_s(3, [&] {
                    prim8.execute(strm, {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, c}});
                    strm.wait();
                });
                std::printf("int8 oneDNN matmul 128 tok, %d thread(s): %.0f GOP/s (impl %s)\n", th, flop / s8 / 1e9,
                            pd8.impl_info_str());
            }
            const double s_dnnl = median_s(3, [&] {
                dnnl_sgemm('N', 'T', n, rows, k, 1.0f, x.data(), k, wf.data(), k, 0.0f, y.data(), rows);
            });
            std::printf("prefill 128 tok, %d thread(s): f32 oneDNN sgemm %.0f GFLOP/s (%.2fx kiln)\n", th,
                        flop / s_dnnl / 1e9, s_f32 / s_dnnl);
#endif
        }
    }
    // The exact f32 path on plain q8_0 weights, for contrast.
    {
        const int64_t k = 2048, rows = 5632;
        std::vector<uint8_t> plain(dtype_row_bytes(dtype::q8_0, k) * rows, 1);
        tensor t = tensor_make_2d("w", dtype::q8_0, k, rows, plain.data());
        std::vector<float> x(static_cast<size_t>(k) * 128, 0.25f), y(static_cast<size_t>(rows) * 128);
        const double s = median_s(3, [&] { ops::matmul(t, x.data(), 128, y.data()); });
        std::printf("gemm q8_0 plain (f32 path) 128 tokens, 2 threads: %.0f GFLOP/s\n", 2.0 * k * rows * 128 / s / 1e9);
    }
    return 0;
}

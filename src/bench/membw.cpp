#include "bench/membw.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>

#include "core/error.h"
#include "ops/ops.h"

namespace kiln {

namespace {

// Eight independent accumulators so the loop is bound by loads, not by an add chain; the
// compiler vectorizes it with the baseline ISA, whose loads alone exceed DRAM bandwidth.
uint64_t sum_words(const uint64_t* p, size_t n) {
    uint64_t a[8] = {};
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        for (int j = 0; j < 8; ++j) a[j] += p[i + static_cast<size_t>(j)];
    }
    for (; i < n; ++i) a[0] += p[i];
    uint64_t s = 0;
    for (uint64_t x : a) s += x;
    return s;
}

volatile uint64_t g_sink;  // keeps the sums alive

}  // namespace

double membw_read_pass(const void* buf, size_t bytes, int threads) {
    const auto* words = static_cast<const uint64_t*>(buf);
    const size_t n = bytes / 8;
    uint64_t total = 0;
    std::chrono::steady_clock::time_point t0, t1;
#pragma omp parallel num_threads(threads) reduction(+ : total)
    {
        const int nt = omp_get_num_threads(), id = omp_get_thread_num();
        const size_t chunk = (n + static_cast<size_t>(nt) - 1) / static_cast<size_t>(nt);
        const size_t begin = std::min(n, chunk * static_cast<size_t>(id)), end = std::min(n, begin + chunk);
#pragma omp barrier
#pragma omp master
        t0 = std::chrono::steady_clock::now();
        total += sum_words(words + begin, end - begin);
#pragma omp barrier
#pragma omp master
        t1 = std::chrono::steady_clock::now();
    }
    g_sink = total;
    const double s = std::chrono::duration<double>(t1 - t0).count();
    return s > 0 ? static_cast<double>(bytes) / s / 1e9 : 0.0;
}

membw_result membw_measure(int threads, size_t bytes, int runs) {
    if (threads <= 0) threads = threads_get();
    if (bytes < 4096) fail("membw: buffer of {} bytes is too small", bytes);
    std::unique_ptr<uint64_t[]> buf(new uint64_t[bytes / 8]);
    // Written in parallel so each thread's pages sit where it will read them.
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t i = 0; i < static_cast<int64_t>(bytes / 8); ++i) buf[static_cast<size_t>(i)] = static_cast<uint64_t>(i);
    membw_result r;
    r.bytes = bytes;
    r.threads = threads;
    membw_read_pass(buf.get(), bytes, threads);  // warm-up: page tables, frequency
    for (int i = 0; i < runs; ++i) {
        r.gb_s_1t = std::max(r.gb_s_1t, membw_read_pass(buf.get(), bytes, 1));
        r.gb_s_nt = std::max(r.gb_s_nt, membw_read_pass(buf.get(), bytes, threads));
    }
    return r;
}

}  // namespace kiln

#include "bench/membw.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "arch/cpu_dispatch.h"
#include "core/error.h"
#include "ops/ops.h"
#include "ops/thread_pool.h"

namespace kiln {

namespace {

volatile uint64_t g_sink;  // keeps the sums alive

// Thread t's contiguous slice of n words split `parts` ways, in whole 64-byte lines: [begin, end).
void slice_of(size_t n, int parts, int64_t t, size_t& begin, size_t& end) {
    size_t chunk = (n + static_cast<size_t>(parts) - 1) / static_cast<size_t>(parts);
    chunk = (chunk + 7) / 8 * 8;  // whole 64-byte lines
    begin = std::min(n, chunk * static_cast<size_t>(t));
    end = std::min(n, begin + chunk);
}

}  // namespace

// Timed the way the kernels run: the active level's widest loads (cpu_kernels::stream_sum), on
// kiln's own worker pool, so the figure is the read rate decode can reach rather than what the
// baseline ISA reaches.
double membw_read_pass(const void* buf, size_t bytes, int threads) {
    const auto* words = static_cast<const uint64_t*>(buf);
    const size_t n = bytes / 8;
    const int parts = std::max(1, threads);
    const auto sum = cpu_kernels_get().stream_sum;
    std::vector<uint64_t> partial(static_cast<size_t>(parts), 0);
    const auto t0 = std::chrono::steady_clock::now();
    pool_for(parts, parts, [&](int64_t t, int) {
        size_t begin, end;
        slice_of(n, parts, t, begin, end);
        partial[static_cast<size_t>(t)] = sum(words + begin, (end - begin) * 8);
    });
    const auto t1 = std::chrono::steady_clock::now();
    uint64_t total = 0;
    for (uint64_t x : partial) total += x;
    g_sink = total;
    const double s = std::chrono::duration<double>(t1 - t0).count();
    return s > 0 ? static_cast<double>(n * 8) / s / 1e9 : 0.0;
}

membw_result membw_measure(int threads, size_t bytes, int runs) {
    if (threads <= 0) threads = threads_get();
    if (bytes < 4096) fail("membw: buffer of {} bytes is too small", bytes);
    const size_t n = bytes / 8;
    // Page-aligned, and slices a multiple of 64 bytes (slice_of), so no 64-byte load straddles
    // two cache lines: weights are aligned too, and split loads would understate the bandwidth.
    const size_t alloc = (n * 8 + 4095) / 4096 * 4096;
    std::unique_ptr<uint64_t, void (*)(void*)> mem(static_cast<uint64_t*>(std::aligned_alloc(4096, alloc)), &std::free);
    if (!mem) fail("membw: cannot allocate a buffer of {} bytes", bytes);
    uint64_t* buf = mem.get();
    // Each slice written by the thread that will read it, so its pages sit near that thread.
    pool_for(threads, threads, [&](int64_t t, int) {
        size_t begin, end;
        slice_of(n, threads, t, begin, end);
        for (size_t i = begin; i < end; ++i) buf[i] = static_cast<uint64_t>(i);
    });
    membw_result r;
    r.bytes = bytes;
    r.threads = threads;
    membw_read_pass(buf, bytes, threads);  // warm-up: page tables, frequency, waking the workers
    for (int i = 0; i < runs; ++i) {
        r.gb_s_1t = std::max(r.gb_s_1t, membw_read_pass(buf, bytes, 1));
        r.gb_s_nt = std::max(r.gb_s_nt, membw_read_pass(buf, bytes, threads));
    }
    return r;
}

}  // namespace kiln

// Memory bandwidth measured on the spot: the ceiling decode speed is judged
// against (a decode step reads every weight once, so tokens/s <= GB/s / weight GB).
#pragma once

#include <cstddef>

namespace kiln {

struct membw_result {
    size_t bytes = 0;      // buffer size read per pass
    int threads = 0;       // threads of the multithreaded measurement
    double gb_s_1t = 0;    // best of the runs, one thread (GB = 1e9 bytes)
    double gb_s_nt = 0;    // best of the runs, `threads` threads
};

// Streaming read of a buffer of `bytes` (default 256 MiB, 8x this machine's L3) that is
// first written so its pages exist; each thread of kiln's pool sums its own contiguous slice with
// the active kernel level's stream_sum (arch/cpu_dispatch.h), the widest loads the machine has. Best of `runs`
// passes with 1 thread and with `threads` threads (<= 0: kiln's thread count).
membw_result membw_measure(int threads = 0, size_t bytes = size_t(256) << 20, int runs = 5);

// One pass over buf with n threads; returns GB/s. (Exposed for tests.)
double membw_read_pass(const void* buf, size_t bytes, int threads);

}  // namespace kiln

// kiln's own worker threads for the ops' parallel loops (docs/KERNELS.md, Threading).
//
// Why not OpenMP: a decode step runs ~200 short parallel loops, and an OpenMP region ends in a
// barrier every thread must reach. On a machine whose cores are taken by other processes a
// descheduled worker stalls every region (GNU OpenMP measured 8.8 t/s against 109 with passive
// waiting), while passive waiting slows an idle machine. Here the calling thread claims items from
// a shared counter like the workers, so it never waits for a worker that has not started: it only
// waits for items a worker is already running. Workers spin briefly for the next loop, then yield,
// then sleep on a condition variable.
#pragma once

#include <cstdint>

namespace kiln {

using pool_item_fn = void (*)(void* ctx, int64_t item, int thread);

// fn(ctx, i, thread) for every i in [0, n), on the calling thread (thread 0) and up to
// n_threads - 1 workers (threads 1..n_threads - 1), each item exactly once, in no fixed order;
// returns when all are done. Called from inside an item, or while another thread runs a loop, it
// runs the loop serially on the caller (thread 0). Items must not throw (as inside an OpenMP
// loop, an exception escaping an item ends the process). KILN_POOL=0 in the environment makes
// pool_enabled() false (the callers then use OpenMP, for comparison).
void pool_run(int64_t n, int n_threads, pool_item_fn fn, void* ctx);
bool pool_enabled();

template <class F>
void pool_for(int64_t n, int n_threads, const F& f) {
    pool_run(n, n_threads, [](void* c, int64_t i, int t) { (*static_cast<const F*>(c))(i, t); },
             const_cast<void*>(static_cast<const void*>(&f)));
}

}  // namespace kiln

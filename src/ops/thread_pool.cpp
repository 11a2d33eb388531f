// The ops' worker pool (ops/thread_pool.h). One loop at a time: `next` holds the loop's tag (high
// 32 bits) and the next unclaimed item (low 32). A worker claims item i only by a compare-exchange
// that still sees its loop's tag with i < n, so a worker that wakes late can never run an item of a
// later loop with the function of an earlier one: the caller publishes a new loop only after every
// item of the previous one has been claimed and finished.
#include "ops/thread_pool.h"

#include <sched.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define KILN_CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define KILN_CPU_RELAX() __asm__ __volatile__("yield")
#else
#define KILN_CPU_RELAX() ((void)0)
#endif

namespace kiln {

namespace {

using clock_type = std::chrono::steady_clock;

// How long an idle worker spins for the next loop before yielding, then sleeping. A decode step's
// loops follow each other within microseconds, so workers stay awake during a step and sleep
// between requests. KILN_SPIN_US overrides it (0: sleep at once).
int64_t spin_us() {
    static const int64_t us = [] {
        const char* e = std::getenv("KILN_SPIN_US");
        if (e == nullptr || *e == '\0') return int64_t{200};
        const long v = std::strtol(e, nullptr, 10);
        return static_cast<int64_t>(v < 0 ? 0 : v);
    }();
    return us;
}

constexpr uint64_t k_index_mask = 0xffffffffu;

struct pool_state {
    std::mutex run_mu;  // one loop at a time; a second caller runs its loop serially
    std::mutex grow_mu;
    std::vector<std::thread> workers;  // detached: they live as long as the process

    std::atomic<uint64_t> next{0};
    std::atomic<int64_t> done{0};
    std::atomic<pool_item_fn> fn{nullptr};
    std::atomic<void*> ctx{nullptr};
    std::atomic<int64_t> n{0};
    std::atomic<int> n_threads{0};
    uint32_t tag = 0;  // the caller's, under run_mu

    std::mutex sleep_mu;
    std::condition_variable wake;
    std::atomic<int> sleepers{0};
};

pool_state& pool() {
    static pool_state* p = new pool_state;  // never destroyed: detached workers may still look at it at exit
    return *p;
}

thread_local bool t_in_loop = false;

// Claims and runs items of the loop tagged `tag` until none is left. The loop's fields are read
// after seeing its tag open (index below the closed marker) and trusted only if the claim succeeds:
// the caller closes a finished loop (index = k_index_mask) before it rewrites the fields, all with
// sequentially consistent operations, so a successful claim proves the fields read were this loop's.
void work_on(pool_state& p, uint32_t tag, int id) {
    for (;;) {
        uint64_t v = p.next.load(std::memory_order_seq_cst);
        if (static_cast<uint32_t>(v >> 32) != tag) return;
        const int64_t i = static_cast<int64_t>(v & k_index_mask);
        const pool_item_fn f = p.fn.load(std::memory_order_seq_cst);
        void* const c = p.ctx.load(std::memory_order_seq_cst);
        const int64_t n = p.n.load(std::memory_order_seq_cst);
        if (i >= n || i == static_cast<int64_t>(k_index_mask)) return;
        if (p.next.compare_exchange_strong(v, v + 1, std::memory_order_seq_cst)) {
            f(c, i, id);
            p.done.fetch_add(1, std::memory_order_release);
        }
    }
}

void worker_main(int id) {
    pool_state& p = pool();
    t_in_loop = true;  // a loop started from inside an item runs serially
    uint32_t seen = static_cast<uint32_t>(p.next.load(std::memory_order_acquire) >> 32);
    for (;;) {
        uint64_t v = p.next.load(std::memory_order_acquire);
        if (static_cast<uint32_t>(v >> 32) == seen) {
            const auto start = clock_type::now();
            const auto budget = std::chrono::microseconds(spin_us());
            int iter = 0;
            while (static_cast<uint32_t>((v = p.next.load(std::memory_order_acquire)) >> 32) == seen) {
                KILN_CPU_RELAX();
                if ((++iter & 63) != 0) continue;
                const auto waited = clock_type::now() - start;
                if (waited < budget) continue;
                if (waited < 2 * budget) {
                    sched_yield();
                    continue;
                }
                std::unique_lock<std::mutex> lock(p.sleep_mu);
                p.sleepers.fetch_add(1, std::memory_order_seq_cst);
                while (static_cast<uint32_t>(p.next.load(std::memory_order_seq_cst) >> 32) == seen) p.wake.wait(lock);
                p.sleepers.fetch_sub(1, std::memory_order_relaxed);
                break;
            }
            v = p.next.load(std::memory_order_acquire);
        }
        seen = static_cast<uint32_t>(v >> 32);
        if (id < p.n_threads.load(std::memory_order_relaxed)) work_on(p, seen, id);
    }
}

void pool_grow(pool_state& p, int n_workers) {
    std::lock_guard<std::mutex> lock(p.grow_mu);
    while (static_cast<int>(p.workers.size()) < n_workers) {
        const int id = static_cast<int>(p.workers.size()) + 1;
        p.workers.emplace_back(worker_main, id);
        p.workers.back().detach();
    }
}

}  // namespace

bool pool_enabled() {
    static const bool on = [] {
        const char* e = std::getenv("KILN_POOL");
        return !(e != nullptr && e[0] == '0' && e[1] == '\0');
    }();
    return on;
}

void pool_run(int64_t n, int n_threads, pool_item_fn fn, void* ctx) {
    if (n <= 0) return;
    pool_state& p = pool();
    const int nt = static_cast<int>(n < n_threads ? n : n_threads);
    if (nt <= 1 || t_in_loop || n >= static_cast<int64_t>(k_index_mask) || !p.run_mu.try_lock()) {
        for (int64_t i = 0; i < n; ++i) fn(ctx, i, 0);
        return;
    }
    std::lock_guard<std::mutex> lock(p.run_mu, std::adopt_lock);
    pool_grow(p, nt - 1);
    // Close the previous loop (every item of it is done) so that no late claim can pair its tag
    // with the fields written next.
    p.next.store((static_cast<uint64_t>(p.tag) << 32) | k_index_mask, std::memory_order_seq_cst);
    p.fn.store(fn, std::memory_order_seq_cst);
    p.ctx.store(ctx, std::memory_order_seq_cst);
    p.n.store(n, std::memory_order_seq_cst);
    p.n_threads.store(nt, std::memory_order_seq_cst);
    p.done.store(0, std::memory_order_seq_cst);
    p.tag = p.tag + 1 == 0 ? 1 : p.tag + 1;
    p.next.store(static_cast<uint64_t>(p.tag) << 32, std::memory_order_seq_cst);  // publishes the fields
    if (p.sleepers.load(std::memory_order_seq_cst) > 0) {
        { std::lock_guard<std::mutex> wake_lock(p.sleep_mu); }
        p.wake.notify_all();
    }
    t_in_loop = true;
    try {
        work_on(p, p.tag, 0);
    } catch (...) {
        std::terminate();  // workers may still be running items that use the caller's frame
    }
    // Only items a worker has already claimed are left: wait for them (briefly spinning, then
    // yielding the core to that worker in case it shares ours).
    int iter = 0;
    while (p.done.load(std::memory_order_acquire) < n) {
        if (++iter < 256) {
            KILN_CPU_RELAX();
        } else {
            sched_yield();
        }
    }
    t_in_loop = false;
}

}  // namespace kiln

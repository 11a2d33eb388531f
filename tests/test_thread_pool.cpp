// The ops' worker pool (ops/thread_pool.h): every item exactly once with a thread index in range,
// many short loops in a row (the claim protocol across loop tags), loops started from inside an
// item or from two threads at once (both run serially on their caller, still complete).
#include <doctest/doctest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "ops/thread_pool.h"

using namespace kiln;

TEST_CASE("thread pool: each item once, thread index below the thread count") {
    for (int nt : {1, 2, 3}) {
        for (int64_t n : {0, 1, 2, 7, 100, 1000}) {
            std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
            std::atomic<int> bad_thread{0};
            pool_for(n, nt, [&](int64_t i, int t) {
                hits[static_cast<size_t>(i)].fetch_add(1);
                if (t < 0 || t >= nt) bad_thread.fetch_add(1);
            });
            for (int64_t i = 0; i < n; ++i) REQUIRE(hits[static_cast<size_t>(i)].load() == 1);
            CHECK(bad_thread.load() == 0);
        }
    }
}

TEST_CASE("thread pool: many short loops in a row give the right sums") {
    std::atomic<int64_t> total{0};
    int64_t want = 0;
    for (int loop = 0; loop < 20000; ++loop) {
        const int64_t n = 1 + loop % 5;
        const bool slow = loop % 64 == 0;  // some items long enough for the worker to take part
        pool_for(n, 2, [&](int64_t i, int) {
            if (slow) {
                volatile int spin = 0;
                for (int j = 0; j < 20000; ++j) spin = spin + 1;
            }
            total.fetch_add(i + loop);
        });
        for (int64_t i = 0; i < n; ++i) want += i + loop;
    }
    CHECK(total.load() == want);
}

TEST_CASE("thread pool: nested and concurrent loops run serially on their caller and complete") {
    std::atomic<int64_t> inner{0};
    pool_for(8, 2, [&](int64_t, int) {
        pool_for(10, 2, [&](int64_t, int t) {
            CHECK(t == 0);
            inner.fetch_add(1);
        });
    });
    CHECK(inner.load() == 80);

    std::atomic<int64_t> a{0}, b{0};
    auto body = [](std::atomic<int64_t>& c) {
        for (int loop = 0; loop < 2000; ++loop) pool_for(4, 2, [&](int64_t i, int) { c.fetch_add(i); });
    };
    std::thread other([&] { body(a); });
    body(b);
    other.join();
    CHECK(a.load() == 2000 * 6);
    CHECK(b.load() == 2000 * 6);
}

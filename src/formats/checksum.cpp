// This file is the specification of kiln64 (docs/FORMAT.md refers to it).
#include "formats/checksum.h"

#include <cstring>

namespace kiln {

namespace {

constexpr uint64_t p1 = 0x9E3779B185EBCA87ull;
constexpr uint64_t p2 = 0xC2B2AE3D27D4EB4Full;
constexpr uint64_t p3 = 0x165667B19E3779F9ull;

inline uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

inline uint64_t load_u64(const unsigned char* p) {
    uint64_t v;
    std::memcpy(&v, p, 8);  // kiln targets little-endian machines only (FORMAT.md)
    return v;
}

inline uint64_t lane_step(uint64_t lane, uint64_t word) { return rotl(lane + word * p2, 31) * p1; }

}  // namespace

uint64_t checksum_kiln64(const void* data, size_t n_bytes, uint64_t seed) {
    const auto* p = static_cast<const unsigned char*>(data);
    // Four independent lanes so the multiplies pipeline.
    uint64_t a = seed + p1 + p2, b = seed + p2, c = seed, d = seed - p1;
    size_t i = 0;
    for (; i + 32 <= n_bytes; i += 32) {
        a = lane_step(a, load_u64(p + i));
        b = lane_step(b, load_u64(p + i + 8));
        c = lane_step(c, load_u64(p + i + 16));
        d = lane_step(d, load_u64(p + i + 24));
    }
    uint64_t h = rotl(a, 1) + rotl(b, 7) + rotl(c, 12) + rotl(d, 18);
    h += static_cast<uint64_t>(n_bytes);
    for (; i < n_bytes; ++i) h = rotl(h ^ (p[i] * p3), 11) * p1;
    // final avalanche
    h ^= h >> 33;
    h *= p2;
    h ^= h >> 29;
    h *= p3;
    h ^= h >> 32;
    return h;
}

}  // namespace kiln

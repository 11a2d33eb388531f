// kiln64: the checksum of tensor data and of the index in KILN files. Fast
// (several GB/s, so `kiln info --verify` is quick on large models), not
// cryptographic: it detects corruption and truncation, not tampering.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kiln {

uint64_t checksum_kiln64(const void* data, size_t n_bytes, uint64_t seed = 0);

}  // namespace kiln

// On-disk constants and the header of KILN files (docs/FORMAT.md is the spec).
#pragma once

#include <cstdint>

namespace kiln {

constexpr char kiln_magic[4] = {'K', 'I', 'L', 'N'};
constexpr uint32_t kiln_version = 1;
constexpr uint32_t kiln_alignment = 64;

struct kiln_header {
    char magic[4];
    uint32_t version;
    uint32_t alignment;
    uint32_t flags;
    uint64_t meta_offset;
    uint64_t meta_size;
    uint64_t dir_offset;
    uint64_t dir_size;
    uint64_t n_tensors;
    uint64_t data_offset;
    uint64_t data_size;
    uint64_t file_size;
    uint64_t index_checksum;  // kiln64 of bytes [meta_offset, data_offset)
    uint8_t reserved[40];
};
static_assert(sizeof(kiln_header) == 128, "KILN header is 128 bytes");

// Fixed part of a directory entry after the name: type, layout, n_dims, ne[4], offset, n_bytes, checksum.
constexpr size_t kiln_dir_entry_fixed_bytes = 4 + 4 + 4 + 4 * 8 + 8 + 8 + 8;

}  // namespace kiln

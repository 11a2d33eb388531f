// What the model file writers (KILN, GGUF) share: a little-endian byte buffer for
// headers and indexes, positioned writes that finish or fail, and the
// write-to-a-temporary-then-rename that keeps half-written files out of sight.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "formats/source_model.h"

namespace kiln {

inline uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

// Appends values in host (little-endian) byte order; strings are a u64 length and the bytes.
class byte_writer {
public:
    void u8(uint8_t v) { raw(&v, 1); }
    void u32(uint32_t v) { raw(&v, 4); }
    void u64(uint64_t v) { raw(&v, 8); }
    void i64(int64_t v) { raw(&v, 8); }
    void f64(double v) { raw(&v, 8); }
    void str(const std::string& s) { u64(s.size()); raw(s.data(), s.size()); }
    void raw(const void* p, size_t n) {
        const auto* b = static_cast<const uint8_t*>(p);
        buf.insert(buf.end(), b, b + n);
    }
    std::vector<uint8_t> buf;
};

// Writes all n bytes at offset (retrying short writes); `dest` names the file in errors.
void output_write_all(int fd, const void* p, size_t n, uint64_t offset, const std::string& dest);

// The tensor's bytes: its `data`, or its `load` run into staging (reused across tensors).
const void* output_tensor_bytes(const source_tensor& t, std::vector<uint8_t>& staging);

// Creates a temporary file next to path, lets write(fd) fill it, syncs it and renames it
// onto path. On any failure the temporary file is removed and the error propagates.
void output_write_atomic(const std::string& path, const std::function<void(int fd)>& write);

}  // namespace kiln

// Bounds-checked little-endian reading from a byte range. Every read that
// would cross the end throws kiln::error naming the source and the section,
// so parsers of untrusted files never read out of bounds.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

#include "core/error.h"

namespace kiln {

class byte_reader {
public:
    byte_reader(const uint8_t* begin, size_t size, std::string source, std::string section)
        : p_(begin), size_(size), source_(std::move(source)), section_(std::move(section)) {}

    size_t pos() const { return pos_; }
    size_t remaining() const { return size_ - pos_; }
    void set_section(std::string s) { section_ = std::move(s); }

    const uint8_t* take(size_t n) {
        if (n > remaining()) {
            fail("{}: truncated {} (needs {} more bytes at offset {}, {} left)", source_, section_, n, pos_,
                 remaining());
        }
        const uint8_t* at = p_ + pos_;
        pos_ += n;
        return at;
    }
    template <typename T> T read() {
        T v;
        std::memcpy(&v, take(sizeof(T)), sizeof(T));
        return v;
    }
    uint8_t u8() { return read<uint8_t>(); }
    uint32_t u32() { return read<uint32_t>(); }
    uint64_t u64() { return read<uint64_t>(); }
    int32_t i32() { return read<int32_t>(); }
    int64_t i64() { return read<int64_t>(); }
    float f32() { return read<float>(); }
    double f64() { return read<double>(); }
    std::string str(size_t n) {
        const uint8_t* s = take(n);
        return std::string(reinterpret_cast<const char*>(s), n);
    }
    // A count of items each at least `min_item_bytes` long: refuses counts the remaining bytes cannot hold,
    // so a corrupt count never triggers a huge allocation.
    uint64_t count(uint64_t n, size_t min_item_bytes, const char* what) {
        if (min_item_bytes > 0 && n > remaining() / min_item_bytes) {
            fail("{}: {} count {} in {} exceeds what the remaining {} bytes can hold", source_, what, n, section_,
                 remaining());
        }
        return n;
    }

private:
    const uint8_t* p_;
    size_t size_;
    size_t pos_ = 0;
    std::string source_;
    std::string section_;
};

}  // namespace kiln

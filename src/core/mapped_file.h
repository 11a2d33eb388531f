// A whole file made available as bytes: mapped read-only (the default, zero
// copy) or read into memory (--no-mmap, or descriptors that cannot be mapped).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace kiln {

class mapped_file {
public:
    // Throws kiln::error naming the path when it cannot be opened/read.
    static std::shared_ptr<mapped_file> open(const std::string& path, bool use_mmap = true);
    // Takes ownership of fd (e.g. a memfd holding an in-memory conversion).
    static std::shared_ptr<mapped_file> from_fd(int fd, const std::string& display_name, bool use_mmap = true);
    ~mapped_file();
    mapped_file(const mapped_file&) = delete;
    mapped_file& operator=(const mapped_file&) = delete;

    const uint8_t* data() const { return data_; }
    size_t size() const { return size_; }
    const std::string& name() const { return name_; }
    bool is_mapped() const { return mapped_; }

private:
    mapped_file() = default;
    std::string name_;
    const uint8_t* data_ = nullptr;
    size_t size_ = 0;
    bool mapped_ = false;
    void* heap_ = nullptr;
};

}  // namespace kiln

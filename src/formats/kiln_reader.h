// Opens a KILN file: maps it (or reads it with use_mmap = false), validates
// the header, metadata and tensor directory before anything uses them, and
// exposes tensors that point straight into the mapping.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/mapped_file.h"
#include "core/tensor.h"
#include "formats/metadata.h"

namespace kiln {

struct kiln_tensor_entry {
    tensor t;              // data points into the file
    uint64_t offset = 0;   // from the file start
    uint64_t checksum = 0;
};

class kiln_file {
public:
    static std::shared_ptr<kiln_file> open(const std::string& path, bool use_mmap = true);
    static std::shared_ptr<kiln_file> from_mapped(std::shared_ptr<mapped_file> bytes);

    const std::string& name() const { return bytes_->name(); }
    const metadata& meta() const { return meta_; }
    const std::vector<kiln_tensor_entry>& entries() const { return entries_; }
    const tensor* find(const std::string& tensor_name) const;
    // The tensor, or kiln::error naming the file and the missing tensor.
    const tensor& get(const std::string& tensor_name) const;
    size_t file_size() const { return bytes_->size(); }
    bool is_mapped() const { return bytes_->is_mapped(); }

    // Recomputes every tensor checksum; throws kiln::error naming the first bad tensor.
    // on_progress(done_bytes, total_bytes) is called as it goes (may be empty).
    void verify(const std::function<void(uint64_t, uint64_t)>& on_progress = {}) const;

private:
    std::shared_ptr<mapped_file> bytes_;
    metadata meta_;
    std::vector<kiln_tensor_entry> entries_;
};

// True when the file starts with the KILN magic (false for short or unreadable files).
bool kiln_is_kiln_file(const std::string& path);

}  // namespace kiln

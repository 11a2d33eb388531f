// Reader for GGUF files (versions 1, 2 and 3): the header, every key/value
// pair and the tensor directory, parsed from a read-only mapping of the file.
// Tensor data is never copied: each tensor points into the mapping, which the
// gguf_file keeps alive. Every count, length and offset is checked against the
// file size, so a truncated or corrupt file is a kiln::error, never a crash.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "core/mapped_file.h"

namespace kiln {

// GGUF value types; the numbers are the file's type tags.
enum class gguf_type : uint32_t {
    u8 = 0,
    i8 = 1,
    u16 = 2,
    i16 = 3,
    u32 = 4,
    i32 = 5,
    f32 = 6,
    boolean = 7,
    string = 8,
    array = 9,
    u64 = 10,
    i64 = 11,
    f64 = 12,
};
const char* gguf_type_name(gguf_type t);

// One value. Scalars: integers of every width as int64_t (a u64 above
// INT64_MAX as uint64_t), floats as double. Arrays are not decoded while
// parsing (a vocabulary's 100k strings would be copied for nothing): they keep
// their element type, count and the span of their bytes inside the mapping,
// already checked to lie within the file; gguf_file decodes them on request.
struct gguf_value {
    gguf_type type = gguf_type::u8;
    std::variant<std::monostate, int64_t, uint64_t, double, bool, std::string> scalar;  // monostate for arrays

    gguf_type elem_type = gguf_type::u8;  // arrays only
    uint64_t count = 0;
    const uint8_t* elems = nullptr;
    size_t elems_size = 0;

    bool is_array() const { return type == gguf_type::array; }
};

// A tensor of the directory. `type` is the raw ggml type id; n_bytes is the
// size its type and shape imply, and [data, data + n_bytes) lies inside the file.
struct gguf_tensor {
    std::string name;
    uint32_t type = 0;
    int n_dims = 0;
    int64_t ne[4] = {1, 1, 1, 1};  // ne[0] innermost
    uint64_t offset = 0;           // relative to the data section, as stored
    size_t n_bytes = 0;
    const uint8_t* data = nullptr;

    int64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
};

// Name and block geometry of a ggml type id; nullptr for an id ggml does not define.
struct ggml_type_traits {
    const char* name;
    int block_size;      // elements per block
    size_t block_bytes;  // bytes per block
};
const ggml_type_traits* ggml_type_info(uint32_t type);
std::string ggml_type_name(uint32_t type);  // "Q4_K", or "unknown(99)"

class gguf_file {
public:
    const std::string& path() const { return file_->name(); }
    uint32_t version() const { return version_; }
    size_t alignment() const { return alignment_; }
    size_t data_offset() const { return data_offset_; }  // absolute start of the tensor data section

    const std::map<std::string, gguf_value>& kvs() const { return kvs_; }
    const gguf_value* find(const std::string& key) const;
    const std::vector<gguf_tensor>& tensors() const { return tensors_; }
    const gguf_tensor* find_tensor(const std::string& name) const;

    // Typed getters: kiln::error naming the file and key when the key is
    // missing (the variants without a default), of another type, or out of range.
    std::string get_str(const std::string& key) const;
    std::string get_str(const std::string& key, const std::string& def) const;
    int64_t get_int(const std::string& key) const;
    int64_t get_int(const std::string& key, int64_t def) const;
    double get_float(const std::string& key) const;  // integers convert too
    double get_float(const std::string& key, double def) const;
    bool get_bool(const std::string& key, bool def) const;
    std::vector<std::string> get_str_array(const std::string& key) const;
    std::vector<float> get_f32_array(const std::string& key) const;
    std::vector<int32_t> get_i32_array(const std::string& key) const;  // any integer element type in i32 range

    // The elements of an array value of this file, each as a value (nested arrays stay lazy).
    std::vector<gguf_value> array_items(const gguf_value& array) const;

    // Holds the mapping: tensor data pointers are valid while this lives.
    const std::shared_ptr<mapped_file>& mapping() const { return file_; }

private:
    friend std::shared_ptr<gguf_file> gguf_from_mapped(std::shared_ptr<mapped_file> f);
    const gguf_value& require(const std::string& key) const;
    const gguf_value& require_array(const std::string& key, const char* wanted) const;

    std::shared_ptr<mapped_file> file_;
    uint32_t version_ = 0;
    size_t alignment_ = 32;
    size_t data_offset_ = 0;
    std::map<std::string, gguf_value> kvs_;
    std::vector<gguf_tensor> tensors_;
    std::map<std::string, size_t> tensor_index_;
};

// True when the file starts with the GGUF magic (false for unreadable files).
bool gguf_is_gguf(const std::string& path);

// Parses the whole file; kiln::error naming the file and the fault otherwise.
std::shared_ptr<gguf_file> gguf_open(const std::string& path);
std::shared_ptr<gguf_file> gguf_from_mapped(std::shared_ptr<mapped_file> f);

}  // namespace kiln

// Reader for .safetensors files (u64 header length, JSON header, raw tensor
// bytes) and for sharded checkpoints listed in model.safetensors.index.json.
// Files are mapped read-only and tensors point into the mapping. Every header
// entry is validated against the file: dtype, shape × element size = byte
// length, data_offsets inside the data region and no two tensors overlapping.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/mapped_file.h"

namespace kiln {

struct safetensors_tensor {
    std::string name;
    dtype type = dtype::f32;     // F32, F16 and BF16 are supported
    std::vector<int64_t> shape;  // outermost first, as PyTorch writes it ([out, in] for a Linear weight)
    const uint8_t* data = nullptr;
    size_t n_bytes = 0;
    std::string file;            // the .safetensors file holding it, for messages

    int64_t n_elements() const;
};

class safetensors_file {
public:
    // Maps and validates `path`; kiln::error naming the file (and tensor) when anything is wrong.
    static std::shared_ptr<safetensors_file> open(const std::string& path);
    // Validates an already mapped file (the tests feed corrupt bytes this way too).
    static std::shared_ptr<safetensors_file> from_mapped(std::shared_ptr<mapped_file> f);

    const std::string& path() const { return file_->name(); }
    const std::vector<safetensors_tensor>& tensors() const { return tensors_; }
    const safetensors_tensor* find(const std::string& name) const;

private:
    std::shared_ptr<mapped_file> file_;
    std::vector<safetensors_tensor> tensors_;
};

// All tensors of a checkpoint directory: model.safetensors.index.json and its
// shards when the index exists, else every *.safetensors file of the directory
// (normally the single model.safetensors). A tensor name appearing twice, or
// an index entry whose shard lacks it, is a kiln::error.
class safetensors_checkpoint {
public:
    static safetensors_checkpoint open_dir(const std::string& dir);

    const std::map<std::string, safetensors_tensor>& tensors() const { return tensors_; }
    const safetensors_tensor* find(const std::string& name) const;
    // The opened files; their mappings must outlive any pointer into them.
    const std::vector<std::shared_ptr<safetensors_file>>& files() const { return files_; }

private:
    std::vector<std::shared_ptr<safetensors_file>> files_;
    std::map<std::string, safetensors_tensor> tensors_;
};

}  // namespace kiln

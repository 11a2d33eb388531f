#include "formats/safetensors.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace kiln {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

bool safetensors_dtype(const std::string& name, dtype& out) {
    if (name == "F32") out = dtype::f32;
    else if (name == "F16") out = dtype::f16;
    else if (name == "BF16") out = dtype::bf16;
    else return false;
    return true;
}

// An unsigned JSON integer, or kiln::error naming the file, tensor and field.
uint64_t json_u64(const json& v, const std::string& path, const std::string& tensor, const char* field) {
    if (!v.is_number_unsigned()) {
        fail("{}: tensor '{}': {} holds {}, expected a non-negative integer", path, tensor, field, v.dump());
    }
    return v.get<uint64_t>();
}

safetensors_tensor parse_entry(const std::string& path, const std::string& name, const json& e,
                               const uint8_t* data_begin, uint64_t data_size, uint64_t& begin_out) {
    if (!e.is_object()) fail("{}: tensor '{}': header entry is not a JSON object", path, name);
    safetensors_tensor t;
    t.name = name;
    t.file = path;

    const auto dt = e.find("dtype");
    if (dt == e.end() || !dt->is_string()) fail("{}: tensor '{}': missing dtype", path, name);
    if (!safetensors_dtype(dt->get<std::string>(), t.type)) {
        fail("{}: tensor '{}' has dtype {}, which kiln does not support (F32, F16, BF16)", path, name,
             dt->get<std::string>());
    }

    const auto shape = e.find("shape");
    if (shape == e.end() || !shape->is_array()) fail("{}: tensor '{}': missing shape", path, name);
    uint64_t n_elements = 1;
    for (const json& d : *shape) {
        const uint64_t n = json_u64(d, path, name, "shape");
        // Keeps n_elements × element size far from overflow; no real tensor comes close.
        if (n != 0 && n_elements > (uint64_t(1) << 56) / n) fail("{}: tensor '{}': shape is too large", path, name);
        n_elements *= n;
        t.shape.push_back(static_cast<int64_t>(n));
    }

    const auto offsets = e.find("data_offsets");
    if (offsets == e.end() || !offsets->is_array() || offsets->size() != 2) {
        fail("{}: tensor '{}': data_offsets must be a [begin, end] pair", path, name);
    }
    const uint64_t begin = json_u64((*offsets)[0], path, name, "data_offsets");
    const uint64_t end = json_u64((*offsets)[1], path, name, "data_offsets");
    if (begin > end) fail("{}: tensor '{}': data_offsets begin {} is after end {}", path, name, begin, end);
    if (end > data_size) {
        fail("{}: tensor '{}': data_offsets [{}, {}) run past the data region ({} bytes; truncated file?)", path,
             name, begin, end, data_size);
    }
    const uint64_t want = n_elements * dtype_row_bytes(t.type, 1);
    if (end - begin != want) {
        fail("{}: tensor '{}': data_offsets span {} bytes but its shape and dtype need {}", path, name, end - begin,
             want);
    }
    t.data = data_begin + begin;
    t.n_bytes = static_cast<size_t>(want);
    begin_out = begin;
    return t;
}

std::shared_ptr<safetensors_file> open_shard(const fs::path& dir, const std::string& file_name,
                                             const std::string& index_path) {
    const fs::path p(file_name);
    // Shards live beside the index: refuse names that would reach elsewhere.
    if (file_name.empty() || p.is_absolute() || p.has_parent_path() || file_name == "." || file_name == "..") {
        fail("{}: shard name '{}' is not a plain file name", index_path, file_name);
    }
    return safetensors_file::open((dir / p).string());
}

}  // namespace

int64_t safetensors_tensor::n_elements() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
}

std::shared_ptr<safetensors_file> safetensors_file::open(const std::string& path) {
    return from_mapped(mapped_file::open(path));
}

std::shared_ptr<safetensors_file> safetensors_file::from_mapped(std::shared_ptr<mapped_file> f) {
    const std::string& path = f->name();
    if (f->size() < 8) fail("{}: {} bytes is too small for a safetensors file", path, f->size());
    uint64_t header_len;
    std::memcpy(&header_len, f->data(), 8);
    if (header_len > f->size() - 8) {
        fail("{}: safetensors header length {} runs past the end of the file ({} bytes)", path, header_len,
             f->size());
    }
    json header;
    try {
        const char* h = reinterpret_cast<const char*>(f->data() + 8);
        header = json::parse(h, h + header_len);
    } catch (const json::exception& e) {
        fail("{}: malformed safetensors JSON header: {}", path, e.what());
    }
    if (!header.is_object()) fail("{}: safetensors header is not a JSON object", path);

    auto out = std::shared_ptr<safetensors_file>(new safetensors_file());
    out->file_ = f;
    const uint8_t* data_begin = f->data() + 8 + header_len;
    const uint64_t data_size = f->size() - 8 - header_len;
    std::vector<std::pair<uint64_t, size_t>> by_begin;  // (begin offset, tensor index)
    for (const auto& [name, entry] : header.items()) {
        if (name == "__metadata__") continue;  // free-form strings, nothing kiln uses
        uint64_t begin = 0;
        out->tensors_.push_back(parse_entry(path, name, entry, data_begin, data_size, begin));
        by_begin.emplace_back(begin, out->tensors_.size() - 1);
    }

    // Two tensors sharing bytes means a corrupt header (safetensors forbids it).
    std::sort(by_begin.begin(), by_begin.end());
    const safetensors_tensor* prev = nullptr;
    uint64_t prev_end = 0;
    for (const auto& [begin, i] : by_begin) {
        const safetensors_tensor& t = out->tensors_[i];
        if (t.n_bytes == 0) continue;
        if (prev && begin < prev_end) {
            fail("{}: tensors '{}' and '{}' overlap (bytes [{}, {}) of the data region)", path, prev->name, t.name,
                 begin, prev_end);
        }
        prev = &t;
        prev_end = begin + t.n_bytes;
    }
    return out;
}

const safetensors_tensor* safetensors_file::find(const std::string& name) const {
    for (const auto& t : tensors_) {
        if (t.name == name) return &t;
    }
    return nullptr;
}

safetensors_checkpoint safetensors_checkpoint::open_dir(const std::string& dir) {
    safetensors_checkpoint ck;
    const fs::path root(dir);
    const fs::path index = root / "model.safetensors.index.json";
    std::error_code ec;

    if (fs::exists(index, ec)) {
        const std::string index_path = index.string();
        json j;
        try {
            std::ifstream in(index_path, std::ios::binary);
            if (!in) fail("{}: cannot open", index_path);
            j = json::parse(in);
        } catch (const json::exception& e) {
            fail("{}: malformed JSON: {}", index_path, e.what());
        }
        if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object()) {
            fail("{}: no weight_map object", index_path);
        }
        std::map<std::string, std::shared_ptr<safetensors_file>> shards;
        for (const auto& [tensor, shard] : j["weight_map"].items()) {
            if (!shard.is_string()) fail("{}: weight_map entry '{}' is not a file name", index_path, tensor);
            const std::string name = shard.get<std::string>();
            auto it = shards.find(name);
            if (it == shards.end()) it = shards.emplace(name, open_shard(root, name, index_path)).first;
            if (!it->second->find(tensor)) {
                fail("{}: tensor '{}' is listed in shard {} but that file does not hold it", index_path, tensor,
                     name);
            }
        }
        for (auto& [name, f] : shards) ck.files_.push_back(f);
    } else if (fs::exists(root / "model.safetensors", ec)) {
        ck.files_.push_back(safetensors_file::open((root / "model.safetensors").string()));
    } else {
        std::vector<std::string> found;
        for (const auto& e : fs::directory_iterator(root, ec)) {
            if (e.path().extension() == ".safetensors") found.push_back(e.path().string());
        }
        if (found.empty()) {
            fail("{}: no model.safetensors, model.safetensors.index.json or other .safetensors file", dir);
        }
        std::sort(found.begin(), found.end());
        for (const auto& p : found) ck.files_.push_back(safetensors_file::open(p));
    }

    for (const auto& f : ck.files_) {
        for (const auto& t : f->tensors()) {
            const auto [it, inserted] = ck.tensors_.emplace(t.name, t);
            if (!inserted) fail("{}: tensor '{}' appears in both {} and {}", dir, t.name, it->second.file, t.file);
        }
    }
    return ck;
}

const safetensors_tensor* safetensors_checkpoint::find(const std::string& name) const {
    auto it = tensors_.find(name);
    return it == tensors_.end() ? nullptr : &it->second;
}

}  // namespace kiln

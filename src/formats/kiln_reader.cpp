#include "formats/kiln_reader.h"

#include <cstring>
#include <fstream>
#include <set>

#include "core/error.h"
#include "formats/byte_reader.h"
#include "formats/checksum.h"
#include "formats/kiln_format.h"
#include "quant/pack.h"

namespace kiln {

namespace {

void check_range(const std::string& file, const char* what, uint64_t offset, uint64_t size, uint64_t limit) {
    if (offset > limit || size > limit - offset) {
        fail("{}: {} [{}, {}) lies outside the file ({} bytes)", file, what, offset, offset + size, limit);
    }
}

kiln_header read_header(const mapped_file& f) {
    const std::string& file = f.name();
    if (f.size() < 4 || std::memcmp(f.data(), kiln_magic, 4) != 0) fail("{}: not a KILN file (wrong magic)", file);
    if (f.size() < sizeof(kiln_header)) {
        fail("{}: truncated KILN file: {} bytes, the header alone needs {}", file, f.size(), sizeof(kiln_header));
    }
    kiln_header h;
    std::memcpy(&h, f.data(), sizeof(h));
    if (h.version != kiln_version) fail("{}: KILN version {} is not supported (this kiln reads version {})", file, h.version, kiln_version);
    if (h.file_size != f.size()) {
        if (f.size() < h.file_size) {
            fail("{}: truncated KILN file: {} bytes of {} ({} missing)", file, f.size(), h.file_size,
                 h.file_size - f.size());
        }
        fail("{}: file is {} bytes but its header says {}", file, f.size(), h.file_size);
    }
    if (h.alignment < 64 || (h.alignment & (h.alignment - 1)) != 0) {
        fail("{}: invalid alignment {} (a power of two >= 64 is required)", file, h.alignment);
    }
    check_range(file, "metadata section", h.meta_offset, h.meta_size, f.size());
    check_range(file, "tensor directory", h.dir_offset, h.dir_size, f.size());
    check_range(file, "tensor data", h.data_offset, h.data_size, f.size());
    if (h.meta_offset < sizeof(kiln_header) || h.dir_offset < h.meta_offset + h.meta_size ||
        h.data_offset < h.dir_offset + h.dir_size) {
        fail("{}: header sections overlap or are out of order", file);
    }
    if (h.data_offset % h.alignment != 0) fail("{}: tensor data offset {} is not aligned to {}", file, h.data_offset, h.alignment);
    const uint64_t sum = checksum_kiln64(f.data() + h.meta_offset, h.data_offset - h.meta_offset);
    if (sum != h.index_checksum) fail("{}: metadata/directory checksum mismatch (file corrupt)", file);
    return h;
}

metadata read_metadata(const mapped_file& f, const kiln_header& h) {
    byte_reader r(f.data() + h.meta_offset, h.meta_size, f.name(), "metadata section");
    metadata m;
    const uint64_t n = r.count(r.u64(), 5, "metadata entry");
    for (uint64_t i = 0; i < n; ++i) {
        const uint32_t key_len = r.u32();
        const std::string key = r.str(key_len);
        const uint8_t kind = r.u8();
        switch (static_cast<meta_kind>(kind)) {
            case meta_kind::int64: m.set_int(key, r.i64()); break;
            case meta_kind::float64: m.set_float(key, r.f64()); break;
            case meta_kind::boolean: m.set_bool(key, r.u8() != 0); break;
            case meta_kind::string: m.set_str(key, r.str(r.u64())); break;
            case meta_kind::int32_array: {
                std::vector<int32_t> a(r.count(r.u64(), 4, "int32 array"));
                for (auto& x : a) x = r.i32();
                m.set(key, std::move(a));
                break;
            }
            case meta_kind::float32_array: {
                std::vector<float> a(r.count(r.u64(), 4, "float32 array"));
                for (auto& x : a) x = r.f32();
                m.set(key, std::move(a));
                break;
            }
            case meta_kind::string_array: {
                std::vector<std::string> a(r.count(r.u64(), 8, "string array"));
                for (auto& s : a) s = r.str(r.u64());
                m.set(key, std::move(a));
                break;
            }
            default: fail("{}: metadata key '{}' has unknown kind {}", f.name(), key, kind);
        }
    }
    return m;
}

std::vector<kiln_tensor_entry> read_directory(const mapped_file& f, const kiln_header& h) {
    const std::string& file = f.name();
    byte_reader r(f.data() + h.dir_offset, h.dir_size, file, "tensor directory");
    std::vector<kiln_tensor_entry> entries;
    entries.reserve(r.count(h.n_tensors, 4 + kiln_dir_entry_fixed_bytes, "tensor"));
    std::set<std::string> names;
    for (uint64_t i = 0; i < h.n_tensors; ++i) {
        const std::string name = r.str(r.u32());
        const uint32_t type = r.u32();
        const uint32_t layout = r.u32();
        const uint32_t n_dims = r.u32();
        uint64_t ne[4];
        for (auto& x : ne) x = r.u64();
        const uint64_t offset = r.u64();
        const uint64_t n_bytes = r.u64();
        const uint64_t sum = r.u64();

        if (!names.insert(name).second) fail("{}: tensor '{}' appears twice", file, name);
        const dtype_traits* tr = dtype_info(type);
        if (!tr) fail("{}: tensor '{}' has unsupported type {}", file, name, type);
        if (layout == 1) {
            fail("{}: tensor '{}' is in the first rows8 arrangement (layout 1), which this kiln no longer reads: "
                 "re-create the file with kiln convert / quantize / synth", file, name);
        }
        if (tensor_layout_name(layout) == nullptr) fail("{}: tensor '{}' has unsupported layout {}", file, name, layout);
        if (n_dims < 1 || n_dims > 4) fail("{}: tensor '{}' has {} dimensions (1..4 allowed)", file, name, n_dims);
        const bool rows8 = layout == static_cast<uint32_t>(tensor_layout::rows8);
        if (rows8 && !quant_has_rows8(static_cast<dtype>(type))) {
            fail("{}: tensor '{}' has layout rows8, which type {} does not have", file, name, tr->name);
        }
        if (rows8 && n_dims != 2) fail("{}: tensor '{}' has layout rows8 but {} dimensions (2 required)", file, name, n_dims);
        uint64_t n_elem = 1;
        for (uint32_t d = 0; d < 4; ++d) {
            if (ne[d] == 0 || (d >= n_dims && ne[d] != 1) || ne[d] > (uint64_t(1) << 40)) {
                fail("{}: tensor '{}' has invalid dimension {} = {}", file, name, d, ne[d]);
            }
            if (n_elem > (uint64_t(1) << 50) / ne[d]) fail("{}: tensor '{}' is impossibly large", file, name);
            n_elem *= ne[d];
        }
        if (ne[0] % static_cast<uint64_t>(tr->block_size) != 0) {
            fail("{}: tensor '{}' row length {} is not a multiple of the {} block size {}", file, name, ne[0],
                 tr->name, tr->block_size);
        }
        // rows8 pads the row count up to a multiple of 8 (2-D, so the rows are ne[1]).
        const uint64_t n_rows_stored = rows8 ? (ne[1] + 7) / 8 * 8 : n_elem / ne[0];
        const uint64_t expect = ne[0] / static_cast<uint64_t>(tr->block_size) * tr->block_bytes * n_rows_stored;
        if (n_bytes != expect) {
            fail("{}: tensor '{}' has {} bytes but its {} {} shape needs {}", file, name, n_bytes, tr->name,
                 tensor_layout_name(layout), expect);
        }
        if (offset % h.alignment != 0) fail("{}: tensor '{}' offset {} is not aligned to {}", file, name, offset, h.alignment);
        if (offset < h.data_offset || offset - h.data_offset > h.data_size ||
            n_bytes > h.data_size - (offset - h.data_offset)) {
            fail("{}: tensor '{}' data [{}, {}) lies outside the data region [{}, {})", file, name, offset,
                 offset + n_bytes, h.data_offset, h.data_offset + h.data_size);
        }
        kiln_tensor_entry e;
        const int64_t ne_signed[4] = {int64_t(ne[0]), int64_t(ne[1]), int64_t(ne[2]), int64_t(ne[3])};
        e.t = tensor_make(name, static_cast<dtype>(type), static_cast<int>(n_dims), ne_signed,
                          const_cast<uint8_t*>(f.data() + offset), static_cast<tensor_layout>(layout));
        e.offset = offset;
        e.checksum = sum;
        entries.push_back(std::move(e));
    }
    if (r.remaining() != 0) fail("{}: {} unexpected bytes after the tensor directory", file, r.remaining());
    return entries;
}

}  // namespace

std::shared_ptr<kiln_file> kiln_file::open(const std::string& path, bool use_mmap) {
    return from_mapped(mapped_file::open(path, use_mmap));
}

std::shared_ptr<kiln_file> kiln_file::from_mapped(std::shared_ptr<mapped_file> bytes) {
    auto f = std::shared_ptr<kiln_file>(new kiln_file());
    const kiln_header h = read_header(*bytes);
    f->meta_ = read_metadata(*bytes, h);
    f->entries_ = read_directory(*bytes, h);
    f->bytes_ = std::move(bytes);
    return f;
}

const tensor* kiln_file::find(const std::string& tensor_name) const {
    for (const auto& e : entries_) {
        if (e.t.name == tensor_name) return &e.t;
    }
    return nullptr;
}

const tensor& kiln_file::get(const std::string& tensor_name) const {
    const tensor* t = find(tensor_name);
    if (!t) fail("{}: tensor '{}' is missing", name(), tensor_name);
    return *t;
}

void kiln_file::verify(const std::function<void(uint64_t, uint64_t)>& on_progress) const {
    uint64_t total = 0, done = 0;
    for (const auto& e : entries_) total += e.t.n_bytes();
    for (const auto& e : entries_) {
        if (checksum_kiln64(e.t.data, e.t.n_bytes()) != e.checksum) {
            fail("{}: tensor '{}' checksum mismatch (data corrupt)", name(), e.t.name);
        }
        done += e.t.n_bytes();
        if (on_progress) on_progress(done, total);
    }
}

bool kiln_is_kiln_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    char magic[4] = {};
    if (!in.read(magic, 4)) return false;
    return std::memcmp(magic, kiln_magic, 4) == 0;
}

}  // namespace kiln

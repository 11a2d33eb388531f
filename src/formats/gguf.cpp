#include "formats/gguf.h"

#include <cstring>
#include <fstream>
#include <limits>

#include "core/error.h"
#include "formats/byte_reader.h"

namespace kiln {

namespace {

constexpr char gguf_magic[4] = {'G', 'G', 'U', 'F'};
constexpr uint32_t gguf_max_version = 3;
constexpr int gguf_max_dims = 4;
// Nested arrays are legal but never deep in practice; the bound keeps a
// crafted file from recursing the parser off the stack.
constexpr int max_array_depth = 8;
constexpr size_t default_alignment = 32;
constexpr size_t max_alignment = size_t(1) << 30;

// Block geometry of every ggml type id. Ids ggml retired (4, 5, 31-33, 36-38)
// and ids past the table are unknown.
const ggml_type_traits ggml_types[] = {
    {"F32", 1, 4},        // 0
    {"F16", 1, 2},        // 1
    {"Q4_0", 32, 18},     // 2
    {"Q4_1", 32, 20},     // 3
    {nullptr, 0, 0},      // 4
    {nullptr, 0, 0},      // 5
    {"Q5_0", 32, 22},     // 6
    {"Q5_1", 32, 24},     // 7
    {"Q8_0", 32, 34},     // 8
    {"Q8_1", 32, 36},     // 9
    {"Q2_K", 256, 84},    // 10
    {"Q3_K", 256, 110},   // 11
    {"Q4_K", 256, 144},   // 12
    {"Q5_K", 256, 176},   // 13
    {"Q6_K", 256, 210},   // 14
    {"Q8_K", 256, 292},   // 15
    {"IQ2_XXS", 256, 66}, // 16
    {"IQ2_XS", 256, 74},  // 17
    {"IQ3_XXS", 256, 98}, // 18
    {"IQ1_S", 256, 50},   // 19
    {"IQ4_NL", 32, 18},   // 20
    {"IQ3_S", 256, 110},  // 21
    {"IQ2_S", 256, 82},   // 22
    {"IQ4_XS", 256, 136}, // 23
    {"I8", 1, 1},         // 24
    {"I16", 1, 2},        // 25
    {"I32", 1, 4},        // 26
    {"I64", 1, 8},        // 27
    {"F64", 1, 8},        // 28
    {"IQ1_M", 256, 56},   // 29
    {"BF16", 1, 2},       // 30
    {nullptr, 0, 0},      // 31
    {nullptr, 0, 0},      // 32
    {nullptr, 0, 0},      // 33
    {"TQ1_0", 256, 54},   // 34
    {"TQ2_0", 256, 66},   // 35
    {nullptr, 0, 0},      // 36
    {nullptr, 0, 0},      // 37
    {nullptr, 0, 0},      // 38
    {"MXFP4", 32, 17},    // 39
};

// Bytes of one element of a fixed-size value type; 0 for strings and arrays.
size_t gguf_scalar_size(gguf_type t) {
    switch (t) {
        case gguf_type::u8: case gguf_type::i8: case gguf_type::boolean: return 1;
        case gguf_type::u16: case gguf_type::i16: return 2;
        case gguf_type::u32: case gguf_type::i32: case gguf_type::f32: return 4;
        case gguf_type::u64: case gguf_type::i64: case gguf_type::f64: return 8;
        case gguf_type::string: case gguf_type::array: return 0;
    }
    return 0;
}

bool gguf_type_is_int(gguf_type t) {
    switch (t) {
        case gguf_type::u8: case gguf_type::i8: case gguf_type::u16: case gguf_type::i16:
        case gguf_type::u32: case gguf_type::i32: case gguf_type::u64: case gguf_type::i64: return true;
        default: return false;
    }
}

// Integer array element at p (an element of type t, which is an integer type).
// A u64 above INT64_MAX comes back as INT64_MAX: out of every range callers accept.
int64_t int_element(gguf_type t, const uint8_t* p) {
    auto load = [p](auto v) {
        std::memcpy(&v, p, sizeof(v));
        return v;
    };
    switch (t) {
        case gguf_type::u8: return load(uint8_t{});
        case gguf_type::i8: return load(int8_t{});
        case gguf_type::u16: return load(uint16_t{});
        case gguf_type::i16: return load(int16_t{});
        case gguf_type::u32: return load(uint32_t{});
        case gguf_type::i32: return load(int32_t{});
        case gguf_type::i64: return load(int64_t{});
        case gguf_type::u64: {
            const uint64_t u = load(uint64_t{});
            return u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ? std::numeric_limits<int64_t>::max()
                                                                                    : static_cast<int64_t>(u);
        }
        default: return 0;
    }
}

uint64_t saturating_add(uint64_t a, uint64_t b) {
    return a > std::numeric_limits<uint64_t>::max() - b ? std::numeric_limits<uint64_t>::max() : a + b;
}

// Reads values in the layout of one GGUF version: v1 writes string lengths and
// array counts as u32, v2 and v3 as u64.
class value_reader {
public:
    value_reader(byte_reader& r, uint32_t version, const std::string& file) : r_(r), v1_(version == 1), file_(file) {}

    uint64_t length() { return v1_ ? r_.u32() : r_.u64(); }
    size_t length_bytes() const { return v1_ ? 4 : 8; }
    std::string string() { return r_.str(length()); }

    gguf_type type(const std::string& key) {
        const uint32_t t = r_.u32();
        if (t > static_cast<uint32_t>(gguf_type::f64)) fail("{}: key '{}' has unknown value type {}", file_, key, t);
        return static_cast<gguf_type>(t);
    }

    gguf_value value(gguf_type t, const std::string& key, int depth) {
        gguf_value v;
        v.type = t;
        switch (t) {
            case gguf_type::u8: v.scalar = int64_t{r_.u8()}; break;
            case gguf_type::i8: v.scalar = int64_t{r_.read<int8_t>()}; break;
            case gguf_type::u16: v.scalar = int64_t{r_.read<uint16_t>()}; break;
            case gguf_type::i16: v.scalar = int64_t{r_.read<int16_t>()}; break;
            case gguf_type::u32: v.scalar = int64_t{r_.u32()}; break;
            case gguf_type::i32: v.scalar = int64_t{r_.i32()}; break;
            case gguf_type::i64: v.scalar = r_.i64(); break;
            case gguf_type::u64: {
                const uint64_t u = r_.u64();
                if (u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) v.scalar = static_cast<int64_t>(u);
                else v.scalar = u;
                break;
            }
            case gguf_type::f32: v.scalar = double{r_.f32()}; break;
            case gguf_type::f64: v.scalar = r_.f64(); break;
            case gguf_type::boolean: v.scalar = r_.u8() != 0; break;
            case gguf_type::string: v.scalar = string(); break;
            case gguf_type::array: array(v, key, depth); break;
        }
        return v;
    }

private:
    // Records where the elements lie and steps over them, checking every length.
    void array(gguf_value& v, const std::string& key, int depth) {
        if (depth >= max_array_depth) fail("{}: key '{}' nests arrays deeper than {}", file_, key, max_array_depth);
        v.elem_type = type(key);
        const size_t elem_size = gguf_scalar_size(v.elem_type);
        if (elem_size > 0) {
            v.count = r_.count(length(), elem_size, "array element");
            v.elems = r_.take(v.count * elem_size);
            v.elems_size = v.count * elem_size;
            return;
        }
        const uint64_t n = length();
        const size_t elems_start = r_.pos();
        v.elems = r_.take(0);
        if (v.elem_type == gguf_type::string) {
            v.count = r_.count(n, length_bytes(), "string array element");
            for (uint64_t i = 0; i < v.count; ++i) r_.take(length());
        } else {
            v.count = r_.count(n, 4 + length_bytes(), "nested array");
            for (uint64_t i = 0; i < v.count; ++i) value(gguf_type::array, key, depth + 1);
        }
        v.elems_size = r_.pos() - elems_start;
    }

    byte_reader& r_;
    bool v1_;
    const std::string& file_;
};

void parse_tensor_infos(byte_reader& r, value_reader& vr, uint64_t n_tensors, uint32_t version,
                        const std::string& file, std::vector<gguf_tensor>& out,
                        std::map<std::string, size_t>& index) {
    const size_t dim_bytes = version == 1 ? 4 : 8;
    // name length, n_dims, at least one dim, type, offset
    const size_t min_info = vr.length_bytes() + 4 + dim_bytes + 4 + 8;
    r.count(n_tensors, min_info, "tensor info");
    out.reserve(static_cast<size_t>(n_tensors));
    for (uint64_t i = 0; i < n_tensors; ++i) {
        r.set_section(fmt::format("tensor info {}", i));
        gguf_tensor t;
        t.name = vr.string();
        r.set_section(fmt::format("tensor info {} ('{}')", i, t.name));
        const uint32_t n_dims = r.u32();
        if (n_dims < 1 || n_dims > gguf_max_dims) {
            fail("{}: tensor '{}' has {} dimensions (1 to {} are allowed)", file, t.name, n_dims, gguf_max_dims);
        }
        t.n_dims = static_cast<int>(n_dims);
        for (uint32_t d = 0; d < n_dims; ++d) {
            const uint64_t ne = version == 1 ? r.u32() : r.u64();
            if (ne > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
                fail("{}: tensor '{}' dimension {} is {}, out of range", file, t.name, d, ne);
            }
            t.ne[d] = static_cast<int64_t>(ne);
        }
        t.type = r.u32();
        t.offset = r.u64();
        if (!ggml_type_info(t.type)) fail("{}: tensor '{}' has unknown ggml type {}", file, t.name, t.type);
        if (!index.emplace(t.name, out.size()).second) fail("{}: tensor '{}' appears twice", file, t.name);
        out.push_back(std::move(t));
    }
}

// Sizes each tensor from its type and shape and checks its bytes lie inside the file.
void place_tensors(std::vector<gguf_tensor>& tensors, const mapped_file& f, size_t data_offset, size_t alignment) {
    const std::string& file = f.name();
    const uint64_t size = f.size();
    if (!tensors.empty() && data_offset > size) {
        fail("{}: tensor data section starts at {}, beyond the end of the file ({} bytes)", file, data_offset, size);
    }
    for (auto& t : tensors) {
        const ggml_type_traits& tr = *ggml_type_info(t.type);
        if (t.ne[0] % tr.block_size != 0) {
            fail("{}: tensor '{}' row length {} is not a multiple of the {} block size {}", file, t.name, t.ne[0],
                 tr.name, tr.block_size);
        }
        uint64_t n_bytes = static_cast<uint64_t>(t.ne[0] / tr.block_size) * tr.block_bytes;
        bool overflow = false;
        for (int d = 1; d < gguf_max_dims; ++d) {
            overflow |= __builtin_mul_overflow(n_bytes, static_cast<uint64_t>(t.ne[d]), &n_bytes);
        }
        if (overflow) fail("{}: tensor '{}' shape is too large", file, t.name);
        if (t.offset % alignment != 0) {
            fail("{}: tensor '{}' offset {} is not a multiple of the alignment {}", file, t.name, t.offset, alignment);
        }
        const uint64_t room = size - data_offset;
        if (t.offset > room || n_bytes > room - t.offset) {
            const uint64_t begin = saturating_add(data_offset, t.offset);
            fail("{}: tensor '{}' data [{}, {}) outside the file (size {})", file, t.name, begin,
                 saturating_add(begin, n_bytes), size);
        }
        t.n_bytes = static_cast<size_t>(n_bytes);
        t.data = f.data() + data_offset + t.offset;
    }
}

size_t read_alignment(const std::map<std::string, gguf_value>& kvs, const std::string& file) {
    auto it = kvs.find("general.alignment");
    if (it == kvs.end()) return default_alignment;
    const auto* v = std::get_if<int64_t>(&it->second.scalar);
    if (!v || *v < 1 || static_cast<uint64_t>(*v) > max_alignment || (*v & (*v - 1)) != 0) {
        fail("{}: general.alignment must be a power of two integer up to {}", file, max_alignment);
    }
    return static_cast<size_t>(*v);
}

}  // namespace

const char* gguf_type_name(gguf_type t) {
    switch (t) {
        case gguf_type::u8: return "u8";
        case gguf_type::i8: return "i8";
        case gguf_type::u16: return "u16";
        case gguf_type::i16: return "i16";
        case gguf_type::u32: return "u32";
        case gguf_type::i32: return "i32";
        case gguf_type::f32: return "f32";
        case gguf_type::boolean: return "bool";
        case gguf_type::string: return "string";
        case gguf_type::array: return "array";
        case gguf_type::u64: return "u64";
        case gguf_type::i64: return "i64";
        case gguf_type::f64: return "f64";
    }
    return "?";
}

const ggml_type_traits* ggml_type_info(uint32_t type) {
    if (type >= sizeof(ggml_types) / sizeof(ggml_types[0]) || !ggml_types[type].name) return nullptr;
    return &ggml_types[type];
}

std::string ggml_type_name(uint32_t type) {
    const ggml_type_traits* tr = ggml_type_info(type);
    return tr ? std::string(tr->name) : fmt::format("unknown({})", type);
}

bool gguf_is_gguf(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    char magic[4];
    return in.read(magic, 4) && std::memcmp(magic, gguf_magic, 4) == 0;
}

std::shared_ptr<gguf_file> gguf_open(const std::string& path) { return gguf_from_mapped(mapped_file::open(path)); }

std::shared_ptr<gguf_file> gguf_from_mapped(std::shared_ptr<mapped_file> f) {
    const std::string& file = f->name();
    if (f->size() < 4 || std::memcmp(f->data(), gguf_magic, 4) != 0) fail("{}: not a GGUF file (wrong magic)", file);
    std::shared_ptr<gguf_file> g(new gguf_file());
    g->file_ = f;

    byte_reader r(f->data(), f->size(), file, "header");
    r.take(4);
    g->version_ = r.u32();
    if (g->version_ < 1 || g->version_ > gguf_max_version) {
        const uint32_t swapped = __builtin_bswap32(g->version_);
        if (swapped >= 1 && swapped <= gguf_max_version) fail("{}: big-endian GGUF files are not supported", file);
        fail("{}: GGUF version {} is not supported (1 to {} are)", file, g->version_, gguf_max_version);
    }
    value_reader vr(r, g->version_, file);
    const uint64_t n_tensors = g->version_ == 1 ? r.u32() : r.u64();
    const uint64_t n_kv = g->version_ == 1 ? r.u32() : r.u64();

    // key length, type, and at least one byte of value
    r.count(n_kv, vr.length_bytes() + 4 + 1, "key/value");
    for (uint64_t i = 0; i < n_kv; ++i) {
        r.set_section(fmt::format("key/value {}", i));
        std::string key = vr.string();
        r.set_section(fmt::format("key/value {} ('{}')", i, key));
        const gguf_type t = vr.type(key);
        gguf_value v = vr.value(t, key, 0);
        if (g->kvs_.count(key) != 0) fail("{}: key '{}' appears twice", file, key);
        g->kvs_.emplace(std::move(key), std::move(v));
    }
    g->alignment_ = read_alignment(g->kvs_, file);

    parse_tensor_infos(r, vr, n_tensors, g->version_, file, g->tensors_, g->tensor_index_);
    g->data_offset_ = (r.pos() + g->alignment_ - 1) / g->alignment_ * g->alignment_;
    place_tensors(g->tensors_, *f, g->data_offset_, g->alignment_);
    return g;
}

// ---- access -------------------------------------------------------------------------------------

const gguf_value* gguf_file::find(const std::string& key) const {
    auto it = kvs_.find(key);
    return it == kvs_.end() ? nullptr : &it->second;
}

const gguf_tensor* gguf_file::find_tensor(const std::string& name) const {
    auto it = tensor_index_.find(name);
    return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

const gguf_value& gguf_file::require(const std::string& key) const {
    const gguf_value* v = find(key);
    if (!v) fail("{}: key '{}' is missing", path(), key);
    return *v;
}

const gguf_value& gguf_file::require_array(const std::string& key, const char* wanted) const {
    const gguf_value& v = require(key);
    if (!v.is_array()) fail("{}: key '{}' is a {}, expected an array of {}", path(), key, gguf_type_name(v.type), wanted);
    return v;
}

std::string gguf_file::get_str(const std::string& key) const {
    const gguf_value& v = require(key);
    const auto* s = std::get_if<std::string>(&v.scalar);
    if (!s) fail("{}: key '{}' is a {}, expected a string", path(), key, gguf_type_name(v.type));
    return *s;
}

std::string gguf_file::get_str(const std::string& key, const std::string& def) const {
    return find(key) ? get_str(key) : def;
}

int64_t gguf_file::get_int(const std::string& key) const {
    const gguf_value& v = require(key);
    if (const auto* i = std::get_if<int64_t>(&v.scalar)) return *i;
    if (std::holds_alternative<uint64_t>(v.scalar)) {
        fail("{}: key '{}' = {} is out of range", path(), key, std::get<uint64_t>(v.scalar));
    }
    fail("{}: key '{}' is a {}, expected an integer", path(), key, gguf_type_name(v.type));
}

int64_t gguf_file::get_int(const std::string& key, int64_t def) const { return find(key) ? get_int(key) : def; }

double gguf_file::get_float(const std::string& key) const {
    const gguf_value& v = require(key);
    if (const auto* d = std::get_if<double>(&v.scalar)) return *d;
    if (const auto* i = std::get_if<int64_t>(&v.scalar)) return static_cast<double>(*i);
    fail("{}: key '{}' is a {}, expected a number", path(), key, gguf_type_name(v.type));
}

double gguf_file::get_float(const std::string& key, double def) const { return find(key) ? get_float(key) : def; }

bool gguf_file::get_bool(const std::string& key, bool def) const {
    const gguf_value* v = find(key);
    if (!v) return def;
    if (const auto* b = std::get_if<bool>(&v->scalar)) return *b;
    fail("{}: key '{}' is a {}, expected a bool", path(), key, gguf_type_name(v->type));
}

std::vector<std::string> gguf_file::get_str_array(const std::string& key) const {
    const gguf_value& v = require_array(key, "strings");
    if (v.elem_type != gguf_type::string) {
        fail("{}: key '{}' is an array of {}, expected strings", path(), key, gguf_type_name(v.elem_type));
    }
    byte_reader r(v.elems, v.elems_size, path(), fmt::format("key '{}'", key));
    value_reader vr(r, version_, path());
    std::vector<std::string> out;
    out.reserve(static_cast<size_t>(v.count));
    for (uint64_t i = 0; i < v.count; ++i) out.push_back(vr.string());
    return out;
}

std::vector<float> gguf_file::get_f32_array(const std::string& key) const {
    const gguf_value& v = require_array(key, "floats");
    std::vector<float> out(static_cast<size_t>(v.count));
    if (v.elem_type == gguf_type::f32) {
        if (!out.empty()) std::memcpy(out.data(), v.elems, out.size() * sizeof(float));
    } else if (v.elem_type == gguf_type::f64) {
        for (size_t i = 0; i < out.size(); ++i) {
            double d;
            std::memcpy(&d, v.elems + i * sizeof(double), sizeof(double));
            out[i] = static_cast<float>(d);
        }
    } else {
        fail("{}: key '{}' is an array of {}, expected floats", path(), key, gguf_type_name(v.elem_type));
    }
    return out;
}

std::vector<int32_t> gguf_file::get_i32_array(const std::string& key) const {
    const gguf_value& v = require_array(key, "integers");
    if (!gguf_type_is_int(v.elem_type)) {
        fail("{}: key '{}' is an array of {}, expected integers", path(), key, gguf_type_name(v.elem_type));
    }
    const size_t elem_size = gguf_scalar_size(v.elem_type);
    std::vector<int32_t> out(static_cast<size_t>(v.count));
    for (size_t i = 0; i < out.size(); ++i) {
        const int64_t x = int_element(v.elem_type, v.elems + i * elem_size);
        if (x < std::numeric_limits<int32_t>::min() || x > std::numeric_limits<int32_t>::max()) {
            fail("{}: key '{}' element {} = {} is out of the int32 range", path(), key, i, x);
        }
        out[i] = static_cast<int32_t>(x);
    }
    return out;
}

std::vector<gguf_value> gguf_file::array_items(const gguf_value& array) const {
    if (!array.is_array()) fail("{}: value is a {}, not an array", path(), gguf_type_name(array.type));
    byte_reader r(array.elems, array.elems_size, path(), "array");
    value_reader vr(r, version_, path());
    std::vector<gguf_value> out;
    out.reserve(static_cast<size_t>(array.count));
    for (uint64_t i = 0; i < array.count; ++i) {
        // Nested arrays were checked to their full depth while parsing, so depth 1 is safe here.
        out.push_back(vr.value(array.elem_type, "array element", 1));
    }
    return out;
}

}  // namespace kiln

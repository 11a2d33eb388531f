#include "formats/metadata.h"

#include <cmath>

#include "core/error.h"

namespace kiln {

meta_kind meta_kind_of(const meta_value& v) {
    switch (v.index()) {
        case 0: return meta_kind::int64;
        case 1: return meta_kind::float64;
        case 2: return meta_kind::boolean;
        case 3: return meta_kind::string;
        case 4: return meta_kind::int32_array;
        case 5: return meta_kind::float32_array;
        default: return meta_kind::string_array;
    }
}

const char* meta_kind_name(meta_kind k) {
    switch (k) {
        case meta_kind::int64: return "int";
        case meta_kind::float64: return "float";
        case meta_kind::boolean: return "bool";
        case meta_kind::string: return "string";
        case meta_kind::int32_array: return "int32[]";
        case meta_kind::float32_array: return "float32[]";
        case meta_kind::string_array: return "string[]";
    }
    return "?";
}

const meta_value* metadata::find(const std::string& key) const {
    auto it = values_.find(key);
    return it == values_.end() ? nullptr : &it->second;
}

namespace {

const meta_value& require(const metadata& m, const std::string& key) {
    const meta_value* v = m.find(key);
    if (!v) fail("metadata key '{}' is missing", key);
    return *v;
}

[[noreturn]] void wrong_kind(const std::string& key, const meta_value& v, const char* want) {
    fail("metadata key '{}' is a {}, expected {}", key, meta_kind_name(meta_kind_of(v)), want);
}

}  // namespace

int64_t metadata::get_int(const std::string& key) const {
    const meta_value& v = require(*this, key);
    if (auto p = std::get_if<int64_t>(&v)) return *p;
    if (auto p = std::get_if<bool>(&v)) return *p ? 1 : 0;
    if (auto p = std::get_if<double>(&v)) {
        if (std::isfinite(*p) && std::floor(*p) == *p && std::fabs(*p) < 9.0e15) return static_cast<int64_t>(*p);
    }
    wrong_kind(key, v, "an int");
}

double metadata::get_float(const std::string& key) const {
    const meta_value& v = require(*this, key);
    if (auto p = std::get_if<double>(&v)) return *p;
    if (auto p = std::get_if<int64_t>(&v)) return static_cast<double>(*p);
    wrong_kind(key, v, "a float");
}

bool metadata::get_bool(const std::string& key) const {
    const meta_value& v = require(*this, key);
    if (auto p = std::get_if<bool>(&v)) return *p;
    if (auto p = std::get_if<int64_t>(&v)) {
        if (*p == 0 || *p == 1) return *p == 1;
    }
    wrong_kind(key, v, "a bool");
}

const std::string& metadata::get_str(const std::string& key) const {
    const meta_value& v = require(*this, key);
    if (auto p = std::get_if<std::string>(&v)) return *p;
    wrong_kind(key, v, "a string");
}

const std::vector<int32_t>& metadata::get_i32_array(const std::string& key) const {
    const meta_value& v = require(*this, key);
    if (auto p = std::get_if<std::vector<int32_t>>(&v)) return *p;
    wrong_kind(key, v, "an int32 array");
}

const std::vector<float>& metadata::get_f32_array(const std::string& key) const {
    const meta_value& v = require(*this, key);
    if (auto p = std::get_if<std::vector<float>>(&v)) return *p;
    wrong_kind(key, v, "a float32 array");
}

const std::vector<std::string>& metadata::get_str_array(const std::string& key) const {
    const meta_value& v = require(*this, key);
    if (auto p = std::get_if<std::vector<std::string>>(&v)) return *p;
    wrong_kind(key, v, "a string array");
}

int64_t metadata::get_int(const std::string& key, int64_t def) const { return has(key) ? get_int(key) : def; }
double metadata::get_float(const std::string& key, double def) const { return has(key) ? get_float(key) : def; }
bool metadata::get_bool(const std::string& key, bool def) const { return has(key) ? get_bool(key) : def; }
std::string metadata::get_str(const std::string& key, const std::string& def) const {
    return has(key) ? get_str(key) : def;
}

namespace {

std::string quote(const std::string& s, size_t max_len = 60) {
    std::string out = "\"";
    for (size_t i = 0; i < s.size() && i < max_len; ++i) {
        const char c = s[i];
        if (c == '\n') out += "\\n";
        else if (c == '"') out += "\\\"";
        else if (static_cast<unsigned char>(c) < 0x20) out += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
        else out += c;
    }
    if (s.size() > max_len) out += "...";
    return out + "\"";
}

template <typename T, typename F>
std::string array_str(const std::vector<T>& a, size_t max_items, F item) {
    std::string s = "[";
    for (size_t i = 0; i < a.size() && i < max_items; ++i) {
        if (i) s += ", ";
        s += item(a[i]);
    }
    if (a.size() > max_items) s += fmt::format(", ... ({} items)", a.size());
    return s + "]";
}

}  // namespace

std::string meta_value_str(const meta_value& v, size_t max_items) {
    switch (meta_kind_of(v)) {
        case meta_kind::int64: return std::to_string(std::get<int64_t>(v));
        case meta_kind::float64: return fmt::format("{:g}", std::get<double>(v));
        case meta_kind::boolean: return std::get<bool>(v) ? "true" : "false";
        case meta_kind::string: return quote(std::get<std::string>(v));
        case meta_kind::int32_array:
            return array_str(std::get<std::vector<int32_t>>(v), max_items, [](int32_t x) { return std::to_string(x); });
        case meta_kind::float32_array:
            return array_str(std::get<std::vector<float>>(v), max_items, [](float x) { return fmt::format("{:g}", x); });
        case meta_kind::string_array:
            return array_str(std::get<std::vector<std::string>>(v), max_items,
                             [](const std::string& x) { return quote(x, 20); });
    }
    return "?";
}

}  // namespace kiln

// Typed key/value metadata, as stored in a KILN file's metadata section.
// Keys are dotted names ("model.n_embd", "tokenizer.tokens"); docs/FORMAT.md
// lists the keys kiln writes and reads.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

namespace kiln {

// The value kinds; the numeric tags are part of the file format.
enum class meta_kind : uint8_t {
    int64 = 1,
    float64 = 2,
    boolean = 3,
    string = 4,
    int32_array = 5,
    float32_array = 6,
    string_array = 7,
};

using meta_value = std::variant<int64_t, double, bool, std::string, std::vector<int32_t>,
                                std::vector<float>, std::vector<std::string>>;

meta_kind meta_kind_of(const meta_value& v);
const char* meta_kind_name(meta_kind k);

class metadata {
public:
    void set(const std::string& key, meta_value v) { values_[key] = std::move(v); }
    void set_int(const std::string& key, int64_t v) { values_[key] = v; }
    void set_float(const std::string& key, double v) { values_[key] = v; }
    void set_bool(const std::string& key, bool v) { values_[key] = v; }
    void set_str(const std::string& key, std::string v) { values_[key] = std::move(v); }
    void erase(const std::string& key) { values_.erase(key); }

    bool has(const std::string& key) const { return values_.count(key) != 0; }
    const meta_value* find(const std::string& key) const;

    // Getters throw kiln::error naming the key when it is missing or of another kind.
    // Integers and floats convert into each other where no information is lost.
    int64_t get_int(const std::string& key) const;
    double get_float(const std::string& key) const;
    bool get_bool(const std::string& key) const;
    const std::string& get_str(const std::string& key) const;
    const std::vector<int32_t>& get_i32_array(const std::string& key) const;
    const std::vector<float>& get_f32_array(const std::string& key) const;
    const std::vector<std::string>& get_str_array(const std::string& key) const;

    // Same, with a default when the key is absent (a present key of the wrong kind still throws).
    int64_t get_int(const std::string& key, int64_t def) const;
    double get_float(const std::string& key, double def) const;
    bool get_bool(const std::string& key, bool def) const;
    std::string get_str(const std::string& key, const std::string& def) const;

    const std::map<std::string, meta_value>& items() const { return values_; }
    size_t size() const { return values_.size(); }

private:
    std::map<std::string, meta_value> values_;
};

// One-line human rendering of a value (arrays are abbreviated).
std::string meta_value_str(const meta_value& v, size_t max_items = 8);

}  // namespace kiln

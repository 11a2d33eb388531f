#include "chat/jinja_value.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace kiln::jinja {

const value* object_data::find(std::string_view key) const {
    for (const auto& kv : items)
        if (kv.first == key) return &kv.second;
    return nullptr;
}

value* object_data::find(std::string_view key) {
    for (auto& kv : items)
        if (kv.first == key) return &kv.second;
    return nullptr;
}

void object_data::set(const std::string& key, value v) {
    if (value* p = find(key)) *p = std::move(v);
    else items.emplace_back(key, std::move(v));
}

value value::undefined(std::string what) {
    value v;
    v.s = std::move(what);
    return v;
}
value value::none() {
    value v;
    v.k = kind::none;
    return v;
}
value value::boolean(bool b) {
    value v;
    v.k = kind::boolean;
    v.b = b;
    return v;
}
value value::integer(int64_t i) {
    value v;
    v.k = kind::integer;
    v.i = i;
    return v;
}
value value::floating(double f) {
    value v;
    v.k = kind::floating;
    v.f = f;
    return v;
}
value value::string(std::string s) {
    value v;
    v.k = kind::string;
    v.s = std::move(s);
    return v;
}
value value::array(value_list items) {
    value v;
    v.k = kind::array;
    v.a = std::make_shared<array_data>();
    v.a->items = std::move(items);
    return v;
}
value value::tuple(value_list items) {
    value v = array(std::move(items));
    v.a->is_tuple = true;
    return v;
}
value value::generator(value_list items) {
    value v = array(std::move(items));
    v.a->is_generator = true;
    return v;
}
value value::object() {
    value v;
    v.k = kind::object;
    v.o = std::make_shared<object_data>();
    return v;
}
value value::function(std::string name, std::function<value(value_list&, kwarg_list&)> f) {
    value v;
    v.k = kind::function;
    v.fn = std::make_shared<function_data>();
    v.fn->name = std::move(name);
    v.fn->call = std::move(f);
    return v;
}

double value::as_double() const {
    switch (k) {
        case kind::boolean: return b ? 1.0 : 0.0;
        case kind::integer: return static_cast<double>(i);
        case kind::floating: return f;
        default: return 0.0;
    }
}

std::string key_string(const value& k) {
    switch (k.k) {
        case value::kind::string: return k.s;
        case value::kind::boolean: return std::string("\x01i") + (k.b ? "1" : "0");
        case value::kind::integer: return "\x01i" + std::to_string(k.i);
        case value::kind::floating:
            if (std::floor(k.f) == k.f && std::fabs(k.f) < 9e18) return "\x01i" + std::to_string(static_cast<int64_t>(k.f));
            return "\x01f" + float_repr(k.f);
        case value::kind::none: return "\x01n";
        default: break;
    }
    throw template_error(std::string("unhashable type: '") + value_type_name(k) + "'", 0);
}

value key_value(const std::string& stored) {
    if (stored.empty() || stored[0] != '\x01') return value::string(stored);
    if (stored[1] == 'i') return value::integer(std::strtoll(stored.c_str() + 2, nullptr, 10));
    if (stored[1] == 'f') return value::floating(std::strtod(stored.c_str() + 2, nullptr));
    return value::none();
}

std::string key_json(const std::string& stored) {
    if (stored.empty() || stored[0] != '\x01') return stored;
    if (stored[1] == 'n') return "null";
    return stored.substr(2);
}

std::string html_escape(const std::string& s) {
    std::string out;
    for (const char c : s) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&#34;"; break;
            case '\'': out += "&#39;"; break;
            default: out += c;
        }
    }
    return out;
}

const char* value_type_name(const value& v) {
    switch (v.k) {
        case value::kind::undefined: return "Undefined";
        case value::kind::none: return "NoneType";
        case value::kind::boolean: return "bool";
        case value::kind::integer: return "int";
        case value::kind::floating: return "float";
        case value::kind::string: return "str";
        case value::kind::array: return v.a->is_generator ? "generator" : v.a->is_tuple ? "tuple" : "list";
        case value::kind::object: return v.o->is_namespace ? "Namespace" : "dict";
        case value::kind::function: return "function";
    }
    return "?";
}

bool value_truthy(const value& v) {
    switch (v.k) {
        case value::kind::undefined:
        case value::kind::none: return false;
        case value::kind::boolean: return v.b;
        case value::kind::integer: return v.i != 0;
        case value::kind::floating: return v.f != 0.0;
        case value::kind::string: return !v.s.empty();
        case value::kind::array: return v.a->is_generator || !v.a->items.empty();
        case value::kind::object: return v.o->is_namespace || !v.o->items.empty();
        case value::kind::function: return true;
    }
    return false;
}

std::string float_repr(double d) {
    if (std::isnan(d)) return "nan";
    if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
    // Python prints the shortest digits that read back as the same double.
    char buf[64];
    int prec = 1;
    for (; prec <= 17; ++prec) {
        std::snprintf(buf, sizeof buf, "%.*e", prec - 1, d);
        if (std::strtod(buf, nullptr) == d) break;
    }
    // buf: [-]d.ddde[+-]XX
    std::string s(buf);
    bool neg = s[0] == '-';
    if (neg) s.erase(0, 1);
    const size_t e = s.find('e');
    int exp10 = std::atoi(s.c_str() + e + 1);
    std::string digits;
    for (size_t i = 0; i < e; ++i)
        if (s[i] != '.') digits += s[i];
    while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
    std::string out;
    if (exp10 < -4 || exp10 >= 16) {
        out = digits.substr(0, 1);
        if (digits.size() > 1) out += "." + digits.substr(1);
        char eb[16];
        std::snprintf(eb, sizeof eb, "e%c%02d", exp10 < 0 ? '-' : '+', std::abs(exp10));
        out += eb;
    } else if (exp10 < 0) {
        out = "0." + std::string(static_cast<size_t>(-exp10 - 1), '0') + digits;
    } else {
        const size_t int_len = static_cast<size_t>(exp10) + 1;
        if (digits.size() <= int_len) out = digits + std::string(int_len - digits.size(), '0') + ".0";
        else out = digits.substr(0, int_len) + "." + digits.substr(int_len);
    }
    return neg ? "-" + out : out;
}

namespace {

// Decodes one UTF-8 code point at s[i] (advancing i); invalid bytes decode as themselves.
uint32_t utf8_next(std::string_view s, size_t& i) {
    const auto c = static_cast<unsigned char>(s[i]);
    int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
    if (i + n > s.size()) n = 1;
    uint32_t cp = n == 1 ? c : n == 2 ? (c & 0x1f) : n == 3 ? (c & 0x0f) : (c & 0x07);
    for (int k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3f);
    i += n;
    return cp;
}

// Python's str.isprintable(), approximately: controls and the invisible format characters are not.
bool py_printable(uint32_t cp) {
    if (cp < 0x20 || cp == 0x7f) return false;
    if (cp >= 0x80 && cp <= 0xa0) return false;
    if (cp == 0xad) return false;
    if ((cp >= 0x2000 && cp <= 0x200f) || (cp >= 0x2028 && cp <= 0x202f) || (cp >= 0x205f && cp <= 0x206f)) return false;
    if (cp == 0x3000 || cp == 0xfeff || cp == 0x1680) return false;
    if (cp >= 0xd800 && cp <= 0xdfff) return false;
    return true;
}

std::string string_repr(const std::string& s) {
    const bool has_single = s.find('\'') != std::string::npos;
    const bool has_double = s.find('"') != std::string::npos;
    const char q = has_single && !has_double ? '"' : '\'';
    std::string out(1, q);
    size_t i = 0;
    while (i < s.size()) {
        const size_t start = i;
        const uint32_t cp = utf8_next(s, i);
        char buf[16];
        if (cp == static_cast<uint32_t>(q) || cp == '\\') {
            out += '\\';
            out += static_cast<char>(cp);
        } else if (cp == '\n') out += "\\n";
        else if (cp == '\r') out += "\\r";
        else if (cp == '\t') out += "\\t";
        else if (!py_printable(cp)) {
            if (cp < 0x100) std::snprintf(buf, sizeof buf, "\\x%02x", cp);
            else if (cp < 0x10000) std::snprintf(buf, sizeof buf, "\\u%04x", cp);
            else std::snprintf(buf, sizeof buf, "\\U%08x", cp);
            out += buf;
        } else out.append(s, start, i - start);
    }
    out += q;
    return out;
}

void json_string(std::string& out, const std::string& s) {
    out += '"';
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            default:
                if (c < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", c);
                    out += buf;
                } else out += ch;
        }
    }
    out += '"';
}

struct json_writer {
    int indent;
    bool sort_keys;
    std::string item_sep, key_sep;
    std::string out;

    void newline(int depth) {
        out += '\n';
        out.append(static_cast<size_t>(indent) * depth, ' ');
    }

    void write(const value& v, int depth) {
        if (depth > 200) throw template_error("value nests too deeply to serialize (a cycle?)", 0);
        switch (v.k) {
            case value::kind::none: out += "null"; return;
            case value::kind::boolean: out += v.b ? "true" : "false"; return;
            case value::kind::integer: out += std::to_string(v.i); return;
            case value::kind::floating:
                if (std::isnan(v.f)) out += "NaN";
                else if (std::isinf(v.f)) out += v.f > 0 ? "Infinity" : "-Infinity";
                else out += float_repr(v.f);
                return;
            case value::kind::string: json_string(out, v.s); return;
            case value::kind::array: {
                if (v.a->is_generator) break;
                if (v.a->items.empty()) {
                    out += "[]";
                    return;
                }
                out += '[';
                for (size_t i = 0; i < v.a->items.size(); ++i) {
                    if (i) out += item_sep;
                    if (indent >= 0) newline(depth + 1);
                    write(v.a->items[i], depth + 1);
                }
                if (indent >= 0) newline(depth);
                out += ']';
                return;
            }
            case value::kind::object: {
                if (v.o->is_namespace) break;
                if (v.o->items.empty()) {
                    out += "{}";
                    return;
                }
                std::vector<const std::pair<std::string, value>*> items;
                for (const auto& kv : v.o->items) items.push_back(&kv);
                if (sort_keys) {
                    std::stable_sort(items.begin(), items.end(),
                                     [](const auto* x, const auto* y) { return x->first < y->first; });
                }
                out += '{';
                for (size_t i = 0; i < items.size(); ++i) {
                    if (i) out += item_sep;
                    if (indent >= 0) newline(depth + 1);
                    json_string(out, key_json(items[i]->first));
                    out += key_sep;
                    write(items[i]->second, depth + 1);
                }
                if (indent >= 0) newline(depth);
                out += '}';
                return;
            }
            default: break;
        }
        throw template_error(std::string("Object of type ") + value_type_name(v) + " is not JSON serializable", 0);
    }
};

}  // namespace

std::vector<std::string> utf8_chars(std::string_view s) {
    std::vector<std::string> out;
    size_t i = 0;
    while (i < s.size()) {
        const size_t start = i;
        utf8_next(s, i);
        out.emplace_back(s.substr(start, i - start));
    }
    return out;
}

size_t utf8_length(std::string_view s) {
    size_t n = 0;
    for (const char c : s)
        if ((static_cast<unsigned char>(c) & 0xc0) != 0x80) ++n;
    return n;
}

std::string value_str(const value& v) {
    switch (v.k) {
        case value::kind::undefined: return "";
        case value::kind::none: return "None";
        case value::kind::boolean: return v.b ? "True" : "False";
        case value::kind::integer: return std::to_string(v.i);
        case value::kind::floating: return float_repr(v.f);
        case value::kind::string: return v.s;
        default: return value_repr(v);
    }
}

std::string value_repr(const value& v) {
    // a namespace can contain itself; Python prints the cycle as "...", kiln refuses deep nesting
    static thread_local int depth = 0;
    struct guard {
        guard() {
            if (++depth > 200) {
                depth = 0;
                throw template_error("value nests too deeply to print (a cycle?)", 0);
            }
        }
        ~guard() { if (depth > 0) --depth; }
    } g;
    switch (v.k) {
        case value::kind::string: return string_repr(v.s);
        case value::kind::array: {
            if (v.a->is_generator) return "<generator object>";
            std::string out = v.a->is_tuple ? "(" : "[";
            for (size_t i = 0; i < v.a->items.size(); ++i) {
                if (i) out += ", ";
                out += value_repr(v.a->items[i]);
            }
            if (v.a->is_tuple && v.a->items.size() == 1) out += ",";
            out += v.a->is_tuple ? ")" : "]";
            return out;
        }
        case value::kind::object: {
            std::string out = v.o->is_namespace ? "<Namespace {" : "{";
            bool first = true;
            for (const auto& kv : v.o->items) {
                if (!first) out += ", ";
                first = false;
                out += value_repr(key_value(kv.first)) + ": " + value_repr(kv.second);
            }
            out += v.o->is_namespace ? "}>" : "}";
            return out;
        }
        case value::kind::function: return "<function " + v.fn->name + ">";
        default: return value_str(v);
    }
}

bool value_equal(const value& x, const value& y) {
    if (x.is_number() && y.is_number()) {
        if (x.k != value::kind::floating && y.k != value::kind::floating) {
            const int64_t a = x.k == value::kind::boolean ? x.b : x.i;
            const int64_t b = y.k == value::kind::boolean ? y.b : y.i;
            return a == b;
        }
        return x.as_double() == y.as_double();
    }
    if (x.k != y.k) return false;
    switch (x.k) {
        case value::kind::undefined:
        case value::kind::none: return true;
        case value::kind::string: return x.s == y.s;
        case value::kind::array: {
            if (x.a == y.a) return true;
            if (x.a->is_tuple != y.a->is_tuple || x.a->items.size() != y.a->items.size()) return false;
            for (size_t i = 0; i < x.a->items.size(); ++i)
                if (!value_equal(x.a->items[i], y.a->items[i])) return false;
            return true;
        }
        case value::kind::object: {
            if (x.o == y.o) return true;
            if (x.o->is_namespace || y.o->is_namespace) return false;
            if (x.o->items.size() != y.o->items.size()) return false;
            for (const auto& kv : x.o->items) {
                const value* other = y.o->find(kv.first);
                if (!other || !value_equal(kv.second, *other)) return false;
            }
            return true;
        }
        case value::kind::function: return x.fn == y.fn;
        default: return false;
    }
}

bool value_less(const value& x, const value& y) {
    if (x.is_number() && y.is_number()) {
        if (x.k != value::kind::floating && y.k != value::kind::floating) {
            const int64_t a = x.k == value::kind::boolean ? x.b : x.i;
            const int64_t b = y.k == value::kind::boolean ? y.b : y.i;
            return a < b;
        }
        return x.as_double() < y.as_double();
    }
    if (x.is_string() && y.is_string()) {
        // Python compares code points; UTF-8 byte order is the same order.
        return x.s < y.s;
    }
    if (x.is_array() && y.is_array() && !x.a->is_generator && !y.a->is_generator) {
        const auto& a = x.a->items;
        const auto& b = y.a->items;
        for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
            if (!value_equal(a[i], b[i])) return value_less(a[i], b[i]);
        }
        return a.size() < b.size();
    }
    throw template_error(std::string("'<' not supported between instances of '") + value_type_name(x) + "' and '" +
                             value_type_name(y) + "'",
                         0);
}

value_list value_iterate(const value& v) {
    switch (v.k) {
        case value::kind::undefined: return {};
        case value::kind::array: return v.a->items;
        case value::kind::object: {
            if (v.o->is_namespace) break;
            value_list keys;
            for (const auto& kv : v.o->items) keys.push_back(key_value(kv.first));
            return keys;
        }
        case value::kind::string: {
            value_list chars;
            for (auto& c : utf8_chars(v.s)) chars.push_back(value::string(std::move(c)));
            return chars;
        }
        default: break;
    }
    throw template_error(std::string("'") + value_type_name(v) + "' object is not iterable", 0);
}

value value_from_json(const nlohmann::ordered_json& j) {
    switch (j.type()) {
        case nlohmann::ordered_json::value_t::null: return value::none();
        case nlohmann::ordered_json::value_t::boolean: return value::boolean(j.get<bool>());
        case nlohmann::ordered_json::value_t::number_integer: return value::integer(j.get<int64_t>());
        case nlohmann::ordered_json::value_t::number_unsigned: return value::integer(static_cast<int64_t>(j.get<uint64_t>()));
        case nlohmann::ordered_json::value_t::number_float: return value::floating(j.get<double>());
        case nlohmann::ordered_json::value_t::string: return value::string(j.get<std::string>());
        case nlohmann::ordered_json::value_t::array: {
            value_list items;
            for (const auto& e : j) items.push_back(value_from_json(e));
            return value::array(std::move(items));
        }
        case nlohmann::ordered_json::value_t::object: {
            value o = value::object();
            for (auto it = j.begin(); it != j.end(); ++it) o.o->set(it.key(), value_from_json(it.value()));
            return o;
        }
        default: return value::none();
    }
}

std::string value_to_json(const value& v, int indent, bool sort_keys, const std::string& item_sep,
                          const std::string& key_sep) {
    json_writer w{indent, sort_keys, item_sep, key_sep, {}};
    w.write(v, 0);
    return w.out;
}

}  // namespace kiln::jinja

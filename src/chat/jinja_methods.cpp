// Attribute and item lookup, Python's string/dict/list methods, the globals.
#include <algorithm>
#include <cstdlib>

#include "chat/jinja_builtins.h"
#include "tokenizer/unicode_utf8.h"

namespace kiln::jinja {

void builtin_fail(const std::string& msg) { throw template_error(msg, 0); }

void undefined_fail(const value& v) { builtin_fail(v.s.empty() ? "undefined value used" : v.s); }

value arg_get(const value_list& args, const kwarg_list& kwargs, size_t pos, const char* name, const value& def) {
    if (pos < args.size()) return args[pos];
    for (const auto& kv : kwargs)
        if (kv.first == name) return kv.second;
    return def;
}

namespace {

uint32_t decode(const std::string& s, size_t& i) {
    const auto c = static_cast<unsigned char>(s[i]);
    int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
    if (i + n > s.size()) n = 1;
    uint32_t cp = n == 1 ? c : n == 2 ? (c & 0x1f) : n == 3 ? (c & 0x0f) : (c & 0x07);
    for (int k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3f);
    i += n;
    return cp;
}

void encode(std::string& out, uint32_t cp) { utf8_append(out, cp); }

// Python's str.isspace() code points.
bool py_space(uint32_t cp) {
    return (cp >= 0x09 && cp <= 0x0d) || (cp >= 0x1c && cp <= 0x20) || cp == 0x85 || cp == 0xa0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f || cp == 0x205f ||
           cp == 0x3000;
}

// Simple case mapping for Latin, Greek and Cyrillic: what chat templates meet.
uint32_t to_upper_cp(uint32_t c) {
    if (c >= 'a' && c <= 'z') return c - 32;
    if (c < 0x80) return c;
    if ((c >= 0xe0 && c <= 0xfe && c != 0xf7)) return c - 32;
    if (c == 0xff) return 0x178;
    if (c == 0xb5) return 0x39c;
    if (c >= 0x100 && c <= 0x17f && c != 0x130 && c != 0x131 && c != 0x138 && c != 0x149 && c != 0x17f) {
        const bool odd_lower = (c >= 0x100 && c <= 0x137) || (c >= 0x14a && c <= 0x177);
        if (odd_lower) return (c & 1) ? c - 1 : c;
        return (c & 1) ? c : c - 1;  // 0x139-0x148, 0x179-0x17e: lower case is even
    }
    if (c >= 0x3b1 && c <= 0x3c9 && c != 0x3c2) return c - 32;
    if (c == 0x3c2) return 0x3a3;
    if (c >= 0x3ac && c <= 0x3af) return c == 0x3ac ? 0x386 : c - 37;
    if (c >= 0x430 && c <= 0x44f) return c - 32;
    if (c >= 0x450 && c <= 0x45f) return c - 80;
    return c;
}

uint32_t to_lower_cp(uint32_t c) {
    if (c >= 'A' && c <= 'Z') return c + 32;
    if (c < 0x80) return c;
    if (c >= 0xc0 && c <= 0xde && c != 0xd7) return c + 32;
    if (c == 0x178) return 0xff;
    if (c >= 0x100 && c <= 0x17f && c != 0x130 && c != 0x131 && c != 0x138 && c != 0x149 && c != 0x17f) {
        const bool even_upper = (c >= 0x100 && c <= 0x137) || (c >= 0x14a && c <= 0x177);
        if (even_upper) return (c & 1) ? c : c + 1;
        return (c & 1) ? c + 1 : c;
    }
    if (c >= 0x391 && c <= 0x3a9 && c != 0x3a2) return c + 32;
    if (c == 0x386) return 0x3ac;
    if (c >= 0x388 && c <= 0x38a) return c + 37;
    if (c >= 0x410 && c <= 0x42f) return c + 32;
    if (c >= 0x400 && c <= 0x40f) return c + 80;
    return c;
}

bool is_alpha_cp(uint32_t c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= 0xc0 && c != 0xd7 && c != 0xf7 && !py_space(c) && c < 0x2000) ||
           (c >= 0x3040 && c < 0xa000);
}

bool cased_upper(uint32_t c) { return to_lower_cp(c) != c; }
bool cased_lower(uint32_t c) { return to_upper_cp(c) != c; }

std::vector<uint32_t> cps(const std::string& s) {
    std::vector<uint32_t> out;
    size_t i = 0;
    while (i < s.size()) out.push_back(decode(s, i));
    return out;
}

std::string from_cps(const std::vector<uint32_t>& v, size_t b = 0, size_t e = std::string::npos) {
    std::string out;
    e = std::min(e, v.size());
    for (size_t i = b; i < e; ++i) encode(out, v[i]);
    return out;
}

value bound(const std::string& name, std::function<value(value_list&, kwarg_list&)> f) {
    return value::function(name, std::move(f));
}

const value& none_value() {
    static const value v = value::none();
    return v;
}

int64_t int_arg(const value& v, const char* what) {
    if (v.k == value::kind::integer) return v.i;
    if (v.k == value::kind::boolean) return v.b;
    builtin_fail(std::string(what) + " must be an integer");
}

bool str_matches_any(const std::string& s, const value& what, bool prefix) {
    auto one = [&](const value& p) {
        if (!p.is_string()) builtin_fail(std::string(prefix ? "startswith" : "endswith") + " first arg must be str or a tuple of str");
        if (p.s.size() > s.size()) return false;
        return prefix ? s.compare(0, p.s.size(), p.s) == 0 : s.compare(s.size() - p.s.size(), p.s.size(), p.s) == 0;
    };
    if (what.is_array()) {
        for (const auto& p : what.a->items)
            if (one(p)) return true;
        return false;
    }
    return one(what);
}

// Python's str.format with positional/keyword fields and !r/!s; no format specs.
std::string py_format(const std::string& fmt, const value_list& args, const kwarg_list& kwargs) {
    std::string out;
    size_t auto_index = 0;
    for (size_t i = 0; i < fmt.size(); ++i) {
        const char c = fmt[i];
        if (c == '}') {
            if (i + 1 < fmt.size() && fmt[i + 1] == '}') ++i;
            else builtin_fail("Single '}' encountered in format string");
            out += '}';
            continue;
        }
        if (c != '{') {
            out += c;
            continue;
        }
        if (i + 1 < fmt.size() && fmt[i + 1] == '{') {
            out += '{';
            ++i;
            continue;
        }
        const size_t close = fmt.find('}', i);
        if (close == std::string::npos) builtin_fail("Single '{' encountered in format string");
        std::string field = fmt.substr(i + 1, close - i - 1);
        i = close;
        char conv = 0;
        const size_t colon = field.find(':');
        if (colon != std::string::npos) {
            if (colon + 1 != field.size()) builtin_fail("format specifications in str.format are not supported");
            field.resize(colon);
        }
        const size_t bang = field.find('!');
        if (bang != std::string::npos) {
            conv = bang + 1 < field.size() ? field[bang + 1] : 0;
            field.resize(bang);
        }
        value v;
        if (field.empty()) {
            if (auto_index >= args.size()) builtin_fail("Replacement index " + std::to_string(auto_index) + " out of range for positional args tuple");
            v = args[auto_index++];
        } else if (std::all_of(field.begin(), field.end(), ::isdigit)) {
            const size_t idx = std::stoul(field);
            if (idx >= args.size()) builtin_fail("Replacement index " + field + " out of range for positional args tuple");
            v = args[idx];
        } else {
            bool found = false;
            for (const auto& kv : kwargs)
                if (kv.first == field) {
                    v = kv.second;
                    found = true;
                }
            if (!found) builtin_fail("KeyError: '" + field + "'");
        }
        out += conv == 'r' ? value_repr(v) : value_str(v);
    }
    return out;
}

value string_method(const std::string& self, const std::string& name) {
    const std::string s = self;
    if (name == "strip" || name == "lstrip" || name == "rstrip") {
        return bound(name, [s, name](value_list& a, kwarg_list& kw) {
            const value& chars = arg_get(a, kw, 0, "chars", none_value());
            return value::string(py_strip(s, chars, name != "rstrip", name != "lstrip"));
        });
    }
    if (name == "split" || name == "rsplit") {
        return bound(name, [s, name](value_list& a, kwarg_list& kw) {
            const value& sep = arg_get(a, kw, 0, "sep", none_value());
            const value& maxv = arg_get(a, kw, 1, "maxsplit", value::integer(-1));
            const int64_t maxsplit = int_arg(maxv, "maxsplit");
            if (name == "rsplit" && maxsplit >= 0) builtin_fail("str.rsplit with maxsplit is not supported");
            return py_split(s, sep, maxsplit);
        });
    }
    if (name == "startswith" || name == "endswith") {
        return bound(name, [s, name](value_list& a, kwarg_list& kw) {
            if (a.empty()) builtin_fail(name + "() takes at least 1 argument (0 given)");
            return value::boolean(str_matches_any(s, a[0], name == "startswith"));
        });
    }
    if (name == "replace") {
        return bound(name, [s](value_list& a, kwarg_list& kw) {
            if (a.size() < 2 || !a[0].is_string() || !a[1].is_string()) builtin_fail("replace() takes two str arguments");
            const int64_t count = a.size() > 2 ? int_arg(a[2], "count") : -1;
            return value::string(py_replace(s, a[0].s, a[1].s, count));
        });
    }
    if (name == "upper") return bound(name, [s](value_list&, kwarg_list&) { return value::string(py_upper(s)); });
    if (name == "lower") return bound(name, [s](value_list&, kwarg_list&) { return value::string(py_lower(s)); });
    if (name == "title") return bound(name, [s](value_list&, kwarg_list&) { return value::string(py_str_title(s)); });
    if (name == "capitalize") return bound(name, [s](value_list&, kwarg_list&) { return value::string(py_capitalize(s)); });
    if (name == "format") {
        return bound(name, [s](value_list& a, kwarg_list& kw) { return value::string(py_format(s, a, kw)); });
    }
    if (name == "find" || name == "rfind" || name == "index" || name == "rindex" || name == "count") {
        return bound(name, [s, name](value_list& a, kwarg_list&) {
            if (a.empty() || !a[0].is_string()) builtin_fail(name + "() takes a str argument");
            const std::string& sub = a[0].s;
            if (name == "count") {
                if (sub.empty()) return value::integer(static_cast<int64_t>(utf8_length(s) + 1));
                int64_t n = 0;
                for (size_t p = s.find(sub); p != std::string::npos; p = s.find(sub, p + sub.size())) ++n;
                return value::integer(n);
            }
            const size_t p = name[0] == 'r' ? s.rfind(sub) : s.find(sub);
            if (p == std::string::npos) {
                if (name.find("index") != std::string::npos) builtin_fail("substring not found");
                return value::integer(-1);
            }
            return value::integer(static_cast<int64_t>(utf8_length(std::string_view(s).substr(0, p))));
        });
    }
    if (name == "join") {
        return bound(name, [s](value_list& a, kwarg_list&) {
            if (a.empty()) builtin_fail("join() takes exactly one argument");
            std::string out;
            bool first = true;
            for (const auto& e : value_iterate(a[0])) {
                if (!e.is_string()) builtin_fail(std::string("sequence item: expected str instance, ") + value_type_name(e) + " found");
                if (!first) out += s;
                first = false;
                out += e.s;
            }
            return value::string(out);
        });
    }
    if (name == "splitlines") {
        return bound(name, [s](value_list&, kwarg_list&) {
            value_list lines;
            size_t start = 0;
            for (size_t i = 0; i < s.size(); ++i) {
                if (s[i] == '\n' || s[i] == '\r') {
                    lines.push_back(value::string(s.substr(start, i - start)));
                    if (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n') ++i;
                    start = i + 1;
                }
            }
            if (start < s.size()) lines.push_back(value::string(s.substr(start)));
            return value::array(std::move(lines));
        });
    }
    if (name == "isdigit" || name == "isalpha" || name == "isalnum" || name == "isspace" || name == "isupper" ||
        name == "islower" || name == "isnumeric" || name == "isdecimal") {
        return bound(name, [s, name](value_list&, kwarg_list&) {
            const auto v = cps(s);
            if (v.empty()) return value::boolean(false);
            bool ok = true, any_cased = false;
            for (uint32_t c : v) {
                const bool digit = c >= '0' && c <= '9';
                if (name == "isdigit" || name == "isnumeric" || name == "isdecimal") ok = ok && digit;
                else if (name == "isalpha") ok = ok && is_alpha_cp(c);
                else if (name == "isalnum") ok = ok && (digit || is_alpha_cp(c));
                else if (name == "isspace") ok = ok && py_space(c);
                else if (name == "isupper") {
                    ok = ok && !cased_lower(c);
                    any_cased = any_cased || cased_upper(c);
                } else {
                    ok = ok && !cased_upper(c);
                    any_cased = any_cased || cased_lower(c);
                }
            }
            if (name == "isupper" || name == "islower") ok = ok && any_cased;
            return value::boolean(ok);
        });
    }
    if (name == "removeprefix" || name == "removesuffix") {
        return bound(name, [s, name](value_list& a, kwarg_list&) {
            if (a.empty() || !a[0].is_string()) builtin_fail(name + "() takes a str argument");
            const std::string& p = a[0].s;
            if (name == "removeprefix") return value::string(s.compare(0, p.size(), p) == 0 ? s.substr(p.size()) : s);
            if (p.size() <= s.size() && s.compare(s.size() - p.size(), p.size(), p) == 0)
                return value::string(s.substr(0, s.size() - p.size()));
            return value::string(s);
        });
    }
    return value::undefined("'str object' has no attribute '" + name + "'");
}

bool mutating_method(const value& obj, const std::string& name) {
    if (obj.is_array() && !obj.a->is_tuple)
        return name == "append" || name == "reverse" || name == "insert" || name == "sort" || name == "extend" ||
               name == "remove" || name == "pop" || name == "clear";
    if (obj.is_object() && !obj.o->is_namespace)
        return name == "clear" || name == "pop" || name == "popitem" || name == "setdefault" || name == "update";
    return false;
}

value object_method(const value& obj, const std::string& name) {
    if (name == "get") {
        return bound(name, [obj](value_list& a, kwarg_list& kw) {
            if (a.empty()) builtin_fail("get expected at least 1 argument, got 0");
            const value& def = a.size() > 1 ? a[1] : none_value();
            const value* v = obj.o->find(key_string(a[0]));
            return v ? *v : def;
        });
    }
    if (name == "items" || name == "keys" || name == "values") {
        return bound(name, [obj, name](value_list&, kwarg_list&) {
            value_list out;
            for (const auto& kv : obj.o->items) {
                if (name == "items") out.push_back(value::tuple({key_value(kv.first), kv.second}));
                else if (name == "keys") out.push_back(key_value(kv.first));
                else out.push_back(kv.second);
            }
            return value::array(std::move(out));
        });
    }
    if (name == "copy") return bound(name, [obj](value_list&, kwarg_list&) {
        value c = value::object();
        c.o->items = obj.o->items;
        return c;
    });
    return value::undefined();
}

value array_method(const value& obj, const std::string& name) {
    if (name == "index" || name == "count") {
        return bound(name, [obj, name](value_list& a, kwarg_list&) {
            if (a.empty()) builtin_fail(name + "() takes exactly one argument");
            int64_t n = 0;
            for (size_t i = 0; i < obj.a->items.size(); ++i) {
                if (value_equal(obj.a->items[i], a[0])) {
                    if (name == "index") return value::integer(static_cast<int64_t>(i));
                    ++n;
                }
            }
            if (name == "index") builtin_fail("value is not in list");
            return value::integer(n);
        });
    }
    return value::undefined();
}

}  // namespace

std::string py_strip(const std::string& s, const value& chars, bool left, bool right) {
    const auto v = cps(s);
    std::vector<uint32_t> set;
    const bool ws = chars.is_none() || chars.is_undefined();
    if (!ws) {
        if (!chars.is_string()) builtin_fail("strip arg must be None or str");
        set = cps(chars.s);
    }
    auto strip_it = [&](uint32_t c) { return ws ? py_space(c) : std::find(set.begin(), set.end(), c) != set.end(); };
    size_t b = 0, e = v.size();
    if (left)
        while (b < e && strip_it(v[b])) ++b;
    if (right)
        while (e > b && strip_it(v[e - 1])) --e;
    return from_cps(v, b, e);
}

std::string py_upper(const std::string& s) {
    std::string out;
    size_t i = 0;
    while (i < s.size()) {
        const uint32_t c = decode(s, i);
        if (c == 0xdf) out += "SS";
        else encode(out, to_upper_cp(c));
    }
    return out;
}

std::string py_lower(const std::string& s) {
    std::string out;
    size_t i = 0;
    while (i < s.size()) encode(out, to_lower_cp(decode(s, i)));
    return out;
}

std::string py_capitalize(const std::string& s) {
    auto v = cps(s);
    std::string out;
    for (size_t i = 0; i < v.size(); ++i) encode(out, i == 0 ? to_upper_cp(v[i]) : to_lower_cp(v[i]));
    return out;
}

std::string py_str_title(const std::string& s) {
    std::string out;
    bool prev_cased = false;
    for (uint32_t c : cps(s)) {
        const bool cased = cased_upper(c) || cased_lower(c);
        encode(out, cased ? (prev_cased ? to_lower_cp(c) : to_upper_cp(c)) : c);
        prev_cased = cased || (is_alpha_cp(c) && !cased);
    }
    return out;
}

value py_split(const std::string& s, const value& sep, int64_t maxsplit) {
    value_list parts;
    if (sep.is_none() || sep.is_undefined()) {
        const auto v = cps(s);
        size_t i = 0;
        while (i < v.size()) {
            while (i < v.size() && py_space(v[i])) ++i;
            if (i >= v.size()) break;
            if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) >= maxsplit) {
                size_t e = v.size();
                while (e > i && py_space(v[e - 1])) --e;
                parts.push_back(value::string(from_cps(v, i, e)));
                break;
            }
            size_t j = i;
            while (j < v.size() && !py_space(v[j])) ++j;
            parts.push_back(value::string(from_cps(v, i, j)));
            i = j;
        }
        return value::array(std::move(parts));
    }
    if (!sep.is_string()) builtin_fail(std::string("must be str or None, not ") + value_type_name(sep));
    if (sep.s.empty()) builtin_fail("empty separator");
    size_t start = 0;
    for (;;) {
        const size_t p = s.find(sep.s, start);
        if (p == std::string::npos || (maxsplit >= 0 && static_cast<int64_t>(parts.size()) >= maxsplit)) {
            parts.push_back(value::string(s.substr(start)));
            break;
        }
        parts.push_back(value::string(s.substr(start, p - start)));
        start = p + sep.s.size();
    }
    return value::array(std::move(parts));
}

std::string py_replace(const std::string& s, const std::string& old, const std::string& rep, int64_t count) {
    std::string out;
    if (old.empty()) {
        // Python inserts `rep` between every character (and at both ends).
        int64_t n = 0;
        for (const auto& ch : utf8_chars(s)) {
            if (count < 0 || n < count) {
                out += rep;
                ++n;
            }
            out += ch;
        }
        if (count < 0 || n < count) out += rep;
        return out;
    }
    size_t start = 0;
    int64_t n = 0;
    for (;;) {
        const size_t p = s.find(old, start);
        if (p == std::string::npos || (count >= 0 && n >= count)) break;
        out.append(s, start, p - start);
        out += rep;
        start = p + old.size();
        ++n;
    }
    out.append(s, start, std::string::npos);
    return out;
}

value attr_get(const value& obj, const std::string& name) {
    switch (obj.k) {
        case value::kind::undefined: undefined_fail(obj);
        case value::kind::string: {
            value m = string_method(obj.s, name);
            if (!m.is_undefined()) return m;
            break;
        }
        case value::kind::object: {
            if (obj.o->is_namespace) {
                if (const value* v = obj.o->find(name)) return *v;
                break;
            }
            if (mutating_method(obj, name))
                return value::undefined("access to attribute '" + name + "' of 'dict' object is unsafe.");
            value m = object_method(obj, name);
            if (!m.is_undefined()) return m;
            if (const value* v = obj.o->find(name)) return *v;
            break;
        }
        case value::kind::array: {
            if (mutating_method(obj, name))
                return value::undefined("access to attribute '" + name + "' of '" + value_type_name(obj) + "' object is unsafe.");
            value m = array_method(obj, name);
            if (!m.is_undefined()) return m;
            break;
        }
        default: break;
    }
    return value::undefined("'" + std::string(value_type_name(obj)) + " object' has no attribute '" + name + "'");
}

value item_get(const value& obj, const value& key) {
    switch (obj.k) {
        case value::kind::undefined: undefined_fail(obj);
        case value::kind::object:
            if (!obj.o->is_namespace && !key.is_array() && !key.is_object() && !key.is_undefined()) {
                if (const value* v = obj.o->find(key_string(key))) return *v;
            }
            break;
        case value::kind::array:
            if (key.k == value::kind::integer || key.k == value::kind::boolean) {
                if (obj.a->is_generator) builtin_fail("'generator' object is not subscriptable");
                int64_t i = key.k == value::kind::boolean ? key.b : key.i;
                const auto n = static_cast<int64_t>(obj.a->items.size());
                if (i < 0) i += n;
                if (i >= 0 && i < n) return obj.a->items[static_cast<size_t>(i)];
                return value::undefined(std::string(value_type_name(obj)) + " object has no element " + std::to_string(key.i));
            }
            break;
        case value::kind::string:
            if (key.k == value::kind::integer) {
                const auto chars = utf8_chars(obj.s);
                int64_t i = key.i;
                const auto n = static_cast<int64_t>(chars.size());
                if (i < 0) i += n;
                if (i >= 0 && i < n) return value::string(chars[static_cast<size_t>(i)]);
                return value::undefined("str object has no element " + std::to_string(key.i));
            }
            break;
        default: break;
    }
    if (key.is_string()) return attr_get(obj, key.s);
    return value::undefined("'" + std::string(value_type_name(obj)) + " object' has no attribute '" + value_str(key) + "'");
}

value slice_get(const value& obj, const value& start, const value& stop, const value& step) {
    if (obj.is_undefined()) undefined_fail(obj);
    auto opt = [](const value& v, const char* what) -> std::pair<bool, int64_t> {
        if (v.is_none() || v.is_undefined()) return {false, 0};
        return {true, int_arg(v, what)};
    };
    const auto st = opt(step, "slice step");
    const int64_t stp = st.first ? st.second : 1;
    if (stp == 0) builtin_fail("slice step cannot be zero");
    std::vector<std::string> chars;
    const bool is_str = obj.is_string();
    int64_t n = 0;
    if (is_str) {
        chars = utf8_chars(obj.s);
        n = static_cast<int64_t>(chars.size());
    } else if (obj.is_array() && !obj.a->is_generator) {
        n = static_cast<int64_t>(obj.a->items.size());
    } else {
        builtin_fail(std::string("'") + value_type_name(obj) + "' object is not subscriptable");
    }
    auto clamp = [&](std::pair<bool, int64_t> v, int64_t def) {
        if (!v.first) return def;
        int64_t x = v.second;
        if (x < 0) x += n;
        if (stp > 0) return std::max<int64_t>(0, std::min(x, n));
        return std::max<int64_t>(-1, std::min(x, n - 1));
    };
    const int64_t b = clamp(opt(start, "slice index"), stp > 0 ? 0 : n - 1);
    const int64_t e = clamp(opt(stop, "slice index"), stp > 0 ? n : -1);
    std::string out_s;
    value_list out_l;
    for (int64_t i = b; stp > 0 ? i < e : i > e; i += stp) {
        if (is_str) out_s += chars[static_cast<size_t>(i)];
        else out_l.push_back(obj.a->items[static_cast<size_t>(i)]);
    }
    if (is_str) return value::string(out_s);
    return obj.a->is_tuple ? value::tuple(std::move(out_l)) : value::array(std::move(out_l));
}

value global_get(const std::string& name) {
    if (name == "range") {
        return value::function("range", [](value_list& a, kwarg_list&) {
            if (a.empty() || a.size() > 3) builtin_fail("range expected 1 to 3 arguments");
            int64_t b = 0, e = 0, st = 1;
            if (a.size() == 1) e = int_arg(a[0], "range argument");
            else {
                b = int_arg(a[0], "range argument");
                e = int_arg(a[1], "range argument");
                if (a.size() == 3) st = int_arg(a[2], "range argument");
            }
            if (st == 0) builtin_fail("range() arg 3 must not be zero");
            value_list out;
            for (int64_t i = b; st > 0 ? i < e : i > e; i += st) {
                out.push_back(value::integer(i));
                if (out.size() > 1000000) builtin_fail("range too big");
            }
            return value::array(std::move(out));
        });
    }
    if (name == "dict") {
        return value::function("dict", [](value_list& a, kwarg_list& kw) {
            value d = value::object();
            if (!a.empty()) {
                if (!a[0].is_object()) builtin_fail("dict() of a non-dict argument is not supported");
                d.o->items = a[0].o->items;
            }
            for (auto& kv : kw) d.o->set(kv.first, kv.second);
            return d;
        });
    }
    if (name == "namespace") {
        return value::function("namespace", [](value_list& a, kwarg_list& kw) {
            value d = value::object();
            d.o->is_namespace = true;
            if (!a.empty() && a[0].is_object()) d.o->items = a[0].o->items;
            for (auto& kv : kw) d.o->set(kv.first, kv.second);
            return d;
        });
    }
    return value::undefined("'" + name + "' is undefined");
}

}  // namespace kiln::jinja

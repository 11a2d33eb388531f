// jinja2's built-in filters and tests, with their Python semantics.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <set>

#include "chat/jinja_builtins.h"

namespace kiln::jinja {

namespace {

const std::set<std::string>& filter_names() {
    static const std::set<std::string> names = {
        "abs", "attr", "batch", "capitalize", "center", "count", "d", "default", "dictsort", "e", "escape",
        "filesizeformat", "first", "float", "forceescape", "format", "groupby", "indent", "int", "join", "last",
        "length", "list", "lower", "items", "map", "min", "max", "pprint", "random", "reject", "rejectattr",
        "replace", "reverse", "round", "safe", "select", "selectattr", "slice", "sort", "string", "striptags", "sum",
        "title", "trim", "truncate", "unique", "upper", "urlencode", "urlize", "wordcount", "wordwrap", "xmlattr",
        "tojson"};
    return names;
}

const std::set<std::string>& test_names() {
    static const std::set<std::string> names = {
        "odd", "even", "divisibleby", "defined", "undefined", "filter", "test", "none", "boolean", "false", "true",
        "integer", "float", "lower", "upper", "string", "mapping", "number", "sequence", "iterable", "callable",
        "sameas", "escaped", "in", "==", "eq", "equalto", "!=", "ne", ">", "gt", "greaterthan", "ge", ">=", "<",
        "lt", "lessthan", "<=", "le"};
    return names;
}

const value& none_v() {
    static const value v = value::none();
    return v;
}
const value& undef_v() {
    static const value v = value::undefined();
    return v;
}
const value& false_v() {
    static const value v = value::boolean(false);
    return v;
}

// jinja2's make_attrgetter: "a.b.0" looks up each part with getitem semantics.
value attr_path(const value& item, const value& attribute) {
    if (attribute.k == value::kind::integer) return item_get(item, attribute);
    if (!attribute.is_string()) builtin_fail("attribute must be a string");
    value cur = item;
    size_t start = 0;
    const std::string& path = attribute.s;
    for (;;) {
        const size_t dot = path.find('.', start);
        const std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
        const bool digits = !part.empty() && std::all_of(part.begin(), part.end(), ::isdigit);
        cur = item_get(cur, digits ? value::integer(std::atoll(part.c_str())) : value::string(part));
        if (dot == std::string::npos) return cur;
        start = dot + 1;
    }
}

// Sorting key of jinja2's sort/dictsort/unique: strings fold case unless case_sensitive.
value sort_key(const value& v, bool case_sensitive) {
    if (!case_sensitive && v.is_string()) return value::string(py_lower(v.s));
    return v;
}

int64_t to_int(const value& v, const value& def, int base) {
    switch (v.k) {
        case value::kind::integer: return v.i;
        case value::kind::boolean: return v.b;
        case value::kind::floating: return std::isfinite(v.f) ? static_cast<int64_t>(v.f) : def.i;
        case value::kind::string: {
            std::string s = py_strip(v.s, none_v(), true, true);
            std::string digits;
            for (const char c : s)
                if (c != '_') digits += c;
            char* end = nullptr;
            const long long r = std::strtoll(digits.c_str(), &end, base);
            if (!digits.empty() && end && *end == 0) return r;
            const double d = std::strtod(digits.c_str(), &end);
            if (!digits.empty() && end && *end == 0 && std::isfinite(d)) return static_cast<int64_t>(d);
            return def.k == value::kind::integer ? def.i : 0;
        }
        default: return def.k == value::kind::integer ? def.i : 0;
    }
}

// json.dumps(ensure_ascii=True) escapes every non-ASCII code point.
std::string ascii_escape(const std::string& s) {
    std::string out;
    size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            out += s[i++];
            continue;
        }
        const int n = (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : 4;
        uint32_t cp = n == 2 ? (c & 0x1f) : n == 3 ? (c & 0x0f) : (c & 0x07);
        for (int k = 1; k < n && i + k < s.size(); ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3f);
        i += n;
        char buf[16];
        if (cp >= 0x10000) {
            cp -= 0x10000;
            std::snprintf(buf, sizeof buf, "\\u%04x\\u%04x", 0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
        } else std::snprintf(buf, sizeof buf, "\\u%04x", cp);
        out += buf;
    }
    return out;
}

size_t length_of(const value& v) {
    switch (v.k) {
        case value::kind::undefined: return 0;
        case value::kind::string: return utf8_length(v.s);
        case value::kind::array:
            if (!v.a->is_generator) return v.a->items.size();
            break;
        case value::kind::object:
            if (!v.o->is_namespace) return v.o->items.size();
            break;
        default: break;
    }
    builtin_fail(std::string("object of type '") + value_type_name(v) + "' has no len()");
}

value select_common(const value& seq, value_list& args, bool by_attr, bool keep) {
    value_list out;
    size_t next = 0;
    value attribute;
    if (by_attr) {
        if (args.empty()) builtin_fail("selectattr/rejectattr need an attribute");
        attribute = args[next++];
    }
    std::string test;
    value_list targs;
    if (next < args.size()) {
        if (!args[next].is_string()) builtin_fail("test name must be a string");
        test = args[next++].s;
        if (!test_known(test)) builtin_fail("No test named '" + test + "'");
        targs.assign(args.begin() + static_cast<long>(next), args.end());
    }
    if (!value_truthy(seq)) return value::generator({});  // jinja2 skips a falsy sequence (None too)
    for (const auto& item : value_iterate(seq)) {
        const value subject = by_attr ? attr_path(item, attribute) : item;
        const bool pass = test.empty() ? value_truthy(subject) : test_apply(test, subject, targs);
        if (pass == keep) out.push_back(item);
    }
    return value::generator(std::move(out));
}

std::string indent_text(const std::string& s, const value& width, bool first, bool blank) {
    const std::string ind = width.is_string() ? width.s : std::string(static_cast<size_t>(std::max<int64_t>(0, width.i)), ' ');
    std::vector<std::string> lines;
    const std::string text = s + "\n";
    size_t start = 0;
    for (size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\n' || text[i] == '\r') {
            lines.push_back(text.substr(start, i - start));
            if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
            start = i + 1;
        }
    }
    if (start < text.size()) lines.push_back(text.substr(start));
    std::string rv;
    if (blank) {
        for (size_t i = 0; i < lines.size(); ++i) rv += (i ? "\n" + ind : "") + lines[i];
    } else {
        rv = lines.empty() ? "" : lines[0];
        for (size_t i = 1; i < lines.size(); ++i) rv += "\n" + (lines[i].empty() ? "" : ind + lines[i]);
    }
    if (first) rv = ind + rv;
    return rv;
}

}  // namespace

bool filter_known(const std::string& name) { return filter_names().count(name) != 0; }
bool test_known(const std::string& name) { return test_names().count(name) != 0; }

value filter_apply(const std::string& name, const value& v, value_list& a, kwarg_list& kw) {
    auto arg = [&](size_t pos, const char* n, const value& def) { return arg_get(a, kw, pos, n, def); };
    auto bool_arg = [&](size_t pos, const char* n) { return value_truthy(arg(pos, n, false_v())); };
    if (name == "safe") {
        value r = value::string(value_str(v));
        r.safe = true;
        return r;
    }
    if (name == "string") return value::string(value_str(v));
    if (name == "length" || name == "count") return value::integer(static_cast<int64_t>(length_of(v)));
    if (name == "default" || name == "d") {
        const value& def = arg(0, "default_value", value::string(""));
        const bool boolean = bool_arg(1, "boolean");
        if (v.is_undefined() || (boolean && !value_truthy(v))) return def;
        return v;
    }
    if (name == "trim") return value::string(py_strip(value_str(v), arg(0, "chars", none_v()), true, true));
    if (name == "upper") return value::string(py_upper(value_str(v)));
    if (name == "lower") return value::string(py_lower(value_str(v)));
    if (name == "capitalize") return value::string(py_capitalize(value_str(v)));
    if (name == "title") {
        // jinja2 capitalizes after whitespace and -({[<, and lower-cases the rest of each word.
        std::string out;
        bool start = true;
        for (const auto& ch : utf8_chars(value_str(v))) {
            const bool sep = ch.size() == 1 && (std::isspace(static_cast<unsigned char>(ch[0])) || std::string("-({[<").find(ch[0]) != std::string::npos);
            if (sep) {
                out += ch;
                start = true;
                continue;
            }
            out += start ? py_upper(ch) : py_lower(ch);
            start = false;
        }
        return value::string(out);
    }
    if (name == "replace") {
        const value& old = arg(0, "old", undef_v());
        const value& rep = arg(1, "new", undef_v());
        const value& count = arg(2, "count", none_v());
        return value::string(py_replace(value_str(v), value_str(old), value_str(rep), count.is_none() ? -1 : count.i));
    }
    if (name == "escape" || name == "e" || name == "forceescape") {
        if (v.safe && name != "forceescape") return v;
        value r = value::string(html_escape(value_str(v)));
        r.safe = true;
        return r;
    }
    if (name == "join") {
        const std::string sep = value_str(arg(0, "d", value::string("")));
        const value& attribute = arg(1, "attribute", none_v());
        std::string out;
        bool first = true;
        for (const auto& item : value_iterate(v)) {
            if (!first) out += sep;
            first = false;
            out += value_str(attribute.is_none() ? item : attr_path(item, attribute));
        }
        return value::string(out);
    }
    if (name == "tojson") {
        const value& ensure_ascii = arg(0, "ensure_ascii", false_v());
        const value& indent = arg(1, "indent", none_v());
        const value& separators = arg(2, "separators", none_v());
        const bool sort_keys = bool_arg(3, "sort_keys");
        int ind = -1;
        if (indent.k == value::kind::integer) ind = static_cast<int>(indent.i);
        else if (!indent.is_none()) builtin_fail("tojson: indent must be an integer");
        std::string item_sep = ind >= 0 ? "," : ", ", key_sep = ": ";
        if (separators.is_array() && separators.a->items.size() == 2) {
            item_sep = value_str(separators.a->items[0]);
            key_sep = value_str(separators.a->items[1]);
        }
        std::string out = value_to_json(v, ind, sort_keys, item_sep, key_sep);
        return value::string(value_truthy(ensure_ascii) ? ascii_escape(out) : out);
    }
    if (name == "items") {
        if (v.is_undefined()) return value::generator({});
        if (!v.is_object()) builtin_fail(std::string("items filter: can only get item pairs from a mapping, not ") + value_type_name(v));
        value_list out;
        for (const auto& kv : v.o->items) out.push_back(value::tuple({key_value(kv.first), kv.second}));
        return value::generator(std::move(out));
    }
    if (name == "dictsort") {
        if (!v.is_object()) builtin_fail("dictsort: can only sort a mapping");
        const bool cs = bool_arg(0, "case_sensitive");
        const value& by = arg(1, "by", value::string("key"));
        const bool reverse = bool_arg(2, "reverse");
        const size_t pos = by.is_string() && by.s == "value" ? 1 : 0;
        value_list out;
        for (const auto& kv : v.o->items) out.push_back(value::tuple({key_value(kv.first), kv.second}));
        std::stable_sort(out.begin(), out.end(), [&](const value& x, const value& y) {
            const value kx = sort_key(x.a->items[pos], cs), ky = sort_key(y.a->items[pos], cs);
            return reverse ? value_less(ky, kx) : value_less(kx, ky);
        });
        return value::array(std::move(out));
    }
    if (name == "list") {
        if (v.is_string() || v.is_array() || v.is_object() || v.is_undefined()) return value::array(value_iterate(v));
        builtin_fail(std::string("'") + value_type_name(v) + "' object is not iterable");
    }
    if (name == "first") {
        const value_list items = value_iterate(v);
        return items.empty() ? value::undefined("No first item, sequence was empty.") : items.front();
    }
    if (name == "last") {
        if (v.is_array() && v.a->is_generator) builtin_fail("'generator' object is not reversible");
        const value_list items = value_iterate(v);
        return items.empty() ? value::undefined("No last item, sequence was empty.") : items.back();
    }
    if (name == "reverse") {
        if (v.is_string()) {
            auto chars = utf8_chars(v.s);
            std::string out;
            for (auto it = chars.rbegin(); it != chars.rend(); ++it) out += *it;
            return value::string(out);
        }
        value_list items = value_iterate(v);
        std::reverse(items.begin(), items.end());
        return value::generator(std::move(items));
    }
    if (name == "select" || name == "reject") return select_common(v, a, false, name == "select");
    if (name == "selectattr" || name == "rejectattr") return select_common(v, a, true, name == "selectattr");
    if (name == "map") {
        value_list out;
        if (!value_truthy(v)) return value::generator({});  // jinja2 skips a falsy sequence (None too)
        const value& attribute = arg_get({}, kw, 0, "attribute", none_v());
        if (!attribute.is_none()) {
            const value& def = arg_get({}, kw, 0, "default", undef_v());
            for (const auto& item : value_iterate(v)) {
                value r = attr_path(item, attribute);
                out.push_back(r.is_undefined() && !def.is_undefined() ? def : r);
            }
            return value::generator(std::move(out));
        }
        if (a.empty() || !a[0].is_string()) builtin_fail("map: expected a filter name or attribute=");
        const std::string f = a[0].s;
        if (!filter_known(f)) builtin_fail("No filter named '" + f + "'");
        value_list fargs(a.begin() + 1, a.end());
        kwarg_list fkw = kw;
        for (const auto& item : value_iterate(v)) {
            value_list ca = fargs;
            kwarg_list ck = fkw;
            out.push_back(filter_apply(f, item, ca, ck));
        }
        return value::generator(std::move(out));
    }
    if (name == "unique") {
        const bool cs = bool_arg(0, "case_sensitive");
        const value& attribute = arg(1, "attribute", none_v());
        value_list out, seen;
        for (const auto& item : value_iterate(v)) {
            const value key = sort_key(attribute.is_none() ? item : attr_path(item, attribute), cs);
            if (std::none_of(seen.begin(), seen.end(), [&](const value& s) { return value_equal(s, key); })) {
                seen.push_back(key);
                out.push_back(item);
            }
        }
        return value::generator(std::move(out));
    }
    if (name == "sort" || name == "min" || name == "max") {
        const bool is_sort = name == "sort";
        const bool reverse = is_sort && bool_arg(0, "reverse");
        const bool cs = bool_arg(is_sort ? 1 : 0, "case_sensitive");
        const value& attribute = arg(is_sort ? 2 : 1, "attribute", none_v());
        value_list items = value_iterate(v);
        auto key = [&](const value& x) { return sort_key(attribute.is_none() ? x : attr_path(x, attribute), cs); };
        std::stable_sort(items.begin(), items.end(), [&](const value& x, const value& y) {
            return reverse ? value_less(key(y), key(x)) : value_less(key(x), key(y));
        });
        if (is_sort) return value::array(std::move(items));
        if (items.empty()) return value::undefined("No aggregated item, sequence was empty.");
        if (name == "min") return items.front();
        // max: the first of the largest, as Python's max()
        value best = items.back();
        for (const auto& x : items)
            if (!value_less(key(x), key(best))) return x;
        return best;
    }
    if (name == "sum") {
        const value& attribute = arg(0, "attribute", none_v());
        value total = arg(1, "start", value::integer(0));
        for (const auto& item : value_iterate(v)) {
            const value x = attribute.is_none() ? item : attr_path(item, attribute);
            if (!x.is_number() || !total.is_number()) builtin_fail("sum: unsupported operand types");
            if (x.k == value::kind::floating || total.k == value::kind::floating)
                total = value::floating(total.as_double() + x.as_double());
            else total = value::integer(static_cast<int64_t>(total.as_double()) + static_cast<int64_t>(x.as_double()));
        }
        return total;
    }
    if (name == "int") {
        const value& def = arg(0, "default", value::integer(0));
        const value& base = arg(1, "base", value::integer(10));
        return value::integer(to_int(v, def, static_cast<int>(base.i)));
    }
    if (name == "float") {
        const value& def = arg(0, "default", value::floating(0.0));
        if (v.is_number()) return value::floating(v.as_double());
        if (v.is_string()) {
            char* end = nullptr;
            const std::string s = py_strip(v.s, none_v(), true, true);
            const double d = std::strtod(s.c_str(), &end);
            if (!s.empty() && end && *end == 0) return value::floating(d);
        }
        return def;
    }
    if (name == "abs") {
        if (v.k == value::kind::integer) return value::integer(v.i < 0 ? -v.i : v.i);
        if (v.k == value::kind::boolean) return value::integer(v.b);
        if (v.k == value::kind::floating) return value::floating(std::fabs(v.f));
        builtin_fail(std::string("bad operand type for abs(): '") + value_type_name(v) + "'");
    }
    if (name == "round") {
        const int64_t precision = arg(0, "precision", value::integer(0)).i;
        const std::string method = value_str(arg(1, "method", value::string("common")));
        if (!v.is_number()) builtin_fail("round: not a number");
        const double scale = std::pow(10.0, static_cast<double>(precision));
        const double x = v.as_double() * scale;
        double r = method == "ceil" ? std::ceil(x) : method == "floor" ? std::floor(x) : std::nearbyint(x);  // Python rounds half to even
        return value::floating(r / scale);
    }
    if (name == "indent") {
        const value& width = arg(0, "width", value::integer(4));
        return value::string(indent_text(value_str(v), width, bool_arg(1, "first"), bool_arg(2, "blank")));
    }
    if (name == "center") {
        const int64_t width = arg(0, "width", value::integer(80)).i;
        const std::string s = value_str(v);
        const int64_t len = static_cast<int64_t>(utf8_length(s));
        if (len >= width) return value::string(s);
        const int64_t pad = width - len;
        const int64_t left = pad / 2 + (pad & width & 1);
        return value::string(std::string(static_cast<size_t>(left), ' ') + s + std::string(static_cast<size_t>(pad - left), ' '));
    }
    if (name == "wordcount") {
        int64_t n = 0;
        bool in_word = false;
        for (const char c : value_str(v)) {
            const bool w = std::isalnum(static_cast<unsigned char>(c)) || c == '_' || (static_cast<unsigned char>(c) & 0x80);
            if (w && !in_word) ++n;
            in_word = w;
        }
        return value::integer(n);
    }
    if (name == "attr") {
        const value& n = arg(0, "name", undef_v());
        return attr_get(v, value_str(n));
    }
    if (!filter_known(name)) builtin_fail("No filter named '" + name + "' found.");
    builtin_fail("the '" + name + "' filter is not supported by kiln's template engine");
}

bool test_apply(const std::string& name, const value& v, value_list& a) {
    auto other = [&]() -> const value& {
        if (a.empty()) builtin_fail("test '" + name + "' takes an argument");
        return a[0];
    };
    if (name == "defined") return !v.is_undefined();
    if (name == "undefined") return v.is_undefined();
    if (name == "none") return v.is_none();
    if (name == "boolean") return v.k == value::kind::boolean;
    if (name == "false") return v.k == value::kind::boolean && !v.b;
    if (name == "true") return v.k == value::kind::boolean && v.b;
    if (name == "integer") return v.k == value::kind::integer;
    if (name == "float") return v.k == value::kind::floating;
    if (name == "number") return v.is_number();
    if (name == "string") return v.is_string();
    if (name == "mapping") return v.is_object() && !v.o->is_namespace;
    if (name == "sequence")
        return v.is_undefined() || v.is_string() || (v.is_array() && !v.a->is_generator) || (v.is_object() && !v.o->is_namespace);
    if (name == "iterable") return v.is_undefined() || v.is_string() || v.is_array() || (v.is_object() && !v.o->is_namespace);
    if (name == "callable") return v.k == value::kind::function;
    if (name == "lower") return v.is_string() && py_lower(v.s) == v.s && py_upper(v.s) != v.s;
    if (name == "upper") return v.is_string() && py_upper(v.s) == v.s && py_lower(v.s) != v.s;
    if (name == "escaped") return false;
    if (name == "filter") return v.is_string() && filter_known(v.s);
    if (name == "test") return v.is_string() && test_known(v.s);
    if (name == "odd" || name == "even" || name == "divisibleby") {
        if (v.k != value::kind::integer && v.k != value::kind::boolean) builtin_fail("test '" + name + "' needs an integer");
        const int64_t x = v.k == value::kind::boolean ? v.b : v.i;
        if (name == "odd") return (x % 2) != 0;
        if (name == "even") return (x % 2) == 0;
        const value& d = other();
        if (d.k != value::kind::integer || d.i == 0) builtin_fail("divisibleby needs a non-zero integer");
        return x % d.i == 0;
    }
    if (name == "sameas") {
        const value& o = other();
        if (v.k != o.k) return false;
        switch (v.k) {
            case value::kind::none:
            case value::kind::undefined: return true;
            case value::kind::boolean: return v.b == o.b;
            case value::kind::array: return v.a == o.a;
            case value::kind::object: return v.o == o.o;
            default: return value_equal(v, o);
        }
    }
    if (name == "==" || name == "eq" || name == "equalto") return value_equal(v, other());
    if (name == "!=" || name == "ne") return !value_equal(v, other());
    if (name == "<" || name == "lt" || name == "lessthan") return value_less(v, other());
    if (name == ">" || name == "gt" || name == "greaterthan") return value_less(other(), v);
    if (name == "<=" || name == "le") return !value_less(other(), v);
    if (name == ">=" || name == "ge") return !value_less(v, other());
    if (name == "in") {
        const value& seq = other();
        if (seq.is_string()) {
            if (!v.is_string()) builtin_fail("'in <string>' requires string as left operand");
            return seq.s.find(v.s) != std::string::npos;
        }
        if (seq.is_object()) {
            if (seq.o->is_namespace) builtin_fail("argument of type 'Namespace' is not iterable");
            if (v.is_array() || v.is_object()) builtin_fail(std::string("unhashable type: '") + value_type_name(v) + "'");
            return seq.o->find(key_string(v)) != nullptr;
        }
        for (const auto& x : value_iterate(seq))
            if (value_equal(x, v)) return true;
        return false;
    }
    if (!test_known(name)) builtin_fail("No test named '" + name + "' found.");
    builtin_fail("the '" + name + "' test is not supported by kiln's template engine");
}

}  // namespace kiln::jinja

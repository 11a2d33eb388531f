// The values a chat template computes with. They follow Python's semantics,
// because templates are written for (and tested against) Python's jinja2:
// lists and dicts are shared references, dicts keep insertion order, str()
// and repr() print as Python does, and undefined behaves as jinja2's default
// Undefined (prints as nothing, fails when its attributes are used).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace kiln::jinja {

// A render failure; `line` is the template line (0 when unknown).
class template_error : public std::runtime_error {
public:
    template_error(const std::string& msg, int line) : std::runtime_error(msg), line(line) {}
    int line;
};

struct value;
using value_list = std::vector<value>;
using kwarg_list = std::vector<std::pair<std::string, value>>;

struct array_data {
    value_list items;
    bool is_tuple = false;
    // Filters such as map and selectattr return Python generators: iterable,
    // but with no length and not serializable. Templates must `|list` them.
    bool is_generator = false;
};

struct object_data {
    std::vector<std::pair<std::string, value>> items;  // insertion order
    bool is_namespace = false;                          // jinja2's namespace(): attribute assignment allowed
    const value* find(std::string_view key) const;
    value* find(std::string_view key);
    void set(const std::string& key, value v);
};

struct function_data {
    std::string name;
    std::function<value(value_list& args, kwarg_list& kwargs)> call;
};

struct value {
    enum class kind : uint8_t { undefined, none, boolean, integer, floating, string, array, object, function };

    kind k = kind::undefined;
    bool b = false;
    bool safe = false;  // a string marked safe (jinja2's Markup): `+` with it HTML-escapes the other side
    int64_t i = 0;
    double f = 0.0;
    std::string s;  // the string; for undefined, what was looked up (for the error message)
    std::shared_ptr<array_data> a;
    std::shared_ptr<object_data> o;
    std::shared_ptr<function_data> fn;

    value() = default;
    static value undefined(std::string what = {});
    static value none();
    static value boolean(bool v);
    static value integer(int64_t v);
    static value floating(double v);
    static value string(std::string v);
    static value array(value_list items = {});
    static value tuple(value_list items);
    static value generator(value_list items);
    static value object();
    static value function(std::string name, std::function<value(value_list&, kwarg_list&)> f);

    bool is_undefined() const { return k == kind::undefined; }
    bool is_none() const { return k == kind::none; }
    bool is_string() const { return k == kind::string; }
    bool is_array() const { return k == kind::array; }
    bool is_object() const { return k == kind::object; }
    bool is_number() const { return k == kind::integer || k == kind::floating || k == kind::boolean; }
    double as_double() const;  // numbers only
};

// Dict keys: strings are stored as themselves, other hashable keys (ints,
// bools, floats, None; templates write {0: ..., 512: ...}) under an encoded
// string so that d[512] and d['512'] stay different keys, as in Python.
std::string key_string(const value& k);  // template_error for unhashable keys
value key_value(const std::string& stored);
// How json.dumps writes a stored key.
std::string key_json(const std::string& stored);

// jinja2's escape(): & < > " ' as HTML entities.
std::string html_escape(const std::string& s);

// Python's type name of a value ("str", "dict", "NoneType", ...), for error messages.
const char* value_type_name(const value& v);
bool value_truthy(const value& v);
// Python's str() and repr().
std::string value_str(const value& v);
std::string value_repr(const value& v);
std::string float_repr(double d);
// Python's ==.
bool value_equal(const value& x, const value& y);
// Python's <; template_error when the types do not order.
bool value_less(const value& x, const value& y);
// The items a for loop visits: list items, dict keys, string characters.
value_list value_iterate(const value& v);

// JSON in, and json.dumps(ensure_ascii=False) out (what transformers installs as tojson).
value value_from_json(const nlohmann::ordered_json& j);
std::string value_to_json(const value& v, int indent = -1, bool sort_keys = false,
                          const std::string& item_sep = ", ", const std::string& key_sep = ": ");

// UTF-8 helpers: strings index by code point, as Python's do.
std::vector<std::string> utf8_chars(std::string_view s);
size_t utf8_length(std::string_view s);

}  // namespace kiln::jinja

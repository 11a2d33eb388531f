// jinja2's built-in filters and tests, Python's str/dict/list methods that
// templates call, and attribute/item lookup as jinja2's sandbox does it
// (internal to src/chat). Errors are template_error with line 0; the
// evaluator adds the line.
#pragma once

#include <string>

#include "chat/jinja_value.h"

namespace kiln::jinja {

// Names jinja2 knows; an unknown one is a compile-time error there, so here too.
bool filter_known(const std::string& name);
bool test_known(const std::string& name);

value filter_apply(const std::string& name, const value& subject, value_list& args, kwarg_list& kwargs);
bool test_apply(const std::string& name, const value& subject, value_list& args);

// obj.name and obj[key]: jinja2's getattr/getitem (attribute first for `.`, item first for `[]`);
// missing → undefined; methods come back bound; methods that mutate come back as an undefined
// that fails when called (the immutable sandbox transformers renders with).
value attr_get(const value& obj, const std::string& name);
value item_get(const value& obj, const value& key);
value slice_get(const value& obj, const value& start, const value& stop, const value& step);

// Globals every template sees: range, dict, namespace.
value global_get(const std::string& name);

// Argument access for builtins: positional index `pos`, or keyword `name`; `def` when absent.
value arg_get(const value_list& args, const kwarg_list& kwargs, size_t pos, const char* name, const value& def);

// Python string helpers (code-point aware where Python is).
std::string py_strip(const std::string& s, const value& chars, bool left, bool right);
std::string py_upper(const std::string& s);
std::string py_lower(const std::string& s);
std::string py_capitalize(const std::string& s);
std::string py_str_title(const std::string& s);
value py_split(const std::string& s, const value& sep, int64_t maxsplit);
std::string py_replace(const std::string& s, const std::string& old, const std::string& rep, int64_t count);
[[noreturn]] void builtin_fail(const std::string& msg);
// The value's undefined error: what jinja2 raises when an undefined is used.
[[noreturn]] void undefined_fail(const value& v);

}  // namespace kiln::jinja

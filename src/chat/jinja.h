// A Jinja-subset template engine for Hugging Face chat templates. It renders
// what Python's jinja2 renders in the environment transformers sets up
// (trim_blocks, lstrip_blocks, the immutable sandbox, loop controls, the
// {% generation %} tag, and the raise_exception / strftime_now / tojson it
// installs), byte for byte; tests/test_jinja.cpp checks that against jinja2.
#pragma once

#include <ctime>
#include <memory>
#include <string>
#include <string_view>

#include "chat/jinja_value.h"

namespace kiln::jinja {

struct node;

struct render_options {
    // What strftime_now() formats; 0 = the current local time.
    std::time_t now = 0;
};

class jinja_template {
public:
    // Parses `source`; template_error (with its line) on a syntax error.
    explicit jinja_template(std::string_view source);

    // `context` is a dict of the template's variables. template_error (with the
    // template line) when rendering fails or the template calls raise_exception.
    std::string render(const value& context, const render_options& opt = {}) const;

private:
    std::shared_ptr<const std::vector<std::shared_ptr<node>>> body_;
};

}  // namespace kiln::jinja

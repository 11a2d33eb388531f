// Tokens and syntax tree of the Jinja subset (internal to src/chat).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "chat/jinja_value.h"

namespace kiln::jinja {

struct token {
    enum class type { data, var_begin, var_end, block_begin, block_end, name, string, integer, floating, op, eof };
    type t;
    std::string text;
    int line;
};

// The template's tokens, with jinja2's whitespace control applied as HF
// configures it (trim_blocks, lstrip_blocks, no keep_trailing_newline).
std::vector<token> jinja_lex(std::string_view source);

struct expr;
using expr_ptr = std::shared_ptr<expr>;

struct expr {
    enum class kind {
        literal, name, list, tuple, dict, getattr, getitem, slice, call, filter, test,
        neg, pos, not_, binary, and_, or_, cond
    };
    kind k;
    int line = 0;
    value lit;                                          // literal
    std::string name;                                   // name, attribute, filter/test name, binary operator
    std::vector<expr_ptr> args;                         // operands; for call/filter/test: [callee/subject, args...]
    std::vector<std::pair<std::string, expr_ptr>> kwargs;
    bool negated = false;                               // `is not`
    int depth = 1;                                      // of the tree below (bounded: destruction recurses)
};

struct node;
using node_ptr = std::shared_ptr<node>;
using node_list = std::vector<node_ptr>;

struct node {
    enum class kind { text, output, if_, for_, set, set_block, macro, break_, continue_, filter_block, scope };
    kind k;
    int line = 0;
    std::string text;                               // text
    expr_ptr e;                                     // output value, set value, for iterable, filter (subject = null)
    std::vector<std::string> targets;               // set/for names (several: tuple unpacking)
    expr_ptr attr_target;                           // set ns.attr = ...: the object expression
    std::string attr_name;
    std::vector<std::pair<expr_ptr, node_list>> branches;  // if/elif conditions and bodies
    node_list body;
    node_list else_body;
    expr_ptr loop_filter;                           // for x in y if cond
    std::vector<std::pair<std::string, expr_ptr>> params;  // macro parameters and defaults (null: none)
};

node_list jinja_parse(const std::vector<token>& tokens);

}  // namespace kiln::jinja

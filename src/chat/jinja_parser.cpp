// Recursive-descent parser with jinja2's operator precedence (lowest first):
// conditional, or, and, not, comparisons and `in`, + -, ~, * / // %, **,
// unary - +, then primaries with their postfixes (. [] ()) and filters/tests.
#include <algorithm>
#include <cstdlib>
#include <set>

#include "chat/jinja_ast.h"
#include "chat/jinja_builtins.h"

namespace kiln::jinja {

namespace {

class parser {
public:
    explicit parser(const std::vector<token>& t) : t_(t) {}

    node_list parse_template() {
        node_list body = parse_body({});
        if (cur().t != token::type::eof) fail("unexpected '" + peek_tag_name() + "'");
        return body;
    }

private:
    const std::vector<token>& t_;
    size_t i_ = 0;
    int depth_ = 0;

    // Nesting is bounded so that a hostile template cannot exhaust the stack.
    struct depth_guard {
        parser& p;
        explicit depth_guard(parser& q) : p(q) {
            if (++p.depth_ > 200) p.fail("the template nests too deeply");
        }
        ~depth_guard() { --p.depth_; }
    };

    const token& cur() const { return t_[i_]; }
    const token& ahead(size_t n) const { return t_[std::min(i_ + n, t_.size() - 1)]; }
    void next() {
        if (i_ + 1 < t_.size()) ++i_;
    }
    [[noreturn]] void fail(const std::string& msg) const { throw template_error(msg, cur().line); }

    bool is_op(const char* op) const { return cur().t == token::type::op && cur().text == op; }
    bool is_name(const char* n) const { return cur().t == token::type::name && cur().text == n; }
    void expect_op(const char* op) {
        if (!is_op(op)) fail(std::string("expected '") + op + "', got '" + describe() + "'");
        next();
    }
    void expect_name(const char* n) {
        if (!is_name(n)) fail(std::string("expected '") + n + "', got '" + describe() + "'");
        next();
    }
    std::string expect_identifier() {
        if (cur().t != token::type::name) fail("expected a name, got '" + describe() + "'");
        std::string n = cur().text;
        next();
        return n;
    }
    void expect_block_end() {
        if (cur().t != token::type::block_end) fail("expected end of statement block, got '" + describe() + "'");
        next();
    }
    std::string describe() const {
        switch (cur().t) {
            case token::type::block_end: return "%}";
            case token::type::var_end: return "}}";
            case token::type::eof: return "end of template";
            default: return cur().text;
        }
    }
    std::string peek_tag_name() const { return ahead(1).text; }

    // Parses nodes until a block tag whose name is in `stop` (left unconsumed, positioned on the name).
    node_list parse_body(const std::set<std::string>& stop) {
        depth_guard guard(*this);
        node_list out;
        for (;;) {
            const token& tk = cur();
            if (tk.t == token::type::eof) {
                if (!stop.empty()) {
                    std::string names;
                    for (const auto& s : stop) names += (names.empty() ? "'" : " or '") + s + "'";
                    fail("unexpected end of template, expected " + names);
                }
                return out;
            }
            if (tk.t == token::type::data) {
                auto n = std::make_shared<node>();
                n->k = node::kind::text;
                n->line = tk.line;
                n->text = tk.text;
                out.push_back(n);
                next();
            } else if (tk.t == token::type::var_begin) {
                next();
                auto n = std::make_shared<node>();
                n->k = node::kind::output;
                n->line = cur().line;
                n->e = parse_tuple_or_expr();
                if (cur().t != token::type::var_end) fail("expected '}}', got '" + describe() + "'");
                next();
                out.push_back(n);
            } else if (tk.t == token::type::block_begin) {
                next();
                if (cur().t != token::type::name) fail("expected a statement name, got '" + describe() + "'");
                if (stop.count(cur().text)) return out;
                out.push_back(parse_statement());
            } else {
                fail("unexpected '" + describe() + "'");
            }
        }
    }

    node_ptr parse_statement() {
        const std::string name = cur().text;
        const int line = cur().line;
        auto n = std::make_shared<node>();
        n->line = line;
        next();
        if (name == "if") {
            n->k = node::kind::if_;
            expr_ptr cond = parse_tuple_or_expr();
            expect_block_end();
            for (;;) {
                node_list body = parse_body({"elif", "else", "endif"});
                n->branches.emplace_back(cond, std::move(body));
                const std::string tag = cur().text;
                next();
                if (tag == "elif") {
                    cond = parse_tuple_or_expr();
                    expect_block_end();
                    continue;
                }
                if (tag == "else") {
                    expect_block_end();
                    n->else_body = parse_body({"endif"});
                    next();
                }
                expect_block_end();
                return n;
            }
        }
        if (name == "for") {
            n->k = node::kind::for_;
            n->targets = parse_target_names();
            expect_name("in");
            n->e = parse_tuple_or_expr(false);
            if (is_name("if")) {
                next();
                n->loop_filter = parse_expression();
            }
            if (is_name("recursive")) fail("recursive for loops are not supported");
            expect_block_end();
            n->body = parse_body({"else", "endfor"});
            if (cur().text == "else") {
                next();
                expect_block_end();
                n->else_body = parse_body({"endfor"});
            }
            next();
            expect_block_end();
            return n;
        }
        if (name == "set") {
            if (cur().t == token::type::name && ahead(1).t == token::type::op && ahead(1).text == ".") {
                n->k = node::kind::set;
                auto obj = std::make_shared<expr>();
                obj->k = expr::kind::name;
                obj->line = line;
                obj->name = cur().text;
                next();
                next();
                n->attr_target = obj;
                n->attr_name = expect_identifier();
                expect_op("=");
                n->e = parse_tuple_or_expr();
                expect_block_end();
                return n;
            }
            n->targets = parse_target_names();
            if (is_op("=")) {
                n->k = node::kind::set;
                next();
                n->e = parse_tuple_or_expr();
                expect_block_end();
                return n;
            }
            n->k = node::kind::set_block;
            if (n->targets.size() != 1) fail("a block set takes one name");
            if (is_op("|")) n->e = parse_filter_chain(nullptr);
            expect_block_end();
            n->body = parse_body({"endset"});
            next();
            expect_block_end();
            return n;
        }
        if (name == "macro") {
            n->k = node::kind::macro;
            n->text = expect_identifier();
            expect_op("(");
            while (!is_op(")")) {
                std::string p = expect_identifier();
                expr_ptr def;
                if (is_op("=")) {
                    next();
                    def = parse_expression();
                }
                n->params.emplace_back(p, def);
                if (!is_op(",")) break;
                next();
            }
            expect_op(")");
            expect_block_end();
            n->body = parse_body({"endmacro"});
            next();
            if (cur().t == token::type::name) next();  // {% endmacro name %}
            expect_block_end();
            return n;
        }
        if (name == "break" || name == "continue") {
            n->k = name == "break" ? node::kind::break_ : node::kind::continue_;
            expect_block_end();
            return n;
        }
        if (name == "filter") {
            n->k = node::kind::filter_block;
            n->e = parse_filter_chain(nullptr, /*leading_pipe=*/false);
            expect_block_end();
            n->body = parse_body({"endfilter"});
            next();
            expect_block_end();
            return n;
        }
        if (name == "generation") {
            // transformers' AssistantTracker tag: its body renders unchanged.
            n->k = node::kind::scope;
            expect_block_end();
            n->body = parse_body({"endgeneration"});
            next();
            expect_block_end();
            return n;
        }
        if (name == "elif" || name == "else" || name.rfind("end", 0) == 0) fail("unexpected '" + name + "'");
        fail("the '" + name + "' statement is not supported");
    }

    std::vector<std::string> parse_target_names() {
        std::vector<std::string> names;
        const bool paren = is_op("(");
        if (paren) next();
        names.push_back(expect_identifier());
        while (is_op(",")) {
            next();
            if (cur().t != token::type::name) break;
            names.push_back(expect_identifier());
        }
        if (paren) expect_op(")");
        return names;
    }

    // Operator and postfix chains nest the tree without nesting the source; keep it shallow
    // enough that evaluating and freeing it cannot exhaust the stack.
    expr_ptr deepen(expr_ptr e) {
        int d = 0;
        for (const auto& a : e->args)
            if (a) d = std::max(d, a->depth);
        for (const auto& kv : e->kwargs)
            if (kv.second) d = std::max(d, kv.second->depth);
        e->depth = d + 1;
        if (e->depth > 300) throw template_error("the template nests too deeply", e->line);
        return e;
    }

    expr_ptr make(expr::kind k, int line) {
        auto e = std::make_shared<expr>();
        e->k = k;
        e->line = line;
        return e;
    }

    // An expression, or a bare tuple `a, b` where jinja2 allows one.
    expr_ptr parse_tuple_or_expr(bool with_condexpr = true) {
        const int line = cur().line;
        expr_ptr first = with_condexpr ? parse_expression() : parse_or();
        if (!is_op(",")) return first;
        auto t = make(expr::kind::tuple, line);
        t->args.push_back(first);
        while (is_op(",")) {
            next();
            if (cur().t == token::type::block_end || cur().t == token::type::var_end || is_op(")")) break;
            t->args.push_back(with_condexpr ? parse_expression() : parse_or());
        }
        return t;
    }

    expr_ptr parse_expression() {
        expr_ptr e = parse_or();
        while (is_name("if")) {
            const int line = cur().line;
            next();
            auto c = make(expr::kind::cond, line);
            c->args.push_back(e);
            c->args.push_back(parse_or());
            if (is_name("else")) {
                next();
                c->args.push_back(parse_expression());
            }
            e = deepen(c);
        }
        return e;
    }

    expr_ptr parse_or() {
        expr_ptr e = parse_and();
        while (is_name("or")) {
            auto o = make(expr::kind::or_, cur().line);
            next();
            o->args = {e, parse_and()};
            e = deepen(o);
        }
        return e;
    }

    expr_ptr parse_and() {
        expr_ptr e = parse_not();
        while (is_name("and")) {
            auto o = make(expr::kind::and_, cur().line);
            next();
            o->args = {e, parse_not()};
            e = deepen(o);
        }
        return e;
    }

    expr_ptr parse_not() {
        if (is_name("not")) {
            auto o = make(expr::kind::not_, cur().line);
            next();
            o->args = {parse_not()};
            return o;
        }
        return parse_compare();
    }

    expr_ptr binary(const std::string& op, expr_ptr l, expr_ptr r, int line) {
        auto b = make(expr::kind::binary, line);
        b->name = op;
        b->args = {std::move(l), std::move(r)};
        return deepen(b);
    }

    expr_ptr parse_compare() {
        expr_ptr e = parse_math1();
        for (;;) {
            const int line = cur().line;
            if (cur().t == token::type::op &&
                (is_op("==") || is_op("!=") || is_op("<") || is_op("<=") || is_op(">") || is_op(">="))) {
                const std::string op = cur().text;
                next();
                e = binary(op, e, parse_math1(), line);
            } else if (is_name("in")) {
                next();
                e = binary("in", e, parse_math1(), line);
            } else if (is_name("not") && ahead(1).t == token::type::name && ahead(1).text == "in") {
                next();
                next();
                e = binary("not in", e, parse_math1(), line);
            } else {
                return e;
            }
        }
    }

    expr_ptr parse_math1() {
        expr_ptr e = parse_concat();
        while (is_op("+") || is_op("-")) {
            const std::string op = cur().text;
            const int line = cur().line;
            next();
            e = binary(op, e, parse_concat(), line);
        }
        return e;
    }

    expr_ptr parse_concat() {
        expr_ptr e = parse_math2();
        while (is_op("~")) {
            const int line = cur().line;
            next();
            e = binary("~", e, parse_math2(), line);
        }
        return e;
    }

    expr_ptr parse_math2() {
        expr_ptr e = parse_pow();
        while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
            const std::string op = cur().text;
            const int line = cur().line;
            next();
            e = binary(op, e, parse_pow(), line);
        }
        return e;
    }

    expr_ptr parse_pow() {
        expr_ptr e = parse_unary();
        while (is_op("**")) {
            const int line = cur().line;
            next();
            e = binary("**", e, parse_unary(), line);
        }
        return e;
    }

    expr_ptr parse_unary(bool with_filter = true) {
        depth_guard guard(*this);
        expr_ptr e;
        const int line = cur().line;
        if (is_op("-") || is_op("+")) {
            e = make(is_op("-") ? expr::kind::neg : expr::kind::pos, line);
            next();
            e->args = {parse_unary(false)};
        } else {
            e = parse_postfix(parse_primary());
        }
        if (with_filter) e = parse_filters_and_tests(e);
        return e;
    }

    expr_ptr parse_primary() {
        depth_guard guard(*this);
        const token& tk = cur();
        const int line = tk.line;
        if (tk.t == token::type::name) {
            const std::string& n = tk.text;
            auto lit = make(expr::kind::literal, line);
            if (n == "true" || n == "True") lit->lit = value::boolean(true);
            else if (n == "false" || n == "False") lit->lit = value::boolean(false);
            else if (n == "none" || n == "None") lit->lit = value::none();
            else {
                auto e = make(expr::kind::name, line);
                e->name = n;
                next();
                return e;
            }
            next();
            return lit;
        }
        if (tk.t == token::type::string) {
            std::string s = tk.text;
            next();
            while (cur().t == token::type::string) {  // adjacent literals concatenate
                s += cur().text;
                next();
            }
            auto e = make(expr::kind::literal, line);
            e->lit = value::string(std::move(s));
            return e;
        }
        if (tk.t == token::type::integer || tk.t == token::type::floating) {
            auto e = make(expr::kind::literal, line);
            e->lit = tk.t == token::type::integer ? value::integer(std::strtoll(tk.text.c_str(), nullptr, 10))
                                                  : value::floating(std::strtod(tk.text.c_str(), nullptr));
            next();
            return e;
        }
        if (is_op("(")) {
            next();
            if (is_op(")")) {
                next();
                return make(expr::kind::tuple, line);
            }
            expr_ptr first = parse_expression();
            if (is_op(")")) {
                next();
                return first;
            }
            auto t = make(expr::kind::tuple, line);
            t->args.push_back(first);
            while (is_op(",")) {
                next();
                if (is_op(")")) break;
                t->args.push_back(parse_expression());
            }
            expect_op(")");
            return t;
        }
        if (is_op("[")) {
            next();
            auto l = make(expr::kind::list, line);
            while (!is_op("]")) {
                l->args.push_back(parse_expression());
                if (!is_op(",")) break;
                next();
            }
            expect_op("]");
            return l;
        }
        if (is_op("{")) {
            next();
            auto d = make(expr::kind::dict, line);
            while (!is_op("}")) {
                d->args.push_back(parse_expression());
                expect_op(":");
                d->args.push_back(parse_expression());
                if (!is_op(",")) break;
                next();
            }
            expect_op("}");
            return d;
        }
        fail("unexpected '" + describe() + "'");
    }

    void parse_call_args(expr_ptr& call) {
        expect_op("(");
        while (!is_op(")")) {
            if (cur().t == token::type::name && ahead(1).t == token::type::op && ahead(1).text == "=") {
                std::string k = cur().text;
                next();
                next();
                call->kwargs.emplace_back(k, parse_expression());
            } else {
                if (is_op("*") || is_op("**")) fail("*args and **kwargs in calls are not supported");
                if (!call->kwargs.empty()) fail("invalid syntax for function call expression");
                call->args.push_back(parse_expression());
            }
            if (!is_op(",")) break;
            next();
        }
        expect_op(")");
    }

    expr_ptr parse_postfix(expr_ptr e) {
        for (;;) {
            const int line = cur().line;
            if (is_op(".")) {
                next();
                auto g = make(expr::kind::getattr, line);
                if (cur().t == token::type::integer) {
                    g->k = expr::kind::getitem;
                    auto idx = make(expr::kind::literal, line);
                    idx->lit = value::integer(std::strtoll(cur().text.c_str(), nullptr, 10));
                    next();
                    g->args = {e, idx};
                } else {
                    g->name = expect_identifier();
                    g->args = {e};
                }
                e = deepen(g);
            } else if (is_op("[")) {
                next();
                expr_ptr parts[3];
                bool is_slice = false;
                for (int p = 0; p < 3; ++p) {
                    if (!is_op(":") && !is_op("]")) parts[p] = parse_expression();
                    if (is_op(":") && p < 2) {
                        is_slice = true;
                        next();
                    } else break;
                }
                expect_op("]");
                auto g = make(is_slice ? expr::kind::slice : expr::kind::getitem, line);
                g->args = {e, parts[0], parts[1], parts[2]};
                if (!is_slice) g->args.resize(2);
                e = deepen(g);
            } else if (is_op("(")) {
                auto c = make(expr::kind::call, line);
                c->args.push_back(e);
                parse_call_args(c);
                e = deepen(c);
            } else {
                return e;
            }
        }
    }

    // `|f(args)|g ...` applied to `subject` (null for filter blocks and `set x | f`).
    expr_ptr parse_filter_chain(expr_ptr subject, bool leading_pipe = true) {
        bool first = true;
        while ((first && !leading_pipe) || is_op("|")) {
            if (!(first && !leading_pipe)) next();
            first = false;
            const int line = cur().line;
            std::string name = expect_identifier();
            while (is_op(".")) {
                next();
                name += "." + expect_identifier();
            }
            auto f = make(expr::kind::filter, line);
            f->name = name;
            f->args.push_back(subject);
            if (is_op("(")) parse_call_args(f);
            subject = deepen(f);
        }
        return subject;
    }

    expr_ptr parse_filters_and_tests(expr_ptr e) {
        for (;;) {
            if (is_op("|")) {
                e = parse_filter_chain(e);
            } else if (is_name("is")) {
                const int line = cur().line;
                next();
                auto t = make(expr::kind::test, line);
                if (is_name("not")) {
                    t->negated = true;
                    next();
                }
                std::string name = expect_identifier();
                while (is_op(".")) {
                    next();
                    name += "." + expect_identifier();
                }
                t->name = name;
                t->args.push_back(e);
                if (is_op("(")) {
                    parse_call_args(t);
                } else if ((cur().t == token::type::name || cur().t == token::type::string ||
                            cur().t == token::type::integer || cur().t == token::type::floating || is_op("[") ||
                            is_op("{")) &&
                           !is_name("else") && !is_name("or") && !is_name("and")) {
                    // `is divisibleby 3`, `is sameas none`: one argument without parentheses
                    expr_ptr arg = parse_postfix(parse_primary());
                    t->args.push_back(arg);
                }
                e = deepen(t);
            } else {
                return e;
            }
        }
    }
};

}  // namespace

// jinja2 rejects unknown filter and test names when compiling, except inside an
// if statement or conditional expression (there they fail only when reached);
// a for or macro body is strict again.
void check_names(const expr_ptr& e, bool soft) {
    if (!e) return;
    soft = soft || e->k == expr::kind::cond;
    if (!soft && e->k == expr::kind::filter && !filter_known(e->name))
        throw template_error("no filter named '" + e->name + "'", e->line);
    if (!soft && e->k == expr::kind::test && !test_known(e->name))
        throw template_error("no test named '" + e->name + "'", e->line);
    for (const auto& a : e->args) check_names(a, soft);
    for (const auto& kv : e->kwargs) check_names(kv.second, soft);
}

void check_names(const node_list& body, bool soft) {
    for (const auto& n : body) {
        check_names(n->e, soft);
        check_names(n->attr_target, soft);
        for (const auto& p : n->params) check_names(p.second, soft);
        switch (n->k) {
            case node::kind::if_:
                for (const auto& br : n->branches) {
                    check_names(br.first, true);
                    check_names(br.second, true);
                }
                check_names(n->else_body, true);
                break;
            case node::kind::for_:
            case node::kind::macro:
                check_names(n->loop_filter, false);
                check_names(n->body, false);
                check_names(n->else_body, false);
                break;
            default:
                check_names(n->body, soft);
                check_names(n->else_body, soft);
        }
    }
}

node_list jinja_parse(const std::vector<token>& tokens) {
    node_list body = parser(tokens).parse_template();
    check_names(body, false);
    return body;
}


}  // namespace kiln::jinja

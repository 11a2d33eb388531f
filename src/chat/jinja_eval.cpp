// The tree-walking evaluator. Scoping follows jinja2: a for loop body and a
// macro body are scopes of their own (a `set` inside them does not leak out,
// which is why templates use namespace()), an if body is not.
#include <cmath>
#include <cstring>

#include "chat/jinja.h"
#include "chat/jinja_ast.h"
#include "chat/jinja_builtins.h"

namespace kiln::jinja {

namespace {

struct frame {
    std::vector<std::pair<std::string, value>> vars;
    frame* parent = nullptr;

    value* find(const std::string& name) {
        for (frame* f = this; f; f = f->parent)
            for (auto& kv : f->vars)
                if (kv.first == name) return &kv.second;
        return nullptr;
    }
    void set(const std::string& name, value v) {
        for (auto& kv : vars)
            if (kv.first == name) {
                kv.second = std::move(v);
                return;
            }
        vars.emplace_back(name, std::move(v));
    }
};

enum class flow { normal, break_, continue_ };

class evaluator {
public:
    evaluator(const render_options& opt) : opt_(opt) {}

    std::string run(const node_list& body, const value& context) {
        frame root;
        if (context.is_object())
            for (const auto& kv : context.o->items) root.vars.push_back(kv);
        std::string out;
        try {
            exec(body, root, out);
        } catch (const template_error& e) {
            throw template_error(e.what(), e.line ? e.line : line_);
        } catch (const std::exception& e) {
            throw template_error(e.what(), line_);
        }
        return out;
    }

private:
    const render_options& opt_;
    int line_ = 0;
    int depth_ = 0;
    int eval_depth_ = 0;

    [[noreturn]] void fail(const std::string& msg) const { throw template_error(msg, line_); }

    flow exec(const node_list& body, frame& f, std::string& out) {
        for (const auto& n : body) {
            const flow fl = exec_node(*n, f, out);
            if (fl != flow::normal) return fl;
        }
        return flow::normal;
    }

    flow exec_node(const node& n, frame& f, std::string& out) {
        line_ = n.line;
        switch (n.k) {
            case node::kind::text: out += n.text; return flow::normal;
            case node::kind::output: {
                const value v = eval(*n.e, f);
                if (v.is_array() && v.a->is_generator) fail("kiln cannot print a generator (add |list)");
                out += value_str(v);
                return flow::normal;
            }
            case node::kind::if_: {
                for (const auto& br : n.branches) {
                    line_ = br.first->line;
                    if (value_truthy(eval(*br.first, f))) return exec(br.second, f, out);
                }
                return exec(n.else_body, f, out);
            }
            case node::kind::for_: return exec_for(n, f, out);
            case node::kind::set: {
                value v = eval(*n.e, f);
                if (n.attr_target) {
                    value obj = eval(*n.attr_target, f);
                    if (!obj.is_object() || !obj.o->is_namespace) fail("can only assign attributes of a namespace()");
                    // the only way to build a cycle, which reference counting would never free
                    if (refers_to(v, obj.o.get(), 0)) fail("kiln does not store a namespace inside itself");
                    obj.o->set(n.attr_name, std::move(v));
                } else assign(f, n.targets, v);
                return flow::normal;
            }
            case node::kind::set_block: {
                std::string captured;
                exec(n.body, f, captured);
                value v = value::string(std::move(captured));
                if (n.e) v = apply_chain(*n.e, f, v);
                f.set(n.targets[0], v);
                return flow::normal;
            }
            case node::kind::filter_block: {
                std::string captured;
                const flow fl = exec(n.body, f, captured);
                out += value_str(apply_chain(*n.e, f, value::string(std::move(captured))));
                return fl;
            }
            case node::kind::scope: return exec(n.body, f, out);
            case node::kind::macro: f.set(n.text, make_macro(n, f)); return flow::normal;
            case node::kind::break_: return flow::break_;
            case node::kind::continue_: return flow::continue_;
        }
        return flow::normal;
    }

    static bool refers_to(const value& v, const object_data* target, int depth) {
        if (depth > 100) return true;
        if (v.is_object()) {
            if (v.o.get() == target) return true;
            for (const auto& kv : v.o->items)
                if (refers_to(kv.second, target, depth + 1)) return true;
        } else if (v.is_array()) {
            for (const auto& x : v.a->items)
                if (refers_to(x, target, depth + 1)) return true;
        }
        return false;
    }

    void assign(frame& f, const std::vector<std::string>& targets, const value& v) {
        if (targets.size() == 1) {
            f.set(targets[0], v);
            return;
        }
        const value_list items = value_iterate(v);
        if (items.size() != targets.size())
            fail("cannot unpack " + std::to_string(items.size()) + " values into " + std::to_string(targets.size()) + " names");
        for (size_t i = 0; i < targets.size(); ++i) f.set(targets[i], items[i]);
    }

    flow exec_for(const node& n, frame& f, std::string& out) {
        const value seq = eval(*n.e, f);
        if (seq.is_none() || seq.is_number() || seq.k == value::kind::function)
            fail(std::string("'") + value_type_name(seq) + "' object is not iterable");
        value_list items = value_iterate(seq);
        if (n.loop_filter) {
            value_list kept;
            for (const auto& item : items) {
                frame tmp;
                tmp.parent = &f;
                assign(tmp, n.targets, item);
                if (value_truthy(eval(*n.loop_filter, tmp))) kept.push_back(item);
            }
            items = std::move(kept);
        }
        if (items.empty()) return exec(n.else_body, f, out);
        const auto len = static_cast<int64_t>(items.size());
        for (int64_t i = 0; i < len; ++i) {
            frame inner;
            inner.parent = &f;
            value loop = value::object();
            auto& o = *loop.o;
            o.set("index", value::integer(i + 1));
            o.set("index0", value::integer(i));
            o.set("revindex", value::integer(len - i));
            o.set("revindex0", value::integer(len - i - 1));
            o.set("first", value::boolean(i == 0));
            o.set("last", value::boolean(i == len - 1));
            o.set("length", value::integer(len));
            o.set("depth", value::integer(1));
            o.set("depth0", value::integer(0));
            o.set("previtem", i > 0 ? items[static_cast<size_t>(i - 1)] : value::undefined("there is no previous item"));
            o.set("nextitem", i + 1 < len ? items[static_cast<size_t>(i + 1)] : value::undefined("there is no next item"));
            o.set("cycle", value::function("cycle", [i](value_list& a, kwarg_list&) {
                      if (a.empty()) builtin_fail("no items for cycling given");
                      return a[static_cast<size_t>(i) % a.size()];
                  }));
            inner.set("loop", loop);
            assign(inner, n.targets, items[static_cast<size_t>(i)]);
            const flow fl = exec(n.body, inner, out);
            if (fl == flow::break_) break;
        }
        return flow::normal;
    }

    value make_macro(const node& n, frame& def_frame) {
        const node* np = &n;
        frame* parent = &def_frame;
        return value::function(n.text, [this, np, parent](value_list& args, kwarg_list& kwargs) {
            if (args.size() > np->params.size())
                fail("macro '" + np->text + "' takes not more than " + std::to_string(np->params.size()) + " argument(s)");
            if (++depth_ > 64) fail("macro recursion is too deep");
            const int saved_line = line_;
            frame mf;
            mf.parent = parent;
            for (size_t i = 0; i < np->params.size(); ++i) {
                const auto& p = np->params[i];
                const value* given = nullptr;
                if (i < args.size()) given = &args[i];
                for (const auto& kv : kwargs)
                    if (kv.first == p.first) given = &kv.second;
                if (given) mf.set(p.first, *given);
                else if (p.second) mf.set(p.first, eval(*p.second, mf));
                else mf.set(p.first, value::undefined("'" + p.first + "' is undefined"));
            }
            for (const auto& kv : kwargs) {
                bool known = false;
                for (const auto& p : np->params) known = known || p.first == kv.first;
                if (!known) fail("macro '" + np->text + "' takes no keyword argument '" + kv.first + "'");
            }
            std::string out;
            exec(np->body, mf, out);
            --depth_;
            line_ = saved_line;
            return value::string(std::move(out));
        });
    }

    value lookup(const std::string& name, frame& f) {
        if (value* v = f.find(name)) return *v;
        if (name == "raise_exception") {
            return value::function(name, [this](value_list& a, kwarg_list&) -> value {
                fail(a.empty() ? std::string("raise_exception() called") : value_str(a[0]));
            });
        }
        if (name == "strftime_now") {
            return value::function(name, [this](value_list& a, kwarg_list&) {
                if (a.empty() || !a[0].is_string()) fail("strftime_now() takes a format string");
                std::tm tm{};
                if (opt_.now != 0) gmtime_r(&opt_.now, &tm);
                else {
                    const std::time_t t = std::time(nullptr);
                    localtime_r(&t, &tm);
                }
                char buf[512];
                const size_t n = std::strftime(buf, sizeof buf, a[0].s.c_str(), &tm);
                return value::string(std::string(buf, n));
            });
        }
        return global_get(name);
    }

    value apply_chain(const expr& chain, frame& f, const value& subject) {
        value_list args;
        kwarg_list kwargs;
        const value inner = chain.args[0] ? apply_chain(*chain.args[0], f, subject) : subject;
        eval_args(chain, f, args, kwargs);
        line_ = chain.line;
        return filter_apply(chain.name, inner, args, kwargs);
    }

    void eval_args(const expr& e, frame& f, value_list& args, kwarg_list& kwargs) {
        for (size_t i = 1; i < e.args.size(); ++i) args.push_back(eval(*e.args[i], f));
        for (const auto& kv : e.kwargs) kwargs.emplace_back(kv.first, eval(*kv.second, f));
    }

    static int64_t as_int(const value& v) { return v.k == value::kind::boolean ? v.b : v.i; }

    value arith(const std::string& op, const value& l, const value& r) {
        if (l.is_undefined()) undefined_fail(l);
        if (r.is_undefined()) undefined_fail(r);
        if (l.is_number() && r.is_number()) {
            const bool ints = l.k != value::kind::floating && r.k != value::kind::floating;
            if (op == "/") {
                if (r.as_double() == 0) fail("division by zero");
                return value::floating(l.as_double() / r.as_double());
            }
            if (ints) {
                const int64_t a = as_int(l), b = as_int(r);
                if (op == "+") return value::integer(a + b);
                if (op == "-") return value::integer(a - b);
                if (op == "*") return value::integer(a * b);
                if (op == "//" || op == "%") {
                    if (b == 0) fail("integer division or modulo by zero");
                    int64_t q = a / b, m = a % b;
                    if (m != 0 && ((m < 0) != (b < 0))) {
                        --q;
                        m += b;
                    }
                    return value::integer(op == "//" ? q : m);
                }
                if (op == "**") {
                    if (b < 0) return value::floating(std::pow(static_cast<double>(a), static_cast<double>(b)));
                    int64_t p = 1;
                    for (int64_t k = 0; k < b; ++k) p *= a;
                    return value::integer(p);
                }
            } else {
                const double a = l.as_double(), b = r.as_double();
                if (op == "+") return value::floating(a + b);
                if (op == "-") return value::floating(a - b);
                if (op == "*") return value::floating(a * b);
                if (op == "**") return value::floating(std::pow(a, b));
                if (b == 0) fail("float division by zero");
                if (op == "//") return value::floating(std::floor(a / b));
                if (op == "%") {
                    double m = std::fmod(a, b);
                    if (m != 0 && ((m < 0) != (b < 0))) m += b;
                    return value::floating(m);
                }
            }
        }
        if (op == "+" && l.is_string() && r.is_string()) {
            if (!l.safe && !r.safe) return value::string(l.s + r.s);
            // Markup + str escapes the str (and the result stays Markup)
            value m = value::string((l.safe ? l.s : html_escape(l.s)) + (r.safe ? r.s : html_escape(r.s)));
            m.safe = true;
            return m;
        }
        if (op == "+" && l.is_array() && r.is_array() && !l.a->is_generator && !r.a->is_generator &&
            l.a->is_tuple == r.a->is_tuple) {
            value_list items = l.a->items;
            items.insert(items.end(), r.a->items.begin(), r.a->items.end());
            return l.a->is_tuple ? value::tuple(std::move(items)) : value::array(std::move(items));
        }
        if (op == "*" && (l.is_string() || l.is_array()) && (r.k == value::kind::integer || r.k == value::kind::boolean)) {
            const int64_t n = as_int(r);
            if (l.is_string()) {
                std::string s;
                for (int64_t k = 0; k < n; ++k) s += l.s;
                return value::string(s);
            }
            value_list items;
            for (int64_t k = 0; k < n; ++k) items.insert(items.end(), l.a->items.begin(), l.a->items.end());
            return value::array(std::move(items));
        }
        if (op == "*" && r.is_string() && (l.k == value::kind::integer)) return arith(op, r, l);
        if (op == "+" && l.is_string())
            fail(std::string("can only concatenate str (not \"") + value_type_name(r) + "\") to str");
        if (op == "%" && l.is_string()) fail("printf-style '%' string formatting is not supported");
        fail(std::string("unsupported operand type(s) for ") + op + ": '" + value_type_name(l) + "' and '" +
             value_type_name(r) + "'");
    }

    value eval(const expr& e, frame& f) {
        // long operator chains (a + b + ...) nest the tree without nesting the source
        struct guard {
            int& d;
            explicit guard(int& x, evaluator& ev) : d(x) {
                if (++d > 500) ev.fail("the template nests too deeply");
            }
            ~guard() { --d; }
        } g(eval_depth_, *this);
        return eval_inner(e, f);
    }

    value eval_inner(const expr& e, frame& f) {
        line_ = e.line;
        switch (e.k) {
            case expr::kind::literal: return e.lit;
            case expr::kind::name: return lookup(e.name, f);
            case expr::kind::list:
            case expr::kind::tuple: {
                value_list items;
                for (const auto& a : e.args) items.push_back(eval(*a, f));
                return e.k == expr::kind::list ? value::array(std::move(items)) : value::tuple(std::move(items));
            }
            case expr::kind::dict: {
                value d = value::object();
                for (size_t i = 0; i + 1 < e.args.size(); i += 2) {
                    const value k = eval(*e.args[i], f);
                    d.o->set(key_string(k), eval(*e.args[i + 1], f));
                }
                return d;
            }
            case expr::kind::getattr: {
                const value obj = eval(*e.args[0], f);
                line_ = e.line;
                return attr_get(obj, e.name);
            }
            case expr::kind::getitem: {
                const value obj = eval(*e.args[0], f);
                const value key = eval(*e.args[1], f);
                line_ = e.line;
                return item_get(obj, key);
            }
            case expr::kind::slice: {
                const value obj = eval(*e.args[0], f);
                value parts[3];
                for (int i = 0; i < 3; ++i) parts[i] = e.args[1 + i] ? eval(*e.args[1 + i], f) : value::none();
                line_ = e.line;
                return slice_get(obj, parts[0], parts[1], parts[2]);
            }
            case expr::kind::call: {
                const value callee = eval(*e.args[0], f);
                value_list args;
                kwarg_list kwargs;
                eval_args(e, f, args, kwargs);
                line_ = e.line;
                if (callee.is_undefined()) undefined_fail(callee);
                if (callee.k != value::kind::function) fail(std::string("'") + value_type_name(callee) + "' object is not callable");
                return callee.fn->call(args, kwargs);
            }
            case expr::kind::filter: {
                const value subject = eval(*e.args[0], f);
                value_list args;
                kwarg_list kwargs;
                eval_args(e, f, args, kwargs);
                line_ = e.line;
                return filter_apply(e.name, subject, args, kwargs);
            }
            case expr::kind::test: {
                const value subject = eval(*e.args[0], f);
                value_list args;
                kwarg_list kwargs;
                eval_args(e, f, args, kwargs);
                line_ = e.line;
                const bool r = test_apply(e.name, subject, args);
                return value::boolean(e.negated ? !r : r);
            }
            case expr::kind::not_: return value::boolean(!value_truthy(eval(*e.args[0], f)));
            case expr::kind::neg:
            case expr::kind::pos: {
                const value v = eval(*e.args[0], f);
                if (v.is_undefined()) undefined_fail(v);
                if (!v.is_number()) fail(std::string("bad operand type for unary ") + (e.k == expr::kind::neg ? "-" : "+") + ": '" + value_type_name(v) + "'");
                if (e.k == expr::kind::pos) return v.k == value::kind::boolean ? value::integer(v.b) : v;
                return v.k == value::kind::floating ? value::floating(-v.f) : value::integer(-as_int(v));
            }
            case expr::kind::and_: {
                value l = eval(*e.args[0], f);
                return value_truthy(l) ? eval(*e.args[1], f) : l;
            }
            case expr::kind::or_: {
                value l = eval(*e.args[0], f);
                return value_truthy(l) ? l : eval(*e.args[1], f);
            }
            case expr::kind::cond: {
                if (value_truthy(eval(*e.args[1], f))) return eval(*e.args[0], f);
                if (e.args.size() > 2) return eval(*e.args[2], f);
                return value::undefined("the inline if-expression evaluated to false and no else section was defined");
            }
            case expr::kind::binary: {
                const value l = eval(*e.args[0], f);
                const value r = eval(*e.args[1], f);
                line_ = e.line;
                const std::string& op = e.name;
                if (op == "~") return value::string(value_str(l) + value_str(r));
                if (op == "==") return value::boolean(value_equal(l, r));
                if (op == "!=") return value::boolean(!value_equal(l, r));
                if (op == "<" || op == ">" || op == "<=" || op == ">=") {
                    if (l.is_undefined()) undefined_fail(l);
                    if (r.is_undefined()) undefined_fail(r);
                    if (op == "<") return value::boolean(value_less(l, r));
                    if (op == ">") return value::boolean(value_less(r, l));
                    if (op == "<=") return value::boolean(!value_less(r, l));
                    return value::boolean(!value_less(l, r));
                }
                if (op == "in" || op == "not in") {
                    if (r.is_none() || r.is_number()) fail(std::string("argument of type '") + value_type_name(r) + "' is not iterable");
                    value_list a{r};
                    const bool in = test_apply("in", l, a);
                    return value::boolean(op == "in" ? in : !in);
                }
                return arith(op, l, r);
            }
        }
        fail("unknown expression");
    }
};

}  // namespace

jinja_template::jinja_template(std::string_view source) {
    body_ = std::make_shared<const node_list>(jinja_parse(jinja_lex(source)));
}

std::string jinja_template::render(const value& context, const render_options& opt) const {
    evaluator ev(opt);
    return ev.run(*body_, context);
}

}  // namespace kiln::jinja

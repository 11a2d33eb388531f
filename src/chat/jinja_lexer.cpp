// Lexing follows jinja2's lexer rule for rule, because whitespace control
// decides bytes of the rendered prompt: `-` strips all whitespace on its side,
// trim_blocks drops the one newline after a block or comment tag, lstrip_blocks
// drops spaces and tabs between a line start and a block or comment tag, and
// one trailing newline of the template is dropped.
#include <algorithm>
#include <cctype>
#include <cstring>

#include "chat/jinja_ast.h"
#include "tokenizer/unicode_utf8.h"

namespace kiln::jinja {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

std::string normalize_newlines(std::string_view src) {
    std::string out;
    out.reserve(src.size());
    for (size_t i = 0; i < src.size(); ++i) {
        if (src[i] == '\r') {
            out += '\n';
            if (i + 1 < src.size() && src[i + 1] == '\n') ++i;
        } else out += src[i];
    }
    return out;
}

class lexer {
public:
    explicit lexer(std::string src) : s_(std::move(src)) {
        line_starts_.push_back(0);
        for (size_t i = 0; i < s_.size(); ++i)
            if (s_[i] == '\n') line_starts_.push_back(i + 1);
    }

    std::vector<token> run() {
        bool line_starting = true;
        size_t pos = 0;
        while (pos < s_.size()) {
            const size_t p = find_tag(pos);
            std::string text = s_.substr(pos, (p == std::string::npos ? s_.size() : p) - pos);
            if (p == std::string::npos) {
                emit(token::type::data, text, pos);
                break;
            }
            const char kind = s_[p + 1];
            const char sign = p + 2 < s_.size() && (s_[p + 2] == '-' || s_[p + 2] == '+') ? s_[p + 2] : 0;
            if (sign == '-') {
                size_t e = text.size();
                while (e > 0 && is_space(text[e - 1])) --e;
                text.resize(e);
            } else if (sign != '+' && kind != '{') {
                const size_t l_pos = text.rfind('\n') + 1;  // npos + 1 == 0
                if (l_pos > 0 || line_starting) {
                    bool all_ws = l_pos < text.size();
                    for (size_t i = l_pos; i < text.size(); ++i) all_ws = all_ws && is_space(text[i]);
                    if (all_ws) text.resize(l_pos);
                }
            }
            emit(token::type::data, text, pos);
            size_t q = p + 2 + (sign ? 1 : 0);
            if (kind == '#') {
                const size_t end = s_.find("#}", q);
                if (end == std::string::npos) fail_at(p, "missing end of comment tag");
                pos = tag_end(end, end + 2, '#');
            } else if (kind == '%' && is_raw(q)) {
                pos = lex_raw(q);
            } else {
                pos = lex_tag(q, kind);
            }
            line_starting = pos > 0 && s_[pos - 1] == '\n';
        }
        out_.push_back({token::type::eof, "", line_of(s_.size())});
        return std::move(out_);
    }

private:
    std::string s_;
    std::vector<token> out_;

    std::vector<size_t> line_starts_;

    int line_of(size_t pos) const {
        const auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), pos);
        return static_cast<int>(it - line_starts_.begin());
    }

    [[noreturn]] void fail_at(size_t pos, const std::string& msg) const { throw template_error(msg, line_of(pos)); }

    void emit(token::type t, std::string text, size_t pos) {
        if (t == token::type::data && text.empty()) return;
        out_.push_back({t, std::move(text), line_of(pos)});
    }

    size_t find_tag(size_t from) const {
        for (size_t i = from; i + 1 < s_.size(); ++i) {
            if (s_[i] == '{' && (s_[i + 1] == '{' || s_[i + 1] == '%' || s_[i + 1] == '#')) return i;
        }
        return std::string::npos;
    }

    // The tag's closing marker at `marker` (its sign before it, if any); returns the position after it,
    // after `-`'s whitespace or trim_blocks' newline.
    size_t tag_end(size_t marker, size_t after, char kind) {
        const char before = marker > 0 ? s_[marker - 1] : 0;
        size_t pos = after;
        if (before == '-') {
            while (pos < s_.size() && is_space(s_[pos])) ++pos;
        } else if (before != '+' && kind != '{') {
            if (pos < s_.size() && s_[pos] == '\n') ++pos;  // trim_blocks
        }
        return pos;
    }

    bool is_raw(size_t q) const {
        while (q < s_.size() && is_space(s_[q])) ++q;
        if (s_.compare(q, 3, "raw") != 0) return false;
        q += 3;
        return q < s_.size() && !(std::isalnum(static_cast<unsigned char>(s_[q])) || s_[q] == '_');
    }

    size_t lex_raw(size_t q) {
        const size_t start = q;
        size_t e = s_.find("%}", q);
        if (e == std::string::npos) fail_at(start, "missing end of raw directive");
        size_t body = e + 2;
        if (s_[e - 1] == '-')
            while (body < s_.size() && is_space(s_[body])) ++body;
        // the endraw tag
        size_t search = body;
        for (;;) {
            const size_t t = s_.find("{%", search);
            if (t == std::string::npos) fail_at(start, "missing end of raw directive");
            size_t k = t + 2;
            const char sign = k < s_.size() && (s_[k] == '-' || s_[k] == '+') ? s_[k] : 0;
            if (sign) ++k;
            while (k < s_.size() && is_space(s_[k])) ++k;
            if (s_.compare(k, 6, "endraw") == 0) {
                k += 6;
                while (k < s_.size() && is_space(s_[k])) ++k;
                if (s_.compare(k, 2, "%}") == 0 || s_.compare(k, 3, "-%}") == 0 || s_.compare(k, 3, "+%}") == 0) {
                    std::string text = s_.substr(body, t - body);
                    if (sign == '-') {
                        size_t n = text.size();
                        while (n > 0 && is_space(text[n - 1])) --n;
                        text.resize(n);
                    } else if (sign != '+') {
                        const size_t l_pos = text.rfind('\n') + 1;
                        if (l_pos > 0) {
                            bool all_ws = l_pos < text.size();
                            for (size_t i = l_pos; i < text.size(); ++i) all_ws = all_ws && is_space(text[i]);
                            if (all_ws) text.resize(l_pos);
                        }
                    }
                    emit(token::type::data, text, body);
                    const size_t marker = s_[k] == '%' ? k : k + 1;
                    return tag_end(marker, marker + 2, '%');
                }
            }
            search = t + 2;
        }
    }

    size_t lex_tag(size_t q, char kind) {
        const size_t start = q;
        const char close = kind == '{' ? '}' : '%';
        emit(kind == '{' ? token::type::var_begin : token::type::block_begin, "", start);
        std::vector<char> balance;
        for (;;) {
            if (q >= s_.size()) fail_at(start, kind == '{' ? "unexpected end of template, expected '}}'" : "unexpected end of template, expected '%}'");
            if (balance.empty()) {
                size_t m = q;
                if ((s_[m] == '-' || s_[m] == '+') && m + 2 < s_.size() + 0 && s_[m + 1] == close && s_[m + 2] == '}') {
                    if (!(s_[m] == '+' && kind == '{')) {
                        emit(kind == '{' ? token::type::var_end : token::type::block_end, "", m);
                        return tag_end(m + 1, m + 3, kind);
                    }
                }
                if (s_[m] == close && m + 1 < s_.size() && s_[m + 1] == '}') {
                    emit(kind == '{' ? token::type::var_end : token::type::block_end, "", m);
                    return tag_end(m, m + 2, kind);
                }
            }
            const char c = s_[q];
            if (is_space(c)) {
                ++q;
                continue;
            }
            if (std::isdigit(static_cast<unsigned char>(c))) {
                size_t e = q;
                while (e < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[e])) || s_[e] == '_')) ++e;
                bool is_float = false;
                if (e + 1 < s_.size() && s_[e] == '.' && std::isdigit(static_cast<unsigned char>(s_[e + 1]))) {
                    is_float = true;
                    ++e;
                    while (e < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[e])) || s_[e] == '_')) ++e;
                }
                if (e < s_.size() && (s_[e] == 'e' || s_[e] == 'E')) {
                    size_t x = e + 1;
                    if (x < s_.size() && (s_[x] == '+' || s_[x] == '-')) ++x;
                    if (x < s_.size() && std::isdigit(static_cast<unsigned char>(s_[x]))) {
                        is_float = true;
                        e = x;
                        while (e < s_.size() && std::isdigit(static_cast<unsigned char>(s_[e]))) ++e;
                    }
                }
                std::string num;
                for (size_t i = q; i < e; ++i)
                    if (s_[i] != '_') num += s_[i];
                emit(is_float ? token::type::floating : token::type::integer, num, q);
                q = e;
                continue;
            }
            if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
                size_t e = q;
                while (e < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[e])) || s_[e] == '_')) ++e;
                emit(token::type::name, s_.substr(q, e - q), q);
                q = e;
                continue;
            }
            if (c == '\'' || c == '"') {
                q = lex_string(q);
                continue;
            }
            static const char* const ops[] = {"//", "**", "==", "!=", "<=", ">=", "+", "-", "/", "*", "%", "~", "[", "]",
                                              "(", ")", "{", "}", "<", ">", "=", ".", ":", "|", ",", ";"};
            bool matched = false;
            for (const char* op : ops) {
                const size_t n = std::strlen(op);
                if (s_.compare(q, n, op) == 0) {
                    const char o = op[0];
                    if (n == 1 && (o == '(' || o == '[' || o == '{')) balance.push_back(o == '(' ? ')' : o == '[' ? ']' : '}');
                    if (n == 1 && (o == ')' || o == ']' || o == '}')) {
                        if (balance.empty()) fail_at(q, std::string("unexpected '") + o + "'");
                        if (balance.back() != o) fail_at(q, std::string("unexpected '") + o + "', expected '" + balance.back() + "'");
                        balance.pop_back();
                    }
                    emit(token::type::op, op, q);
                    q += n;
                    matched = true;
                    break;
                }
            }
            if (!matched) fail_at(q, std::string("unexpected char '") + c + "'");
        }
    }


    // A string literal with Python's backslash escapes.
    size_t lex_string(size_t q) {
        const char quote = s_[q];
        std::string out;
        size_t i = q + 1;
        for (;;) {
            if (i >= s_.size()) fail_at(q, "unexpected end of string");
            const char c = s_[i];
            if (c == quote) break;
            if (c != '\\') {
                out += c;
                ++i;
                continue;
            }
            if (i + 1 >= s_.size()) fail_at(q, "unexpected end of string");
            const char e = s_[i + 1];
            i += 2;
            auto hex = [&](int n) {
                if (i + n > s_.size()) fail_at(q, "truncated escape in string");
                const uint32_t v = static_cast<uint32_t>(std::stoul(s_.substr(i, n), nullptr, 16));
                i += n;
                return v;
            };
            switch (e) {
                case 'n': out += '\n'; break;
                case 't': out += '\t'; break;
                case 'r': out += '\r'; break;
                case '\\': out += '\\'; break;
                case '\'': out += '\''; break;
                case '"': out += '"'; break;
                case 'a': out += '\a'; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'v': out += '\v'; break;
                case '0': out += '\0'; break;
                case '\n': break;
                case 'x': utf8_append(out, hex(2)); break;
                case 'u': utf8_append(out, hex(4)); break;
                case 'U': utf8_append(out, hex(8)); break;
                default:
                    out += '\\';
                    out += e;
            }
        }
        emit(token::type::string, out, q);
        return i + 1;
    }
};

}  // namespace

std::vector<token> jinja_lex(std::string_view source) {
    std::string src = normalize_newlines(source);
    if (!src.empty() && src.back() == '\n') src.pop_back();  // keep_trailing_newline=False
    return lexer(std::move(src)).run();
}

}  // namespace kiln::jinja

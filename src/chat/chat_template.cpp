#include "chat/chat_template.h"

#include <cstdio>
#include <fstream>
#include <sstream>
#include <sys/stat.h>

#include "chat/jinja.h"
#include "core/error.h"

namespace kiln {

namespace {

// Formats of well-known model families, written as Jinja for models whose files carry no template.
struct builtin {
    const char* name;
    const char* source;
};

const builtin builtins[] = {
    {"chatml",
     "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
     "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"},
    {"llama2",
     "{% if messages and messages[0]['role'] == 'system' %}{% set system = messages[0]['content'] %}"
     "{% set turns = messages[1:] %}{% else %}{% set system = '' %}{% set turns = messages %}{% endif %}"
     "{% for m in turns %}{% if m['role'] == 'user' %}{{ bos_token + '[INST] ' }}"
     "{% if loop.first and system %}{{ '<<SYS>>\\n' + system + '\\n<</SYS>>\\n\\n' }}{% endif %}"
     "{{ m['content'] | trim + ' [/INST]' }}{% elif m['role'] == 'assistant' %}{{ ' ' + m['content'] | trim + ' ' + eos_token }}"
     "{% else %}{{ raise_exception('llama2 template: unsupported role ' + m['role']) }}{% endif %}{% endfor %}"},
    {"llama3",
     "{{ bos_token }}{% for m in messages %}{{ '<|start_header_id|>' + m['role'] + '<|end_header_id|>\\n\\n' + m['content'] | trim + '<|eot_id|>' }}"
     "{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"},
    {"mistral",
     "{% if messages and messages[0]['role'] == 'system' %}{% set system = messages[0]['content'] + '\\n\\n' %}"
     "{% set turns = messages[1:] %}{% else %}{% set system = '' %}{% set turns = messages %}{% endif %}"
     "{{ bos_token }}{% for m in turns %}{% if m['role'] == 'user' %}"
     "{{ '[INST] ' + (system if loop.first else '') + m['content'] + ' [/INST]' }}"
     "{% elif m['role'] == 'assistant' %}{{ m['content'] + eos_token }}"
     "{% else %}{{ raise_exception('mistral template: unsupported role ' + m['role']) }}{% endif %}{% endfor %}"},
    {"zephyr",
     "{% for m in messages %}{{ '<|' + m['role'] + '|>\\n' + m['content'] + eos_token + '\\n' }}{% endfor %}"
     "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"},
    {"gemma",
     "{{ bos_token }}{% set ns = namespace(system='') %}{% for m in messages %}{% if m['role'] == 'system' %}"
     "{% set ns.system = m['content'] + '\\n\\n' %}{% else %}{% set role = 'model' if m['role'] == 'assistant' else m['role'] %}"
     "{{ '<start_of_turn>' + role + '\\n' + ns.system + m['content'] | trim + '<end_of_turn>\\n' }}{% set ns.system = '' %}"
     "{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif %}"},
    {"phi3",
     "{% for m in messages %}{{ '<|' + m['role'] + '|>\\n' + m['content'] + '<|end|>\\n' }}{% endfor %}"
     "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}{% if not add_generation_prompt %}{{ eos_token }}{% endif %}"},
};

std::string read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) fail("{}: cannot open chat template", path);
    std::ostringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

bool is_regular_file(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string token_text(const nlohmann::ordered_json& t) {
    if (t.is_string()) return t.get<std::string>();
    if (t.is_object() && t.contains("content") && t["content"].is_string()) return t["content"].get<std::string>();
    return {};
}

std::string names_list() {
    std::string s;
    for (const auto& b : builtins) s += std::string(s.empty() ? "" : ", ") + b.name;
    return s;
}

}  // namespace

std::vector<std::string> chat_template_builtin_names() {
    std::vector<std::string> v;
    for (const auto& b : builtins) v.emplace_back(b.name);
    return v;
}

bool chat_template_builtin_exists(const std::string& name) {
    for (const auto& b : builtins)
        if (name == b.name) return true;
    return false;
}

chat_template_source chat_template_resolve(const std::string& arg) {
    chat_template_source src;
    if (!is_regular_file(arg)) {
        for (const auto& b : builtins) {
            if (arg == b.name) {
                src.name = std::string("built-in ") + b.name;
                src.source = b.source;
                return src;
            }
        }
        fail("--chat-template {}: no such file and no built-in template of that name (built-ins: {})", arg, names_list());
    }
    src.name = arg;
    std::string text = read_file(arg);
    const bool json_file = arg.size() >= 5 && arg.compare(arg.size() - 5, 5, ".json") == 0;
    if (!json_file) {
        src.source = std::move(text);
        return src;
    }
    nlohmann::ordered_json cfg;
    try {
        cfg = nlohmann::ordered_json::parse(text);
    } catch (const std::exception& e) {
        fail("{}: not valid JSON ({})", arg, e.what());
    }
    if (!cfg.is_object() || !cfg.contains("chat_template")) fail("{}: no 'chat_template' key", arg);
    const auto& t = cfg["chat_template"];
    if (t.is_string()) src.source = t.get<std::string>();
    else if (t.is_array()) {
        for (const auto& e : t)
            if (e.is_object() && e.value("name", "") == "default" && e.contains("template") && e["template"].is_string())
                src.source = e["template"].get<std::string>();
        if (src.source.empty()) fail("{}: 'chat_template' has no template named 'default'", arg);
    } else fail("{}: 'chat_template' is neither a string nor a list of named templates", arg);
    if (cfg.contains("bos_token")) {
        src.bos_token = token_text(cfg["bos_token"]);
        src.has_bos = !cfg["bos_token"].is_null();
    }
    if (cfg.contains("eos_token")) {
        src.eos_token = token_text(cfg["eos_token"]);
        src.has_eos = !cfg["eos_token"].is_null();
    }
    return src;
}

chat_template::chat_template(chat_template_source src) : src_(std::move(src)) {
    try {
        tmpl_ = std::make_unique<jinja::jinja_template>(src_.source);
    } catch (const jinja::template_error& e) {
        fail("chat template {} line {}: {}", src_.name, e.line, e.what());
    }
}

chat_template::~chat_template() = default;
chat_template::chat_template(chat_template&&) noexcept = default;
chat_template& chat_template::operator=(chat_template&&) noexcept = default;

std::string chat_template::apply(const nlohmann::ordered_json& messages, const chat_render_options& opt) const {
    jinja::value ctx = jinja::value::object();
    auto& o = *ctx.o;
    if (src_.has_bos) o.set("bos_token", jinja::value::string(src_.bos_token));
    if (src_.has_eos) o.set("eos_token", jinja::value::string(src_.eos_token));
    o.set("messages", jinja::value_from_json(messages));
    o.set("tools", opt.tools.is_null() ? jinja::value::none() : jinja::value_from_json(opt.tools));
    o.set("documents", jinja::value::none());
    o.set("add_generation_prompt", jinja::value::boolean(opt.add_generation_prompt));
    if (opt.kwargs.is_object())
        for (auto it = opt.kwargs.begin(); it != opt.kwargs.end(); ++it) o.set(it.key(), jinja::value_from_json(it.value()));
    jinja::render_options ro;
    ro.now = opt.now;
    try {
        return tmpl_->render(ctx, ro);
    } catch (const jinja::template_error& e) {
        fail("chat template {} line {}: {}", src_.name, e.line, e.what());
    }
}

std::time_t chat_parse_now(const std::string& iso) {
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
    char sep = 0;
    int n = std::sscanf(iso.c_str(), "%4d-%2d-%2d%c%2d:%2d:%2d", &y, &mo, &d, &sep, &h, &mi, &s);
    if (n == 3) {
        h = mi = s = 0;
    } else if (!(n >= 6 && (sep == 'T' || sep == ' '))) {
        fail("--now {}: expected a date and time like 2025-03-14T09:26:53", iso);
    }
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60 || y < 1970)
        fail("--now {}: date or time out of range", iso);
    std::tm tm{};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    return timegm(&tm);
}

}  // namespace kiln

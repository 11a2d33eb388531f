// Chat templates: where a model's template comes from (its metadata, a Jinja
// file, an HF tokenizer_config.json, or a built-in named template) and
// rendering a conversation with it the way transformers' apply_chat_template
// does (messages, tools, documents=None, add_generation_prompt, the special
// tokens, extra keyword variables).
#pragma once

#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace kiln {

namespace jinja {
class jinja_template;
}

struct chat_template_source {
    std::string name;    // for error messages: a file path, "built-in chatml", "model metadata"
    std::string source;  // the Jinja text
    std::string bos_token, eos_token;  // what the template sees as bos_token/eos_token
    bool has_bos = false, has_eos = false;
};

// The built-in templates for models that ship none.
std::vector<std::string> chat_template_builtin_names();
bool chat_template_builtin_exists(const std::string& name);

// --chat-template's argument: a built-in name, a Jinja file, or an HF
// tokenizer_config.json (its chat_template, bos_token, eos_token).
// kiln::error naming the file or listing the built-in names.
chat_template_source chat_template_resolve(const std::string& arg);

struct chat_render_options {
    bool add_generation_prompt = false;
    nlohmann::ordered_json tools;   // null: none (the template sees tools=None)
    nlohmann::ordered_json kwargs;  // object of extra template variables (null: none)
    std::time_t now = 0;            // what strftime_now() sees; 0: the current time
};

class chat_template {
public:
    // kiln::error "chat template NAME line N: ..." on a syntax error.
    explicit chat_template(chat_template_source src);
    ~chat_template();
    chat_template(chat_template&&) noexcept;
    chat_template& operator=(chat_template&&) noexcept;

    // `messages`: a JSON array of {"role", "content", ...} objects.
    // kiln::error "chat template NAME line N: ..." when rendering fails.
    std::string apply(const nlohmann::ordered_json& messages, const chat_render_options& opt) const;

    const chat_template_source& source() const { return src_; }

private:
    chat_template_source src_;
    std::unique_ptr<jinja::jinja_template> tmpl_;
};

// "2025-03-14T09:26:53" (or with a space, optional seconds) → time_t, read as UTC;
// kiln::error naming the flag otherwise.
std::time_t chat_parse_now(const std::string& iso);

}  // namespace kiln

// kiln chat: a terminal chat with a model, and --render for scripts and tests.
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "chat/chat_session.h"
#include "chat/chat_template.h"
#include "chat/line_editor.h"
#include "commands.h"
#include "common.h"
#include "core/error.h"
#include "formats/import.h"
#include "model/context.h"
#include "sampling/sampler.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/vocab.h"
#include "spec_cli.h"
#include "utf8_stream.h"

namespace kiln::cli {

namespace {

using json = nlohmann::ordered_json;

struct chat_options {
    model_options model;
    int threads = threads_default;
    int n_ctx = 0;
    int n_predict = -1;
    bool ignore_eos = false;
    sampler_params sampling;
    std::string render_file;
    bool add_generation_prompt = false;
    std::string chat_template;
    std::string template_kwargs;
    std::string now;
    bool dump_prompt = false;
    std::string system;
    bool no_color = false;
    spec_options spec;
};

std::atomic<bool> g_interrupt{false};

void on_sigint(int) { g_interrupt.store(true); }

std::string read_text_file(const std::string& path, const char* what) {
    std::ifstream f(path, std::ios::binary);
    if (!f) fail("{}: cannot open {}", path, what);
    std::ostringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

json parse_json(const std::string& text, const std::string& where) {
    try {
        return json::parse(text);
    } catch (const std::exception&) {
        fail("{}: not valid JSON", where);
    }
}

std::string token_text(const vocab& v, int32_t id) {
    return id >= 0 && id < v.size() ? v.tokens[static_cast<size_t>(id)] : std::string();
}

// The template: --chat-template, else the model's own; never a silent guess.
chat_template_source pick_template(const chat_options& o, const vocab& v) {
    chat_template_source src;
    if (!o.chat_template.empty()) {
        src = chat_template_resolve(o.chat_template);
    } else if (!v.chat_template.empty()) {
        src.name = o.model.model;
        src.source = v.chat_template;
    } else {
        std::string names;
        for (const auto& n : chat_template_builtin_names()) names += (names.empty() ? "" : ", ") + n;
        fail("{} has no chat template: pass --chat-template with a Jinja file, a tokenizer_config.json or one of: {}",
             o.model.model, names);
    }
    if (!src.has_bos && v.bos_id >= 0) {
        src.bos_token = token_text(v, v.bos_id);
        src.has_bos = true;
    }
    if (!src.has_eos && v.eos_id >= 0) {
        src.eos_token = token_text(v, v.eos_id);
        src.has_eos = true;
    }
    return src;
}

chat_render_options render_options(const chat_options& o) {
    chat_render_options ro;
    if (!o.template_kwargs.empty()) {
        ro.kwargs = parse_json(o.template_kwargs, "--chat-template-kwargs");
        if (!ro.kwargs.is_object()) fail("--chat-template-kwargs: expected a JSON object such as {{\"enable_thinking\": false}}");
    }
    if (!o.now.empty()) ro.now = chat_parse_now(o.now);
    return ro;
}

void check_options(const chat_options& o) {
    if (o.n_predict < -1 || o.n_predict > (1 << 24)) fail("-n {} is out of range [-1, 16777216]", o.n_predict);
    if (o.n_ctx < 0 || o.n_ctx > (1 << 24)) fail("-c {} is out of range [1, 16777216] (0 = the model's)", o.n_ctx);
    if (o.add_generation_prompt && o.render_file.empty()) fail("--add-generation-prompt needs --render");
    apply_threads(o.threads);
    sampler_params_check(o.sampling);
    spec_options_check(o.spec);
    if (o.spec.compare) fail("--spec-compare is for kiln run and kiln bench, not kiln chat");
}

// --render: print the conversation as the template renders it.
void run_render(const chat_options& o, const vocab& v) {
    const chat_template tmpl(pick_template(o, v));
    const json doc = parse_json(read_text_file(o.render_file, "messages file"), o.render_file);
    chat_render_options ro = render_options(o);
    ro.add_generation_prompt = o.add_generation_prompt;
    json messages = doc;
    if (doc.is_object()) {  // {"messages": [...], "tools": [...]} is accepted too
        messages = doc.contains("messages") ? doc["messages"] : json();
        if (doc.contains("tools")) ro.tools = doc["tools"];
    }
    if (!messages.is_array()) fail("{}: expected a JSON list of {{\"role\", \"content\"}} objects", o.render_file);
    for (size_t i = 0; i < messages.size(); ++i)
        if (!messages[i].is_object() || !messages[i].contains("role") || !messages[i]["role"].is_string())
            fail("{}: message {} has no string 'role'", o.render_file, i);
    const std::string text = tmpl.apply(messages, ro);
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
}

struct totals {
    int turns = 0;
    long prompt_evaluated = 0, prompt_reused = 0, generated = 0;
    long drafted = 0, accepted = 0;
    double prefill_ms = 0, gen_ms = 0;
};

class repl {
public:
    repl(const chat_options& o, chat_session& s, bool tty_in, bool color)
        : o_(o), s_(s), tty_(tty_in), color_(color), editor_(tty_in ? line_editor::default_history_path() : "") {}

    int run() {
        if (tty_) {
            std::fprintf(stderr, "kiln chat: /help for commands, \"\"\" for multiline input, Ctrl-C stops a reply, Ctrl-D quits\n");
        }
        int ctrl_c = 0;
        for (;;) {
            std::string line;
            const int st = read_line(tty_ ? prompt("> ") : "", line);
            if (st == 1) break;  // end of input
            if (st == 2) {       // Ctrl-C at the prompt
                if (++ctrl_c >= 2) break;
                std::fprintf(stderr, "(Ctrl-C again or Ctrl-D to quit)\n");
                continue;
            }
            ctrl_c = 0;
            if (!read_multiline(line)) break;
            if (line.empty()) continue;
            if (tty_) editor_.add_history(line);
            if (line[0] == '/' && !(line.size() > 1 && line[1] == '/')) {
                if (!command(line)) break;
                continue;
            }
            if (line[0] == '/') line.erase(0, 1);  // "//text" sends "/text"
            chat(line);
        }
        return 0;
    }

private:
    const chat_options& o_;
    chat_session& s_;
    bool tty_, color_;
    line_editor editor_;
    totals t_;

    std::string prompt(const char* p) const { return color_ ? std::string("\x1b[1;32m") + p + "\x1b[0m" : p; }

    // 0: a line, 1: end of input, 2: Ctrl-C.
    int read_line(const std::string& p, std::string& line) {
        g_interrupt.store(false);
        if (tty_) {
            const auto st = editor_.read(p, line);
            if (st == line_editor::status::eof) return 1;
            if (st == line_editor::status::interrupt) return 2;
            return 0;
        }
        line.clear();
        for (;;) {
            const int c = std::fgetc(stdin);
            if (c == EOF) {
                if (g_interrupt.load()) return 1;
                return line.empty() ? 1 : 0;
            }
            if (c == '\n') break;
            line += static_cast<char>(c);
        }
        if (!line.empty() && line.back() == '\r') line.pop_back();
        return 0;
    }

    // """ starts a block that runs to a line ending in """.
    bool read_multiline(std::string& line) {
        if (line.compare(0, 3, "\"\"\"") != 0) return true;
        std::string text = line.substr(3);
        if (text.size() >= 3 && text.compare(text.size() - 3, 3, "\"\"\"") == 0) {
            line = text.substr(0, text.size() - 3);
            return true;
        }
        for (;;) {
            std::string more;
            const int st = read_line(tty_ ? prompt(". ") : "", more);
            if (st == 1) return false;
            if (st == 2) {
                line.clear();
                return true;
            }
            if (more.size() >= 3 && more.compare(more.size() - 3, 3, "\"\"\"") == 0) {
                text += (text.empty() ? "" : "\n") + more.substr(0, more.size() - 3);
                break;
            }
            text += (text.empty() ? "" : "\n") + more;
        }
        line = text;
        return true;
    }

    void chat(const std::string& text) {
        utf8_stream out(stdout, true);
        g_interrupt.store(false);
        chat_reply r;
        try {
            r = s_.send(text, [&](const std::string& piece) { out.write(piece); }, &g_interrupt);
        } catch (const kiln::error& e) {
            std::fprintf(stderr, "kiln: error: %s\n", e.what());
            return;
        }
        out.flush();
        std::fputs("\n", stdout);
        std::fflush(stdout);
        if (r.stop == "interrupted") std::fprintf(stderr, "[interrupted]\n");
        if (r.n_dropped_messages > 0)
            std::fprintf(stderr, "kiln: context full: dropped the %d oldest message(s) after the system prompt\n", r.n_dropped_messages);
        if (r.stop == "context full")
            std::fprintf(stderr, "kiln: the reply filled the context of %d tokens; older messages will be dropped next turn\n", s_.n_ctx());
        ++t_.turns;
        t_.prompt_evaluated += r.n_prefilled;
        t_.prompt_reused += r.n_reused;
        t_.generated += r.n_generated;
        t_.prefill_ms += r.prefill_ms;
        t_.gen_ms += r.gen_ms;
        const double pp = r.prefill_ms > 0 ? r.n_prefilled * 1000.0 / r.prefill_ms : 0.0;
        const double tg = r.gen_ms > 0 ? r.n_generated * 1000.0 / r.gen_ms : 0.0;
        std::string spec;
        if (r.speculative) {
            t_.drafted += r.spec.drafted;
            t_.accepted += r.spec.accepted;
            spec = fmt::format(" | draft accepted {}/{} ({:.0f}%), {:.2f} tokens/step", r.spec.accepted, r.spec.drafted,
                               100.0 * r.spec.acceptance(), r.spec.tokens_per_step());
        }
        std::fprintf(stderr, "%skiln: prompt %d tokens (%d cached, %d new, %.1f t/s) | reply %d tokens, %.1f t/s%s | stop: %s | context %zu/%d%s\n",
                     color_ ? "\x1b[2m" : "", r.n_prompt, r.n_reused, r.n_prefilled, pp, r.n_generated, tg, spec.c_str(),
                     r.stop.c_str(), s_.cached_tokens().size(), s_.n_ctx(), color_ ? "\x1b[0m" : "");
    }

    static void help() {
        std::printf(
            "/help                 this list\n"
            "/clear                forget the conversation (the system prompt stays)\n"
            "/undo                 drop the last exchange\n"
            "/system TEXT          set the system prompt (empty: remove it)\n"
            "/set temp|top_k|top_p|min_p|seed|n VALUE   change sampling; n: reply length limit (-1: none)\n"
            "/stats                token counts and speeds so far\n"
            "/save FILE [--kv]     write the conversation (JSON); --kv also writes the KV cache to FILE.kv\n"
            "/load FILE            continue a saved conversation (using FILE.kv when it matches: no re-evaluation)\n"
            "/exit                 quit (also Ctrl-D)\n"
            "\"\"\"                   start or end multiline input\n");
        std::fflush(stdout);
    }

    void set(const std::string& args) {
        std::istringstream in(args);
        std::string key, val;
        in >> key >> val;
        if (key.empty() || val.empty()) {
            std::fprintf(stderr, "kiln: error: usage: /set temp|top_k|top_p|min_p|seed|n VALUE\n");
            return;
        }
        sampler_params p = s_.sampling();
        int n_predict = s_.options().n_predict;
        try {
            size_t used = 0;
            if (key == "temp" || key == "temperature") p.temperature = std::stof(val, &used);
            else if (key == "top_k") p.top_k = std::stoi(val, &used);
            else if (key == "top_p") p.top_p = std::stof(val, &used);
            else if (key == "min_p") p.min_p = std::stof(val, &used);
            else if (key == "seed") p.seed = std::stoull(val, &used);
            else if (key == "n") n_predict = std::stoi(val, &used);
            else {
                std::fprintf(stderr, "kiln: error: /set: unknown setting '%s' (temp, top_k, top_p, min_p, seed, n)\n", key.c_str());
                return;
            }
            if (used != val.size()) throw std::invalid_argument(val);
            sampler_params_check(p);
            if (n_predict < -1) fail("n {} is out of range (-1: no limit)", n_predict);
        } catch (const kiln::error& e) {
            std::fprintf(stderr, "kiln: error: /set %s: %s\n", key.c_str(), e.what());
            return;
        } catch (const std::exception&) {
            std::fprintf(stderr, "kiln: error: /set %s: '%s' is not a number\n", key.c_str(), val.c_str());
            return;
        }
        s_.sampling() = p;
        s_.options().n_predict = n_predict;
        std::fprintf(stderr, "kiln: %s = %s\n", key.c_str(), val.c_str());
    }

    // "/save FILE" writes the conversation; "/save FILE --kv" also writes the KV cache to FILE.kv
    // so that /load resumes without evaluating the conversation again.
    void save(std::string path) {
        bool with_kv = false;
        const std::string flag = " --kv";
        if (path.size() > flag.size() && path.compare(path.size() - flag.size(), flag.size(), flag) == 0) {
            with_kv = true;
            path.erase(path.size() - flag.size());
            while (!path.empty() && path.back() == ' ') path.pop_back();
        }
        if (path.empty() || path == "--kv") {
            std::fprintf(stderr, "kiln: error: usage: /save FILE [--kv]\n");
            return;
        }
        const std::string tmp = path + ".tmp";
        {
            std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
            f << s_.to_json().dump(1, ' ', false, json::error_handler_t::replace) << '\n';
            if (!f) {
                std::fprintf(stderr, "kiln: error: %s: cannot write\n", path.c_str());
                std::remove(tmp.c_str());
                return;
            }
        }
        if (std::rename(tmp.c_str(), path.c_str()) != 0) {
            std::fprintf(stderr, "kiln: error: %s: cannot write\n", path.c_str());
            std::remove(tmp.c_str());
            return;
        }
        const std::string kv_path = path + ".kv";
        if (!with_kv) {
            std::remove(kv_path.c_str());  // a cache from an earlier /save --kv would describe an older state
            std::fprintf(stderr, "kiln: saved %zu messages to %s\n", s_.messages().size(), path.c_str());
            return;
        }
        size_t n_kv = 0;
        try {
            n_kv = s_.save_kv(kv_path);
        } catch (const kiln::error& e) {
            std::fprintf(stderr, "kiln: saved %zu messages to %s\n", s_.messages().size(), path.c_str());
            std::fprintf(stderr, "kiln: error: %s\n", e.what());
            return;
        }
        std::fprintf(stderr, "kiln: saved %zu messages to %s and %zu cached tokens to %s\n", s_.messages().size(),
                     path.c_str(), n_kv, kv_path.c_str());
    }

    // Uses FILE.kv when it is there (written by /save FILE --kv); a bad or foreign one is only a note.
    void load(const std::string& path) {
        try {
            if (path.empty()) fail("usage: /load FILE");
            s_.from_json(parse_json(read_text_file(path, "chat file"), path), path);
        } catch (const kiln::error& e) {
            std::fprintf(stderr, "kiln: error: %s\n", e.what());
            return;
        }
        const std::string kv_path = path + ".kv";
        if (access(kv_path.c_str(), F_OK) != 0) {
            std::fprintf(stderr, "kiln: loaded %zu messages from %s\n", s_.messages().size(), path.c_str());
            return;
        }
        const std::string note = s_.load_kv(kv_path);
        if (!note.empty()) {
            std::fprintf(stderr, "kiln: loaded %zu messages from %s\n", s_.messages().size(), path.c_str());
            std::fprintf(stderr, "kiln: note: %s\n", note.c_str());
            return;
        }
        std::fprintf(stderr, "kiln: loaded %zu messages from %s and %zu cached tokens from %s\n", s_.messages().size(),
                     path.c_str(), s_.cached_tokens().size(), kv_path.c_str());
    }

    void stats() const {
        const double pp = t_.prefill_ms > 0 ? t_.prompt_evaluated * 1000.0 / t_.prefill_ms : 0.0;
        const double tg = t_.gen_ms > 0 ? t_.generated * 1000.0 / t_.gen_ms : 0.0;
        std::printf("turns %d | messages %zu | prompt tokens evaluated %ld (%.1f t/s), reused from cache %ld | generated %ld (%.1f t/s) | context %zu/%d\n",
                    t_.turns, s_.messages().size(), t_.prompt_evaluated, pp, t_.prompt_reused, t_.generated, tg,
                    s_.cached_tokens().size(), s_.n_ctx());
        if (t_.drafted > 0)
            std::printf("speculation: %ld of %ld drafted tokens accepted (%.0f%%)\n", t_.accepted, t_.drafted,
                        100.0 * t_.accepted / t_.drafted);
        const sampler_params& p = s_.sampling();
        std::printf("temp %g | top_k %d | top_p %g | min_p %g | seed %llu | n %d\n", p.temperature, p.top_k, p.top_p,
                    p.min_p, static_cast<unsigned long long>(p.seed), const_cast<chat_session&>(s_).options().n_predict);
        std::fflush(stdout);
    }

    // false: quit.
    bool command(const std::string& line) {
        const size_t sp = line.find(' ');
        const std::string cmd = line.substr(0, sp);
        std::string args = sp == std::string::npos ? "" : line.substr(sp + 1);
        while (!args.empty() && args.back() == ' ') args.pop_back();
        if (cmd == "/exit" || cmd == "/quit" || cmd == "/bye") return false;
        if (cmd == "/help" || cmd == "/?") help();
        else if (cmd == "/clear") {
            s_.clear();
            std::fprintf(stderr, "kiln: conversation cleared\n");
        } else if (cmd == "/undo") {
            if (s_.undo()) std::fprintf(stderr, "kiln: dropped the last exchange\n");
            else std::fprintf(stderr, "kiln: nothing to undo\n");
        } else if (cmd == "/system") {
            s_.set_system(args);
            std::fprintf(stderr, args.empty() ? "kiln: system prompt removed\n" : "kiln: system prompt set\n");
        } else if (cmd == "/set") set(args);
        else if (cmd == "/stats") stats();
        else if (cmd == "/save") save(args);
        else if (cmd == "/load") load(args);
        else std::fprintf(stderr, "kiln: error: unknown command %s (see /help)\n", cmd.c_str());
        return true;
    }
};

void run_chat(const chat_options& o) {
    auto file = open_model_file(o.model);
    const vocab v = vocab_from_metadata(file->meta());
    if (!o.render_file.empty()) {
        run_render(o, v);
        return;
    }
    const chat_template tmpl(pick_template(o, v));
    std::shared_ptr<const model> m = model_from_file(file);
    const tokenizer tok(v);
    check_vocab_matches(tok, *m, o.model.model);
    context ctx(m, o.n_ctx);
    spec_setup setup;
    if (o.spec.enabled()) setup = spec_setup_create(o.spec, o.model, *file, ctx, o.sampling);

    chat_session_options so;
    so.draft = setup.d.get();
    if (so.draft) so.spec = spec_params_from(o.spec, *m);
    so.n_predict = o.n_predict;
    so.ignore_eos = o.ignore_eos;
    so.render = render_options(o);
    so.sampling = o.sampling;
    if (o.dump_prompt) {
        so.on_prompt = [](const std::string& p, int n) {
            std::fprintf(stderr, "kiln: prompt (%d tokens):\n%s\n", n, p.c_str());
        };
    }
    chat_session s(ctx, tok, tmpl, so);
    if (!o.system.empty()) s.set_system(o.system);

    const bool tty_in = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
    const bool color = !o.no_color && isatty(STDOUT_FILENO) && std::getenv("NO_COLOR") == nullptr;
    struct sigaction sa {};
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: a blocked read returns so Ctrl-C is seen
    sigaction(SIGINT, &sa, nullptr);
    repl r(o, s, tty_in, color);
    r.run();
}

}  // namespace

void add_chat_command(CLI::App& app) {
    auto o = std::make_shared<chat_options>();
    CLI::App* cmd = app.add_subcommand("chat", "chat with a model (REPL), or render a conversation with --render");
    add_model_options(*cmd, o->model);
    add_threads_option(*cmd, o->threads);
    cmd->add_option("-c,--ctx-size", o->n_ctx, "context size in tokens (default: the model's)");
    cmd->add_option("-n,--n-predict", o->n_predict, "reply length limit in tokens (-1: until the end token)")->capture_default_str();
    cmd->add_flag("--ignore-eos", o->ignore_eos, "keep generating past end-of-turn tokens");
    add_sampling_options(*cmd, o->sampling);
    cmd->add_option("--render", o->render_file, "render MESSAGES.json (a list of {role, content}) with the template, print it, exit");
    cmd->add_flag("--add-generation-prompt", o->add_generation_prompt, "with --render: end with the assistant's turn opening");
    cmd->add_option("--chat-template", o->chat_template,
                    "template: a Jinja file, an HF tokenizer_config.json, or a built-in name (chatml, llama2, llama3, mistral, zephyr, gemma, phi3)");
    cmd->add_option("--chat-template-kwargs", o->template_kwargs, "extra template variables as a JSON object, e.g. '{\"enable_thinking\": false}'");
    cmd->add_option("--now", o->now, "the time strftime_now() sees, e.g. 2025-03-14T09:26:53 (reproducible renders)");
    cmd->add_flag("--dump-prompt", o->dump_prompt, "print each rendered prompt on stderr");
    cmd->add_option("--system", o->system, "system prompt");
    cmd->add_flag("--no-color", o->no_color, "no colours even on a terminal");
    add_spec_options(*cmd, o->spec);
    cmd->callback([o, cmd] {
        if (cmd->count("--seed") == 0) o->sampling.seed = std::random_device{}();
        o->spec.lookup_n_given = cmd->count("--lookup-n") > 0;
        o->spec.draft_max_given = cmd->count("--draft-max") > 0;
        check_options(*o);
        run_chat(*o);
    });
}

}  // namespace kiln::cli

#include "chat/chat_session.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>

#include <fmt/format.h>

#include "chat/chat_kv_file.h"
#include "core/error.h"
#include "model/context.h"
#include "tokenizer/tokenizer.h"

namespace kiln {

namespace {

using clock_type = std::chrono::steady_clock;

double ms_since(clock_type::time_point t0) {
    return std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
}

void check_messages(const nlohmann::ordered_json& m, const std::string& where) {
    if (!m.is_array()) fail("{}: 'messages' must be a list", where);
    for (size_t i = 0; i < m.size(); ++i) {
        const auto& e = m[i];
        if (!e.is_object() || !e.contains("role") || !e["role"].is_string())
            fail("{}: message {} has no string 'role'", where, i);
        if (e.contains("content") && !e["content"].is_string() && !e["content"].is_null() && !e["content"].is_array())
            fail("{}: message {} has a 'content' that is not a string, list or null", where, i);
    }
}

}  // namespace

std::string chat_sanitize_text(const std::string& s) {
    std::string out;
    out.reserve(s.size());
    size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            if (c >= 0x20 || c == '\t' || c == '\n') out += static_cast<char>(c);
            ++i;
            continue;
        }
        int n = (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        bool ok = n > 0 && i + n <= s.size();
        uint32_t cp = n == 2 ? (c & 0x1f) : n == 3 ? (c & 0x0f) : (c & 0x07);
        for (int k = 1; ok && k < n; ++k) {
            const auto d = static_cast<unsigned char>(s[i + k]);
            ok = (d & 0xc0) == 0x80;
            cp = (cp << 6) | (d & 0x3f);
        }
        // overlong forms, surrogates and values past U+10FFFF are invalid too
        if (ok) ok = !((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
                       (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff);
        if (ok) {
            out.append(s, i, static_cast<size_t>(n));
            i += static_cast<size_t>(n);
        } else {
            out += "\xef\xbf\xbd";
            ++i;
        }
    }
    return out;
}

chat_session::chat_session(context& ctx, const tokenizer& tok, const chat_template& tmpl, chat_session_options opt)
    : ctx_(ctx), tok_(tok), tmpl_(tmpl), opt_(std::move(opt)) {}

chat_session::~chat_session() = default;

int chat_session::n_ctx() const { return ctx_.n_ctx(); }

std::string chat_session::render_prompt() const {
    chat_render_options ro = opt_.render;
    ro.add_generation_prompt = true;
    return tmpl_.apply(messages_, ro);
}

std::vector<int32_t> chat_session::tokenize_prompt(const std::string& text) const {
    // The template writes the special tokens as text; BOS is added as llama.cpp does
    // when the vocabulary asks for it and the template did not write it.
    std::vector<int32_t> ids = tok_.encode(text, false, true);
    const vocab& v = tok_.get_vocab();
    if (v.add_bos && v.bos_id >= 0 && (ids.empty() || ids.front() != v.bos_id)) ids.insert(ids.begin(), v.bos_id);
    return ids;
}

void chat_session::set_system(const std::string& text) {
    const bool has = !messages_.empty() && messages_[0]["role"] == "system";
    if (text.empty()) {
        if (has) messages_.erase(messages_.begin());
        return;
    }
    nlohmann::ordered_json m = {{"role", "system"}, {"content", chat_sanitize_text(text)}};
    if (has) messages_[0] = m;
    else messages_.insert(messages_.begin(), m);
}

bool chat_session::undo() {
    for (size_t i = messages_.size(); i-- > 0;) {
        if (messages_[i]["role"] == "user") {
            messages_.erase(messages_.begin() + static_cast<long>(i), messages_.end());
            return true;
        }
    }
    return false;
}

void chat_session::clear() {
    const bool has = !messages_.empty() && messages_[0]["role"] == "system";
    nlohmann::ordered_json keep = nlohmann::ordered_json::array();
    if (has) keep.push_back(messages_[0]);
    messages_ = keep;
}

void chat_session::set_messages(const nlohmann::ordered_json& messages) {
    check_messages(messages, "messages");
    messages_ = messages;
}

int chat_session::sync_cache(const std::vector<int32_t>& prompt, chat_reply& r) {
    size_t k = 0;
    const size_t limit = std::min({cached_.size(), prompt.size() - 1, static_cast<size_t>(ctx_.n_past())});
    while (k < limit && cached_[k] == prompt[k]) ++k;
    ctx_.truncate(static_cast<int>(k));
    cached_.resize(k);
    r.n_reused = static_cast<int>(k);
    return static_cast<int>(k);
}

chat_reply chat_session::send(const std::string& user_text, const std::function<void(const std::string&)>& on_piece,
                              const std::atomic<bool>* interrupt) {
    chat_reply r;
    const nlohmann::ordered_json saved = messages_;
    messages_.push_back({{"role", "user"}, {"content", chat_sanitize_text(user_text)}});

    // Room to answer: a quarter of the context (at most 512 tokens), or -n when smaller.
    const int n_ctx = ctx_.n_ctx();
    int reserve = std::min(512, n_ctx / 4);
    if (opt_.n_predict > 0) reserve = std::min(reserve, opt_.n_predict);
    std::vector<int32_t> prompt;
    for (;;) {
        try {
            prompt = tokenize_prompt(render_prompt());
        } catch (...) {
            messages_ = saved;
            throw;
        }
        if (static_cast<int>(prompt.size()) + reserve <= n_ctx) break;
        // Drop the oldest exchange after the system prompt: from the first user message up to the next one.
        const size_t first = !messages_.empty() && messages_[0]["role"] == "system" ? 1 : 0;
        size_t next_user = messages_.size();
        for (size_t i = first + 1; i < messages_.size(); ++i)
            if (messages_[i]["role"] == "user") {
                next_user = i;
                break;
            }
        if (next_user == messages_.size()) {
            // only the new message is left after the system prompt
            if (static_cast<int>(prompt.size()) < n_ctx) break;
            const int n = static_cast<int>(prompt.size());
            messages_ = saved;
            fail("the message makes a prompt of {} tokens, longer than the context of {} (raise -c)", n, n_ctx);
        }
        messages_.erase(messages_.begin() + static_cast<long>(first), messages_.begin() + static_cast<long>(next_user));
        r.n_dropped_messages += static_cast<int>(next_user - first);
    }
    r.n_prompt = static_cast<int>(prompt.size());
    if (opt_.on_prompt) opt_.on_prompt(render_prompt(), r.n_prompt);

    if (opt_.draft) {
        generate_speculative(prompt, r, on_piece, interrupt);
        messages_.push_back({{"role", "assistant"}, {"content", chat_sanitize_text(r.text)}});
        return r;
    }
    const auto t0 = clock_type::now();
    const int k = sync_cache(prompt, r);
    const std::vector<int32_t> todo(prompt.begin() + k, prompt.end());
    const std::vector<float>* logits = &ctx_.eval(todo);
    cached_ = prompt;
    r.n_prefilled = static_cast<int>(todo.size());
    r.prefill_ms = ms_since(t0);

    generate(logits, r, on_piece, interrupt);
    messages_.push_back({{"role", "assistant"}, {"content", chat_sanitize_text(r.text)}});
    return r;
}

// One sampler per reply, seeded by the reply's index: a saved conversation
// continues with the same random choices after /load.
sampler_params chat_session::reply_sampling() const {
    sampler_params sp = opt_.sampling;
    int n_replies = 0;
    for (const auto& m : messages_) n_replies += m["role"] == "assistant";
    sp.seed = opt_.sampling.seed + static_cast<uint64_t>(n_replies);
    return sp;
}

void chat_session::generate_speculative(const std::vector<int32_t>& prompt, chat_reply& r,
                                        const std::function<void(const std::string&)>& on_piece,
                                        const std::atomic<bool>* interrupt) {
    r.speculative = true;
    smp_ = std::make_unique<sampler>(reply_sampling());
    if (!engine_) {
        engine_ = std::make_unique<spec_engine>(ctx_, *smp_, opt_.draft, opt_.spec);
        if (!cached_.empty()) engine_->adopt(cached_);  // a cache restored by /load
    } else {
        engine_->set_sampler(*smp_);
    }
    const std::vector<int32_t>& had = engine_->tokens();
    size_t k = 0;
    while (k < had.size() && k + 1 < prompt.size() && had[k] == prompt[k]) ++k;
    r.n_reused = static_cast<int>(std::min<size_t>(k, static_cast<size_t>(ctx_.n_past())));
    const auto t0 = clock_type::now();
    engine_->begin(prompt);
    r.n_prefilled = static_cast<int>(prompt.size()) - r.n_reused;
    r.prefill_ms = ms_since(t0);

    engine_->reset_stats();
    bool eos = false, stopped = false;
    const auto t1 = clock_type::now();
    const std::string why = engine_->generate(opt_.n_predict, [&](int32_t t) {
        if (interrupt && interrupt->load()) {
            stopped = true;
            return false;
        }
        if (!opt_.ignore_eos && tok_.is_end_of_generation(t)) {
            eos = true;
            return false;
        }
        ++r.n_generated;
        const std::string piece = tok_.token_to_piece(t);
        r.text += piece;
        if (on_piece) on_piece(piece);
        return true;
    });
    r.gen_ms = ms_since(t1);
    r.stop = eos ? "eos" : stopped ? "interrupted" : why;
    r.spec = engine_->stats();
    cached_ = engine_->tokens();
}

void chat_session::generate(const std::vector<float>* logits, chat_reply& r,
                            const std::function<void(const std::string&)>& on_piece, const std::atomic<bool>* interrupt) {
    const sampler_params sp = reply_sampling();
    sampler smp(sp);
    const size_t from = cached_.size() > static_cast<size_t>(sp.repeat_last_n) ? cached_.size() - sp.repeat_last_n : 0;
    for (size_t i = from; i < cached_.size(); ++i) smp.accept(cached_[i]);

    const auto t0 = clock_type::now();
    const int limit = opt_.n_predict < 0 ? ctx_.n_ctx() : opt_.n_predict;
    r.stop = "limit";
    std::string bytes;
    for (int i = 0; i < limit; ++i) {
        if (interrupt && interrupt->load()) {
            r.stop = "interrupted";
            break;
        }
        const int32_t next = smp.sample(logits->data(), ctx_.n_vocab());
        smp.accept(next);
        if (!opt_.ignore_eos && tok_.is_end_of_generation(next)) {
            r.stop = "eos";
            break;
        }
        ++r.n_generated;
        const std::string piece = tok_.token_to_piece(next);
        r.text += piece;
        if (on_piece) on_piece(piece);
        if (i + 1 == limit) break;
        if (ctx_.n_past() >= ctx_.n_ctx()) {
            r.stop = "context full";
            break;
        }
        logits = &ctx_.eval({next});
        cached_.push_back(next);
    }
    r.gen_ms = ms_since(t0);
}

// A float as the short decimal it was typed as (0.95, not 0.949999988079071).
static double short_double(float f) { return std::strtod(fmt::format("{}", f).c_str(), nullptr); }

nlohmann::ordered_json chat_session::to_json() const {
    const sampler_params& s = opt_.sampling;
    return {{"format", "kiln-chat"},
            {"version", 1},
            {"messages", messages_},
            {"sampling",
             {{"temperature", short_double(s.temperature)}, {"top_k", s.top_k}, {"top_p", short_double(s.top_p)},
              {"min_p", short_double(s.min_p)}, {"repeat_penalty", short_double(s.repeat_penalty)}, {"repeat_last_n", s.repeat_last_n}, {"seed", s.seed}}},
            {"n_predict", opt_.n_predict}};
}

void chat_session::from_json(const nlohmann::ordered_json& j, const std::string& where) {
    if (!j.is_object() || j.value("format", "") != "kiln-chat") fail("{}: not a kiln chat file (no \"format\": \"kiln-chat\")", where);
    if (j.value("version", 0) != 1) fail("{}: unsupported kiln chat file version", where);
    if (!j.contains("messages")) fail("{}: no 'messages'", where);
    check_messages(j["messages"], where);
    for (const auto& m : j["messages"])
        if (m.contains("content") && m["content"].is_string() && chat_sanitize_text(m["content"].get<std::string>()) != m["content"].get<std::string>())
            fail("{}: a message contains control characters or invalid UTF-8", where);
    sampler_params s = opt_.sampling;
    int n_predict = opt_.n_predict;
    try {
        if (j.contains("sampling")) {
            const auto& js = j["sampling"];
            s.temperature = js.value("temperature", s.temperature);
            s.top_k = js.value("top_k", s.top_k);
            s.top_p = js.value("top_p", s.top_p);
            s.min_p = js.value("min_p", s.min_p);
            s.repeat_penalty = js.value("repeat_penalty", s.repeat_penalty);
            s.repeat_last_n = js.value("repeat_last_n", s.repeat_last_n);
            s.seed = js.value("seed", s.seed);
        }
        n_predict = j.value("n_predict", n_predict);
    } catch (const nlohmann::json::exception&) {
        fail("{}: 'sampling' has a value of the wrong type", where);
    }
    sampler_params_check(s);
    messages_ = j["messages"];
    opt_.sampling = s;
    opt_.n_predict = n_predict;
}

size_t chat_session::save_kv(const std::string& path) const {
    const size_t n = std::min(cached_.size(), static_cast<size_t>(ctx_.n_past()));
    chat_kv_save(path, ctx_, std::vector<int32_t>(cached_.begin(), cached_.begin() + static_cast<long>(n)));
    return n;
}

std::string chat_session::load_kv(const std::string& path) {
    // Whatever happens, the engine's idea of the cache is stale now.
    engine_.reset();
    cached_.clear();
    std::vector<int32_t> tokens;
    std::string why;
    if (!chat_kv_load(path, ctx_, tokens, why)) {
        ctx_.truncate(0);
        return why + "; the conversation will be evaluated again";
    }
    // The cache is kept as far as it agrees with the conversation as rendered now.
    chat_render_options ro = opt_.render;
    ro.add_generation_prompt = false;
    std::vector<int32_t> conv;
    try {
        conv = tokenize_prompt(tmpl_.apply(messages_, ro));
    } catch (const kiln::error& e) {
        ctx_.truncate(0);
        return fmt::format("{}: not used: {}", path, e.what());
    }
    size_t k = 0;
    while (k < tokens.size() && k < conv.size() && tokens[k] == conv[k]) ++k;
    if (k == 0) {
        ctx_.truncate(0);
        return fmt::format("{}: the KV cache does not match the conversation; it will be evaluated again", path);
    }
    // A partial match is normal: a reply's tokens need not be how its text tokenizes again, and
    // the template may render a finished reply differently from the tokens generated after its
    // generation prompt. A session that never stopped would reuse exactly this prefix too.
    tokens.resize(k);
    ctx_.truncate(static_cast<int>(k));
    cached_ = std::move(tokens);
    return "";
}

}  // namespace kiln

// The chat session on stories260K: KV reuse gives the same replies as
// recomputing from scratch, undo/clear, context overflow drops whole messages,
// save/load round trip, sanitising of user input.
#include <doctest/doctest.h>

#include <memory>
#include <string>

#include "chat/chat_session.h"
#include "chat/chat_template.h"
#include "core/error.h"
#include "formats/import.h"
#include "model/context.h"
#include "model/model.h"
#include "support/test_paths.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/vocab.h"

using namespace kiln;
using json = nlohmann::ordered_json;

namespace {

struct fixture {
    std::shared_ptr<const model> m;
    std::unique_ptr<tokenizer> tok;
    std::unique_ptr<chat_template> tmpl;
};

bool load(fixture& f) {
    const std::string dir = test::models_dir();
    if (dir.empty() || !test::file_exists(dir + "/stories260K/stories260K.bin")) return false;
    model_open_options o;
    o.tokenizer_path = dir + "/stories260K/tok512.bin";
    auto file = model_file_open(dir + "/stories260K/stories260K.bin", o);
    f.m = model_from_file(file);
    f.tok = std::make_unique<tokenizer>(vocab_from_metadata(file->meta()));
    // A template in the model's own words (it knows no chat tokens).
    chat_template_source src;
    src.name = "test";
    src.source = "{% for m in messages %}{{ m.role | capitalize }}: {{ m.content }}\n{% endfor %}"
                 "{% if add_generation_prompt %}Assistant:{% endif %}";
    f.tmpl = std::make_unique<chat_template>(src);
    return true;
}

chat_session_options greedy(int n) {
    chat_session_options o;
    o.n_predict = n;
    o.sampling.temperature = 0.0f;
    return o;
}

}  // namespace

TEST_CASE("sanitising user text") {
    CHECK(chat_sanitize_text("plain\ttext\n") == "plain\ttext\n");
    CHECK(chat_sanitize_text("é日本🎉") == "é日本🎉");
    CHECK(chat_sanitize_text(std::string("a\0b\x01\x7f", 5)) == "ab\x7f");
    CHECK(chat_sanitize_text("\xff\xfe") == "\xef\xbf\xbd\xef\xbf\xbd");
    CHECK(chat_sanitize_text("\xc0\xaf") == "\xef\xbf\xbd\xef\xbf\xbd");  // overlong
    CHECK(chat_sanitize_text("\xe2\x82") == "\xef\xbf\xbd\xef\xbf\xbd");  // truncated
}

TEST_CASE("multi-turn reuses the KV cache and matches a fresh recompute") {
    fixture f;
    if (!load(f)) {
        MESSAGE("stories260K not available: skipped");
        return;
    }
    context ctx(f.m, 512);
    chat_session s(ctx, *f.tok, *f.tmpl, greedy(24));
    s.set_system("Stories for kids.");
    const chat_reply r1 = s.send("Once upon a time", nullptr, nullptr);
    CHECK(r1.n_reused == 0);
    CHECK(r1.n_generated > 0);
    std::string streamed;
    const chat_reply r2 = s.send("Then the cat", [&](const std::string& p) { streamed += p; }, nullptr);
    CHECK(streamed == r2.text);
    CHECK(r2.n_reused > r1.n_prompt / 2);  // the first turn stayed in the cache
    CHECK(r2.n_prefilled < r2.n_prompt);
    CHECK(s.messages().size() == 5);

    // the same conversation from scratch, in a new context: the same second reply
    context ctx2(f.m, 512);
    chat_session fresh(ctx2, *f.tok, *f.tmpl, greedy(24));
    json hist = s.messages();
    hist.erase(hist.end() - 2, hist.end());
    fresh.set_messages(hist);
    const chat_reply r2b = fresh.send("Then the cat", nullptr, nullptr);
    CHECK(r2b.n_reused == 0);
    CHECK(r2b.text == r2.text);

    // undo drops the exchange; the next turn reuses the cache up to it and replies as before
    CHECK(s.undo());
    CHECK(s.messages().size() == 3);
    const chat_reply r2c = s.send("Then the cat", nullptr, nullptr);
    CHECK(r2c.text == r2.text);
    CHECK(r2c.n_reused >= r1.n_prompt - 1);
    s.clear();
    CHECK(s.messages().size() == 1);
    CHECK(s.messages()[0]["role"] == "system");
}

TEST_CASE("an interrupt stops generation and keeps the partial reply") {
    fixture f;
    if (!load(f)) return;
    context ctx(f.m, 256);
    chat_session s(ctx, *f.tok, *f.tmpl, greedy(200));
    std::atomic<bool> stop{false};
    int pieces = 0;
    const chat_reply r = s.send("Hello", [&](const std::string&) {
        if (++pieces == 3) stop.store(true);
    }, &stop);
    CHECK(r.stop == "interrupted");
    CHECK(r.n_generated == 3);
    CHECK(s.messages().back()["content"] == r.text);
}

TEST_CASE("a full context drops the oldest messages, and a message too long is refused") {
    fixture f;
    if (!load(f)) return;
    context ctx(f.m, 96);
    chat_session s(ctx, *f.tok, *f.tmpl, greedy(8));
    s.set_system("Sys.");
    int dropped = 0;
    for (int i = 0; i < 8; ++i) {
        const chat_reply r = s.send("The little dog ran to the park and played " + std::to_string(i), nullptr, nullptr);
        dropped += r.n_dropped_messages;
        CHECK(r.n_prompt + r.n_generated <= 96);
    }
    CHECK(dropped > 0);
    CHECK(s.messages()[0]["role"] == "system");
    const size_t before = s.messages().size();
    std::string huge;
    for (int i = 0; i < 100; ++i) huge += "word ";
    CHECK_THROWS_WITH_AS(s.send(huge, nullptr, nullptr), doctest::Contains("longer than the context of 96"), kiln::error);
    CHECK(s.messages().size() == before);
}

TEST_CASE("save and load round trip; foreign files are refused") {
    fixture f;
    if (!load(f)) return;
    context ctx(f.m, 256);
    chat_session s(ctx, *f.tok, *f.tmpl, greedy(12));
    s.send("Hi", nullptr, nullptr);
    const json saved = s.to_json();

    context ctx2(f.m, 256);
    chat_session t(ctx2, *f.tok, *f.tmpl, greedy(5));
    t.from_json(saved, "saved");
    CHECK(t.messages() == s.messages());
    CHECK(t.options().n_predict == 12);
    CHECK(t.send("More", nullptr, nullptr).text == s.send("More", nullptr, nullptr).text);

    CHECK_THROWS_WITH_AS(t.from_json(json::parse(R"({"messages": []})"), "x.json"), doctest::Contains("not a kiln chat file"), kiln::error);
    CHECK_THROWS_AS(t.from_json(json::parse(R"({"format": "kiln-chat", "version": 1, "messages": [{"content": "x"}]})"), "x.json"), kiln::error);
    CHECK_THROWS_AS(t.from_json(json::parse(R"({"format": "kiln-chat", "version": 1, "messages": [], "sampling": {"temperature": "hot"}})"), "x.json"), kiln::error);
    CHECK_THROWS_AS(t.from_json(json::parse(R"({"format": "kiln-chat", "version": 1, "messages": [], "sampling": {"top_p": 7}})"), "x.json"), kiln::error);
    CHECK(t.messages() == s.messages());  // a refused file changes nothing
}

// The chat session on stories260K: KV reuse gives the same replies as
// recomputing from scratch, undo/clear, context overflow drops whole messages,
// save/load round trip, sanitising of user input.
#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>

#include "chat/chat_kv_file.h"
#include "chat/chat_session.h"
#include "chat/chat_template.h"
#include "core/error.h"
#include "formats/import.h"
#include "model/context.h"
#include "model/model.h"
#include "spec/drafter.h"
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

namespace {

std::string read_bytes(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const std::string& b) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(b.data(), static_cast<std::streamsize>(b.size()));
}

}  // namespace

TEST_CASE("save with the KV cache, load in a fresh session: the same reply with no re-prefill") {
    fixture f;
    if (!load(f)) return;
    const std::string kv = test::temp_dir() + "/conv.json.kv";
    context ctx(f.m, 256);
    chat_session s(ctx, *f.tok, *f.tmpl, greedy(16));
    s.set_system("Stories for kids.");
    s.send("Once upon a time", nullptr, nullptr);
    s.send("Then the cat", nullptr, nullptr);
    const json saved = s.to_json();
    const size_t n_kv = s.save_kv(kv);
    CHECK(n_kv > 20);
    CHECK(!test::file_exists(kv + ".tmp"));
    const chat_reply want = s.send("The end", nullptr, nullptr);  // the session that never stopped

    context ctx2(f.m, 256);
    chat_session t(ctx2, *f.tok, *f.tmpl, greedy(3));
    t.from_json(saved, "saved");
    CHECK(t.load_kv(kv) == "");
    // kept as far as it matches the conversation as rendered now (this template renders a finished
    // reply after "Assistant: ", while the reply was generated after "Assistant:")
    CHECK(t.cached_tokens().size() > n_kv / 2);
    CHECK(t.cached_tokens().size() <= n_kv);
    CHECK(ctx2.n_past() == static_cast<int>(t.cached_tokens().size()));
    const chat_reply got = t.send("The end", nullptr, nullptr);
    CHECK(got.text == want.text);
    CHECK(got.n_reused == want.n_reused);
    CHECK(got.n_prefilled == want.n_prefilled);  // only the new turn
    CHECK(got.n_prefilled < got.n_prompt - 20);

    // without the cache: the same reply, the whole conversation evaluated
    context ctx3(f.m, 256);
    chat_session u(ctx3, *f.tok, *f.tmpl, greedy(3));
    u.from_json(saved, "saved");
    const chat_reply plain = u.send("The end", nullptr, nullptr);
    CHECK(plain.text == want.text);
    CHECK(plain.n_prefilled == plain.n_prompt);

    // a context too small for the cache: a note, the cache is not used
    context ctx4(f.m, 16);
    chat_session v(ctx4, *f.tok, *f.tmpl, greedy(3));
    v.from_json(saved, "saved");
    CHECK(v.load_kv(kv).find("more than the context of 16") != std::string::npos);
    CHECK(v.cached_tokens().empty());
}

TEST_CASE("a KV cache file that is foreign, truncated or corrupt falls back to re-evaluation with a note") {
    fixture f;
    if (!load(f)) return;
    const std::string dir = test::temp_dir();
    const std::string kv = dir + "/good.kv";
    context ctx(f.m, 256);
    chat_session s(ctx, *f.tok, *f.tmpl, greedy(12));
    s.send("Hi", nullptr, nullptr);
    const json saved = s.to_json();
    s.save_kv(kv);
    const chat_reply want = s.send("More", nullptr, nullptr);
    const std::string good = read_bytes(kv);
    REQUIRE(good.size() > 64);

    auto variant = [&](const std::string& name, std::string bytes) {
        write_bytes(dir + "/" + name, bytes);
        return dir + "/" + name;
    };
    std::string other_model = good;
    other_model[24] = static_cast<char>(other_model[24] ^ 1);  // the model id
    std::string other_layers = good;
    other_layers[12] = static_cast<char>(other_layers[12] + 1);  // n_layer
    std::string flipped = good;
    flipped[good.size() / 2] = static_cast<char>(flipped[good.size() / 2] ^ 0x10);  // inside the K/V rows
    std::string bad_token = good;
    bad_token[40 + 3] = static_cast<char>(0x7f);  // the first token id, far outside the vocabulary
    const struct {
        std::string path, note;
    } cases[] = {
        {variant("other_model.kv", other_model), "saved with another model"},
        {variant("other_layers.kv", other_layers), "saved with another model"},
        {variant("truncated.kv", good.substr(0, good.size() - 100)), "truncated or corrupt"},
        {variant("empty.kv", ""), "not a kiln KV cache file"},
        {variant("garbage.kv", std::string(200, 'x')), "not a kiln KV cache file"},
        {variant("version.kv", good.substr(0, 8) + std::string("\x09", 1) + good.substr(9)), "KV cache file version 9"},
        {variant("flipped.kv", flipped), "fails its checksum"},
        {variant("bad_token.kv", bad_token), "outside the vocabulary"},
        {dir + "/missing.kv", "cannot open"},
    };
    for (const auto& c : cases) {
        CAPTURE(c.path);
        context ctx2(f.m, 256);
        chat_session t(ctx2, *f.tok, *f.tmpl, greedy(1));
        t.from_json(saved, "saved");
        const std::string note = t.load_kv(c.path);
        CHECK(note.find(c.note) != std::string::npos);
        CHECK(note.find("evaluated again") != std::string::npos);
        CHECK(t.cached_tokens().empty());
        CHECK(ctx2.n_past() == 0);
        const chat_reply r = t.send("More", nullptr, nullptr);
        CHECK(r.text == want.text);
        CHECK(r.n_reused == 0);
    }

    // a cache of another conversation: only the common start (BOS, "User:") is kept
    context ctx3(f.m, 256);
    chat_session other(ctx3, *f.tok, *f.tmpl, greedy(4));
    other.send("Zebra", nullptr, nullptr);
    other.save_kv(dir + "/zebra.kv");
    context ctx4(f.m, 256);
    chat_session t(ctx4, *f.tok, *f.tmpl, greedy(1));
    t.from_json(saved, "saved");
    CHECK(t.load_kv(dir + "/zebra.kv") == "");
    CHECK(t.cached_tokens().size() < 8);
    CHECK(ctx4.n_past() == static_cast<int>(t.cached_tokens().size()));
    const int kept = static_cast<int>(t.cached_tokens().size());
    const chat_reply rz = t.send("More", nullptr, nullptr);
    CHECK(rz.text == want.text);
    CHECK(rz.n_reused == kept);

    // a cache with no tokens (saved before the first turn): nothing to use
    context ctx5(f.m, 256);
    chat_session empty(ctx5, *f.tok, *f.tmpl, greedy(1));
    CHECK(empty.save_kv(dir + "/none.kv") == 0);
    context ctx6(f.m, 256);
    chat_session w(ctx6, *f.tok, *f.tmpl, greedy(1));
    w.from_json(saved, "saved");
    CHECK(w.load_kv(dir + "/none.kv").find("does not match the conversation") != std::string::npos);
    CHECK(w.cached_tokens().empty());

    CHECK(chat_kv_model_id(*f.m) == chat_kv_model_id(*f.m));
}

TEST_CASE("a KV cache loaded into a speculative session gives the same replies") {
    fixture f;
    if (!load(f)) return;
    const std::string kv = test::temp_dir() + "/spec.kv";
    auto d1 = drafter_lookup_create(1, 3);
    chat_session_options o = greedy(16);
    o.draft = d1.get();
    o.spec.adaptive = false;
    context ctx(f.m, 256);
    chat_session s(ctx, *f.tok, *f.tmpl, o);
    s.send("Once upon a time", nullptr, nullptr);
    const json saved = s.to_json();
    CHECK(s.save_kv(kv) > 0);
    const chat_reply want = s.send("The dog", nullptr, nullptr);
    CHECK(want.speculative);

    auto d2 = drafter_lookup_create(1, 3);
    o.draft = d2.get();
    context ctx2(f.m, 256);
    chat_session t(ctx2, *f.tok, *f.tmpl, o);
    t.from_json(saved, "saved");
    CHECK(t.load_kv(kv) == "");
    const chat_reply again = t.send("The dog", nullptr, nullptr);
    CHECK(again.text == want.text);
    CHECK(again.n_reused > 0);

    // and a plain session reads the cache a speculative one wrote
    context ctx3(f.m, 256);
    chat_session u(ctx3, *f.tok, *f.tmpl, greedy(16));
    u.from_json(saved, "saved");
    CHECK(u.load_kv(kv) == "");
    const chat_reply r = u.send("The dog", nullptr, nullptr);
    CHECK(r.text == want.text);
    CHECK(r.n_reused > 0);
}

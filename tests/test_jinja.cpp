// The Jinja-subset engine against Python's jinja2 (tests/jinja_oracle.py, run
// at test time): a corpus of snippets (tests/data/jinja_snippets.json) and every
// real chat template in the models mirror over a set of conversations
// (tests/data/chat_conversations.json) must render byte-identically, and
// whatever fails in jinja2 must fail here.
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "chat/chat_template.h"
#include "chat/jinja.h"
#include "core/error.h"
#include "support/test_paths.h"

using namespace kiln;
using json = nlohmann::ordered_json;

namespace {

// The first Python that can import jinja2: $KILN_PYTHON, the one on PATH, or Debian's (where
// python3-jinja2 installs when PATH starts with another Python, e.g. pyenv's); "" when none can.
const std::string& oracle_python() {
    static const std::string py = [] {
        std::vector<std::string> candidates;
        if (const char* env = std::getenv("KILN_PYTHON")) candidates.push_back(env);
        candidates.push_back("python3");
        candidates.push_back("/usr/bin/python3");
        for (const auto& c : candidates) {
            if (std::system(("'" + c + "' -c 'import jinja2' >/dev/null 2>&1").c_str()) == 0) return c;
        }
        return std::string();
    }();
    return py;
}

// Runs the oracle; null when python3 with jinja2 is not there.
json run_oracle(const std::string& args) {
    const std::string cmd = "'" + oracle_python() + "' '" + test::source_dir() + "/tests/jinja_oracle.py' " + args;
    FILE* p = popen(cmd.c_str(), "r");
    REQUIRE(p != nullptr);
    std::string out;
    char buf[65536];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    const int rc = pclose(p);
    if (rc != 0 || out.empty()) return nullptr;
    return json::parse(out);
}

bool have_oracle() {
    return !oracle_python().empty();
}

std::string render(const std::string& tmpl, const json& ctx = json::object()) {
    jinja::render_options ro;
    ro.now = chat_parse_now("2025-03-14T09:26:53");
    return jinja::jinja_template(tmpl).render(jinja::value_from_json(ctx), ro);
}

std::string show(const std::string& s) {
    std::string out;
    for (char c : s) out += c == '\n' ? std::string("\\n") : std::string(1, c);
    return out;
}

}  // namespace

TEST_CASE("basic rendering without the oracle") {
    CHECK(render("Hello {{ name }}!", {{"name", "kiln"}}) == "Hello kiln!");
    CHECK(render("{% for x in xs %}{{ x }}{% if not loop.last %}, {% endif %}{% endfor %}", {{"xs", {1, 2, 3}}}) == "1, 2, 3");
    CHECK(render("a\n  {% if true %}\n  b\n  {% endif %}\nc") == "a\n  b\nc");
    CHECK(render("{{ [1, 'a', none, true] }}") == "[1, 'a', None, True]");
    CHECK(render("{{ {'a': 'é'} | tojson }}") == "{\"a\": \"é\"}");
    CHECK(render("{{ 0.1 + 0.2 }} {{ 1e20 }} {{ 2.0 }}") == "0.30000000000000004 1e+20 2.0");
    CHECK(render("{% set ns = namespace(n=0) %}{% for i in range(3) %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}") == "3");
    CHECK(render("{{ strftime_now('%d %B %Y') }}") == "14 March 2025");
}

TEST_CASE("errors name the template line") {
    try {
        render("line one\n{{ 'ok' }}\n{{ raise_exception('bad role') }}\n");
        FAIL("no error");
    } catch (const jinja::template_error& e) {
        CHECK(e.line == 3);
        CHECK(std::string(e.what()) == "bad role");
    }
    try {
        render("a\nb\n{% if x %}\n{% for %}");
        FAIL("no error");
    } catch (const jinja::template_error& e) {
        CHECK(e.line == 4);
    }
    try {
        render("{{ x | nosuchfilter }}");
        FAIL("no error");
    } catch (const jinja::template_error& e) {
        CHECK(std::string(e.what()).find("nosuchfilter") != std::string::npos);
    }
    // through chat_template: one line, naming the template and the line
    chat_template_source src;
    src.name = "t.jinja";
    src.source = "{% for m in messages %}\n{{ m.content.nope() }}\n{% endfor %}";
    chat_template t(src);
    try {
        t.apply(json::parse(R"([{"role":"user","content":"x"}])"), {});
        FAIL("no error");
    } catch (const kiln::error& e) {
        const std::string msg = e.what();
        CHECK(msg.find("chat template t.jinja line 2:") == 0);
        CHECK(msg.find('\n') == std::string::npos);
    }
    CHECK_THROWS_AS(chat_template(chat_template_source{"x", "{% if %}", "", "", false, false}), kiln::error);
}

TEST_CASE("hostile templates fail cleanly") {
    auto repeat = [](const std::string& s, int n) {
        std::string out;
        for (int i = 0; i < n; ++i) out += s;
        return out;
    };
    CHECK_THROWS_AS(render("{{ " + repeat("(", 5000) + "1" + repeat(")", 5000) + " }}"), jinja::template_error);
    CHECK_THROWS_AS(render("{{ 1" + repeat(" + 1", 20000) + " }}"), jinja::template_error);
    CHECK_THROWS_AS(render(repeat("{% if 1 %}", 1000) + repeat("{% endif %}", 1000)), jinja::template_error);
    CHECK_THROWS_AS(render("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}"), jinja::template_error);
    CHECK_THROWS_AS(render("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}"), jinja::template_error);
    CHECK_THROWS_AS(render("{{ range(100000000) | length }}"), jinja::template_error);
    CHECK_THROWS_AS(render("{{ 'unterminated }}"), jinja::template_error);
    CHECK_THROWS_AS(render("{# never closed"), jinja::template_error);
    CHECK_THROWS_AS(render("{% raw %}never closed"), jinja::template_error);
    CHECK_THROWS_AS(render("{{ x ) }}"), jinja::template_error);
    CHECK_THROWS_AS(render("{% include 'other.jinja' %}"), jinja::template_error);
    CHECK(render(repeat("{% if 1 %}", 100) + "deep" + repeat("{% endif %}", 100)) == "deep");
}

TEST_CASE("built-in templates and --chat-template resolution") {
    const json msgs = json::parse(R"([{"role":"system","content":"S"},{"role":"user","content":"U"},{"role":"assistant","content":"A"}])");
    chat_render_options ro;
    ro.add_generation_prompt = true;
    for (const auto& name : chat_template_builtin_names()) {
        auto src = chat_template_resolve(name);
        src.bos_token = "<s>";
        src.eos_token = "</s>";
        src.has_bos = src.has_eos = true;
        CHECK_NOTHROW(chat_template(src).apply(msgs, ro));
    }
    auto chatml = chat_template_resolve("chatml");
    CHECK(chat_template(chatml).apply(msgs, ro) ==
          "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\nA<|im_end|>\n<|im_start|>assistant\n");
    CHECK_THROWS_WITH_AS(chat_template_resolve("no-such-template"), doctest::Contains("built-ins: chatml"), kiln::error);
    CHECK_THROWS_AS(chat_parse_now("yesterday"), kiln::error);
    CHECK(chat_parse_now("1970-01-02T00:00:00") == 86400);
}

TEST_CASE("snippets render as jinja2 renders them") {
    if (!have_oracle()) {
        FAIL("python3 with jinja2 is needed as the test oracle (scripts/setup.sh installs python3-jinja2)");
        return;
    }
    const std::string path = test::source_dir() + "/tests/data/jinja_snippets.json";
    const json snippets = json::parse(test::read_text(path));
    const json expected = run_oracle("snippets '" + path + "'");
    REQUIRE(expected.is_array());
    REQUIRE(expected.size() == snippets.size());
    int pass = 0;
    for (size_t i = 0; i < snippets.size(); ++i) {
        const std::string tmpl = snippets[i]["template"].get<std::string>();
        const json& want = expected[i];
        std::string got;
        bool ok = true;
        std::string err;
        try {
            got = render(tmpl, snippets[i]["context"]);
        } catch (const jinja::template_error& e) {
            ok = false;
            err = e.what();
        }
        const bool want_ok = want["ok"].get<bool>();
        INFO("snippet " << i << ": " << show(tmpl));
        if (want_ok) {
            CHECK_MESSAGE(ok, "kiln failed: " << err);
            if (ok) CHECK(show(got) == show(want["text"].get<std::string>()));
            pass += ok && got == want["text"].get<std::string>();
        } else {
            CHECK_MESSAGE(!ok, "jinja2 failed (" << want["error"].get<std::string>() << ") but kiln rendered: " << show(got));
            pass += !ok;
        }
    }
    MESSAGE("jinja snippets: " << pass << " / " << snippets.size() << " match jinja2");
}

TEST_CASE("real chat templates render as jinja2 renders them") {
    const std::string models = test::models_dir();
    if (models.empty()) {
        MESSAGE("models mirror not available: skipped");
        return;
    }
    if (!have_oracle()) {
        FAIL("python3 with jinja2 is needed as the test oracle (scripts/setup.sh installs python3-jinja2)");
        return;
    }
    const std::string conv_path = test::source_dir() + "/tests/data/chat_conversations.json";
    const json convs = json::parse(test::read_text(conv_path));
    const json expected = run_oracle("chat '" + models + "' '" + conv_path + "'");
    REQUIRE(expected.is_object());
    int total = 0, pass = 0, raising = 0;
    for (auto it = expected.begin(); it != expected.end(); ++it) {
        const std::string id = it.key();
        chat_template_source src;
        const bool from_config = id.find("tokenizer_config.json") != std::string::npos;
        if (from_config) {
            src = chat_template_resolve(models + "/" + id);
        } else {
            src.name = id;
            src.source = test::read_text(models + "/chat-templates/" + id);
            src.bos_token = "<s>";
            src.eos_token = "</s>";
            src.has_bos = src.has_eos = true;
        }
        std::unique_ptr<chat_template> tmpl;
        std::string parse_err;
        try {
            tmpl = std::make_unique<chat_template>(src);
        } catch (const kiln::error& e) {
            parse_err = e.what();
        }
        for (const auto& c : convs) {
            const std::string name = c["name"].get<std::string>();
            const json& want = it.value()[name];
            chat_render_options ro;
            ro.add_generation_prompt = c.value("add_generation_prompt", false);
            if (c.contains("tools")) ro.tools = c["tools"];
            if (c.contains("kwargs")) ro.kwargs = c["kwargs"];
            ro.now = chat_parse_now("2025-03-14T09:26:53");
            std::string got, err = parse_err;
            bool ok = false;
            if (tmpl) {
                try {
                    got = tmpl->apply(c["messages"], ro);
                    ok = true;
                } catch (const kiln::error& e) {
                    err = e.what();
                }
            }
            ++total;
            const bool want_ok = want["ok"].get<bool>();
            INFO(id << " × " << name);
            if (want_ok) {
                CHECK_MESSAGE(ok, "kiln failed: " << err);
                if (ok) CHECK(show(got) == show(want["text"].get<std::string>()));
                pass += ok && got == want["text"].get<std::string>();
            } else {
                ++raising;
                CHECK_MESSAGE(!ok, "jinja2 failed (" << want["error"].get<std::string>() << ") but kiln rendered");
                pass += !ok;
            }
        }
    }
    MESSAGE("chat templates: " << expected.size() << " templates × " << convs.size() << " conversations: " << pass
                               << " / " << total << " match jinja2 (" << raising << " raise in both)");
}

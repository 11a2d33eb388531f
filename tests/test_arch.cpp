// Architectures against llama.cpp: every model of ../shared/refs/arch (llama2, llama3 with RoPE
// scaling, qwen2, qwen3, gemma2) converted from its GGUF must give llama.cpp's logits on a fixed
// sequence and its greedy continuations; the same weights written as a Hugging Face directory
// must give the GGUF's logits. Skipped with a message when the references are absent.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/fp16.h"
#include "formats/gguf_import.h"
#include "formats/hf_config.h"
#include "formats/hf_export.h"
#include "formats/hf_import.h"
#include "formats/import.h"
#include "formats/kiln_writer.h"
#include "model/context.h"
#include "sampling/sampler.h"
#include "support/test_files.h"
#include "support/test_generate.h"
#include "support/test_numeric.h"
#include "support/test_paths.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/vocab.h"

using namespace kiln;
using kiln::test::check_error;
using kiln::test::greedy;
using kiln::test::max_abs_diff;
using kiln::test::read_npy_f32;
using kiln::test::write_file;
namespace kt = kiln::test;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// llama.cpp rounds activations to f16 before its f16 matmuls and its batched and incremental
// paths differ by up to 1.3e-3 (refs README); a correct f32 implementation lands within ~1e-2.
constexpr float k_logit_tol = 1e-2f;

std::string arch_refs() {
    const std::string r = kt::refs_dir();
    if (r.empty() || !kt::file_exists(r + "/arch/models.json")) return "";
    return r + "/arch";
}

#define SKIP_WITHOUT_ARCH_REFS()                                 \
    const std::string refs = arch_refs();                        \
    if (refs.empty()) {                                          \
        MESSAGE("../shared/refs/arch not available: skipped");   \
        return;                                                  \
    }

json read_json(const std::string& path) { return json::parse(kt::read_text(path)); }

std::shared_ptr<kiln_file> open_source(const source_model& sm, const std::string& name) {
    const int fd = kiln_write_memfd(sm, name);
    return kiln_file::from_mapped(mapped_file::from_fd(fd, name, true));
}

std::shared_ptr<const model> load_path(const std::string& path) {
    model_open_options o;
    o.announce_conversion = false;
    return model_from_file(model_file_open(path, o));
}

std::vector<std::string> model_names(const std::string& refs) {
    std::vector<std::string> out;
    for (const json& m : read_json(refs + "/models.json")) out.push_back(m.at("name").get<std::string>());
    return out;
}

}  // namespace

TEST_CASE("arch refs: logits of the fixed sequence match llama.cpp") {
    SKIP_WITHOUT_ARCH_REFS();
    const std::vector<int> kept = read_json(refs + "/logits_rows.json").at("rows_kept").get<std::vector<int>>();
    for (const std::string& name : model_names(refs)) {
        CAPTURE(name);
        const json r = read_json(refs + "/" + name + "/refs.json");
        const std::vector<int32_t> ids = r.at("logits").at("ids").get<std::vector<int32_t>>();
        size_t rows = 0, cols = 0;
        const std::vector<float> want = read_npy_f32(refs + "/" + name + "/logits_rows.npy", rows, cols);
        REQUIRE(rows == kept.size());
        auto m = load_path(refs + "/" + name + ".gguf");
        REQUIRE(cols == static_cast<size_t>(m->hp.n_vocab));
        context ctx(m, 0);
        const std::vector<float>& got = ctx.eval(ids, true);  // one batch, as llama.cpp did
        float worst = 0.0f;
        for (size_t i = 0; i < kept.size(); ++i) {
            worst = std::max(worst, max_abs_diff(got.data() + static_cast<size_t>(kept[i]) * cols, want.data() + i * cols, cols));
        }
        MESSAGE(name << ": max |logit - llama.cpp| = " << worst);
        CHECK(worst < k_logit_tol);
    }
}

TEST_CASE("arch refs: greedy continuations match llama.cpp up to the first near-tie") {
    SKIP_WITHOUT_ARCH_REFS();
    for (const std::string& name : model_names(refs)) {
        CAPTURE(name);
        const json r = read_json(refs + "/" + name + "/refs.json");
        auto m = load_path(refs + "/" + name + ".gguf");
        int compared = 0, total = 0, forced_checked = 0;
        for (const json& p : r.at("prompts")) {
            const std::string text = p.at("text").get<std::string>();
            CAPTURE(text);
            const auto ids = p.at("ids").get<std::vector<int32_t>>();
            const auto want = p.at("greedy_ids").get<std::vector<int32_t>>();
            const auto margin = p.at("greedy_top1_top2_margin").get<std::vector<float>>();
            context ctx(m, 0);
            const std::vector<int32_t> got = greedy(ctx, ids, static_cast<int>(want.size()));
            size_t n = 0;
            while (n < want.size() && margin[n] >= k_logit_tol) ++n;
            // the first near-tie itself may go either way; everything before it must agree
            CHECK(std::vector<int32_t>(got.begin(), got.begin() + n) == std::vector<int32_t>(want.begin(), want.begin() + n));
            compared += static_cast<int>(n);
            total += static_cast<int>(want.size());
            if (n == want.size()) CHECK(got == want);

            // Past the first near-tie: fed llama.cpp's own continuation, kiln's argmax must be
            // llama.cpp's at every step that is not a near-tie.
            context forced(m, 0);
            const std::vector<float>* logits = &forced.eval(ids);
            for (size_t i = 0; i < want.size(); ++i) {
                if (margin[i] >= k_logit_tol) {
                    CAPTURE(i);
                    CHECK(sample_greedy(logits->data(), forced.n_vocab()) == want[i]);
                    ++forced_checked;
                }
                if (i + 1 < want.size()) logits = &forced.eval({want[i]});
            }
        }
        MESSAGE(name << ": greedy tokens compared " << compared << " of " << total << " in free running, "
                     << forced_checked << " of " << total << " fed llama.cpp's tokens");
    }
}

// ---- Hugging Face directories made from the reference GGUFs --------------------------------------

namespace {

struct hf_dir_options {
    bool sharded = false;
    std::string model_type;  // "" = the GGUF's architecture
    json extra_config = json::object();
};

// Writes the GGUF's weights as a Hugging Face directory of the same architecture, with kiln's
// exporter (the one `kiln export --hf` uses).
std::string make_hf_dir(const std::string& refs, const json& info, const std::string& dir, const hf_dir_options& opt = {}) {
    const std::string name = info.at("name").get<std::string>();
    const std::string arch = info.at("arch").get<std::string>();
    const source_model g = gguf_import(refs + "/" + name + ".gguf");
    fs::remove_all(dir);
    fs::create_directories(dir);
    hf_export_options eo;
    eo.shards = opt.sharded ? 2 : 1;
    eo.model_type_override = opt.model_type;
    eo.config_overrides = opt.extra_config;
    hf_export_into(g, dir, eo);

    // The real tokenizer files where ../shared/models has them, so that hf_tokenizer reads what
    // Hugging Face ships (the exporter's own files stand in otherwise).
    const std::string models = kt::models_dir();
    auto copy_from = [&](const std::string& sub, std::initializer_list<const char*> files) {
        if (models.empty()) return;
        for (const char* f : {"tokenizer.json", "tokenizer_config.json", "tokenizer.model"}) fs::remove(dir + "/" + f);
        for (const char* f : files) fs::copy_file(models + "/tokenizers/" + sub + "/" + f, dir + "/" + f);
    };
    if (name == "llama2-tiny") copy_from("llama2", {"tokenizer.model"});
    else if (name == "llama3-tiny") copy_from("llama3", {"tokenizer.json", "tokenizer_config.json"});
    else if (arch == "qwen2" || arch == "qwen3") copy_from("qwen3", {"tokenizer.json", "tokenizer_config.json"});
    return dir;
}

std::vector<float> logits_of(std::shared_ptr<const model> m, const std::vector<int32_t>& ids) {
    context ctx(std::move(m), 0);
    return ctx.eval(ids, true);
}

json model_info(const std::string& refs, const std::string& name);

// The default Hugging Face directory of a reference model, written once per test process.
const std::string& hf_dir_of(const std::string& refs, const std::string& name) {
    static std::map<std::string, std::string> made;
    std::string& dir = made[name];
    if (dir.empty()) dir = make_hf_dir(refs, model_info(refs, name), kt::temp_dir() + "/hf-default-" + name);
    return dir;
}

json model_info(const std::string& refs, const std::string& name) {
    for (const json& m : read_json(refs + "/models.json")) {
        if (m.at("name") == name) return m;
    }
    FAIL("no model " << name);
    return {};
}

}  // namespace

TEST_CASE("hf round trip: a Hugging Face directory of each reference model gives the GGUF's logits") {
    SKIP_WITHOUT_ARCH_REFS();
    for (const json& info : read_json(refs + "/models.json")) {
        const std::string name = info.at("name").get<std::string>();
        CAPTURE(name);
        hf_dir_options opt;
        opt.sharded = name == "qwen2-tiny";
        const std::string dir = make_hf_dir(refs, info, kt::temp_dir() + "/hf-" + name, opt);
        const source_model hf = hf_import_weights(dir);
        const source_model gg = gguf_import(refs + "/" + name + ".gguf");

        // Same hyper-parameters from config.json as from the GGUF (RoPE pairing aside: HF rows are
        // permuted for llama).
        for (const auto& [key, value] : gg.meta.items()) {
            if (key.rfind("tokenizer.", 0) == 0 || key.rfind("provenance.", 0) == 0 || key == "model.name") continue;
            if (key == "rope.pairing") continue;
            CAPTURE(key);
            const meta_value* h = hf.meta.find(key);
            REQUIRE(h != nullptr);
            if (meta_kind_of(value) == meta_kind::float64) {
                CHECK(std::get<double>(*h) == doctest::Approx(std::get<double>(value)).epsilon(1e-6));
            } else if (meta_kind_of(value) == meta_kind::float32_array) {
                const auto& a = std::get<std::vector<float>>(value);
                const auto& b = std::get<std::vector<float>>(*h);
                REQUIRE(a.size() == b.size());
                for (size_t i = 0; i < a.size(); ++i) CHECK(b[i] == doctest::Approx(a[i]).epsilon(1e-6));
            } else {
                CHECK(*h == value);
            }
        }
        CHECK(hf.meta.get_str("rope.pairing") == "half");

        const std::vector<int32_t> ids = read_json(refs + "/" + name + "/refs.json").at("logits").at("ids").get<std::vector<int32_t>>();
        const auto a = logits_of(model_from_file(open_source(gg, name + ".gguf")), ids);
        const auto b = logits_of(model_from_file(open_source(hf, name + "-hf")), ids);
        REQUIRE(a.size() == b.size());
        const float d = max_abs_diff(a.data(), b.data(), a.size());
        MESSAGE(name << ": max |logit(HF) - logit(GGUF)| = " << d);
        // llama's permuted Q/K rows change only the order of the sums in q.k
        CHECK(d < 1e-4f);
    }
}

TEST_CASE("hf: mistral's sliding window reaches the graph and changes only positions past the window") {
    SKIP_WITHOUT_ARCH_REFS();
    const json info = model_info(refs, "llama2-tiny");
    const std::vector<int32_t> ids = read_json(refs + "/llama2-tiny/refs.json").at("logits").at("ids").get<std::vector<int32_t>>();
    const size_t nv = static_cast<size_t>(info.at("hparams").at("n_vocab").get<int64_t>());

    hf_dir_options opt;
    opt.model_type = "mistral";
    opt.extra_config = {{"sliding_window", nullptr}};
    const source_model none = hf_import_weights(make_hf_dir(refs, info, kt::temp_dir() + "/mistral-none", opt));
    CHECK_FALSE(none.meta.has("attn.sliding_window"));
    CHECK(none.meta.get_str("model.arch") == "llama");

    opt.extra_config = {{"sliding_window", 4}};
    const source_model w4 = hf_import_weights(make_hf_dir(refs, info, kt::temp_dir() + "/mistral-4", opt));
    CHECK(w4.meta.get_int("attn.sliding_window") == 4);
    CHECK(w4.meta.get_i32_array("attn.sliding_window_layers") == std::vector<int32_t>{1, 1, 1});

    const auto a = logits_of(model_from_file(open_source(none, "mistral-none")), ids);
    const auto b = logits_of(model_from_file(open_source(w4, "mistral-4")), ids);
    // positions 0..3 see at most 4 keys either way; later ones lose the keys out of the window
    CHECK(max_abs_diff(a.data(), b.data(), 4 * nv) == 0.0f);
    CHECK(max_abs_diff(a.data() + 4 * nv, b.data() + 4 * nv, 20 * nv) > 1e-2f);

    // The GGUF model given the same window in KILN metadata computes the same thing.
    source_model g = gguf_import(refs + "/llama2-tiny.gguf");
    g.meta.set_int("attn.sliding_window", 4);
    const auto c = logits_of(model_from_file(open_source(g, "llama2-tiny-w4")), ids);
    CHECK(max_abs_diff(b.data(), c.data(), b.size()) < 1e-4f);
}

namespace {

}  // namespace

TEST_CASE("hf: config.json fields kiln does not understand are refused, naming the field") {
    SKIP_WITHOUT_ARCH_REFS();
    struct bad_case {
        const char* model;
        json change;
        std::vector<std::string> parts;
    };
    const std::vector<bad_case> cases = {
        {"llama3-tiny", {{"rope_scaling", {{"rope_type", "yarn"}, {"factor", 4.0}}}}, {"rope_scaling.rope_type", "'yarn'"}},
        {"llama3-tiny", {{"rope_scaling", {{"rope_type", "llama3"}, {"factor", 8.0}, {"high_freq_factor", 4.0},
                                          {"original_max_position_embeddings", 8192}}}},
         {"rope_scaling.low_freq_factor"}},
        {"llama3-tiny", {{"rope_scaling", "llama3"}}, {"rope_scaling", "not an object"}},
        {"llama2-tiny", {{"model_type", "falcon"}}, {"model_type 'falcon'"}},
        {"llama2-tiny", {{"hidden_act", "gelu"}}, {"hidden_act", "\"gelu\""}},
        {"llama2-tiny", {{"attention_bias", true}}, {"attention_bias"}},
        {"llama2-tiny", {{"mlp_bias", true}}, {"mlp_bias"}},
        {"llama2-tiny", {{"partial_rotary_factor", 0.5}}, {"partial_rotary_factor"}},
        {"qwen2-tiny", {{"use_sliding_window", true}}, {"use_sliding_window"}},
        {"qwen3-tiny", {{"attention_bias", true}}, {"attention_bias", "qwen3"}},
        {"gemma2-tiny", {{"hidden_activation", "gelu"}}, {"hidden_activation"}},
        {"gemma2-tiny", {{"query_pre_attn_scalar", -1}}, {"query_pre_attn_scalar"}},
        {"gemma2-tiny", {{"sliding_window", 0}}, {"sliding_window"}},
        {"gemma2-tiny", {{"tie_word_embeddings", false}}, {"lm_head.weight", "missing"}},
        {"qwen3-tiny", {{"head_dim", 8}}, {"model.safetensors", "self_attn.", "config.json implies"}},
    };
    std::map<std::string, std::string> dirs;
    for (const auto& c : cases) {
        CAPTURE(c.change.dump());
        const std::string& dir = dirs[c.model] = hf_dir_of(refs, c.model);
        const std::string cfg_path = dir + "/config.json";
        const json good = read_json(cfg_path);
        json bad = good;
        for (const auto& [k, v] : c.change.items()) bad[k] = v;
        write_file(cfg_path, bad.dump());
        check_error([&] { hf_import_weights(dir); }, c.parts);
        write_file(cfg_path, good.dump());
    }
    for (const auto& [model, dir] : dirs) CHECK_NOTHROW(hf_import_weights(dir));  // the good configs still load
}

TEST_CASE("hf: llama3 rope scaling gives the frequency divisors llama.cpp's converter stores") {
    // theta 500000, 8 rotated dims, factor 8, low 1, high 4, original context 8192 (refs/arch README)
    const std::vector<float> f = rope_llama3_factors(500000.0, 8, 8.0, 1.0, 4.0, 8192.0);
    REQUIRE(f.size() == 4);
    CHECK(f[0] == 1.0f);
    CHECK(f[1] == 1.0f);
    CHECK(f[2] == doctest::Approx(2.6945298).epsilon(1e-6));
    CHECK(f[3] == 8.0f);
}

namespace {

// Small GGUF v3 files written byte by byte: hyper-parameters and a few tensors, enough to reach
// the importer's checks.
struct gguf_bytes {
    std::string kv, infos, data;
    uint64_t n_kv = 0, n_tensors = 0;
    template <typename T>
    static void put(std::string& s, T v) { s.append(reinterpret_cast<const char*>(&v), sizeof(T)); }
    static void put_str(std::string& s, const std::string& v) {
        put<uint64_t>(s, v.size());
        s += v;
    }
    void str(const std::string& key, const std::string& v) {
        put_str(kv, key);
        put<uint32_t>(kv, 8);
        put_str(kv, v);
        ++n_kv;
    }
    void u32(const std::string& key, uint32_t v) {
        put_str(kv, key);
        put<uint32_t>(kv, 4);
        put<uint32_t>(kv, v);
        ++n_kv;
    }
    void f32(const std::string& key, float v) {
        put_str(kv, key);
        put<uint32_t>(kv, 6);
        put<float>(kv, v);
        ++n_kv;
    }
    void tensor_f32(const std::string& name, std::vector<uint64_t> ne) {
        while (data.size() % 32) data += '\0';
        put_str(infos, name);
        put<uint32_t>(infos, static_cast<uint32_t>(ne.size()));
        uint64_t n = 1;
        for (uint64_t d : ne) {
            put<uint64_t>(infos, d);
            n *= d;
        }
        put<uint32_t>(infos, 0);
        put<uint64_t>(infos, data.size());
        for (uint64_t i = 0; i < n; ++i) put<float>(data, 1.0f);
        ++n_tensors;
    }
    void hparams(const std::string& arch) {
        str("general.architecture", arch);
        u32(arch + ".embedding_length", 32);
        u32(arch + ".block_count", 2);
        u32(arch + ".attention.head_count", 4);
        u32(arch + ".feed_forward_length", 64);
        u32(arch + ".context_length", 128);
        f32(arch + ".attention.layer_norm_rms_epsilon", 1e-5f);
    }
    std::string bytes() const {
        std::string s = "GGUF";
        put<uint32_t>(s, 3);
        put<uint64_t>(s, n_tensors);
        put<uint64_t>(s, n_kv);
        s += kv + infos;
        while (s.size() % 32) s += '\0';
        return s + data;
    }
};

}  // namespace

TEST_CASE("gguf: architecture keys are imported, and what kiln does not understand is refused") {
    const std::string path = kt::temp_dir() + "/arch-test.gguf";
    {
        gguf_bytes g;  // gemma2 without its optional keys: llama.cpp's defaults
        g.hparams("gemma2");
        g.tensor_f32("token_embd.weight", {32, 16});
        write_file(path, g.bytes());
        const source_model m = gguf_import(path);
        CHECK(m.meta.get_str("model.arch") == "gemma2");
        CHECK(m.meta.get_str("rope.pairing") == "half");
        CHECK(m.meta.get_float("attn.logit_softcap") == 50.0);
        CHECK(m.meta.get_float("model.final_logit_softcap") == 30.0);
        CHECK(m.meta.get_int("attn.sliding_window") == 4096);
        CHECK(m.meta.get_i32_array("attn.sliding_window_layers") == std::vector<int32_t>{1, 0});
        CHECK(m.meta.get_float("attn.scale") == doctest::Approx(1.0 / std::sqrt(8.0)));
    }
    {
        gguf_bytes g;  // Llama 3 frequency factors become metadata; linear scaling a position scale
        g.hparams("llama");
        g.str("llama.rope.scaling.type", "linear");
        g.f32("llama.rope.scaling.factor", 4.0f);
        g.tensor_f32("token_embd.weight", {32, 16});
        g.tensor_f32("rope_freqs.weight", {4});
        write_file(path, g.bytes());
        const source_model m = gguf_import(path);
        CHECK(m.meta.get_f32_array("rope.freq_factors") == std::vector<float>{1, 1, 1, 1});
        CHECK(m.meta.get_float("rope.freq_scale") == 0.25);
        CHECK(m.find("rope_freqs.weight") == nullptr);
    }
    auto refused = [&](const std::string& arch, std::function<void(gguf_bytes&)> add, std::vector<std::string> parts) {
        gguf_bytes g;
        g.hparams(arch);
        add(g);
        g.tensor_f32("token_embd.weight", {32, 16});
        write_file(path, g.bytes());
        parts.push_back("arch-test.gguf");
        check_error([&] { gguf_import(path); }, parts);
    };
    refused("llama", [](gguf_bytes& g) { g.str("llama.rope.scaling.type", "yarn"); }, {"llama.rope.scaling.type", "yarn"});
    refused("qwen2", [](gguf_bytes& g) { g.str("qwen2.rope.scaling.type", "longrope"); }, {"qwen2.rope.scaling.type"});
    refused("llama", [](gguf_bytes& g) { g.str("llama.rope.scaling.type", "linear"); }, {"llama.rope.scaling.factor", "missing"});
    refused("llama", [](gguf_bytes& g) { g.tensor_f32("rope_freqs.weight", {3}); }, {"rope_freqs.weight", "[4]"});
    refused("gemma3", [](gguf_bytes&) {}, {"unsupported architecture 'gemma3'"});
}

TEST_CASE("model: bad architecture metadata is refused naming the key") {
    SKIP_WITHOUT_ARCH_REFS();
    struct bad_case {
        const char* key;
        meta_value value;
    };
    const std::vector<bad_case> cases = {
        {"rope.freq_factors", std::vector<float>{1.0f, 2.0f}},
        {"rope.freq_factors", std::vector<float>{1.0f, 1.0f, 0.0f, 8.0f}},
        {"attn.sliding_window_layers", std::vector<int32_t>{1, 0}},
        {"attn.sliding_window_layers", std::vector<int32_t>{1, 2, 1}},
        {"attn.sliding_window", int64_t(-3)},
        {"attn.logit_softcap", -1.0},
        {"model.final_logit_softcap", std::nan("")},
        {"attn.scale", 0.0},
        {"rope.freq_scale", -2.0},
    };
    for (const auto& c : cases) {
        CAPTURE(c.key);
        source_model g = gguf_import(refs + "/llama3-tiny.gguf");
        g.meta.set(c.key, c.value);
        check_error([&] { model_from_file(open_source(g, "llama3-tiny-bad")); }, {"llama3-tiny-bad", c.key});
    }
    source_model g = gguf_import(refs + "/qwen2-tiny.gguf");
    g.meta.set_str("model.arch", "qwen3");  // qwen3 wants q/k norms, qwen2's file has biases
    check_error([&] { model_from_file(open_source(g, "qwen2-as-qwen3")); }, {"qwen2-as-qwen3", "attn_q_norm.weight", "missing"});
}

TEST_CASE("arch refs: the models' tokenizers give llama.cpp's prompt ids, from the GGUF and from the HF directory") {
    SKIP_WITHOUT_ARCH_REFS();
    if (kt::models_dir().empty()) {
        MESSAGE("../shared/models not available (HF tokenizer files): skipped");
        return;
    }
    for (const json& info : read_json(refs + "/models.json")) {
        const std::string name = info.at("name").get<std::string>();
        CAPTURE(name);
        const std::string& dir = hf_dir_of(refs, name);
        const source_model gg = gguf_import(refs + "/" + name + ".gguf");
        const source_model hf = hf_import(dir);  // the full import: config, weights and tokenizer
        CHECK(hf.meta.get_str_array("tokenizer.tokens") == gg.meta.get_str_array("tokenizer.tokens"));
        const json r = read_json(refs + "/" + name + "/refs.json");
        for (const source_model* sm : {&gg, &hf}) {
            CAPTURE(sm->meta.get_str("provenance.source_format"));
            const tokenizer tok(vocab_from_metadata(sm->meta));
            for (const json& p : r.at("prompts")) {
                const std::string text = p.at("text").get<std::string>();
                CAPTURE(text);
                CHECK(tok.encode(text, true, false) == p.at("ids").get<std::vector<int32_t>>());
                CHECK(tok.encode(text, false, false) == p.at("ids_no_special").get<std::vector<int32_t>>());
            }
            const json& lg = r.at("logits");
            const auto ids = lg.at("ids").get<std::vector<int32_t>>();
            const auto got = tok.encode(lg.at("source_text").get<std::string>(), true, false);
            REQUIRE(got.size() >= ids.size());
            CHECK(std::vector<int32_t>(got.begin(), got.begin() + static_cast<long>(ids.size())) == ids);
        }
    }
}

TEST_CASE("every graph builder honours batch_view::skip_layer: a skipped layer is one that adds nothing") {
    SKIP_WITHOUT_ARCH_REFS();
    for (const std::string& name : model_names(refs)) {
        CAPTURE(name);
        const std::vector<int32_t> ids = read_json(refs + "/" + name + "/refs.json").at("logits").at("ids").get<std::vector<int32_t>>();
        const source_model g = gguf_import(refs + "/" + name + ".gguf");
        auto m = model_from_file(open_source(g, name));
        // The same model with layer 1's attention and FFN outputs zeroed: its residual passes unchanged.
        source_model zeroed = gguf_import(refs + "/" + name + ".gguf");
        for (source_tensor& t : zeroed.tensors) {
            if (t.name != "blk.1.attn_output.weight" && t.name != "blk.1.ffn_down.weight") continue;
            const size_t n = t.n_bytes();
            t.data = nullptr;
            t.load = [n](void* dst) { std::memset(dst, 0, n); };
        }
        auto z = model_from_file(open_source(zeroed, name + "-zeroed"));

        std::vector<int32_t> pos(ids.size());
        for (size_t i = 0; i < ids.size(); ++i) pos[i] = static_cast<int32_t>(i);
        const std::vector<uint8_t> want(ids.size(), 1);
        std::vector<uint8_t> skip(static_cast<size_t>(m->hp.n_layer), 0);
        skip[1] = 1;
        context a(m, 0), b(z, 0), c(m, 0);
        const std::vector<float> skipped = a.eval_at(ids, pos, want, skip.data());
        const std::vector<float> reference = b.eval_at(ids, pos, want);
        const std::vector<float> full = c.eval_at(ids, pos, want);
        CHECK(max_abs_diff(skipped.data(), reference.data(), skipped.size()) == 0.0f);
        CHECK(max_abs_diff(skipped.data(), full.data(), skipped.size()) > 1e-3f);
    }
}

TEST_CASE("hf export: what a Hugging Face directory cannot hold is refused, naming it") {
    SKIP_WITHOUT_ARCH_REFS();
    const std::string dir = kt::temp_dir() + "/hf-export-bad";
    auto refused = [&](const std::string& name, std::function<void(source_model&)> change, std::vector<std::string> parts) {
        source_model g = gguf_import(refs + "/" + name + ".gguf");
        change(g);
        fs::remove_all(dir);
        fs::remove_all(dir + ".tmp");
        check_error([&] { hf_export(g, dir); }, parts);
        CHECK_FALSE(fs::exists(dir));
        CHECK_FALSE(fs::exists(dir + ".tmp"));
    };
    refused("gemma2-tiny", [](source_model& g) { g.meta.set_str("model.arch", "phi3"); },
            {"architecture 'phi3'", "cannot be exported"});
    refused("gemma2-tiny", [](source_model& g) { g.tensors[3].type = dtype::q8_0; },
            {"is q8_0", "only f32, f16 and bf16"});
    refused("gemma2-tiny", [](source_model& g) { g.meta.set("attn.sliding_window_layers", std::vector<int32_t>{0, 1, 0}); },
            {"attn.sliding_window_layers", "cannot be expressed in a gemma2 config.json"});
    refused("llama2-tiny", [](source_model& g) { g.meta.set("rope.freq_factors", std::vector<float>{1, 1, 3, 7}); },
            {"rope.freq_factors", "matches no Llama 3 rope_scaling"});
    refused("llama2-tiny", [](source_model& g) { g.tensors.push_back(g.tensors[1]); g.tensors.back().name = "blk.0.attn_q.bias"; },
            {"blk.0.attn_q.bias", "no Hugging Face name in a llama model"});

    // An existing non-empty directory is never written into.
    const source_model g = gguf_import(refs + "/gemma2-tiny.gguf");
    fs::remove_all(dir);
    fs::create_directories(dir);
    write_file(dir + "/keep", "x");
    check_error([&] { hf_export(g, dir); }, {"hf-export-bad", "exists and is not empty"});
    CHECK(fs::exists(dir + "/keep"));
    fs::remove_all(dir);
}

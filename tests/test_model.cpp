// The Llama forward pass against llama.cpp and llama2.c on stories260K:
// full logits of a fixed sequence, greedy continuations of every reference
// prompt, and the batch / KV-cache invariants the rest of kiln relies on.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "formats/import.h"
#include "model/context.h"
#include "sampling/sampler.h"
#include "support/test_files.h"
#include "support/test_generate.h"
#include "support/test_paths.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/vocab.h"

using namespace kiln;
using kiln::test::greedy;
using kiln::test::read_npy_f32;
namespace kt = kiln::test;

namespace {

struct source {
    const char* label;
    std::string path;
    std::string tokenizer;
};

std::vector<source> sources() {
    const std::string m = kt::models_dir();
    if (m.empty()) return {};
    return {{"gguf", m + "/stories260K/stories260K.gguf", ""},
            {"llama2c", m + "/stories260K/stories260K.bin", m + "/stories260K/tok512.bin"}};
}

std::shared_ptr<const model> load(const source& s, std::shared_ptr<kiln_file>* file_out = nullptr) {
    model_open_options o;
    o.tokenizer_path = s.tokenizer;
    o.announce_conversion = false;
    auto f = model_file_open(s.path, o);
    if (file_out) *file_out = f;
    return model_from_file(f);
}

std::vector<nlohmann::json> read_jsonl(const std::string& path) {
    std::vector<nlohmann::json> out;
    std::istringstream in(kt::read_text(path));
    for (std::string line; std::getline(in, line);) {
        if (!line.empty()) out.push_back(nlohmann::json::parse(line));
    }
    return out;
}

}  // namespace

TEST_CASE("logits of the fixed sequence match llama.cpp and llama2.c within 1e-4") {
    const std::string refs = kt::refs_dir();
    if (sources().empty() || refs.empty()) {
        MESSAGE("models or refs not available: skipped");
        return;
    }
    const auto meta = nlohmann::json::parse(kt::read_text(refs + "/stories260K/logits_P1_69tok.json"));
    const std::vector<int32_t> tokens = meta.at("tokens").get<std::vector<int32_t>>();
    for (const char* ref : {"logits_P1_69tok_llamacpp_f32kv_fa-off.npy", "logits_P1_69tok_llama2c.npy"}) {
        size_t rows = 0, cols = 0;
        const std::vector<float> want = read_npy_f32(refs + "/stories260K/" + ref, rows, cols);
        REQUIRE(rows == tokens.size());
        for (const auto& s : sources()) {
            auto m = load(s);
            REQUIRE(cols == static_cast<size_t>(m->hp.n_vocab));
            context ctx(m, 0);
            const std::vector<float>& got = ctx.eval(tokens, true);  // the whole sequence as one batch
            REQUIRE(got.size() == want.size());
            float max_diff = 0.0f;
            for (size_t i = 0; i < got.size(); ++i) max_diff = std::max(max_diff, std::fabs(got[i] - want[i]));
            INFO(s.label << " vs " << ref << ": max |diff| = " << max_diff);
            CHECK(max_diff < 1e-4f);
        }
    }
}

TEST_CASE("greedy continuations equal the references token for token") {
    const std::string refs = kt::refs_dir();
    if (sources().empty() || refs.empty()) {
        MESSAGE("models or refs not available: skipped");
        return;
    }
    const auto cpp = read_jsonl(refs + "/stories260K/greedy_llamacpp_f32.jsonl");
    const auto l2c = read_jsonl(refs + "/stories260K/greedy_llama2c_f32.jsonl");
    REQUIRE(!cpp.empty());
    for (const auto& s : sources()) {
        std::shared_ptr<kiln_file> file;
        auto m = load(s, &file);
        const tokenizer tok(vocab_from_metadata(file->meta()));
        for (const auto& r : cpp) {
            const auto prompt_ids = r.at("prompt_tokens").get<std::vector<int32_t>>();
            const auto want = r.at("tokens").get<std::vector<int32_t>>();
            INFO(s.label << " prompt " << r.at("id").get<std::string>());
            CHECK(tok.encode(r.at("prompt").get<std::string>(), true, false) == prompt_ids);
            context ctx(m, 0);
            const auto got = greedy(ctx, prompt_ids, static_cast<int>(want.size()));
            CHECK(got == want);
        }
        for (const auto& r : l2c) {
            // llama2.c stops after emitting token 1; compare over its length.
            const auto prompt_ids = r.at("prompt_tokens").get<std::vector<int32_t>>();
            const auto want = r.at("tokens").get<std::vector<int32_t>>();
            context ctx(m, 0);
            CHECK(greedy(ctx, prompt_ids, static_cast<int>(want.size())) == want);
        }
    }
}

TEST_CASE("a batch gives the same logits as one token at a time, and truncation rewinds exactly") {
    if (sources().empty()) {
        MESSAGE("models not available: skipped");
        return;
    }
    auto m = load(sources()[1]);
    const std::vector<int32_t> seq = {1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298};
    const size_t nv = static_cast<size_t>(m->hp.n_vocab);

    context batched(m, 64);
    const std::vector<float> all = batched.eval(seq, true);
    REQUIRE(all.size() == seq.size() * nv);

    context single(m, 64);
    for (size_t i = 0; i < seq.size(); ++i) {
        const std::vector<float>& l = single.eval({seq[i]});
        float max_diff = 0.0f;
        for (size_t j = 0; j < nv; ++j) max_diff = std::max(max_diff, std::fabs(l[j] - all[i * nv + j]));
        INFO("position " << i);
        CHECK(max_diff < 1e-5f);
    }

    // Rewind to 6 and evaluate a different continuation: must equal a fresh context's result.
    single.truncate(6);
    CHECK(single.n_past() == 6);
    const std::vector<float> after = single.eval({300, 301}, true);
    context fresh(m, 64);
    std::vector<int32_t> alt(seq.begin(), seq.begin() + 6);
    alt.push_back(300);
    alt.push_back(301);
    const std::vector<float> want = fresh.eval(alt, true);
    for (size_t j = 0; j < 2 * nv; ++j) REQUIRE(std::fabs(after[j] - want[6 * nv + j]) < 1e-5f);

    // Logits only where asked: the last two positions of a batch.
    context partial(m, 64);
    std::vector<int32_t> pos(seq.size());
    for (size_t i = 0; i < seq.size(); ++i) pos[i] = static_cast<int32_t>(i);
    std::vector<uint8_t> wantl(seq.size(), 0);
    wantl[seq.size() - 2] = wantl[seq.size() - 1] = 1;
    const std::vector<float> two = partial.eval_at(seq, pos, wantl);
    REQUIRE(two.size() == 2 * nv);
    for (size_t j = 0; j < 2 * nv; ++j) CHECK(std::fabs(two[j] - all[(seq.size() - 2) * nv + j]) < 1e-5f);
}

TEST_CASE("context rejects positions beyond its size and out-of-vocabulary tokens") {
    if (sources().empty()) {
        MESSAGE("models not available: skipped");
        return;
    }
    auto m = load(sources()[0]);
    context ctx(m, 4);
    CHECK_THROWS_AS(ctx.eval({1, 2, 3, 4, 5}), kiln::error);
    CHECK_THROWS_AS(ctx.eval({100000}), kiln::error);
    CHECK_THROWS_AS(ctx.eval({-1}), kiln::error);
}

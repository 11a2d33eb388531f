// kiln synth and kiln bench on tiny shapes: shapes and their checks, the random
// numbers, KILN and GGUF output holding the same model, the function-preserving
// expansion of stories260K, and the bench runner and bandwidth measurement.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "arch/cpu_dispatch.h"
#include "bench/bench_model.h"
#include "bench/membw.h"
#include "bench/stats.h"
#include "core/error.h"
#include "formats/gguf.h"
#include "formats/gguf_writer.h"
#include "formats/import.h"
#include "formats/kiln_writer.h"
#include "model/context.h"
#include "quant/pack.h"
#include "support/test_generate.h"
#include "support/test_numeric.h"
#include "support/test_paths.h"
#include "synth/synth_expand.h"
#include "synth/synth_model.h"
#include "synth/synth_shapes.h"
#include "synth/synth_tensor.h"
#include "synth/synth_vocab.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/vocab.h"

using namespace kiln;
using kiln::test::max_abs_diff;
namespace kt = kiln::test;

namespace {

std::shared_ptr<const model> load(const std::string& path) {
    model_open_options o;
    o.announce_conversion = false;
    return model_from_file(model_file_open(path, o));
}

// Logits of every position of `tokens`, evaluated in one batch.
std::vector<float> logits_of(std::shared_ptr<const model> m, const std::vector<int32_t>& tokens) {
    context ctx(m, static_cast<int>(tokens.size()) + 8);
    return ctx.eval(tokens, true);
}

std::vector<int32_t> greedy(std::shared_ptr<const model> m, const std::vector<int32_t>& prompt, int n) {
    context ctx(m, static_cast<int>(prompt.size()) + n + 1);
    return kiln::test::greedy(ctx, prompt, n);
}

synth_shape tiny_shape() {
    synth_shape s = synth_shape_custom(64, 2, 4, 2, 96, 300);
    return s;
}

}  // namespace

TEST_CASE("synth: shape table and checks") {
    const synth_shape s110 = synth_shape_find("STORIES110m");
    CHECK(s110.n_embd == 768);
    CHECK(s110.n_params() == doctest::Approx(134.1e6).epsilon(0.01));
    const synth_shape tl = synth_shape_find("TinyLlama-1.1B");
    CHECK(tl.n_params() == doctest::Approx(1.10e9).epsilon(0.01));
    CHECK(synth_shape_find("Llama-3.2-1B").tied_output);
    CHECK(synth_shape_find("Qwen2.5-0.5B").n_vocab == 151936);
    CHECK_THROWS_WITH_AS(synth_shape_find("gpt5"), doctest::Contains("unknown shape"), kiln::error);
    for (const auto& s : synth_shape_table()) CHECK_NOTHROW(synth_shape_check(s));
    CHECK_THROWS_WITH_AS(synth_shape_check(synth_shape_custom(100, 2, 3, 3, 64, 512)), doctest::Contains("does not divide"), kiln::error);
    CHECK_THROWS_WITH_AS(synth_shape_check(synth_shape_custom(96, 2, 6, 4, 64, 512)), doctest::Contains("not a multiple of --kv-heads"), kiln::error);
    CHECK_THROWS_WITH_AS(synth_shape_check(synth_shape_custom(96, 2, 32, 4, 64, 512)), doctest::Contains("odd"), kiln::error);
    CHECK_THROWS_WITH_AS(synth_shape_check(synth_shape_custom(64, 0, 4, 4, 64, 512)), doctest::Contains("--layers 0"), kiln::error);
    CHECK_THROWS_WITH_AS(synth_shape_check(synth_shape_custom(64, 2, 4, 4, 64, 100)), doctest::Contains("--vocab 100"), kiln::error);
    CHECK_THROWS_WITH_AS(synth_shape_check(synth_shape_custom(64, 2, 4, 4, 96, 512), 256), doctest::Contains("block size 256"), kiln::error);
}

TEST_CASE("synth: random numbers are deterministic, centred and of unit variance") {
    const uint64_t st = synth_stream(7, "blk.0.attn_q.weight");
    CHECK(st != synth_stream(8, "blk.0.attn_q.weight"));
    CHECK(st != synth_stream(7, "blk.0.attn_k.weight"));
    double s = 0, ss = 0;
    const int n = 200000;
    for (int i = 0; i < n; ++i) {
        const double x = synth_normal(st, static_cast<uint64_t>(i));
        s += x;
        ss += x * x;
    }
    CHECK(std::fabs(s / n) < 0.01);
    CHECK(ss / n == doctest::Approx(1.0).epsilon(0.02));
    CHECK(synth_normal(st, 12345) == synth_normal(st, 12345));
}

TEST_CASE("synth: synthetic vocabulary has the exact size and encodes text") {
    metadata m;
    synth_vocab_synthetic(1000, m);
    const tokenizer tok(vocab_from_metadata(m));
    CHECK(tok.n_vocab() == 1000);
    const std::string text = "once upon a time, 42 cats!";
    const auto ids = tok.encode(text, false);
    CHECK(!ids.empty());
    CHECK(tok.decode(ids) == text);
    CHECK_THROWS_AS(synth_vocab_synthetic(100, m), kiln::error);
}

TEST_CASE("synth: the GGUF file and the KILN file hold the same model") {
    const std::string dir = kt::temp_dir();
    for (dtype t : {dtype::f32, dtype::f16, dtype::bf16}) {
        CAPTURE(dtype_name(t));
        synth_options o;
        o.shape = tiny_shape();
        o.type = t;
        o.seed = 3;
        o.vocab = "synthetic";
        const std::string k = dir + "/tiny_" + dtype_name(t) + ".kiln", g = dir + "/tiny_" + dtype_name(t) + ".gguf";
        kiln_write_file(synth_random_model(o), k);
        gguf_write_file(synth_random_model(o), g);
        const std::vector<int32_t> toks = {1, 17, 250, 3, 99, 299, 42, 7};
        const auto lk = logits_of(load(k), toks);
        const auto lg = logits_of(load(g), toks);
        CHECK(max_abs_diff(lk, lg) == 0.0f);
        float mx = 0;
        for (float x : lk) {
            REQUIRE(std::isfinite(x));
            mx = std::max(mx, std::fabs(x));
        }
        CHECK(mx > 0.01f);  // not degenerate
        CHECK(mx < 20.0f);  // realistic scale
        // The GGUF import reads back what was written.
        const source_model back = model_import(g);
        CHECK(back.meta.get_int("model.n_embd") == 64);
        CHECK(back.meta.get_int("model.n_head_kv") == 2);
        CHECK(back.meta.get_str_array("tokenizer.tokens").size() == 300);
    }
    // Llama 3 RoPE scaling travels as rope_freqs.weight in GGUF and comes back as rope.freq_factors.
    {
        synth_options o;
        o.shape = tiny_shape();
        o.shape.llama3_rope = true;
        o.shape.rope_theta = 500000.0;
        o.vocab = "synthetic";
        kiln_write_file(synth_random_model(o), dir + "/tiny_l3.kiln");
        gguf_write_file(synth_random_model(o), dir + "/tiny_l3.gguf");
        const source_model back = model_import(dir + "/tiny_l3.gguf");
        CHECK(back.meta.get_f32_array("rope.freq_factors").size() == 8);
        CHECK(!back.find("rope_freqs.weight"));
        std::vector<int32_t> toks(40);
        for (size_t i = 0; i < toks.size(); ++i) toks[i] = static_cast<int32_t>(3 + 7 * i);
        CHECK(max_abs_diff(logits_of(load(dir + "/tiny_l3.kiln"), toks), logits_of(load(dir + "/tiny_l3.gguf"), toks)) == 0.0f);
    }
    // Another seed gives other weights.
    synth_options o;
    o.shape = tiny_shape();
    o.seed = 4;
    o.vocab = "synthetic";
    kiln_write_file(synth_random_model(o), dir + "/tiny_seed4.kiln");
    CHECK(max_abs_diff(logits_of(load(dir + "/tiny_f32.kiln"), {1, 2, 3}), logits_of(load(dir + "/tiny_seed4.kiln"), {1, 2, 3})) > 0.0f);
}

TEST_CASE("synth: the real vocabulary is used when its size matches") {
    const std::string models = kt::models_dir();
    if (models.empty()) return;
    metadata m;
    const std::string desc = synth_vocab_fill(32000, models + "/vocab/ggml-vocab-llama-spm.gguf", "", m);
    CHECK(desc.find("32000") != std::string::npos);
    CHECK(m.get_str_array("tokenizer.tokens")[1] == "<s>");
    metadata m2;
    CHECK(synth_vocab_fill(500, "", "ggml-vocab-llama-spm.gguf", m2).find("synthetic") != std::string::npos);
    metadata m3;
    CHECK_THROWS_WITH_AS(synth_vocab_fill(500, models + "/vocab/ggml-vocab-llama-spm.gguf", "", m3),
                         doctest::Contains("has 32000 tokens"), kiln::error);
}

TEST_CASE("synth: quantized types go through the quantization recipe") {
    for (dtype t : {dtype::q8_0, dtype::q4_0}) {
        CAPTURE(dtype_name(t));
        synth_options o;
        o.shape = tiny_shape();
        o.type = t;
        o.vocab = "synthetic";
        const std::string k = kt::temp_dir() + "/tiny_" + dtype_name(t) + "_q.kiln";
        kiln_write_file(synth_random_model(o), k);
        o.plain_layout = true;
        const std::string g = kt::temp_dir() + "/tiny_" + dtype_name(t) + "_q.gguf";
        gguf_write_file(synth_random_model(o), g);
        o.type = dtype::f32;
        const std::string f = kt::temp_dir() + "/tiny_qref.kiln";
        kiln_write_file(synth_random_model(o), f);
        const auto qk = load(k);
        CHECK(qk->layers[0].wq->type == t);
        const std::vector<int32_t> toks = {1, 5, 9, 200};
        const auto lq = logits_of(qk, toks);
        CHECK(max_abs_diff(lq, logits_of(load(f), toks)) < 0.1f);
        CHECK(max_abs_diff(lq, logits_of(load(g), toks)) < 0.05f);  // other kernels for rows8 and plain

        // The GGUF file holds exactly the KILN file's blocks, unpacked from rows8 where packed.
        const auto gf = gguf_open(g);
        const tensor& kt_q = qk->file->get("blk.1.ffn_down.weight");
        const gguf_tensor* gt_q = gf->find_tensor("blk.1.ffn_down.weight");
        REQUIRE(gt_q);
        const size_t row_bytes = dtype_row_bytes(t, kt_q.ne[0]);
        std::vector<uint8_t> row(row_bytes);
        for (int64_t r = 0; r < kt_q.ne[1]; ++r) {
            if (kt_q.layout == tensor_layout::rows8) {
                quant_unpack_row_rows8(t, kt_q.data, kt_q.ne[1], kt_q.ne[0], r, row.data());
            } else {
                std::memcpy(row.data(), kt_q.row(r), row_bytes);
            }
            REQUIRE(std::memcmp(row.data(), gt_q->data + r * row_bytes, row_bytes) == 0);
        }
    }
}

TEST_CASE("synth --expand: stories260K expanded computes the same function") {
    const std::string models = kt::models_dir();
    if (models.empty()) return;
    const source_model small = model_import(models + "/stories260K/stories260K.bin", models + "/stories260K/tok512.bin");
    const std::string dir = kt::temp_dir();
    const std::string small_path = dir + "/s260.kiln";
    kiln_write_file(small, small_path);
    const auto sm = load(small_path);
    const std::vector<int32_t> prompt = {1, 403, 407, 261, 378, 338, 343, 264};  // "Once upon a time ..." ids
    const auto ref_logits = logits_of(sm, prompt);
    const auto ref_cont = greedy(sm, prompt, 24);

    struct target { std::string label; synth_shape shape; };
    // MHA target (each small KV head duplicated for two query-head slots), wider heads, extra layers;
    // and a GQA target whose KV groups are larger than the small model's.
    const target targets[] = {{"mha", synth_shape_custom(192, 7, 12, 12, 256, 512)},
                              {"gqa", synth_shape_custom(256, 5, 16, 4, 200, 512)}};
    for (const auto& t : targets) {
        CAPTURE(t.label);
        synth_expand_options eo;
        eo.shape = t.shape;
        const std::string out = dir + "/exp_" + t.label + ".kiln";
        kiln_write_file(synth_expand(small, "stories260K", eo), out);
        const auto big = load(out);
        CHECK(big->hp.n_embd == t.shape.n_embd);
        CHECK(big->hp.n_vocab == 512);
        CHECK(max_abs_diff(logits_of(big, prompt), ref_logits) < 1e-3f);
        CHECK(greedy(big, prompt, 24) == ref_cont);

        // A little noise: the logits move, the preferred token mostly does not.
        eo.noise = 0.02;
        const std::string noisy = dir + "/exp_noisy_" + t.label + ".kiln";
        kiln_write_file(synth_expand(small, "stories260K", eo), noisy);
        const auto noisy_logits = logits_of(load(noisy), prompt);
        const float d = max_abs_diff(noisy_logits, ref_logits);
        int agree = 0;
        for (size_t i = 0; i < prompt.size(); ++i) {
            auto row = [&](const std::vector<float>& l) {
                const auto b = l.begin() + static_cast<std::ptrdiff_t>(i * 512);
                return std::max_element(b, b + 512) - b;
            };
            agree += row(noisy_logits) == row(ref_logits);
        }
        MESSAGE(t.label, ", noise 0.02: max logit difference ", d, ", top-1 agreement ", agree, "/", prompt.size());
        CHECK(d > 1e-3f);
        CHECK(agree >= 6);
    }

    synth_expand_options bad;
    bad.shape = synth_shape_custom(32, 5, 4, 4, 172, 512);
    CHECK_THROWS_WITH_AS(synth_expand(small, "stories260K", bad), doctest::Contains("smaller than the small model"), kiln::error);
    bad.shape = synth_shape_custom(128, 5, 8, 2, 256, 512);  // 2 KV heads cannot hold 4 KV groups
    CHECK_THROWS_WITH_AS(synth_expand(small, "stories260K", bad), doctest::Contains("KV heads"), kiln::error);
}

TEST_CASE("bench: stream_sum of every kernel level equals the word sum, on odd sizes and offsets") {
    std::vector<unsigned char> bytes(70000);
    uint64_t x = 0x9e3779b97f4a7c15u;
    for (auto& b : bytes) {  // xorshift: every bit pattern, so a lost or doubled word shows
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        b = static_cast<unsigned char>(x >> 56);
    }
    const auto scalar = cpu_kernels_for(cpu_isa::scalar).stream_sum;
    for (size_t off : {0, 1, 3, 8, 61}) {
        for (size_t n : {0, 7, 8, 13, 255, 511, 513, 1031, 4103, 8 * 1001 + 5, 65537}) {
            uint64_t want = 0;
            for (size_t i = 0; i + 8 <= n; i += 8) {
                uint64_t w;
                std::memcpy(&w, bytes.data() + off + i, 8);
                want += w;
            }
            INFO("offset " << off << ", " << n << " bytes");
            CHECK(scalar(bytes.data() + off, n) == want);
            for (cpu_isa isa : cpu_isa_supported()) {
                INFO("kernels: " << cpu_isa_name(isa));
                CHECK(cpu_kernels_for(isa).stream_sum(bytes.data() + off, n) == want);
            }
        }
    }
}

TEST_CASE("bench: statistics, bandwidth pass and the runner on a tiny model") {
    const sample_stats s = stats_of({3.0, 1.0, 2.0, 4.0});
    CHECK(s.mean == doctest::Approx(2.5));
    CHECK(s.median == doctest::Approx(2.5));
    CHECK(s.sd == doctest::Approx(std::sqrt(5.0 / 3.0)));
    CHECK(stats_of({5.0}).sd == 0.0);

    std::vector<uint64_t> buf(1 << 16, 1);
    CHECK(membw_read_pass(buf.data(), buf.size() * 8, 1) > 0.0);
    CHECK(membw_read_pass(buf.data(), buf.size() * 8, 2) > 0.0);
    kiln::test::for_each_isa([&] { CHECK(membw_read_pass(buf.data(), buf.size() * 8, 2) > 0.0); });

    synth_options o;
    o.shape = tiny_shape();
    o.vocab = "synthetic";
    const std::string k = kt::temp_dir() + "/bench_tiny.kiln";
    kiln_write_file(synth_random_model(o), k);
    const auto m = load(k);
    const bench_weights w = bench_weights_of(*m);
    CHECK(w.types == "f32");
    // Untied: the embedding table is not read per step; the output matrix is.
    CHECK(w.bytes_per_step == doctest::Approx(w.file_bytes - 64.0 * 300 * 4));
    bench_params p;
    p.n_prompt = 8;
    p.n_gen = 4;
    p.reps = 2;
    p.depth = 3;
    p.batches = {1, 3};
    const auto r = bench_model_run(m, p);
    REQUIRE(r.size() == 4);
    CHECK(r[0].test == "pp8");
    CHECK(r[1].test == "tg4");
    CHECK(r[3].test == "b3");
    for (const auto& t : r) {
        CHECK(t.t_s.n == 2);
        CHECK(t.t_s.mean > 0);
        CHECK(t.ms_per_call.mean > 0);
    }
}

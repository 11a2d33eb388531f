// kiln synth: random-weight models of real shapes (for benchmarks), and function-preserving
// expansions of a small real model into a larger shape (for speculative decoding measurements).
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include "commands.h"
#include "core/error.h"
#include "formats/gguf_writer.h"
#include "formats/import.h"
#include "formats/kiln_writer.h"
#include "model/arch.h"
#include "synth/synth_expand.h"
#include "synth/synth_model.h"
#include "synth/synth_shapes.h"

namespace kiln::cli {

namespace {

struct synth_cli_options {
    std::string arch;
    std::string shape;
    int dim = 0, layers = 0, heads = 0, kv_heads = 0, ffn = 0, vocab = 0;
    std::string output;
    std::string type_name = "f32";
    uint64_t seed = 1;
    bool gguf = false;
    std::string vocab_spec;
    std::string expand;
    std::string tokenizer;
    double noise = 0.0;
};

// --shape NAME with any explicit dimension overriding it, or explicit dimensions alone.
synth_shape resolve_shape(const synth_cli_options& o, CLI::App* cmd) {
    synth_shape s;
    const bool any_dim = cmd->count("--dim") || cmd->count("--layers") || cmd->count("--heads") ||
                         cmd->count("--kv-heads") || cmd->count("--ffn") || cmd->count("--vocab");
    if (!o.shape.empty()) {
        s = synth_shape_find(o.shape);
    } else {
        if (!any_dim) fail("synth needs --shape NAME or dimensions (--dim --layers --heads --ffn [--kv-heads --vocab])");
        for (const char* req : {"--dim", "--layers", "--heads", "--ffn"}) {
            if (!cmd->count(req)) fail("synth: {} is required when no --shape is given", req);
        }
        s = synth_shape_custom(o.dim, o.layers, o.heads, cmd->count("--kv-heads") ? o.kv_heads : o.heads, o.ffn,
                               cmd->count("--vocab") ? o.vocab : 32000);
        s.vocab_file = "ggml-vocab-llama-spm.gguf";  // used when the vocabulary is 32000 tokens
        return s;
    }
    if (any_dim) {
        s.name += "+custom";
        if (cmd->count("--dim")) s.n_embd = o.dim;
        if (cmd->count("--layers")) s.n_layer = o.layers;
        if (cmd->count("--heads")) s.n_head = o.heads;
        if (cmd->count("--kv-heads")) s.n_head_kv = o.kv_heads;
        if (cmd->count("--ffn")) s.n_ff = o.ffn;
        if (cmd->count("--vocab")) s.n_vocab = o.vocab;
        s.head_dim = s.n_head > 0 ? s.n_embd / s.n_head : 0;
    }
    return s;
}

void check_output(const synth_cli_options& o) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path dest(o.output);
    const fs::path dir = dest.has_parent_path() ? dest.parent_path() : fs::path(".");
    if (!fs::is_directory(dir, ec)) fail("{}: output directory {} does not exist", o.output, dir.string());
    if (!o.expand.empty() && fs::exists(o.output, ec) && fs::exists(o.expand, ec) && fs::equivalent(o.expand, o.output, ec)) {
        fail("{}: output would overwrite the input", o.output);
    }
}

void write_model(const source_model& m, const synth_cli_options& o) {
    if (o.gguf) {
        gguf_write_file(m, o.output);
    } else {
        kiln_write_options wo;
        wo.progress = true;
        kiln_write_file(m, o.output, wo);
    }
}

void synth(const synth_cli_options& o, CLI::App* cmd) {
    dtype type = dtype::f32;
    if (!dtype_from_name(o.type_name, type)) fail("--type {}: unknown type (f32, f16, bf16, q8_0, q4_0, q5_0, q5_1, q4_k, q6_k)", o.type_name);
    if (!(o.noise >= 0.0 && o.noise <= 10.0)) fail("--noise {} is out of range [0, 10]", o.noise);
    if (!o.arch.empty() && o.arch != "llama" && o.arch != "qwen2") fail("--arch {}: not supported (llama, qwen2)", o.arch);
    check_output(o);
    synth_shape shape = resolve_shape(o, cmd);
    const auto t0 = std::chrono::steady_clock::now();
    source_model m;
    if (!o.expand.empty()) {
        if (cmd->count("--vocab-from")) fail("--vocab-from cannot be used with --expand (the small model's vocabulary is kept)");
        if (!o.arch.empty() && o.arch != "llama") fail("--arch {}: --expand writes the small model's architecture (llama)", o.arch);
        const source_model small = model_import(o.expand, o.tokenizer);
        synth_expand_options eo;
        eo.shape = shape;
        eo.type = type;
        eo.noise = o.noise;
        eo.seed = o.seed;
        eo.plain_layout = o.gguf;
        eo.note = [](const std::string& line) { std::fprintf(stderr, "kiln: note: %s\n", line.c_str()); };
        const std::string name = std::filesystem::path(o.expand).stem().string();
        m = synth_expand(small, name, eo);
        std::fprintf(stderr, "kiln: expanding %s to %s (vocabulary %lld of the small model kept), noise %g\n",
                     name.c_str(), shape.name.c_str(), static_cast<long long>(m.meta.get_int("model.n_vocab")), o.noise);
    } else {
        if (cmd->count("--noise")) fail("--noise applies to --expand only");
        if (!o.arch.empty()) shape.arch = o.arch;
        if (shape.arch == "qwen2" && !arch_find("qwen2")) {
            shape.arch = "llama";
            shape.note = shape.name + ": written as a llama shape (no Q/K/V biases): this kiln has no qwen2 graph";
        }
        synth_options so;
        so.shape = shape;
        so.type = type;
        so.seed = o.seed;
        so.vocab = o.vocab_spec;
        so.plain_layout = o.gguf;
        so.note = [](const std::string& line) { std::fprintf(stderr, "kiln: note: %s\n", line.c_str()); };
        std::string vocab_desc;
        m = synth_random_model(so, &vocab_desc);
        if (!shape.note.empty()) std::fprintf(stderr, "kiln: note: %s\n", shape.note.c_str());
        std::fprintf(stderr, "kiln: %s %s: dim %d, %d layers, %d heads (%d KV), ffn %d, vocab %d, %.1fM parameters; tokenizer %s\n",
                     shape.arch.c_str(), shape.name.c_str(), shape.n_embd, shape.n_layer, shape.n_head, shape.n_head_kv,
                     shape.n_ff, shape.n_vocab, shape.n_params() / 1e6, vocab_desc.c_str());
    }
    m.meta.set_str("provenance.converter", std::string("kiln ") + KILN_VERSION);
    write_model(m, o);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::fprintf(stderr, "kiln: wrote %s (%s, %zu tensors, %s) in %.2f s\n", o.output.c_str(), o.gguf ? "GGUF" : "KILN",
                 m.tensors.size(), dtype_name(type), s);
}

}  // namespace

void add_synth_command(CLI::App& app) {
    auto o = std::make_shared<synth_cli_options>();
    CLI::App* cmd = app.add_subcommand("synth", "write a random-weight model of a real shape, or expand a small model");
    cmd->add_option("--arch", o->arch, "architecture: llama, qwen2 (default: the shape's)");
    cmd->add_option("--shape", o->shape, "named shape: " + synth_shape_names());
    cmd->add_option("--dim", o->dim, "residual width");
    cmd->add_option("--layers", o->layers, "transformer blocks");
    cmd->add_option("--heads", o->heads, "query heads");
    cmd->add_option("--kv-heads", o->kv_heads, "key/value heads (default: --heads)");
    cmd->add_option("--ffn", o->ffn, "feed-forward width");
    cmd->add_option("--vocab", o->vocab, "vocabulary size (default 32000)");
    cmd->add_option("-o,--output", o->output, "output file")->required();
    cmd->add_option("--type", o->type_name, "weight type: f32, f16, bf16, q8_0, q4_0, q5_0, q5_1, q4_k, q6_k")->capture_default_str();
    cmd->add_option("--seed", o->seed, "random seed")->capture_default_str();
    cmd->add_flag("--gguf", o->gguf, "write GGUF v3 (for llama.cpp) instead of KILN");
    cmd->add_option("--vocab-from", o->vocab_spec, "tokenizer: a GGUF file with one, or 'synthetic' (default: the shape's real one when found)");
    cmd->add_option("--expand", o->expand, "small llama model (KILN, GGUF, llama2.c) to expand function-preservingly into the shape");
    cmd->add_option("--tokenizer", o->tokenizer, "tokenizer.bin for a llama2.c checkpoint given to --expand");
    cmd->add_option("--noise", o->noise, "--expand: relative noise added to every matrix (0: exact)")->capture_default_str();
    cmd->callback([o, cmd] { synth(*o, cmd); });
}

}  // namespace kiln::cli

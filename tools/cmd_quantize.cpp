// kiln quantize: a KILN (or any importable) model into q8 / q4 / q4k under the recipe of
// quant/recipe.h, optionally weighting the rounding by activation statistics (--calibrate).
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "commands.h"
#include "common.h"
#include "core/error.h"
#include "core/progress.h"
#include "formats/import.h"
#include "formats/kiln_writer.h"
#include "model/model.h"
#include "quant/imatrix.h"
#include "quant/recipe.h"
#include "read_text.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/vocab.h"

namespace kiln::cli {

namespace {

struct quantize_options {
    std::string input;
    std::string output;
    std::string tokenizer;
    std::string type;
    std::string keep_output;
    std::string calibrate;
    int calibrate_ctx = 256;
    int calibrate_chunks = 0;
    bool allow_requantize = false;
    int threads = threads_default;
};

imatrix calibrate(const quantize_options& o) {
    const std::string text = read_text_file(o.calibrate, "calibration text");
    model_open_options mo;
    mo.tokenizer_path = o.tokenizer;
    auto m = model_from_file(model_file_open(o.input, mo));
    const tokenizer tok(vocab_from_metadata(m->file->meta()));
    const std::vector<int32_t> tokens = tok.encode(text, true, false);
    imatrix_options io;
    io.n_ctx = std::min(o.calibrate_ctx, m->hp.n_ctx_train);
    io.max_chunks = o.calibrate_chunks;
    const size_t n_chunks = std::max<size_t>(1, tokens.size() / static_cast<size_t>(io.n_ctx));
    progress_bar bar("calibrating", o.calibrate_chunks > 0 ? std::min<size_t>(n_chunks, o.calibrate_chunks) : n_chunks);
    io.on_progress = [&bar](int done, int) { bar.update(static_cast<uint64_t>(done)); };
    imatrix im = imatrix_collect(m, tokens, tok.bos_id(), io);
    bar.finish();
    std::fprintf(stderr, "kiln: calibrated on %zu tokens of %s (%zu matrices observed)\n", tokens.size(),
                 o.calibrate.c_str(), im.n_tensors());
    return im;
}

void quantize_cmd(const quantize_options& o) {
    apply_threads(o.threads);
    quant_recipe_options ro;
    if (!quant_scheme_from_name(o.type, ro.scheme)) fail("--type {} is not supported (choose q8, q4, q4k, q6k, q5_0 or q5_1)", o.type);
    if (!o.keep_output.empty()) {
        if (o.keep_output != "f16") fail("--keep-output {} is not supported (only f16)", o.keep_output);
        ro.output_f16 = true;
    }
    if (o.calibrate_ctx < 2 || o.calibrate_ctx > (1 << 20)) {
        fail("--calibrate-ctx {} is out of range [2, 1048576]", o.calibrate_ctx);
    }
    if (o.calibrate_chunks < 0) fail("--calibrate-chunks {} is out of range (0 = all)", o.calibrate_chunks);
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::exists(o.input, ec)) fail("{}: no such file", o.input);
    if (fs::exists(o.output, ec) && fs::equivalent(o.input, o.output, ec)) {
        fail("{}: output would overwrite the input", o.output);
    }
    const auto t0 = std::chrono::steady_clock::now();
    imatrix im;
    if (!o.calibrate.empty()) {
        im = calibrate(o);
        ro.importance = &im;
    }
    source_model m = model_import(o.input, o.tokenizer);
    ro.allow_requantize = o.allow_requantize;
    std::vector<std::string> notes;  // printed once the file is written (a failure prints only its error)
    ro.note = [&notes](const std::string& line) { notes.push_back(line); };
    recipe_apply(m, ro);
    recipe_pack(m);
    m.meta.set_str("provenance.quantization", quant_scheme_name(ro.scheme));
    m.meta.set_bool("provenance.calibrated", !o.calibrate.empty());
    m.meta.set_str("provenance.converter", std::string("kiln ") + KILN_VERSION);
    kiln_write_options wo;
    wo.progress = true;
    kiln_write_file(m, o.output, wo);
    for (const auto& n : notes) std::fprintf(stderr, "kiln: %s\n", n.c_str());
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::fprintf(stderr, "kiln: wrote %s (%s, %zu tensors) in %.2f s\n", o.output.c_str(), quant_scheme_name(ro.scheme),
                 m.tensors.size(), s);
}

}  // namespace

void add_quantize_command(CLI::App& app) {
    auto o = std::make_shared<quantize_options>();
    CLI::App* cmd = app.add_subcommand("quantize", "quantize a model to q8, q4, q4k, q6k, q5_0 or q5_1");
    cmd->add_option("input", o->input, "input model (KILN, or any format kiln convert reads)")->required();
    cmd->add_option("-o,--output", o->output, "output KILN file")->required();
    cmd->add_option("--type", o->type, "q8 (8.5 bits/weight), q4 (4.5), q4k (4.5, k-quant super-blocks), q6k (6.5625), q5_0 (5.5) or q5_1 (6.0)")
        ->required();
    cmd->add_option("--keep-output", o->keep_output, "keep the output projection in this type (f16)");
    cmd->add_option("--calibrate", o->calibrate,
                    "text to run the model over: activation statistics weight the rounding (never the eval text)");
    cmd->add_option("--calibrate-ctx", o->calibrate_ctx, "tokens per calibration chunk")->capture_default_str();
    cmd->add_option("--calibrate-chunks", o->calibrate_chunks, "at most this many calibration chunks (0 = all)");
    cmd->add_flag("--allow-requantize", o->allow_requantize,
                  "quantize already-quantized tensors into another type (loses quality twice)");
    cmd->add_option("--tokenizer", o->tokenizer, "tokenizer.bin for a llama2.c checkpoint");
    add_threads_option(*cmd, o->threads);
    cmd->callback([o] { quantize_cmd(*o); });
}

}  // namespace kiln::cli

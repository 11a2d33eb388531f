// kiln convert: any supported model (GGUF, llama2.c, Hugging Face, KILN) to a KILN file.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "commands.h"
#include "core/error.h"
#include "formats/import.h"
#include "formats/kiln_writer.h"
#include "quant/recipe.h"

namespace kiln::cli {

namespace {

struct convert_options {
    std::string input;
    std::string output;
    std::string tokenizer;
    std::string dtype_name;
    std::string quant_type;
};

void convert(const convert_options& o) {
    dtype target = dtype::f32;
    if (!o.dtype_name.empty()) {
        if (!dtype_from_name(o.dtype_name, target) || dtype_info(target).quantized) {
            fail("--dtype {} is not supported (choose f32, f16 or bf16)", o.dtype_name);
        }
    }
    quant_recipe_options ro;
    if (!o.quant_type.empty()) {
        if (!quant_scheme_from_name(o.quant_type, ro.scheme)) {
            fail("--type {} is not supported (choose q8, q4, q4k, q6k, q5_0 or q5_1)", o.quant_type);
        }
        if (!o.dtype_name.empty()) fail("--dtype and --type cannot be combined (--type chooses every tensor's type)");
    }
    namespace fs = std::filesystem;
    std::error_code ec;
    if (fs::exists(o.output, ec) && fs::exists(o.input, ec) && fs::equivalent(o.input, o.output, ec)) {
        fail("{}: output would overwrite the input", o.output);
    }
    const auto t0 = std::chrono::steady_clock::now();
    source_model m = model_import(o.input, o.tokenizer);
    if (!o.dtype_name.empty()) {
        source_cast(m, target);
        m.meta.set_str("provenance.dtype", o.dtype_name);
    }
    std::vector<std::string> notes;  // printed once the file is written (a failure prints only its error)
    if (!o.quant_type.empty()) {
        ro.note = [&notes](const std::string& line) { notes.push_back(line); };
        recipe_apply(m, ro);
        m.meta.set_str("provenance.quantization", quant_scheme_name(ro.scheme));
    }
    // Quantized matrices (imported GGUF Q8_0/Q4_0 ones too) go into the kernels' rows8 layout: a
    // lossless repack, so loading stays zero-copy.
    recipe_pack(m);
    m.meta.set_str("provenance.converter", std::string("kiln ") + KILN_VERSION);
    kiln_write_options wo;
    wo.progress = true;
    kiln_write_file(m, o.output, wo);
    for (const auto& n : notes) std::fprintf(stderr, "kiln: %s\n", n.c_str());
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::fprintf(stderr, "kiln: wrote %s (%zu tensors) in %.2f s\n", o.output.c_str(), m.tensors.size(), s);
}

}  // namespace

void add_convert_command(CLI::App& app) {
    auto o = std::make_shared<convert_options>();
    CLI::App* cmd = app.add_subcommand("convert", "convert a GGUF, llama2.c or Hugging Face model to KILN");
    cmd->add_option("input", o->input, "input model: GGUF file, llama2.c .bin, Hugging Face directory or KILN file")
        ->required();
    cmd->add_option("-o,--output", o->output, "output KILN file")->required();
    cmd->add_option("--tokenizer", o->tokenizer, "tokenizer.bin for a llama2.c checkpoint");
    cmd->add_option("--dtype", o->dtype_name, "weight type: f32, f16 or bf16 (default: keep the source's)");
    cmd->add_option("--type", o->quant_type, "quantize: q8, q4, q4k, q6k, q5_0 or q5_1 (the kiln quantize recipe, no calibration)");
    cmd->callback([o] { convert(*o); });
}

}  // namespace kiln::cli

#include "formats/import.h"
#include "quant/recipe.h"

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "formats/gguf.h"
#include "formats/gguf_import.h"
#include "formats/hf_import.h"
#include "formats/kiln_writer.h"
#include "formats/llama2c_import.h"

namespace kiln {

namespace fs = std::filesystem;

const char* model_format_name(model_format f) {
    switch (f) {
        case model_format::kiln: return "KILN";
        case model_format::gguf: return "GGUF";
        case model_format::llama2c: return "llama2.c";
        case model_format::hf_dir: return "Hugging Face directory";
    }
    return "?";
}

namespace {

// A llama2.c v0 checkpoint has no magic: recognise it by its 7-int header
// being plausible (checked fully by the importer).
bool looks_like_llama2c(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    int32_t h[7];
    if (!in.read(reinterpret_cast<char*>(h), sizeof(h))) return false;
    for (int i = 0; i < 7; ++i) {
        const int32_t v = i == 5 ? (h[i] < 0 ? -h[i] : h[i]) : h[i];
        if (v <= 0 || v > (1 << 24)) return false;
    }
    return true;
}

// KILN files opened as a source: tensors point into the mapping.
source_model kiln_as_source(const std::string& path) {
    auto f = kiln_file::open(path);
    source_model m;
    m.meta = f->meta();
    for (const auto& e : f->entries()) {
        source_tensor t;
        t.name = e.t.name;
        t.type = e.t.type;
        t.layout = e.t.layout;
        t.n_dims = e.t.n_dims;
        for (int i = 0; i < 4; ++i) t.ne[i] = e.t.ne[i];
        t.data = e.t.data;
        m.tensors.push_back(std::move(t));
    }
    m.keep_alive.push_back(f);
    return m;
}

std::string find_llama2c_tokenizer(const std::string& model_path, const std::string& given) {
    if (!given.empty()) return given;
    const fs::path beside = fs::path(model_path).parent_path() / "tokenizer.bin";
    if (fs::exists(beside)) return beside.string();
    fail("{}: a llama2.c checkpoint needs its tokenizer: pass --tokenizer TOKENIZER.bin", model_path);
}

}  // namespace

model_format model_format_detect(const std::string& path) {
    std::error_code ec;
    if (!fs::exists(path, ec)) fail("{}: no such file or directory", path);
    if (fs::is_directory(path, ec)) {
        if (fs::exists(fs::path(path) / "config.json")) return model_format::hf_dir;
        fail("{}: directory has no config.json (expected a Hugging Face model directory)", path);
    }
    if (kiln_is_kiln_file(path)) return model_format::kiln;
    if (gguf_is_gguf(path)) return model_format::gguf;
    if (fs::path(path).extension() == ".bin" || looks_like_llama2c(path)) return model_format::llama2c;
    fail("{}: unrecognised model format (expected a KILN or GGUF file, a llama2.c .bin checkpoint or a Hugging "
         "Face directory)", path);
}

source_model model_import(const std::string& path, const std::string& tokenizer_path) {
    switch (model_format_detect(path)) {
        case model_format::kiln: return kiln_as_source(path);
        case model_format::gguf: return gguf_import(path);
        case model_format::llama2c: return llama2c_import(path, find_llama2c_tokenizer(path, tokenizer_path));
        case model_format::hf_dir: return hf_import(path);
    }
    fail("{}: unrecognised model format", path);
}

std::shared_ptr<kiln_file> model_file_open(const std::string& path, const model_open_options& opt) {
    const model_format f = model_format_detect(path);
    if (f == model_format::kiln) return kiln_file::open(path, opt.use_mmap);
    source_model m = model_import(path, opt.tokenizer_path);
    // GGUF Q8_0/Q4_0/Q4_1/Q5_0/Q5_1/Q4_K/Q6_K matrices are repacked (losslessly) to rows8 so they run on the integer kernels.
    recipe_pack(m);
    const int fd = kiln_write_memfd(m, path);
    auto file = kiln_file::from_mapped(mapped_file::from_fd(fd, path, opt.use_mmap));
    if (opt.announce_conversion) {
        std::fprintf(stderr, "kiln: %s is a %s model, converted in memory (kiln convert makes loading instant)\n",
                     path.c_str(), model_format_name(f));
    }
    return file;
}

}  // namespace kiln

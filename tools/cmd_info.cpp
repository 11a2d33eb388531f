// kiln info: metadata and tensor table of a model (--verify: checksums),
// or the machine and the kernels kiln picked for it (--system).
#include <cstdio>
#include <string>

#include <fmt/format.h>

#include "arch/cpu_dispatch.h"
#include "commands.h"
#include "common.h"
#include "core/error.h"
#include "core/progress.h"
#include "formats/import.h"
#include "ops/ops.h"

namespace kiln::cli {

namespace {

struct info_options {
    std::string model;
    std::string tokenizer;
    bool verify = false;
    bool system = false;
    bool all_metadata = false;
};

void print_system() {
    fmt::print("kiln {}\n", KILN_VERSION);
    fmt::print("cpu features: {}\n", cpu_features_str());
    fmt::print("kernels: {}\n", cpu_kernels_get().name);
    fmt::print("threads: {} (physical cores: {})\n", threads_get(), threads_physical_cores());
}

void print_model(const info_options& o) {
    model_open_options mo;
    mo.tokenizer_path = o.tokenizer;
    auto f = model_file_open(o.model, mo);
    fmt::print("file: {} ({} bytes, {})\n", f->name(), f->file_size(), f->is_mapped() ? "mapped" : "read into memory");
    fmt::print("metadata ({} keys):\n", f->meta().size());
    for (const auto& [key, value] : f->meta().items()) {
        fmt::print("  {:<28} {}\n", key, meta_value_str(value, o.all_metadata ? 1u << 30 : 8));
    }
    fmt::print("tensors ({}):\n", f->entries().size());
    fmt::print("  {:<32} {:<6} {:<6} {:<20} {:>12} {:>12}  {}\n", "name", "type", "layout", "shape", "offset", "bytes",
               "checksum");
    uint64_t total = 0;
    for (const auto& e : f->entries()) {
        fmt::print("  {:<32} {:<6} {:<6} {:<20} {:>12} {:>12}  {:016x}\n", e.t.name, dtype_name(e.t.type),
                   tensor_layout_name(static_cast<uint32_t>(e.t.layout)), tensor_shape_str(e.t), e.offset,
                   e.t.n_bytes(), e.checksum);
        total += e.t.n_bytes();
    }
    fmt::print("total tensor bytes: {} ({:.2f} MiB)\n", total, total / 1048576.0);
    if (o.verify) {
        progress_bar bar("verifying", total);
        f->verify([&bar](uint64_t done, uint64_t) { bar.update(done); });
        bar.finish();
        fmt::print("verify: all {} tensor checksums match\n", f->entries().size());
    }
}

}  // namespace

void add_info_command(CLI::App& app) {
    auto o = std::make_shared<info_options>();
    CLI::App* cmd = app.add_subcommand("info", "show a model's metadata and tensors, or the system");
    cmd->add_option("model", o->model, "model file or directory");
    cmd->add_option("--tokenizer", o->tokenizer, "tokenizer.bin for a llama2.c checkpoint");
    cmd->add_flag("--verify", o->verify, "recompute and check every tensor checksum");
    cmd->add_flag("--system", o->system, "show CPU features and the kernels chosen");
    cmd->add_flag("--all", o->all_metadata, "print metadata arrays in full");
    cmd->callback([o] {
        if (o->system) print_system();
        if (!o->model.empty()) print_model(*o);
        else if (!o->system) fail("info needs a MODEL or --system");
    });
}

}  // namespace kiln::cli

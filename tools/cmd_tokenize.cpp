// kiln tokenize: the token ids (and pieces) of a text, as llama.cpp's
// llama-tokenize shows them. MODEL may be anything kiln opens, including a
// vocabulary-only GGUF; only the tokenizer is loaded where the format allows.
//
// -f FILE may hold several inputs separated by "\n__ggml_vocab_test__\n" lines
// (llama.cpp's vocab test format); with --ids-only each input prints as one line
// of " id id ...", exactly the format of the matching .out files.
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "commands.h"
#include "common.h"
#include "core/error.h"
#include "formats/gguf_import.h"
#include "formats/hf_tokenizer.h"
#include "formats/import.h"
#include "read_text.h"
#include "tokenizer/test_vectors.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/vocab.h"

namespace kiln::cli {

namespace {

struct tokenize_options {
    model_options model;
    std::string text;
    bool has_text = false;  // TEXT given (it may be empty)
    std::string file;
    bool ids_only = false;
    bool no_add_special = false;
    bool parse_special = false;
};

metadata tokenizer_metadata(const model_options& o) {
    // A directory needs only its tokenizer files here, not a config.json.
    if (std::filesystem::is_directory(o.model)) {
        metadata m;
        hf_tokenizer_to_metadata(o.model, m);
        return m;
    }
    switch (model_format_detect(o.model)) {
        case model_format::gguf: return gguf_import_vocab(o.model);
        case model_format::hf_dir: {
            metadata m;
            hf_tokenizer_to_metadata(o.model, m);
            return m;
        }
        default: {
            model_open_options mo;
            mo.use_mmap = !o.no_mmap;
            mo.tokenizer_path = o.tokenizer;
            mo.announce_conversion = false;
            return model_file_open(o.model, mo)->meta();
        }
    }
}

void run_tokenize(const tokenize_options& o) {
    const bool has_text = o.has_text;
    if (has_text && !o.file.empty()) fail("give either TEXT or -f FILE, not both");
    if (!has_text && o.file.empty()) fail("tokenize needs a TEXT or -f FILE");
    const tokenizer tok(vocab_from_metadata(tokenizer_metadata(o.model)));
    const std::vector<std::string> inputs = has_text ? std::vector<std::string>{o.text} : tokenizer_split_test_inputs(read_file_bytes(o.file, "text file"));

    std::string out;
    for (size_t i = 0; i < inputs.size(); ++i) {
        const std::vector<int32_t> ids = tok.encode(inputs[i], !o.no_add_special, o.parse_special);
        if (o.ids_only) {
            for (int32_t id : ids) out += fmt::format(" {}", id);
            out += '\n';
            continue;
        }
        if (i > 0) out += '\n';
        for (int32_t id : ids) {
            // Control tokens print nothing when decoded; show their text here, as llama-tokenize does.
            std::string piece = tok.token_to_piece(id);
            const token_type type = tok.get_vocab().type_of(id);
            if (piece.empty() && (type == token_type::control || type == token_type::unknown)) {
                piece = tok.get_vocab().tokens[static_cast<size_t>(id)];
            }
            out += fmt::format("{:6d} -> '{}'\n", id, piece);
        }
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
    if (std::fflush(stdout) != 0) fail("cannot write to standard output");
}

}  // namespace

void add_tokenize_command(CLI::App& app) {
    auto o = std::make_shared<tokenize_options>();
    CLI::App* cmd = app.add_subcommand("tokenize", "print the token ids and pieces of a text");
    add_model_options(*cmd, o->model);
    CLI::Option* text = cmd->add_option("text", o->text, "text to tokenize");
    cmd->add_option("-f,--file", o->file,
                    "read the text from FILE (inputs separated by '__ggml_vocab_test__' lines print one line each)");
    cmd->add_flag("--ids-only", o->ids_only, "print only the ids: one line of ' id id ...' per input");
    cmd->add_flag("--no-add-special", o->no_add_special, "do not add BOS/EOS");
    cmd->add_flag("--parse-special", o->parse_special, "match control-token texts such as <|im_end|> in the text");
    cmd->callback([o, text] {
        o->has_text = text->count() > 0;
        run_tokenize(*o);
    });
}

}  // namespace kiln::cli

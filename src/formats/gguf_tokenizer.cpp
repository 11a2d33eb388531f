// GGUF tokenizer.ggml.* keys → KILN tokenizer.* keys (docs/FORMAT.md). The
// defaults for keys a GGUF file leaves out are llama.cpp's, so that a file
// tokenizes here as it does there.
#include <vector>

#include "core/error.h"
#include "formats/gguf_import.h"
#include "tokenizer/pretokenizer.h"

namespace kiln {

namespace {

// A special token id: -1 when absent (or stored as u32 0xFFFFFFFF, GGUF's
// "none"), otherwise it must name a token.
int64_t special_token_id(const gguf_file& g, const std::string& key, size_t n_tokens) {
    if (!g.find(key)) return -1;
    const int64_t id = g.get_int(key);
    if (id == -1 || id == 0xFFFFFFFFll) return -1;
    if (id < 0 || static_cast<uint64_t>(id) >= n_tokens) {
        fail("{}: key '{}' = {} is outside the vocabulary of {} tokens", g.path(), key, id, n_tokens);
    }
    return id;
}

}  // namespace

bool gguf_tokenizer_to_metadata(const gguf_file& g, metadata& out) {
    const std::string model = g.get_str("tokenizer.ggml.model", "");
    if (model.empty() || model == "none" || model == "no_vocab") return false;

    std::string kind, pre;
    bool add_bos_default = false, add_space_default = false;
    if (model == "llama") {
        kind = "spm";
        add_bos_default = true;
        add_space_default = true;
    } else if (model == "gpt2" || model == "gemma4") {
        kind = "bpe";
        // No pre name means llama.cpp's "default" splitting; gemma4 files name none but mean their own.
        pre = model == "gemma4" ? "gemma4" : g.get_str("tokenizer.ggml.pre", "default");
        if (pre.empty()) pre = "default";
        const pre_family& family = pre_family_find(pre);
        add_bos_default = family.add_bos;
    } else if (model == "bert") {
        fail("{}: tokenizer model 'bert' (WordPiece) is not supported (supported: llama (sentencepiece), gpt2 "
             "(byte-level BPE), gemma4)",
             g.path());
    } else {
        fail("{}: tokenizer model '{}' is not supported (supported: llama (sentencepiece), gpt2 (byte-level BPE), "
             "gemma4)",
             g.path(), model);
    }

    std::vector<std::string> tokens = g.get_str_array("tokenizer.ggml.tokens");
    const size_t n = tokens.size();
    if (n == 0) fail("{}: key 'tokenizer.ggml.tokens' is empty", g.path());
    if (g.find("tokenizer.ggml.scores")) {
        std::vector<float> scores = g.get_f32_array("tokenizer.ggml.scores");
        if (scores.size() != n) {
            fail("{}: tokenizer.ggml.scores has {} entries for {} tokens", g.path(), scores.size(), n);
        }
        out.set("tokenizer.scores", std::move(scores));
    }
    if (g.find("tokenizer.ggml.token_type")) {
        std::vector<int32_t> types = g.get_i32_array("tokenizer.ggml.token_type");
        if (types.size() != n) {
            fail("{}: tokenizer.ggml.token_type has {} entries for {} tokens", g.path(), types.size(), n);
        }
        out.set("tokenizer.token_type", std::move(types));
    }
    if (g.find("tokenizer.ggml.merges")) {
        out.set("tokenizer.merges", g.get_str_array("tokenizer.ggml.merges"));
    } else if (kind == "bpe") {
        fail("{}: key 'tokenizer.ggml.merges' is missing (a BPE tokenizer needs its merges)", g.path());
    }

    out.set_str("tokenizer.model", kind);
    out.set_int("tokenizer.bos_id", special_token_id(g, "tokenizer.ggml.bos_token_id", n));
    out.set_int("tokenizer.eos_id", special_token_id(g, "tokenizer.ggml.eos_token_id", n));
    out.set_int("tokenizer.unk_id", special_token_id(g, "tokenizer.ggml.unknown_token_id", n));
    out.set_int("tokenizer.pad_id", special_token_id(g, "tokenizer.ggml.padding_token_id", n));
    bool add_bos = g.get_bool("tokenizer.ggml.add_bos_token", add_bos_default);
    if (pre == "gemma4") add_bos = true;  // Gemma 4 files say false but the model needs BOS (as llama.cpp)
    out.set_bool("tokenizer.add_bos", add_bos && out.get_int("tokenizer.bos_id") >= 0);
    out.set_bool("tokenizer.add_eos", g.get_bool("tokenizer.ggml.add_eos_token", false));
    out.set_bool("tokenizer.add_space_prefix",
                 kind == "spm" && g.get_bool("tokenizer.ggml.add_space_prefix", add_space_default));
    if (!pre.empty()) out.set_str("tokenizer.pre", pre);
    if (g.find("tokenizer.chat_template")) out.set_str("tokenizer.chat_template", g.get_str("tokenizer.chat_template"));
    out.set("tokenizer.tokens", std::move(tokens));
    return true;
}

metadata gguf_import_vocab(const std::string& path) {
    const auto g = gguf_open(path);
    metadata m;
    if (!gguf_tokenizer_to_metadata(*g, m)) fail("{}: the file has no tokenizer (tokenizer.ggml.model is missing)", path);
    return m;
}

}  // namespace kiln

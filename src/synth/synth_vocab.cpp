#include "synth/synth_vocab.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <vector>

#include "core/error.h"
#include "formats/gguf_import.h"
#include "tokenizer/vocab.h"

namespace kiln {

namespace fs = std::filesystem;

std::string synth_models_dir() {
    std::error_code ec;
    if (const char* env = std::getenv("KILN_MODELS"); env && *env) return fs::is_directory(env, ec) ? env : "";
    if (fs::is_directory("../shared/models", ec)) return fs::absolute("../shared/models", ec).string();
    char buf[4096];
    const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
    if (n > 0) {
        buf[n] = '\0';
        // <repo>/<build>/bin/kiln -> <repo>/../shared/models
        const fs::path p = fs::path(buf).parent_path().parent_path().parent_path().parent_path() / "shared" / "models";
        if (fs::is_directory(p, ec)) return p.string();
    }
    return "";
}

void synth_vocab_synthetic(int n_vocab, metadata& out) {
    if (n_vocab < 259) fail("a synthetic vocabulary needs at least 259 tokens (3 special, 256 bytes), not {}", n_vocab);
    vocab v = vocab_llama_spm();
    std::vector<std::string>& tokens = v.tokens;
    tokens.reserve(static_cast<size_t>(n_vocab));
    auto add = [&](std::string t, token_type type) {
        v.scores.push_back(type == token_type::normal ? -static_cast<float>(tokens.size()) : 0.0f);
        tokens.push_back(std::move(t));
        v.types.push_back(type);
    };
    add("<unk>", token_type::unknown);
    add("<s>", token_type::control);
    add("</s>", token_type::control);
    for (int b = 0; b < 256; ++b) {
        char s[8];
        std::snprintf(s, sizeof(s), "<0x%02X>", b);
        add(s, token_type::byte);
    }
    std::vector<std::string> alphabet = {"\xe2\x96\x81"};  // U+2581, sentencepiece's space
    for (char c = 'a'; c <= 'z'; ++c) alphabet.emplace_back(1, c);
    std::vector<std::string> level = {""};
    while (static_cast<int>(tokens.size()) < n_vocab) {
        std::vector<std::string> next;
        for (const auto& prefix : level) {
            for (const auto& a : alphabet) {
                if (static_cast<int>(tokens.size()) >= n_vocab) break;
                next.push_back(prefix + a);
                add(next.back(), token_type::normal);
            }
        }
        level = std::move(next);
    }
    vocab_to_metadata(v, out);
}

std::string synth_vocab_fill(int n_vocab, const std::string& vocab_spec, const std::string& shape_vocab_file,
                             metadata& out) {
    if (vocab_spec == "synthetic") {
        synth_vocab_synthetic(n_vocab, out);
        return "synthetic spm, " + std::to_string(n_vocab) + " tokens";
    }
    std::string path = vocab_spec;
    if (path.empty()) {
        const std::string dir = synth_models_dir();
        std::error_code ec;
        if (!shape_vocab_file.empty() && !dir.empty() && fs::is_regular_file(dir + "/vocab/" + shape_vocab_file, ec)) {
            path = dir + "/vocab/" + shape_vocab_file;
        }
    }
    if (path.empty()) {
        synth_vocab_synthetic(n_vocab, out);
        return "synthetic spm, " + std::to_string(n_vocab) + " tokens (no real vocabulary of this size found)";
    }
    metadata v = gguf_import_vocab(path);
    const size_t n = v.get_str_array("tokenizer.tokens").size();
    if (n != static_cast<size_t>(n_vocab)) {
        if (!vocab_spec.empty()) fail("--vocab-from {}: has {} tokens, the model needs {}", path, n, n_vocab);
        synth_vocab_synthetic(n_vocab, out);
        return "synthetic spm, " + std::to_string(n_vocab) + " tokens (" + fs::path(path).filename().string() +
               " has " + std::to_string(n) + ")";
    }
    for (const auto& [key, value] : v.items()) {
        if (key.rfind("tokenizer.", 0) == 0) out.set(key, value);
    }
    return v.get_str("tokenizer.model") + ", " + std::to_string(n) + " tokens (" + fs::path(path).filename().string() + ")";
}

}  // namespace kiln

// Pre-tokenization of byte-level BPE: the text is cut into pieces by a
// family's regular expressions before BPE merges run inside each piece, so
// merges never cross a piece boundary. Families are named as GGUF's
// tokenizer.ggml.pre names them ("llama-bpe", "qwen2", "gpt-2", ...); each
// names its regexes and the few flags that go with them.
//
// Splitting follows Hugging Face's Split(behavior = Isolated): every regex in
// turn cuts each current piece into its matches and the gaps between them,
// all kept, in order. Matching is Unicode-aware (PCRE2 with UTF and UCP:
// \p{L}, \p{N}, \s as Unicode classes, lookahead, (?i:) with Unicode case
// folding). Malformed UTF-8 is never matched by any regex item, so each
// malformed byte run ends up in a gap piece of its own: encoding stays
// lossless for arbitrary bytes.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace kiln {

struct pre_family {
    std::vector<std::string> names;    // first: the canonical name; the rest are aliases
    std::vector<std::string> regexes;  // applied in order
    bool byte_level = true;            // pieces are mapped byte-to-unicode (GPT-2) before merging
    bool escape_spaces = false;        // ' ' becomes U+2581 before splitting (sentencepiece-style BPE)
    bool newline_runs_whole = false;   // a piece of only newlines that is a token is taken whole
    bool ignore_merges = false;        // a piece that is a token is taken whole, merges unused
    bool add_bos = false;              // tokenizer.add_bos when the source does not say
};

// The family named `name` ("" means "default", as llama.cpp treats a GGUF
// without tokenizer.ggml.pre). kiln::error naming it when unknown.
const pre_family& pre_family_find(const std::string& name);

// The byte-level family whose regexes are exactly `regexes`, preferring one
// whose ignore_merges is `ignore_merges`; nullptr when none: how a
// tokenizer.json pre_tokenizer is named.
const pre_family* pre_family_match(const std::vector<std::string>& regexes, bool ignore_merges);

// Hugging Face ByteLevel's built-in regex (its use_regex = true).
const std::string& pre_regex_byte_level();

// Comma-separated canonical names of every family, for error messages.
std::string pre_family_names();

class pre_splitter {
public:
    // kiln::error when a regex does not compile.
    explicit pre_splitter(const std::vector<std::string>& regexes);
    ~pre_splitter();
    pre_splitter(const pre_splitter&) = delete;
    pre_splitter& operator=(const pre_splitter&) = delete;

    // Appends the pieces of `text`: non-empty, in order, concatenating to `text`.
    // Safe to call from several threads at once.
    void split(std::string_view text, std::vector<std::string_view>& pieces) const;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace kiln

// A tokenizer's vocabulary as stored in the tokenizer.* metadata keys
// (docs/FORMAT.md): token texts, scores or merges, token types, special ids
// and the encoding options. Importers fill it; tokenizer runs it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "formats/metadata.h"

namespace kiln {

enum class vocab_kind {
    spm,  // sentencepiece-style BPE: merge by token score, byte fallback
    bpe,  // BPE merging by rank: byte-level (GPT-2 family), or sentencepiece-style per pre family (gemma4)
};
const char* vocab_kind_name(vocab_kind k);  // "spm", "bpe": the tokenizer.model values

// Token types; the values are those of tokenizer.token_type.
enum class token_type : int32_t {
    undefined = 0,
    normal = 1,
    unknown = 2,
    control = 3,
    user_defined = 4,
    unused = 5,
    byte = 6,
};

struct vocab {
    vocab_kind kind = vocab_kind::spm;
    std::vector<std::string> tokens;
    std::vector<float> scores;         // spm: one per token (empty for bpe)
    std::vector<token_type> types;     // one per token
    std::vector<std::string> merges;   // bpe: "a b" by rank (empty for spm)
    int32_t bos_id = -1, eos_id = -1, unk_id = -1, pad_id = -1;  // -1: none
    bool add_bos = false, add_eos = false, add_space_prefix = false;
    std::string pre;            // pre-tokenizer family (bpe)
    // bpe: a piece that is a token is taken whole, merges unused; unset means the family's default.
    std::optional<bool> ignore_merges;
    std::string chat_template;  // "" when none

    int32_t size() const { return static_cast<int32_t>(tokens.size()); }
    token_type type_of(int32_t id) const { return types[static_cast<size_t>(id)]; }
};

// Reads and validates the tokenizer.* keys: arrays of the token count's
// length, known token types, special ids in range or -1. Missing
// token_type marks `<0xXX>` texts as byte tokens and the rest normal.
// Throws kiln::error naming the key at fault.
vocab vocab_from_metadata(const metadata& m);

// Writes every tokenizer.* key of `v` (replacing existing ones).
void vocab_to_metadata(const vocab& v, metadata& m);

// An empty sentencepiece vocabulary with llama's conventions (llama2.c, synthetic vocabularies):
// <unk> 0, <s> 1, </s> 2, BOS added, EOS not, a space put before the first word.
vocab vocab_llama_spm();

// The byte a `<0xXX>` token text stands for, or -1 when the text is not of that form.
int byte_token_value(const std::string& text);

}  // namespace kiln

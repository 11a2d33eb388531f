// Text ↔ token ids for a vocabulary. Encoding cuts special tokens out of the
// text, hands each plain span to the vocabulary family's segmenter (see
// segmenter.h) and adds BOS/EOS; decoding maps each id to the bytes it prints.
// A tokenizer is immutable: copies share its tables and it is safe to use
// from several threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/vocab.h"

namespace kiln {

class tokenizer {
public:
    // kiln::error when the vocabulary's family is not supported.
    explicit tokenizer(vocab v);

    // add_special: BOS/EOS as the vocabulary asks (add_bos/add_eos).
    // parse_special: control-token texts in `text` (e.g. "<s>") become those
    // tokens; user-defined tokens are always matched whole.
    std::vector<int32_t> encode(std::string_view text, bool add_special = true, bool parse_special = false) const;

    // The bytes token `id` prints: U+2581 as a space (sentencepiece-style
    // vocabularies) or GPT-2's byte characters as their bytes (byte-level BPE),
    // a byte token as its raw byte (possibly part of a UTF-8 character), a
    // user-defined token as its text, a control token as nothing.
    // kiln::error when id is out of range.
    std::string token_to_piece(int32_t id) const;

    // The text of a whole sequence: the pieces concatenated, less the one space
    // the space prefix put before the first word.
    std::string decode(const std::vector<int32_t>& ids) const;

    int32_t bos_id() const;
    int32_t eos_id() const;
    int32_t n_vocab() const;
    // EOS and the other tokens that end a turn (<|eot_id|>, <|im_end|>, ...).
    bool is_end_of_generation(int32_t id) const;
    const vocab& get_vocab() const;

private:
    struct tables;
    std::shared_ptr<const tables> t_;
};

}  // namespace kiln

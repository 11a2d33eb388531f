// The per-family step of tokenization: turning a span of plain text (special
// tokens already cut out by the tokenizer) into token ids. Each tokenizer
// family (sentencepiece-style, byte-level BPE, ...) is one implementation; the
// tokenizer class owns special tokens, BOS/EOS and decoding around it.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "tokenizer/vocab.h"

namespace kiln {

class text_segmenter {
public:
    virtual ~text_segmenter() = default;
    // Appends the ids of `text` to `out`. `starts_text` is true for the first
    // span and for spans right after a special token: where sentencepiece
    // adds its space prefix.
    virtual void encode(std::string_view text, bool starts_text, std::vector<int32_t>& out) const = 0;
};

// Sentencepiece-style BPE over `v`, which must outlive the segmenter.
std::unique_ptr<text_segmenter> spm_segmenter_create(const vocab& v);

// Byte-level (or sentencepiece-style, for families that say so) BPE over `v`
// with the pre-tokenizer named by v.pre. kiln::error for an unknown pre name
// or a malformed merge.
std::unique_ptr<text_segmenter> bpe_segmenter_create(const vocab& v);

}  // namespace kiln

// Reader for sentencepiece model files (tokenizer.model): a protobuf
// ModelProto decoded by hand. Only the parts kiln needs are kept: the pieces
// with their scores and types, the special ids of the trainer spec and the
// normalizer's "add dummy prefix" flag. Unknown fields are skipped by wire
// type, and every length is checked against the bytes that remain.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace kiln {

// sentencepiece's piece types; the same numbers as KILN's tokenizer.token_type.
enum class spm_piece_type : int32_t {
    normal = 1,
    unknown = 2,
    control = 3,
    user_defined = 4,
    unused = 5,
    byte = 6,
};

// TrainerSpec.model_type
enum class spm_model_type : int32_t { unigram = 1, bpe = 2, word = 3, character = 4 };

struct spm_piece {
    std::string piece;  // UTF-8, U+2581 for a space, "<0xXX>" for byte pieces
    float score = 0.0f;
    spm_piece_type type = spm_piece_type::normal;
};

struct spm_model {
    std::vector<spm_piece> pieces;
    spm_model_type model_type = spm_model_type::unigram;
    int32_t unk_id = 0;
    int32_t bos_id = 1;
    int32_t eos_id = 2;
    int32_t pad_id = -1;
    bool add_dummy_prefix = true;
};

// Parses a serialized ModelProto; `source` names the input in error messages.
spm_model spm_parse(const uint8_t* data, size_t size, const std::string& source);
// Reads and parses a tokenizer.model file.
spm_model spm_load(const std::string& path);

}  // namespace kiln

// llama.cpp's tokenizer test vectors (vocab/<name>.gguf.inp and .out), read the
// same way by the sentencepiece and byte-level BPE tests.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace kiln::test {

// The inputs of a .inp file, cut as `kiln tokenize -f` cuts them (tokenizer_split_test_inputs).
std::vector<std::string> read_vocab_inputs(const std::string& path);

// The expected ids of a .out file: one line of space-separated ids per input.
std::vector<std::vector<int32_t>> read_vocab_outputs(const std::string& path);

}  // namespace kiln::test

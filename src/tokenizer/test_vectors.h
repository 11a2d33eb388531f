// llama.cpp's tokenizer test-vector text format (vocab/*.gguf.inp): inputs separated by
// "\n__ggml_vocab_test__\n". Shared by `kiln tokenize -f` and the vocabulary tests so both
// cut a vector file the same way.
#pragma once

#include <string>
#include <vector>

namespace kiln {

// The inputs in order; text after the last separator, if any, is one more input, and a text
// without separators (the empty text included) is a single input.
std::vector<std::string> tokenizer_split_test_inputs(const std::string& all);

}  // namespace kiln

#include "support/test_vocab.h"

#include <sstream>

#include "support/test_paths.h"
#include "tokenizer/test_vectors.h"

namespace kiln::test {

std::vector<std::string> read_vocab_inputs(const std::string& path) {
    return tokenizer_split_test_inputs(read_text(path));
}

std::vector<std::vector<int32_t>> read_vocab_outputs(const std::string& path) {
    std::vector<std::vector<int32_t>> out;
    std::istringstream in(read_text(path));
    for (std::string line; std::getline(in, line);) {
        std::istringstream ids(line);
        std::vector<int32_t> v;
        for (int32_t id; ids >> id;) v.push_back(id);
        out.push_back(v);
    }
    return out;
}

}  // namespace kiln::test

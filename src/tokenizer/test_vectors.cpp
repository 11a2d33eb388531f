#include "tokenizer/test_vectors.h"

namespace kiln {

std::vector<std::string> tokenizer_split_test_inputs(const std::string& all) {
    const std::string sep = "\n__ggml_vocab_test__\n";
    std::vector<std::string> out;
    size_t pos = 0;
    while (pos < all.size()) {
        const size_t next = all.find(sep, pos);
        if (next == std::string::npos) {
            out.push_back(all.substr(pos));
            break;
        }
        out.push_back(all.substr(pos, next - pos));
        pos = next + sep.size();
    }
    if (out.empty()) out.emplace_back();
    return out;
}

}  // namespace kiln

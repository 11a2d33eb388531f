#include "support/test_generate.h"

#include "sampling/sampler.h"

namespace kiln::test {

std::vector<int32_t> greedy(context& ctx, const std::vector<int32_t>& prompt, int n) {
    std::vector<int32_t> out;
    const std::vector<float>* logits = &ctx.eval(prompt);
    for (int i = 0; i < n; ++i) {
        const int32_t t = sample_greedy(logits->data(), ctx.n_vocab());
        out.push_back(t);
        if (i + 1 < n) logits = &ctx.eval({t});
    }
    return out;
}

}  // namespace kiln::test

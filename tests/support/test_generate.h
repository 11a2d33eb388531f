// Greedy generation as the reference continuations were made (llama.cpp, llama2.c):
// the prompt in one batch, then one token at a time.
#pragma once

#include <cstdint>
#include <vector>

#include "model/context.h"

namespace kiln::test {

// The n tokens that greedy sampling picks after `prompt` (evaluated into ctx).
std::vector<int32_t> greedy(context& ctx, const std::vector<int32_t>& prompt, int n);

}  // namespace kiln::test

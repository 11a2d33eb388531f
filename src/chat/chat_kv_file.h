// The KV cache of a chat saved next to its JSON (/save FILE --kv writes FILE.kv)
// so a long conversation resumes without evaluating it again. Layout (host
// byte order, little-endian on every supported machine):
//   "KILNKV\0\0", u32 version (1), u32 n_layer, u32 kv_dim, u32 n_vocab,
//   u64 model id (chat_kv_model_id), u32 n_tokens, u32 0,
//   i32 tokens[n_tokens],
//   per layer: f32 K rows [n_tokens][kv_dim], then f32 V rows [n_tokens][kv_dim],
//   u64 checksum of every byte before it.
// Row p holds position p: the tokens are exactly the cached positions 0..n-1.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace kiln {

class context;
struct model;

constexpr uint32_t chat_kv_version = 1;

// Identifies the weights the keys/values were computed with: the
// hyper-parameters, every tensor's name, type, shape and stored checksum, the
// file size, and a sample of the embedding bytes (for inputs without
// checksums). Two files with the same id give the same cache.
uint64_t chat_kv_model_id(const model& m);

// Writes `tokens` (the first tokens.size() positions of ctx's cache;
// tokens.size() <= n_past) atomically: a temporary file, then rename.
// kiln::error naming the path when it cannot be written.
void chat_kv_save(const std::string& path, const context& ctx, const std::vector<int32_t>& tokens);

// Reads a file written by chat_kv_save into ctx's cache and returns true with
// the cached tokens. Any problem (unreadable, not a KV file, another model or
// version, larger than the context, truncated, checksum mismatch) returns
// false with `why` set to one line naming it; ctx's cache is then empty (a
// failed read may have overwritten it). Never throws for a bad file.
bool chat_kv_load(const std::string& path, context& ctx, std::vector<int32_t>& tokens, std::string& why);

}  // namespace kiln

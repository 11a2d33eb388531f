// A saved set of base logits for `kiln perplexity --kl-save FILE` / `--kl-base FILE`: the logit rows of the
// scored positions of one model over one token stream, so a quantized model can be compared with its base
// without loading the base again. The file records the token ids, BOS, n_ctx and vocabulary size it was
// made with, and refuses to be used with any other. Layout (little-endian), documented in docs/QUANTIZE.md:
//   header (64 bytes, kl_logits_header), int32 token ids [n_tokens], zero padding to a multiple of 64,
//   f32 logits [n_chunks][n_ctx - 1 - first][n_vocab] (chunk c, scored position first + i).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/mapped_file.h"

namespace kiln {

constexpr char kl_logits_magic[8] = {'K', 'I', 'L', 'N', 'K', 'L', 'B', '\0'};
constexpr uint32_t kl_logits_version = 1;

struct kl_logits_header {
    char magic[8];      // kl_logits_magic
    uint32_t version;   // kl_logits_version
    uint32_t n_ctx;     // tokens per chunk (-c)
    uint32_t n_vocab;   // floats per logit row
    uint32_t n_chunks;  // chunks evaluated
    int32_t bos;        // the token that replaced each chunk's first token (-1: none)
    uint32_t first;     // first scored position in a chunk (n_ctx / 2); rows cover first .. n_ctx - 2
    uint64_t n_tokens;  // token ids stored (the whole tokenized text)
    uint64_t n_rows;    // logit rows stored: n_chunks * (n_ctx - 1 - first)
    uint64_t reserved[2];
};
static_assert(sizeof(kl_logits_header) == 64, "kl_logits_header is 64 bytes");

// True when the file at path starts with kl_logits_magic (false when it cannot be read: the caller then
// opens it as a model, whose error names the problem).
bool kl_logits_is_file(const std::string& path);

// A logits file, mapped read-only; open() validates the header and the file size.
class kl_logits {
public:
    static std::shared_ptr<const kl_logits> open(const std::string& path);

    const kl_logits_header& header() const { return h_; }
    const std::string& path() const { return file_->name(); }
    // Row j (first <= j <= n_ctx - 2) of chunk c.
    const float* row(int chunk, int j) const;
    // Fails with one line naming the file when it was not made from exactly these tokens, BOS, context
    // and vocabulary size.
    void check_matches(const std::vector<int32_t>& tokens, int32_t bos, int n_ctx, int64_t n_vocab) const;

private:
    std::shared_ptr<mapped_file> file_;
    kl_logits_header h_{};
    const int32_t* tokens_ = nullptr;
    const float* logits_ = nullptr;
};

// Writes a logits file: a temporary file in the destination directory, renamed into place by commit();
// destroyed uncommitted, it removes the temporary file (never a half-written output).
class kl_logits_writer {
public:
    kl_logits_writer(const std::string& path, const std::vector<int32_t>& tokens, int32_t bos, int n_ctx,
                     int64_t n_vocab, int n_chunks);
    ~kl_logits_writer();
    kl_logits_writer(const kl_logits_writer&) = delete;
    kl_logits_writer& operator=(const kl_logits_writer&) = delete;

    // The scored rows of the next chunk: logits of the whole chunk, [n_ctx][n_vocab].
    void append_chunk(const std::vector<float>& chunk_logits);
    void commit();

private:
    void write_at(const void* p, size_t n);
    std::string path_, tmp_;
    int fd_ = -1;
    kl_logits_header h_{};
    uint32_t chunks_written_ = 0;
};

}  // namespace kiln

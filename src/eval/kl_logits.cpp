#include "eval/kl_logits.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/error.h"

namespace kiln {

namespace {

uint64_t logits_offset(uint64_t n_tokens) { return (sizeof(kl_logits_header) + 4 * n_tokens + 63) / 64 * 64; }

uint64_t rows_per_chunk(const kl_logits_header& h) { return h.n_ctx - 1 - h.first; }

}  // namespace

bool kl_logits_is_file(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    char m[sizeof(kl_logits_magic)] = {};
    const ssize_t got = ::read(fd, m, sizeof(m));
    ::close(fd);
    return got == static_cast<ssize_t>(sizeof(m)) && std::memcmp(m, kl_logits_magic, sizeof(m)) == 0;
}

std::shared_ptr<const kl_logits> kl_logits::open(const std::string& path) {
    auto f = mapped_file::open(path);
    std::shared_ptr<kl_logits> k(new kl_logits());
    k->file_ = f;
    if (f->size() < sizeof(kl_logits_header)) {
        fail("{}: truncated logits file ({} bytes, shorter than its 64-byte header)", path, f->size());
    }
    std::memcpy(&k->h_, f->data(), sizeof(kl_logits_header));
    const kl_logits_header& h = k->h_;
    if (std::memcmp(h.magic, kl_logits_magic, sizeof(h.magic)) != 0) fail("{}: not a kiln logits file (bad magic)", path);
    if (h.version != kl_logits_version) {
        fail("{}: logits file version {} is not supported (this kiln reads version {})", path, h.version, kl_logits_version);
    }
    if (h.n_ctx < 8 || h.n_vocab < 1 || h.n_chunks < 1 || h.first >= h.n_ctx - 1 ||
        h.n_rows != static_cast<uint64_t>(h.n_chunks) * rows_per_chunk(h) ||
        h.n_tokens < static_cast<uint64_t>(h.n_chunks) * h.n_ctx || h.n_tokens > (uint64_t(1) << 40)) {
        fail("{}: corrupt logits file header (n_ctx {}, vocabulary {}, {} chunks, {} rows, {} tokens)", path, h.n_ctx,
             h.n_vocab, h.n_chunks, h.n_rows, h.n_tokens);
    }
    const uint64_t off = logits_offset(h.n_tokens);
    const uint64_t want = off + h.n_rows * h.n_vocab * sizeof(float);
    if (f->size() != want) {
        fail("{}: truncated or damaged logits file ({} bytes, the header says {})", path, f->size(), want);
    }
    k->tokens_ = reinterpret_cast<const int32_t*>(f->data() + sizeof(kl_logits_header));
    k->logits_ = reinterpret_cast<const float*>(f->data() + off);
    return k;
}

const float* kl_logits::row(int chunk, int j) const {
    const uint64_t r = static_cast<uint64_t>(chunk) * rows_per_chunk(h_) + static_cast<uint64_t>(j - static_cast<int>(h_.first));
    return logits_ + r * h_.n_vocab;
}

void kl_logits::check_matches(const std::vector<int32_t>& tokens, int32_t bos, int n_ctx, int64_t n_vocab) const {
    const std::string& p = path();
    if (static_cast<int64_t>(h_.n_vocab) != n_vocab) {
        fail("{}: the logits were saved from a model with a vocabulary of {}, this model has {}", p, h_.n_vocab, n_vocab);
    }
    if (static_cast<int>(h_.n_ctx) != n_ctx) fail("{}: the logits were saved at -c {}, not -c {}", p, h_.n_ctx, n_ctx);
    if (h_.bos != bos) fail("{}: the logits were saved with BOS {}, this tokenizer's is {}", p, h_.bos, bos);
    if (h_.n_tokens != tokens.size()) {
        fail("{}: the logits were saved for a different text ({} tokens, this text has {})", p, h_.n_tokens, tokens.size());
    }
    for (size_t i = 0; i < tokens.size(); ++i) {
        if (tokens_[i] != tokens[i]) {
            fail("{}: the logits were saved for a different text (token {} is {}, here {})", p, i, tokens_[i], tokens[i]);
        }
    }
}

kl_logits_writer::kl_logits_writer(const std::string& path, const std::vector<int32_t>& tokens, int32_t bos, int n_ctx,
                                   int64_t n_vocab, int n_chunks)
    : path_(path) {
    namespace fs = std::filesystem;
    const fs::path dest(path);
    const fs::path dir = dest.has_parent_path() ? dest.parent_path() : fs::path(".");
    if (!fs::is_directory(dir)) fail("{}: output directory {} does not exist", path, dir.string());
    std::memcpy(h_.magic, kl_logits_magic, sizeof(h_.magic));
    h_.version = kl_logits_version;
    h_.n_ctx = static_cast<uint32_t>(n_ctx);
    h_.n_vocab = static_cast<uint32_t>(n_vocab);
    h_.n_chunks = static_cast<uint32_t>(n_chunks);
    h_.bos = bos;
    h_.first = static_cast<uint32_t>(n_ctx / 2);
    h_.n_tokens = tokens.size();
    h_.n_rows = static_cast<uint64_t>(n_chunks) * rows_per_chunk(h_);
    tmp_ = (dir / ("." + dest.filename().string() + ".tmp.XXXXXX")).string();
    fd_ = ::mkstemp(tmp_.data());
    if (fd_ < 0) fail("{}: cannot create a temporary file in {}: {}", path, dir.string(), std::strerror(errno));
    try {
        write_at(&h_, sizeof(h_));
        write_at(tokens.data(), tokens.size() * sizeof(int32_t));
        static const char zeros[64] = {};
        const uint64_t pad = logits_offset(h_.n_tokens) - sizeof(h_) - tokens.size() * sizeof(int32_t);
        write_at(zeros, pad);
    } catch (...) {
        ::close(fd_);
        ::unlink(tmp_.c_str());
        throw;
    }
}

kl_logits_writer::~kl_logits_writer() {
    if (fd_ >= 0) {
        ::close(fd_);
        ::unlink(tmp_.c_str());
    }
}

void kl_logits_writer::write_at(const void* p, size_t n) {
    const char* b = static_cast<const char*>(p);
    while (n > 0) {
        const ssize_t w = ::write(fd_, b, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) fail("{}: write failed: {}", path_, std::strerror(errno));
        b += w;
        n -= static_cast<size_t>(w);
    }
}

void kl_logits_writer::append_chunk(const std::vector<float>& chunk_logits) {
    if (chunks_written_ >= h_.n_chunks || chunk_logits.size() != static_cast<size_t>(h_.n_ctx) * h_.n_vocab) {
        fail("{}: internal error: chunk {} of {} with {} logits", path_, chunks_written_, h_.n_chunks, chunk_logits.size());
    }
    write_at(chunk_logits.data() + static_cast<size_t>(h_.first) * h_.n_vocab, rows_per_chunk(h_) * h_.n_vocab * sizeof(float));
    ++chunks_written_;
}

void kl_logits_writer::commit() {
    if (chunks_written_ != h_.n_chunks) fail("{}: internal error: {} of {} chunks written", path_, chunks_written_, h_.n_chunks);
    if (::fsync(fd_) != 0) fail("{}: fsync failed: {}", path_, std::strerror(errno));
    ::fchmod(fd_, 0644);
    ::close(fd_);
    fd_ = -1;
    if (::rename(tmp_.c_str(), path_.c_str()) != 0) {
        const int err = errno;
        ::unlink(tmp_.c_str());
        fail("{}: cannot rename the finished file into place: {}", path_, std::strerror(err));
    }
}

}  // namespace kiln

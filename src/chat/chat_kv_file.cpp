#include "chat/chat_kv_file.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <sys/stat.h>

#include <fmt/format.h>

#include "core/error.h"
#include "formats/kiln_reader.h"
#include "model/context.h"
#include "model/model.h"

namespace kiln {

namespace {

constexpr char kv_magic[8] = {'K', 'I', 'L', 'N', 'K', 'V', 0, 0};

struct kv_header {
    char magic[8];
    uint32_t version;
    uint32_t n_layer;
    uint32_t kv_dim;
    uint32_t n_vocab;
    uint64_t model_id;
    uint32_t n_tokens;
    uint32_t reserved;
};
static_assert(sizeof(kv_header) == 40, "the KV file header is 40 bytes");

// FNV-1a style over 8-byte words (bytes that do not fill a word are held back), streamed in any
// chunking. Each step is a bijection of the state, so changing any one word changes the result; a
// corruption check, not a secure hash. Word-wise: a multi-GiB cache hashes at memory speed.
class hasher {
public:
    void add(const void* p, size_t n) {
        const auto* b = static_cast<const unsigned char*>(p);
        while (n > 0) {
            if (fill_ == 0 && n >= 8) {
                const size_t words = n / 8;
                for (size_t i = 0; i < words; ++i) {
                    uint64_t w;
                    std::memcpy(&w, b + 8 * i, 8);
                    mix(w);
                }
                b += 8 * words;
                n -= 8 * words;
                continue;
            }
            buf_[fill_++] = *b++;
            --n;
            if (fill_ == 8) {
                uint64_t w;
                std::memcpy(&w, buf_, 8);
                mix(w);
                fill_ = 0;
            }
        }
    }
    template <class T>
    void add_value(const T& v) { add(&v, sizeof v); }
    void add_string(const std::string& s) {
        add_value(static_cast<uint64_t>(s.size()));
        add(s.data(), s.size());
    }
    uint64_t value() const {
        hasher t = *this;
        uint64_t w = 0;
        std::memcpy(&w, t.buf_, t.fill_);
        t.mix(w ^ (static_cast<uint64_t>(t.fill_) << 56));
        return t.h_;
    }

private:
    void mix(uint64_t w) {
        h_ = (h_ ^ w) * 0x100000001b3ull;
        h_ ^= h_ >> 32;
    }
    uint64_t h_ = 0xcbf29ce484222325ull;
    unsigned char buf_[8] = {};
    size_t fill_ = 0;
};

struct file_closer {
    void operator()(std::FILE* f) const { if (f) std::fclose(f); }
};
using file_ptr = std::unique_ptr<std::FILE, file_closer>;

}  // namespace

uint64_t chat_kv_model_id(const model& m) {
    hasher h;
    const model_hparams& hp = m.hp;
    h.add_string(hp.arch);
    for (int v : {hp.n_vocab, hp.n_embd, hp.n_layer, hp.n_head, hp.n_head_kv, hp.head_dim, hp.n_ff})
        h.add_value(static_cast<int64_t>(v));
    h.add_value(hp.rope_theta);
    h.add_value(hp.norm_eps);
    if (m.file) {
        h.add_value(static_cast<uint64_t>(m.file->file_size()));
        for (const auto& e : m.file->entries()) {
            h.add_string(e.t.name);
            h.add_value(static_cast<int32_t>(e.t.type));
            for (int d = 0; d < max_dims; ++d) h.add_value(e.t.ne[d]);
            h.add_value(e.checksum);
        }
    }
    if (m.tok_embd && m.tok_embd->data) h.add(m.tok_embd->data, std::min<size_t>(m.tok_embd->n_bytes(), 4096));
    return h.value();
}

void chat_kv_save(const std::string& path, const context& ctx, const std::vector<int32_t>& tokens) {
    const kv_cache& kv = ctx.kv();
    if (tokens.size() > static_cast<size_t>(kv.n_past())) fail("{}: {} tokens but only {} are cached", path, tokens.size(), kv.n_past());
    kv_header hd{};
    std::memcpy(hd.magic, kv_magic, sizeof kv_magic);
    hd.version = chat_kv_version;
    hd.n_layer = static_cast<uint32_t>(kv.n_layer());
    hd.kv_dim = static_cast<uint32_t>(kv.kv_dim());
    hd.n_vocab = static_cast<uint32_t>(ctx.n_vocab());
    hd.model_id = chat_kv_model_id(ctx.get_model());
    hd.n_tokens = static_cast<uint32_t>(tokens.size());

    const std::string tmp = path + ".tmp";
    bool ok = false;
    {
        file_ptr f(std::fopen(tmp.c_str(), "wb"));
        if (!f) fail("{}: cannot write the KV cache file", path);
        hasher h;
        auto put = [&](const void* p, size_t n) {
            if (n == 0) return true;  // an empty conversation has no token array (data() may be null)
            h.add(p, n);
            return std::fwrite(p, 1, n, f.get()) == n;
        };
        const size_t row_bytes = tokens.size() * static_cast<size_t>(kv.kv_dim()) * sizeof(float);
        ok = put(&hd, sizeof hd) && put(tokens.data(), tokens.size() * sizeof(int32_t));
        for (int l = 0; ok && l < kv.n_layer(); ++l) ok = put(kv.k(l), row_bytes) && put(kv.v(l), row_bytes);
        const uint64_t sum = h.value();
        ok = ok && std::fwrite(&sum, 1, sizeof sum, f.get()) == sizeof sum;
        ok = std::fflush(f.get()) == 0 && ok;
    }
    if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
        std::remove(tmp.c_str());
        fail("{}: cannot write the KV cache file", path);
    }
}

bool chat_kv_load(const std::string& path, context& ctx, std::vector<int32_t>& tokens, std::string& why) {
    kv_cache& kv = ctx.kv();
    tokens.clear();
    file_ptr f(std::fopen(path.c_str(), "rb"));
    if (!f) {
        why = fmt::format("{}: cannot open", path);
        return false;
    }
    kv_header hd{};
    if (std::fread(&hd, 1, sizeof hd, f.get()) != sizeof hd || std::memcmp(hd.magic, kv_magic, sizeof kv_magic) != 0) {
        why = fmt::format("{}: not a kiln KV cache file", path);
        return false;
    }
    if (hd.version != chat_kv_version) {
        why = fmt::format("{}: KV cache file version {} (this kiln reads {})", path, hd.version, chat_kv_version);
        return false;
    }
    if (hd.n_layer != static_cast<uint32_t>(kv.n_layer()) || hd.kv_dim != static_cast<uint32_t>(kv.kv_dim()) ||
        hd.n_vocab != static_cast<uint32_t>(ctx.n_vocab()) || hd.model_id != chat_kv_model_id(ctx.get_model())) {
        why = fmt::format("{}: the KV cache was saved with another model", path);
        return false;
    }
    if (hd.n_tokens > static_cast<uint32_t>(kv.n_ctx())) {
        why = fmt::format("{}: the KV cache holds {} tokens, more than the context of {} (raise -c)", path, hd.n_tokens, kv.n_ctx());
        return false;
    }
    // The size must be exact before anything is read into the cache.
    const size_t row_bytes = static_cast<size_t>(hd.n_tokens) * hd.kv_dim * sizeof(float);
    const uint64_t want = sizeof hd + static_cast<uint64_t>(hd.n_tokens) * sizeof(int32_t) +
                          2ull * hd.n_layer * row_bytes + sizeof(uint64_t);
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || static_cast<uint64_t>(st.st_size) != want) {
        why = fmt::format("{}: the KV cache file is {} bytes, expected {} (truncated or corrupt)", path,
                          static_cast<uint64_t>(st.st_size), want);
        return false;
    }
    hasher h;
    auto get = [&](void* p, size_t n) {
        if (std::fread(p, 1, n, f.get()) != n) return false;
        h.add(p, n);
        return true;
    };
    h.add(&hd, sizeof hd);
    std::vector<int32_t> ids(hd.n_tokens);
    bool ok = get(ids.data(), ids.size() * sizeof(int32_t));
    for (size_t i = 0; ok && i < ids.size(); ++i) ok = ids[i] >= 0 && ids[i] < ctx.n_vocab();
    if (!ok) {
        why = fmt::format("{}: the KV cache file holds a token outside the vocabulary (corrupt)", path);
        return false;
    }
    kv.truncate(0);
    for (int l = 0; ok && l < kv.n_layer(); ++l) ok = get(kv.k(l), row_bytes) && get(kv.v(l), row_bytes);
    uint64_t sum = 0;
    ok = ok && std::fread(&sum, 1, sizeof sum, f.get()) == sizeof sum && sum == h.value();
    if (!ok) {
        why = fmt::format("{}: the KV cache file fails its checksum (corrupt)", path);
        return false;
    }
    kv.set_n_past(static_cast<int>(hd.n_tokens));
    tokens = std::move(ids);
    return true;
}

}  // namespace kiln

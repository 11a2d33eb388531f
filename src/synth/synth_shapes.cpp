#include "synth/synth_shapes.h"

#include <cctype>

#include "core/error.h"

namespace kiln {

namespace {

// n_ctx_train is capped at 4096 for every shape: it only sets the default context of `kiln run`,
// and the real values (up to 131072) would make that default allocate gigabytes of KV cache.
synth_shape make(const char* name, int embd, int layers, int heads, int kv, int ff, int vocab, int ctx, bool tied,
                 double theta, double eps, const char* vocab_file, const char* note = "") {
    synth_shape s;
    s.name = name;
    s.n_embd = embd;
    s.n_layer = layers;
    s.n_head = heads;
    s.n_head_kv = kv;
    s.head_dim = embd / heads;
    s.n_ff = ff;
    s.n_vocab = vocab;
    s.n_ctx_train = ctx;
    s.tied_output = tied;
    s.rope_theta = theta;
    s.norm_eps = eps;
    s.vocab_file = vocab_file;
    s.note = note;
    return s;
}

bool iequal(const std::string& a, const std::string& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
    }
    return true;
}

}  // namespace

double synth_shape::n_params() const {
    const double e = n_embd, q = double(n_head) * head_dim, kv = double(n_head_kv) * head_dim;
    const double layer = e * q * 2 + e * kv * 2 + 3.0 * e * n_ff;
    return layer * n_layer + e * n_vocab * (tied_output ? 1 : 2);
}

const std::vector<synth_shape>& synth_shape_table() {
    static const std::vector<synth_shape> table = [] {
        std::vector<synth_shape> t = {
        // llama2.c's TinyStories models (Llama 2 vocabulary). The peer figures in shared/refs use
        // an untied output for stories110M, so all three are untied here.
        make("stories15M", 288, 6, 6, 6, 768, 32000, 256, false, 10000.0, 1e-5, "ggml-vocab-llama-spm.gguf"),
        make("stories42M", 512, 8, 8, 8, 1376, 32000, 1024, false, 10000.0, 1e-5, "ggml-vocab-llama-spm.gguf"),
        make("stories110M", 768, 12, 12, 12, 2048, 32000, 1024, false, 10000.0, 1e-5, "ggml-vocab-llama-spm.gguf"),
        make("TinyLlama-1.1B", 2048, 22, 32, 4, 5632, 32000, 2048, false, 10000.0, 1e-5, "ggml-vocab-llama-spm.gguf"),
        make("Llama-3.2-1B", 2048, 16, 32, 8, 8192, 128256, 4096, true, 500000.0, 1e-5, "ggml-vocab-llama-bpe.gguf"),
        make("Qwen2.5-0.5B", 896, 24, 14, 2, 4864, 151936, 4096, true, 1000000.0, 1e-6, "ggml-vocab-qwen2.gguf"),
        };
        t[t.size() - 2].llama3_rope = true;
        t.back().arch = "qwen2";  // Q/K/V biases, half RoPE pairing (falls back to llama where kiln lacks qwen2)
        return t;
    }();
    return table;
}

std::string synth_shape_names() {
    std::string s;
    for (const auto& sh : synth_shape_table()) s += (s.empty() ? "" : ", ") + sh.name;
    return s;
}

synth_shape synth_shape_find(const std::string& name) {
    for (const auto& sh : synth_shape_table()) {
        if (iequal(sh.name, name)) return sh;
    }
    fail("--shape {}: unknown shape (known: {}; or give --dim --layers --heads --kv-heads --ffn --vocab)", name,
         synth_shape_names());
}

synth_shape synth_shape_custom(int n_embd, int n_layer, int n_head, int n_head_kv, int n_ff, int n_vocab) {
    synth_shape s = make("custom", n_embd, n_layer, n_head, n_head_kv, n_ff, n_vocab, 2048, false, 10000.0, 1e-5, "");
    s.head_dim = n_head > 0 ? n_embd / n_head : 0;
    return s;
}

void synth_shape_check(const synth_shape& s, int block) {
    struct range { const char* opt; int v; int lo; int hi; };
    const range ranges[] = {
        {"--dim", s.n_embd, 2, 65536},      {"--layers", s.n_layer, 1, 1024},
        {"--heads", s.n_head, 1, 1024},      {"--kv-heads", s.n_head_kv, 1, 1024},
        {"--ffn", s.n_ff, 1, 1 << 20},       {"--vocab", s.n_vocab, 259, 1 << 24},
    };
    for (const auto& r : ranges) {
        if (r.v < r.lo || r.v > r.hi) {
            fail("{} {} is out of range [{}, {}]{}", r.opt, r.v, r.lo, r.hi,
                 r.lo == 259 ? " (the vocabulary needs room for 3 special and 256 byte tokens)" : "");
        }
    }
    if (s.n_embd % s.n_head != 0) fail("--heads {} does not divide --dim {}", s.n_head, s.n_embd);
    if (s.n_head % s.n_head_kv != 0) fail("--heads {} is not a multiple of --kv-heads {}", s.n_head, s.n_head_kv);
    if (s.head_dim % 2 != 0) {
        fail("head width --dim/--heads = {} is odd (RoPE rotates pairs of dimensions)", s.head_dim);
    }
    if (block > 1) {
        if (s.n_embd % block != 0) fail("--dim {} is not a multiple of the weight type's block size {}", s.n_embd, block);
        if (s.n_ff % block != 0) fail("--ffn {} is not a multiple of the weight type's block size {}", s.n_ff, block);
    }
}

}  // namespace kiln

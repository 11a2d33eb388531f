#include "tokenizer/pretokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "core/error.h"
#include "tokenizer/unicode_utf8.h"

namespace kiln {

namespace {

// The regexes below are the models' own, as their tokenizer.json files state
// them (and as llama.cpp lists them per tokenizer.ggml.pre name). Non-ASCII
// characters are written as \x{...} so that no editor's normalization can
// change them.

// GPT-2's (Hugging Face ByteLevel with use_regex = true).
const std::string re_gpt2 = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
// The same without the final alternative, as llama.cpp states it for some families; equivalent
// under isolated splitting (what \s+ would match is left as a gap piece anyway).
const std::string re_gpt2_short = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))";
// Llama 3 (tiktoken cl100k style): case-insensitive contractions, digits in runs of up to three.
const std::string re_llama3 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// Qwen2: as Llama 3 but single digits.
const std::string re_qwen2 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// Qwen3.5: combining marks stay with their letters.
const std::string re_qwen35 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// Tekken (Mistral Nemo) and GPT-4o (o200k): case-aware words.
const std::string re_tekken =
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const std::string re_gpt4o =
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const std::string re_seed_coder =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+)";
const std::string re_bailingmoe =
    R"('(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+)";
// Regexes of further families, as their tokenizer.json files state them.
const std::string re_ufakzeka =
    R"([^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const std::string re_exaone_moe =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?(?:\p{L}\p{M}*(?: \p{L}\p{M}*)*)+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]?|\s*[\r\n]|\s+(?!\S)|\s+)";
const std::string re_minicpm5 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}+| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const std::string re_jais2 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s{512}(?!\S)|\s{256}(?!\S)|\s{128}(?!\S)|\s{64}(?!\S)|\s{32}(?!\S)|\s{16}(?!\S)|\s{8}(?!\S)|\s{4}(?!\S)|\s{1,2}(?!\S)|\s{1})";
const std::string re_tiny_aya =
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const std::string re_kana_cjk = R"([\x{4E00}-\x{9FA5}\x{3040}-\x{309F}\x{30A0}-\x{30FF}]+)";
const std::string re_deepseek_v3 =
    R"([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const std::string re_spark =
    R"([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+|[\r\n]|\s+(?!\S)|\s+)";

// CJK ideographs, the range below them, and Hangul (DeepSeek).
const std::string re_cjk_hangul = R"([\x{4E00}-\x{9FA5}\x{0800}-\x{4E00}\x{AC00}-\x{D7FF}]+)";
// DeepSeek LLM's explicit letter ranges (Latin, Greek, Cyrillic, Armenian, Georgian, Cherokee, ...).
const std::string re_deepseek_letters =
    R"(\s?[A-Za-z\x{B5}\x{C0}-\x{D6}\x{D8}-\x{F6}\x{F8}-\x{1BA}\x{1BC}-\x{1BF}\x{1C4}-\x{293}\x{295}-\x{2AF})"
    R"(\x{370}-\x{373}\x{376}\x{377}\x{37B}-\x{37D}\x{37F}\x{386}\x{388}-\x{38A}\x{38C}\x{38E}-\x{3A1}\x{3A3}-\x{3F5})"
    R"(\x{3F7}-\x{481}\x{48A}-\x{52F}\x{531}-\x{556}\x{10A0}-\x{10C5}\x{13A0}-\x{13F5}\x{13F8}-\x{13FD})"
    R"(\x{1C90}-\x{1CBA}\x{1CBD}-\x{1CBF}\x{1D00}-\x{1D2B}\x{1D6B}-\x{1D77}\x{1D79}-\x{1D9A}\x{1E00}-\x{1F15})"
    R"(\x{1F18}-\x{1F1D}\x{1F20}-\x{1F45}\x{1F48}-\x{1F4D}\x{1F50}-\x{1F57}\x{1F59}\x{1F5B}\x{1F5D}\x{1F5F}-\x{1F7D})"
    R"(\x{1F80}-\x{1FB4}\x{1FB6}-\x{1FBC}\x{1FBE}\x{1FC2}-\x{1FC4}\x{1FC6}-\x{1FCC}\x{1FD0}-\x{1FD3}\x{1FD6}-\x{1FDB})"
    R"(\x{1FE0}-\x{1FEC}\x{1FF2}-\x{1FF4}\x{1FF6}-\x{1FFC}\x{2102}\x{2107}\x{210A}-\x{2113}\x{2115}\x{2119}-\x{211D})"
    R"(\x{2124}\x{2126}\x{2128}\x{212A}-\x{212D}\x{212F}-\x{2134}\x{2139}\x{213C}-\x{213F}\x{2145}-\x{2149}\x{214E})"
    R"(\x{2183}\x{2184}\x{2C00}-\x{2C7B}\x{2C7E}-\x{2CE4}\x{2CEB}-\x{2CEE}\x{2CF2}\x{2CF3}\x{A640}-\x{A66D})"
    R"(\x{A680}-\x{A69B}\x{A722}-\x{A76F}\x{A771}-\x{A787}\x{A78B}-\x{A78E}\x{AB70}-\x{ABBF}\x{FB00}-\x{FB06})"
    R"(\x{FB13}-\x{FB17}\x{FF21}-\x{FF3A}\x{FF41}-\x{FF5A}\x{10400}-\x{1044F}\x{104B0}-\x{104D3}\x{104D8}-\x{104FB})"
    R"(\x{10C80}-\x{10CB2}\x{10CC0}-\x{10CF2}\x{118A0}-\x{118DF}\x{1E900}-\x{1E943}]+)";
const std::string re_deepseek_punct =
    R"(\s?[!-/:-~\x{FF01}-\x{FF0F}\x{FF1A}-\x{FF5E}\x{2018}-\x{201F}\x{3000}-\x{3002}]+)";
// Bloom/Poro: runs of anything but whitespace and sentence punctuation (the parentheses and
// '|' inside the class are literal, as in the original).
const std::string re_bloom = R"( ?[^(\s|.,!?\x{2026}\x{3002}\x{FF0C}\x{3001}\x{0964}\x{06D4}\x{060C})]+)";

std::vector<pre_family> make_families() {
    std::vector<pre_family> f;
    auto add = [&f](std::vector<std::string> names, std::vector<std::string> regexes) -> pre_family& {
        pre_family p;
        p.names = std::move(names);
        p.regexes = std::move(regexes);
        f.push_back(std::move(p));
        return f.back();
    };
    // llama.cpp's fallback for a GGUF that names no pre-tokenizer.
    add({"default"}, {R"([\p{P}\$\+<=>\^~\|]+)", re_gpt2_short, R"(\p{N}+)", "[0-9][0-9][0-9]"});
    {
        pre_family& p = add({"llama-bpe", "llama3", "llama-v3", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2",
                             "jina-v5-nano"},
                            {re_llama3});
        p.ignore_merges = true;
        p.add_bos = true;
    }
    add({"dbrx", "smaug-bpe", "chatglm-bpe", "glm4"}, {re_llama3});
    add({"gpt-2", "phi-2", "gpt-neox", "mpt", "olmo", "jais", "trillion", "granite-docling", "exaone4", "jina-es",
         "jina-de", "gigachat", "jina-v1-en", "jina-v2-es", "jina-v2-de", "jina-v2-code", "roberta-bpe", "a.x-4.0",
         "mellum", "modern-bert"},
        {re_gpt2});
    add({"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b", "mellum2"},
        {R"(\p{N})", re_gpt2});
    add({"falcon"}, {R"([\p{P}\$\+<=>\^~\|`]+)", re_gpt2_short, "[0-9][0-9][0-9]"});
    add({"qwen2", "stablelm2", "hunyuan", "deepseek-r1-qwen", "kormo", "megrez", "grok-2", "solar-open", "f2llmv2"},
        {re_qwen2});
    add({"qwen35"}, {re_qwen35});
    add({"deepseek-llm"},
        {"[\\r\\n]", re_deepseek_letters, re_deepseek_punct, R"(\s+$)", re_cjk_hangul, R"(\p{N}+)"});
    add({"deepseek-coder"}, {"[\\r\\n]", R"(\s?\p{L}+)", R"(\s?\p{P}+)", re_cjk_hangul, R"(\p{N})"});
    add({"deepseek-v3", "hunyuan-dense", "joyai-llm", "hy_v4"}, {R"(\p{N}{1,3})", re_kana_cjk, re_deepseek_v3});
    add({"spark2_5"}, {R"(\p{N}{1,3})", re_kana_cjk, re_spark, R"(\p{N})"});
    add({"poro-chat", "bloom", "gpt3-finnish"}, {re_bloom});
    add({"viking"}, {re_bloom, R"(\p{N})"});
    {
        pre_family& p = add({"tekken"}, {re_tekken});
        p.ignore_merges = true;
        p.add_bos = true;
    }
    add({"gpt-4o", "llama4", "minimax-m2", "kanana2", "talkie"}, {re_gpt4o});
    add({"tiny_aya", "cohere2moe"}, {R"(\d{1,3}(?=(?:\d{3})*\b))", re_tiny_aya});
    add({"ufakzeka"}, {re_ufakzeka});
    add({"exaone-moe"}, {re_exaone_moe});
    add({"jais-2"}, {re_jais2});
    add({"laguna"}, {"[^\\n]+|[\\n]+", re_qwen2});
    add({"superbpe"}, {R"(\p{N}+)", R"((?=(\d{3})+(?!\d)))"});
    {
        pre_family& p = add({"minicpm5"}, {R"(\p{N}{1,3})", re_minicpm5});
        p.ignore_merges = true;
    }
    add({"seed-coder"}, {re_seed_coder});
    add({"bailingmoe", "bailingmoe2", "llada-moe"}, {re_bailingmoe});
    {
        // Gemma 4: sentencepiece-style BPE over raw UTF-8 with spaces as U+2581; only newlines split.
        pre_family& p = add({"gemma4", "granite-embed-multi-311m"}, {"[^\\n]+|[\\n]+"});
        p.byte_level = false;
        p.escape_spaces = true;
        p.newline_runs_whole = true;
        p.add_bos = true;
    }
    {
        // Sarvam: the same sentencepiece-style BPE, without Gemma 4's newline rule.
        pre_family& p = add({"sarvam-moe"}, {"[^\\n]+|[\\n]+"});
        p.byte_level = false;
        p.escape_spaces = true;
    }
    return f;
}

const std::vector<pre_family>& families() {
    static const std::vector<pre_family> f = make_families();
    return f;
}

struct compiled_regex {
    std::string pattern;
    pcre2_code* code = nullptr;
    ~compiled_regex() { pcre2_code_free(code); }
};

// JIT-compiled patterns keep their backtracking state on a JIT stack; the default 32 KiB is too
// small for nested repeats over long pieces, so each thread gets one that grows up to 64 MiB.
struct jit_context {
    pcre2_jit_stack* stack = nullptr;
    pcre2_match_context* ctx = nullptr;
    jit_context() {
        stack = pcre2_jit_stack_create(32 * 1024, 64 * 1024 * 1024, nullptr);
        ctx = pcre2_match_context_create(nullptr);
        if (ctx && stack) pcre2_jit_stack_assign(ctx, nullptr, stack);
    }
    ~jit_context() {
        pcre2_match_context_free(ctx);
        pcre2_jit_stack_free(stack);
    }
};

pcre2_match_context* thread_match_context() {
    thread_local jit_context c;
    return c.ctx;
}

}  // namespace

const pre_family& pre_family_find(const std::string& name) {
    const std::string key = name.empty() ? "default" : name;
    for (const pre_family& f : families()) {
        for (const std::string& n : f.names) {
            if (n == key) return f;
        }
    }
    fail("tokenizer.pre '{}' is not a known pre-tokenizer (known: {})", name, pre_family_names());
}

const pre_family* pre_family_match(const std::vector<std::string>& regexes, bool ignore_merges) {
    const pre_family* any = nullptr;
    for (const pre_family& f : families()) {
        if (!f.byte_level || f.regexes != regexes) continue;
        if (f.ignore_merges == ignore_merges) return &f;
        if (!any) any = &f;
    }
    if (any) return any;
    // llama.cpp's shortened GPT-2 regex and Hugging Face's full one split alike.
    if (regexes.size() == 1 && regexes[0] == re_gpt2_short) return pre_family_match({re_gpt2}, ignore_merges);
    return nullptr;
}

const std::string& pre_regex_byte_level() { return re_gpt2; }

std::string pre_family_names() {
    std::string s;
    for (const pre_family& f : families()) s += (s.empty() ? "" : ", ") + f.names[0];
    return s;
}

struct pre_splitter::impl {
    std::vector<std::unique_ptr<compiled_regex>> regexes;
};

pre_splitter::pre_splitter(const std::vector<std::string>& regexes) : impl_(std::make_unique<impl>()) {
    for (const std::string& re : regexes) {
        int err = 0;
        PCRE2_SIZE err_off = 0;
        auto c = std::make_unique<compiled_regex>();
        c->pattern = re;
        c->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(re.data()), re.size(),
                                PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &err, &err_off, nullptr);
        if (!c->code) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(err, msg, sizeof msg);
            fail("pre-tokenizer regex '{}' does not compile at offset {}: {}", re, err_off,
                 reinterpret_cast<const char*>(msg));
        }
        // JIT where the platform has it; the interpreter gives the same matches, only slower.
        pcre2_jit_compile(c->code, PCRE2_JIT_COMPLETE);
        impl_->regexes.push_back(std::move(c));
    }
}

pre_splitter::~pre_splitter() = default;

void pre_splitter::split(std::string_view text, std::vector<std::string_view>& pieces) const {
    std::vector<std::string_view> cur, next;
    if (!text.empty()) cur.push_back(text);
    pcre2_match_context* mctx = thread_match_context();
    for (const auto& re : impl_->regexes) {
        pcre2_match_data* md = pcre2_match_data_create_from_pattern(re->code, nullptr);
        if (!md) fail("out of memory");
        next.clear();
        for (std::string_view piece : cur) {
            const auto* subject = reinterpret_cast<PCRE2_SPTR>(piece.data());
            size_t pos = 0, last = 0;
            while (pos <= piece.size()) {
                const int rc = pcre2_match(re->code, subject, piece.size(), pos, 0, md, mctx);
                if (rc == PCRE2_ERROR_NOMATCH) break;
                if (rc < 0) {
                    pcre2_match_data_free(md);
                    PCRE2_UCHAR msg[256];
                    pcre2_get_error_message(rc, msg, sizeof msg);
                    fail("pre-tokenizer regex '{}' failed on a piece of {} bytes: {}", re->pattern, piece.size(),
                         reinterpret_cast<const char*>(msg));
                }
                const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
                const size_t ms = ov[0], me = ov[1];
                if (ms > last) next.push_back(piece.substr(last, ms - last));
                if (me > ms) {
                    next.push_back(piece.substr(ms, me - ms));
                    last = pos = me;
                } else {
                    // An empty match still cuts here; step over one character to go on.
                    last = ms;
                    if (ms >= piece.size()) break;
                    const size_t n = utf8_valid_len(piece.substr(ms));
                    pos = ms + (n == 0 ? 1 : n);
                }
            }
            if (last < piece.size()) next.push_back(piece.substr(last));
        }
        pcre2_match_data_free(md);
        cur.swap(next);
    }
    pieces.insert(pieces.end(), cur.begin(), cur.end());
}

}  // namespace kiln

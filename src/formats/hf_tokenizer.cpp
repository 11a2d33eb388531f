#include "formats/hf_tokenizer.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <unordered_map>
#include <vector>

#include "core/error.h"
#include "formats/spm_proto.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/unicode_utf8.h"

namespace kiln {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr int32_t type_normal = 1, type_unknown = 2, type_control = 3, type_user_defined = 4, type_byte = 6;

// A vocabulary being assembled, in KILN's terms.
struct hf_vocab {
    std::vector<std::string> tokens;
    std::vector<float> scores;
    std::vector<int32_t> types;
    int64_t bos = -1, eos = -1, unk = -1, pad = -1;
    bool add_space_prefix = false;
    // Byte-level BPE only: merges by rank and the pre-tokenizer family.
    bool byte_level = false;
    std::vector<std::string> merges;
    std::string pre;
    bool family_add_bos = false;
    std::optional<bool> ignore_merges;  // set when it differs from the family's default

    void push(std::string text, float score, int32_t type) {
        tokens.push_back(std::move(text));
        scores.push_back(score);
        types.push_back(type);
    }
    int64_t find(const std::string& text) const {
        for (size_t i = 0; i < tokens.size(); ++i) {
            if (tokens[i] == text) return static_cast<int64_t>(i);
        }
        return -1;
    }
};

struct hf_added_token {
    int64_t id;
    std::string content;
    bool special;
};

bool is_byte_token(const std::string& t) {
    auto hex = [](char ch) { return (ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'F'); };
    return t.size() == 6 && t.compare(0, 3, "<0x") == 0 && hex(t[3]) && hex(t[4]) && t[5] == '>';
}

// tokenizer.json's added_tokens, or the older added_tokens.json ({"text": id}, all treated as special).
std::vector<hf_added_token> read_added_tokens(const json& tokenizer_json, const fs::path& dir) {
    std::vector<hf_added_token> out;
    if (!tokenizer_json.is_null()) {
        const std::string path = (dir / "tokenizer.json").string();
        for (const json& a : tokenizer_json.value("added_tokens", json::array())) {
            if (!a.is_object() || !a.contains("id") || !a["id"].is_number_unsigned() || !a.contains("content") ||
                !a["content"].is_string()) {
                fail("{}: added_tokens entry {} lacks an id or content", path, a.dump());
            }
            out.push_back({a["id"].get<int64_t>(), a["content"].get<std::string>(), a.value("special", false)});
        }
    } else if (fs::exists(dir / "added_tokens.json")) {
        const std::string path = (dir / "added_tokens.json").string();
        const json j = hf_read_json(path);
        if (!j.is_object()) fail("{}: expected an object of token: id", path);
        for (const auto& [text, id] : j.items()) {
            if (!id.is_number_unsigned()) fail("{}: token '{}' has no valid id", path, text);
            out.push_back({id.get<int64_t>(), text, true});
        }
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
    return out;
}

// Added tokens either restate a vocabulary entry (marking it special) or extend the vocabulary
// with consecutive ids. Special ones become control tokens (matched as a whole, never split),
// the others user-defined tokens.
void apply_added_tokens(hf_vocab& v, const std::vector<hf_added_token>& added, const std::string& source) {
    for (const auto& a : added) {
        const int32_t type = a.special ? type_control : type_user_defined;
        const auto n = static_cast<int64_t>(v.tokens.size());
        if (a.id < n) {
            // A byte-level vocabulary spells the same text in GPT-2's byte alphabet; the added
            // token is matched in raw text, so it keeps the raw form (as GGUF converters store it).
            if (v.byte_level && v.tokens[a.id] != a.content && v.tokens[a.id] == bytes_to_unicode(a.content)) {
                v.tokens[a.id] = a.content;
            }
            if (v.tokens[a.id] != a.content) {
                fail("{}: added token {} '{}' conflicts with vocabulary token '{}'", source, a.id, a.content,
                     v.tokens[a.id]);
            }
            if (v.types[a.id] == type_normal) {
                v.types[a.id] = type;
                v.scores[a.id] = 0.0f;  // matched whole before any merge: its score never matters
            }
        } else if (a.id == n) {
            v.push(a.content, 0.0f, type);
        } else {
            fail("{}: added token '{}' has id {} but the vocabulary ends at {} (ids must be consecutive)", source,
                 a.content, a.id, n);
        }
    }
}

hf_vocab vocab_from_spm(const std::string& path) {
    const spm_model sp = spm_load(path);
    if (sp.model_type == spm_model_type::word || sp.model_type == spm_model_type::character) {
        fail("{}: sentencepiece model_type {} is not supported (BPE or unigram)", path,
             sp.model_type == spm_model_type::word ? "word" : "char");
    }
    hf_vocab v;
    for (const auto& p : sp.pieces) v.push(p.piece, p.score, static_cast<int32_t>(p.type));
    v.unk = sp.unk_id;
    v.bos = sp.bos_id;
    v.eos = sp.eos_id;
    v.pad = sp.pad_id;
    v.add_space_prefix = sp.add_dummy_prefix;
    return v;
}

// The steps of a tokenizer.json node that may be a Sequence.
std::vector<json> sequence_steps(const json& node, const char* list_key) {
    std::vector<json> out;
    if (!node.is_object()) return out;
    if (node.value("type", "") == "Sequence" && node.contains(list_key) && node[list_key].is_array()) {
        for (const json& s : node[list_key]) out.push_back(s);
    } else {
        out.push_back(node);
    }
    return out;
}

// Whether tokenizer.json prepends U+2581 to the text: a Prepend normalizer (Llama-2 style) or a
// Metaspace pre-tokenizer that adds a prefix space.
bool tokenizer_json_adds_space_prefix(const json& tj) {
    for (const json& n : sequence_steps(tj.value("normalizer", json()), "normalizers")) {
        if (n.value("type", "") == "Prepend" && n.value("prepend", "") == "\xE2\x96\x81") return true;
    }
    for (const json& p : sequence_steps(tj.value("pre_tokenizer", json()), "pretokenizers")) {
        if (p.value("type", "") != "Metaspace") continue;
        if (p.contains("prepend_scheme")) return p.value("prepend_scheme", "") != "never";
        return p.value("add_prefix_space", true);
    }
    return false;
}

bool tokenizer_json_is_byte_level(const json& tj) {
    const std::string dump = tj.value("pre_tokenizer", json()).dump() + tj.value("decoder", json()).dump();
    return dump.find("\"ByteLevel\"") != std::string::npos;
}

// The pre-tokenizer family a byte-level tokenizer.json describes: its Split regexes (and the
// regex ByteLevel itself applies) must be exactly those of a known family.
const pre_family& byte_level_family(const json& tj, bool ignore_merges, const std::string& path) {
    std::vector<std::string> regexes;
    bool byte_level = false;
    for (const json& p : sequence_steps(tj.value("pre_tokenizer", json()), "pretokenizers")) {
        const std::string type = p.value("type", "");
        if (type == "Split") {
            const json& pat = p.value("pattern", json());
            if (!pat.is_object() || !pat.contains("Regex") || !pat["Regex"].is_string()) {
                fail("{}: pre_tokenizer Split with pattern {} is not supported (expected a Regex)", path, pat.dump());
            }
            if (p.value("behavior", "") != "Isolated" || p.value("invert", false)) {
                fail("{}: pre_tokenizer Split behavior '{}' (invert {}) is not supported (expected Isolated)", path,
                     p.value("behavior", ""), p.value("invert", false));
            }
            regexes.push_back(pat["Regex"].get<std::string>());
        } else if (type == "ByteLevel") {
            if (p.value("add_prefix_space", false)) {
                fail("{}: pre_tokenizer ByteLevel with add_prefix_space is not supported", path);
            }
            if (p.value("use_regex", true)) regexes.push_back(pre_regex_byte_level());
            byte_level = true;
        } else if (type == "Digits") {
            regexes.push_back(p.value("individual_digits", false) ? "\\p{N}" : "\\p{N}+");
        } else {
            fail("{}: pre_tokenizer step '{}' is not supported in a byte-level tokenizer", path,
                 type.empty() ? p.dump() : type);
        }
    }
    if (!byte_level) fail("{}: a byte-level BPE tokenizer.json needs a ByteLevel pre_tokenizer", path);
    const pre_family* f = pre_family_match(regexes, ignore_merges);
    if (!f) {
        std::string list;
        for (const auto& r : regexes) list += (list.empty() ? "'" : ", '") + r + "'";
        fail("{}: the pre_tokenizer (regexes {}) matches no known pre-tokenizer family (known: {})", path, list,
             pre_family_names());
    }
    return *f;
}

// A byte-level BPE (GPT-2 family) from tokenizer.json: the vocabulary and merges as they are,
// the pre-tokenizer named by family.
hf_vocab byte_level_vocab_from_tokenizer_json(const json& tj, const std::string& path) {
    const json& model = tj.at("model");
    for (const json& n : sequence_steps(tj.value("normalizer", json()), "normalizers")) {
        // NFC is accepted but not applied, as llama.cpp does not: text already in NFC (nearly all
        // text) tokenizes identically.
        const std::string type = n.value("type", "");
        if (type != "NFC") fail("{}: normalizer '{}' is not supported in a byte-level tokenizer", path, n.dump());
    }
    const json& vocab = model.at("vocab");
    if (!vocab.is_object() || vocab.empty()) fail("{}: model.vocab is not a non-empty object", path);
    const size_t n = vocab.size();
    hf_vocab v;
    v.byte_level = true;
    v.tokens.resize(n);
    v.scores.assign(n, 0.0f);
    v.types.assign(n, type_normal);
    std::vector<bool> seen(n, false);
    for (const auto& [text, id] : vocab.items()) {
        if (!id.is_number_unsigned() || id.get<uint64_t>() >= n || seen[id.get<size_t>()]) {
            fail("{}: vocab token '{}' has id {}; ids must be 0..{} without repeats", path, text, id.dump(), n - 1);
        }
        seen[id.get<size_t>()] = true;
        v.tokens[id.get<size_t>()] = text;
    }
    const json& merges = model.value("merges", json::array());
    v.merges.reserve(merges.size());
    for (size_t rank = 0; rank < merges.size(); ++rank) {
        const json& m = merges[rank];
        if (m.is_string()) {
            v.merges.push_back(m.get<std::string>());
        } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
            v.merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
        } else {
            fail("{}: merge {} is neither 'a b' nor [a, b]", path, rank);
        }
        const std::string& s = v.merges.back();
        const size_t sp = s.size() > 1 ? s.find(' ', 1) : std::string::npos;
        if (sp == std::string::npos || sp + 1 >= s.size()) fail("{}: merge {} '{}' is not of the form 'a b'", path, rank, s);
    }
    const json& ignore = model.value("ignore_merges", json(false));
    if (!ignore.is_boolean()) fail("{}: model.ignore_merges is not true or false", path);
    const pre_family& family = byte_level_family(tj, ignore.get<bool>(), path);
    v.pre = family.names[0];
    v.family_add_bos = family.add_bos;
    if (family.ignore_merges != ignore.get<bool>()) v.ignore_merges = ignore.get<bool>();
    return v;
}

// A sentencepiece-style BPE from tokenizer.json. kiln's spm tokenizer repeatedly merges the
// adjacent pair whose concatenation has the highest score, so each token scores -(rank of the
// first merge that creates it): the earliest merge always wins, which is BPE's lowest-rank-first
// rule. Converters from sentencepiece list all merges creating a piece together at that piece's
// rank, so the first one is the piece's rank. Tokens no merge creates (single characters, bytes,
// specials) are never a merge result; normal ones score below every merge, like sentencepiece's
// own character pieces, and bytes/specials score 0 as in sentencepiece models.
hf_vocab vocab_from_tokenizer_json(const json& tj, const std::string& path) {
    const json& model = tj.at("model");
    const std::string type = model.value("type", "");
    if (type != "BPE") fail("{}: tokenizer.json model type '{}' is not supported (expected BPE)", path, type);
    if (tokenizer_json_is_byte_level(tj)) return byte_level_vocab_from_tokenizer_json(tj, path);
    if (!model.value("byte_fallback", false)) {
        fail("{}: BPE tokenizer.json is neither byte-level (ByteLevel pre-tokenizer) nor sentencepiece-style "
             "(byte_fallback)",
             path);
    }

    const json& vocab = model.at("vocab");
    if (!vocab.is_object() || vocab.empty()) fail("{}: model.vocab is not a non-empty object", path);
    const size_t n = vocab.size();
    hf_vocab v;
    v.tokens.resize(n);
    v.scores.assign(n, 0.0f);
    v.types.assign(n, type_normal);
    std::vector<bool> seen(n, false);
    std::unordered_map<std::string, int64_t> id_of;
    id_of.reserve(n);
    for (const auto& [text, id] : vocab.items()) {
        if (!id.is_number_unsigned() || id.get<uint64_t>() >= n || seen[id.get<size_t>()]) {
            fail("{}: vocab token '{}' has id {}; ids must be 0..{} without repeats", path, text, id.dump(), n - 1);
        }
        seen[id.get<size_t>()] = true;
        v.tokens[id.get<size_t>()] = text;
        id_of.emplace(text, id.get<int64_t>());
    }

    const json& merges = model.value("merges", json::array());
    std::vector<bool> created(n, false);
    for (size_t rank = 0; rank < merges.size(); ++rank) {
        const json& m = merges[rank];
        std::string a, b;
        if (m.is_string()) {
            const std::string s = m.get<std::string>();
            const size_t sp = s.find(' ');
            if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos) {
                fail("{}: merge {} '{}' is not of the form 'a b'", path, rank, s);
            }
            a = s.substr(0, sp);
            b = s.substr(sp + 1);
        } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
            a = m[0].get<std::string>();
            b = m[1].get<std::string>();
        } else {
            fail("{}: merge {} is neither 'a b' nor [a, b]", path, rank);
        }
        const auto it = id_of.find(a + b);
        if (!id_of.count(a) || !id_of.count(b) || it == id_of.end()) {
            fail("{}: merge {} '{} {}' uses or creates a token missing from the vocabulary", path, rank, a, b);
        }
        if (!created[it->second]) {
            created[it->second] = true;
            v.scores[it->second] = -static_cast<float>(rank);
        }
    }

    if (model.contains("unk_token") && model["unk_token"].is_string()) {
        const auto it = id_of.find(model["unk_token"].get<std::string>());
        if (it != id_of.end()) v.unk = it->second;
    }
    for (size_t id = 0; id < n; ++id) {
        if (static_cast<int64_t>(id) == v.unk) v.types[id] = type_unknown;
        else if (is_byte_token(v.tokens[id])) v.types[id] = type_byte;
        else if (!created[id]) v.scores[id] = -static_cast<float>(merges.size());
    }
    v.add_space_prefix = tokenizer_json_adds_space_prefix(tj);
    return v;
}

// A special token named in tokenizer_config.json: a string, {"content": ...}, or null/absent.
std::optional<std::string> config_special_token(const json& cfg, const char* key, const std::string& path) {
    if (!cfg.contains(key) || cfg[key].is_null()) return std::nullopt;
    const json& v = cfg[key];
    if (v.is_string()) return v.get<std::string>();
    if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
    fail("{}: {} is neither a string nor an object with a content string", path, key);
}

std::optional<std::string> chat_template(const json& cfg, const fs::path& dir, const std::string& cfg_path) {
    if (cfg.contains("chat_template") && !cfg["chat_template"].is_null()) {
        const json& t = cfg["chat_template"];
        if (t.is_string()) return t.get<std::string>();
        // A list of named templates: take "default", else the first.
        if (t.is_array() && !t.empty()) {
            for (const json& e : t) {
                if (e.is_object() && e.value("name", "") == "default" && e.contains("template") &&
                    e["template"].is_string()) {
                    return e["template"].get<std::string>();
                }
            }
            if (t[0].is_object() && t[0].contains("template") && t[0]["template"].is_string()) {
                return t[0]["template"].get<std::string>();
            }
        }
        fail("{}: chat_template is neither a string nor a list of named templates", cfg_path);
    }
    // Newer Hugging Face exports keep the template in its own file.
    const fs::path jinja = dir / "chat_template.jinja";
    if (fs::exists(jinja)) {
        std::ifstream in(jinja, std::ios::binary);
        std::ostringstream ss;
        ss << in.rdbuf();
        return ss.str();
    }
    return std::nullopt;
}

bool config_bool(const json& cfg, const char* key, bool def, const std::string& path) {
    if (!cfg.contains(key) || cfg[key].is_null()) return def;
    if (!cfg[key].is_boolean()) fail("{}: {} is not true or false", path, key);
    return cfg[key].get<bool>();
}

}  // namespace

json hf_read_json(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail("{}: cannot open", path);
    try {
        return json::parse(in);
    } catch (const json::exception& e) {
        fail("{}: malformed JSON: {}", path, e.what());
    }
}

void hf_tokenizer_to_metadata(const std::string& dir_str, metadata& meta) {
    const fs::path dir(dir_str);
    const fs::path spm_path = dir / "tokenizer.model";
    const fs::path json_path = dir / "tokenizer.json";
    const fs::path cfg_path = dir / "tokenizer_config.json";
    const std::string cfg_name = cfg_path.string();

    hf_vocab v;
    std::string source;
    try {
        json tj;
        if (fs::exists(json_path)) tj = hf_read_json(json_path.string());
        if (fs::exists(spm_path)) {
            source = spm_path.string();
            v = vocab_from_spm(source);
        } else if (!tj.is_null()) {
            source = json_path.string();
            v = vocab_from_tokenizer_json(tj, source);
        } else {
            fail("{}: no tokenizer.model or tokenizer.json", dir_str);
        }
        apply_added_tokens(v, read_added_tokens(tj, dir), source);
    } catch (const json::exception& e) {
        fail("{}: unexpected tokenizer.json content: {}", json_path.string(), e.what());
    }

    const json cfg = fs::exists(cfg_path) ? hf_read_json(cfg_name) : json::object();
    if (!cfg.is_object()) fail("{}: not a JSON object", cfg_name);
    // tokenizer_config.json names the special tokens the model was tuned with (a chat model's EOS
    // is often an added token); they override the sentencepiece trainer's ids.
    const struct {
        const char* key;
        int64_t* id;
    } specials[] = {{"bos_token", &v.bos}, {"eos_token", &v.eos}, {"unk_token", &v.unk}, {"pad_token", &v.pad}};
    for (const auto& s : specials) {
        const auto text = config_special_token(cfg, s.key, cfg_name);
        if (!text) continue;
        const int64_t id = v.find(*text);
        if (id < 0) fail("{}: {} '{}' is not in the vocabulary of {}", cfg_name, s.key, *text, source);
        *s.id = id;
    }

    meta.set_str("tokenizer.model", v.byte_level ? "bpe" : "spm");
    meta.set("tokenizer.tokens", std::move(v.tokens));
    if (v.byte_level) {
        meta.erase("tokenizer.scores");
        meta.set("tokenizer.merges", std::move(v.merges));
        meta.set_str("tokenizer.pre", v.pre);
        if (v.ignore_merges) meta.set_bool("tokenizer.ignore_merges", *v.ignore_merges);
        else meta.erase("tokenizer.ignore_merges");
    } else {
        meta.set("tokenizer.scores", std::move(v.scores));
        meta.erase("tokenizer.merges");
        meta.erase("tokenizer.pre");
        meta.erase("tokenizer.ignore_merges");
    }
    meta.set("tokenizer.token_type", std::move(v.types));
    meta.set_int("tokenizer.bos_id", v.bos);
    meta.set_int("tokenizer.eos_id", v.eos);
    meta.set_int("tokenizer.unk_id", v.unk);
    meta.set_int("tokenizer.pad_id", v.pad);
    // Without add_bos_token, a sentencepiece model adds its BOS; a byte-level one as its family does
    // (Llama 3 does; GPT-2 and Qwen do not).
    const bool add_bos_default = v.bos >= 0 && (!v.byte_level || v.family_add_bos);
    meta.set_bool("tokenizer.add_bos", config_bool(cfg, "add_bos_token", add_bos_default, cfg_name) && v.bos >= 0);
    meta.set_bool("tokenizer.add_eos", config_bool(cfg, "add_eos_token", false, cfg_name));
    meta.set_bool("tokenizer.add_space_prefix", v.add_space_prefix);
    if (auto t = chat_template(cfg, dir, cfg_name)) meta.set_str("tokenizer.chat_template", std::move(*t));
}

}  // namespace kiln

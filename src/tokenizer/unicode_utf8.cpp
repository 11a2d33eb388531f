#include "tokenizer/unicode_utf8.h"

#include <array>

namespace kiln {

namespace {

// GPT-2's table: printable Latin-1 bytes (! .. ~, ¡ .. ¬, ® .. ÿ) stand for
// themselves; the other 68 bytes take the code points from U+0100 on, in
// byte order.
struct byte_tables {
    std::array<uint32_t, 256> cp{};
    std::array<std::string, 256> utf8;
    std::array<int16_t, 324> byte_of{};  // code point < 324 -> byte, -1 when unmapped

    byte_tables() {
        byte_of.fill(-1);
        uint32_t next = 256;
        for (int b = 0; b < 256; ++b) {
            const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            cp[b] = printable ? static_cast<uint32_t>(b) : next++;
            utf8_append(utf8[b], cp[b]);
            byte_of[cp[b]] = static_cast<int16_t>(b);
        }
    }
};

const byte_tables& tables() {
    static const byte_tables t;
    return t;
}

}  // namespace

size_t utf8_valid_len(std::string_view s) {
    if (s.empty()) return 0;
    const auto c0 = static_cast<unsigned char>(s[0]);
    if (c0 < 0x80) return 1;
    size_t n;
    uint32_t cp, min;
    if (c0 >= 0xC2 && c0 <= 0xDF) { n = 2; cp = c0 & 0x1F; min = 0x80; }
    else if (c0 >= 0xE0 && c0 <= 0xEF) { n = 3; cp = c0 & 0x0F; min = 0x800; }
    else if (c0 >= 0xF0 && c0 <= 0xF4) { n = 4; cp = c0 & 0x07; min = 0x10000; }
    else return 0;
    if (s.size() < n) return 0;
    for (size_t i = 1; i < n; ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if ((c & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (c & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return n;
}

void utf8_append(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

uint32_t byte_to_unicode_cp(uint8_t b) { return tables().cp[b]; }

std::string bytes_to_unicode(std::string_view bytes) {
    const byte_tables& t = tables();
    std::string out;
    out.reserve(bytes.size() * 2);
    for (char c : bytes) out += t.utf8[static_cast<unsigned char>(c)];
    return out;
}

std::string unicode_to_bytes(std::string_view text) {
    const byte_tables& t = tables();
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size();) {
        const size_t n = utf8_valid_len(text.substr(i));
        if (n == 0) {
            out += text[i++];
            continue;
        }
        uint32_t cp = n == 1 ? static_cast<unsigned char>(text[i]) : 0;
        if (n == 2) cp = ((text[i] & 0x1F) << 6) | (text[i + 1] & 0x3F);
        if (n <= 2 && cp < t.byte_of.size() && t.byte_of[cp] >= 0) out += static_cast<char>(t.byte_of[cp]);
        else out.append(text, i, n);
        i += n;
    }
    return out;
}

}  // namespace kiln

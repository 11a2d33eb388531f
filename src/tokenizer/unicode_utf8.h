// UTF-8 helpers and GPT-2's byte-to-unicode mapping, shared by the
// tokenizers and the importers. Byte-level BPE vocabularies store every byte
// as a printable character (a space is "Ġ", U+0120; a newline "Ċ") so that
// token texts never hold control characters or broken UTF-8; these functions
// map text into that alphabet and back.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace kiln {

// Bytes of the well-formed UTF-8 character at the start of `s` (1..4), or 0
// when `s` is empty or starts with a malformed sequence (stray continuation
// byte, overlong form, surrogate, code point above U+10FFFF, truncation).
size_t utf8_valid_len(std::string_view s);

// Appends the UTF-8 encoding of `cp` (must be a valid scalar value).
void utf8_append(std::string& out, uint32_t cp);

// The code point GPT-2's mapping assigns to byte `b`.
uint32_t byte_to_unicode_cp(uint8_t b);

// `bytes` with every byte replaced by its mapped character.
std::string bytes_to_unicode(std::string_view bytes);

// The inverse: each character of `text` that is a mapped byte becomes that
// byte; other characters are kept as they are (their UTF-8 bytes).
std::string unicode_to_bytes(std::string_view text);

}  // namespace kiln

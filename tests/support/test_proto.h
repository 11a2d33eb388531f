// Protobuf encoding for test fixtures, enough for a sentencepiece ModelProto
// (tokenizer.model) with pieces, scores, types and trainer/normalizer fields.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

namespace kiln::test {

struct proto_writer {
    std::string s;
    void varint(uint64_t v) {
        while (v >= 0x80) { s += static_cast<char>((v & 0x7f) | 0x80); v >>= 7; }
        s += static_cast<char>(v);
    }
    void key(int field, int wire) { varint(static_cast<uint64_t>(field) << 3 | static_cast<uint64_t>(wire)); }
    void len(int field, const std::string& b) { key(field, 2); varint(b.size()); s += b; }
    void i64(int field, int64_t v) { key(field, 0); varint(static_cast<uint64_t>(v)); }
    void f32(int field, float f) { key(field, 5); char c[4]; std::memcpy(c, &f, 4); s.append(c, 4); }
};

}  // namespace kiln::test

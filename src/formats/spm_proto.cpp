#include "formats/spm_proto.h"

#include <cstring>

#include "core/error.h"
#include "core/mapped_file.h"

namespace kiln {

namespace {

// Protobuf wire types.
enum : uint32_t { wire_varint = 0, wire_fixed64 = 1, wire_bytes = 2, wire_fixed32 = 5 };

// Field numbers of sentencepiece_model.proto used here.
constexpr uint32_t model_pieces = 1, model_trainer_spec = 2, model_normalizer_spec = 3;
constexpr uint32_t piece_text = 1, piece_score = 2, piece_type = 3;
constexpr uint32_t trainer_model_type = 3, trainer_unk_id = 40, trainer_bos_id = 41, trainer_eos_id = 42,
                   trainer_pad_id = 43;
constexpr uint32_t normalizer_add_dummy_prefix = 3;

// A bounds-checked cursor over one protobuf message.
class proto_reader {
public:
    proto_reader(const uint8_t* begin, const uint8_t* end, const std::string& source, std::string what)
        : p_(begin), end_(end), source_(source), what_(std::move(what)) {}

    bool at_end() const { return p_ == end_; }

    // Reads the next field key; false at the end of the message.
    bool next_field(uint32_t& field, uint32_t& wire) {
        if (at_end()) return false;
        const uint64_t key = varint();
        field = static_cast<uint32_t>(key >> 3);
        wire = static_cast<uint32_t>(key & 7);
        if (field == 0 || (key >> 3) > 0x1fffffff) fail("{}: invalid protobuf field number in {}", source_, what_);
        return true;
    }

    uint64_t varint() {
        uint64_t v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (at_end()) fail("{}: truncated varint in {}", source_, what_);
            const uint8_t b = *p_++;
            v |= static_cast<uint64_t>(b & 0x7f) << shift;
            if ((b & 0x80) == 0) return v;
        }
        fail("{}: varint longer than 10 bytes in {}", source_, what_);
    }

    uint32_t fixed32() {
        uint32_t v;
        std::memcpy(&v, take(4), 4);
        return v;
    }

    // The payload of a length-delimited field.
    std::pair<const uint8_t*, const uint8_t*> bytes() {
        const uint64_t n = varint();
        const uint8_t* at = take(n);
        return {at, at + n};
    }

    void skip(uint32_t wire, uint32_t field) {
        switch (wire) {
            case wire_varint: varint(); return;
            case wire_fixed64: take(8); return;
            case wire_bytes: bytes(); return;
            case wire_fixed32: take(4); return;
            default: fail("{}: unsupported protobuf wire type {} (field {}) in {}", source_, wire, field, what_);
        }
    }

    // Checks that a known field arrived with the wire type its schema gives it.
    void expect(uint32_t wire, uint32_t want, uint32_t field) const {
        if (wire != want) {
            fail("{}: field {} of {} has wire type {}, expected {}", source_, field, what_, wire, want);
        }
    }

    int32_t int32_value() {
        // int32 fields encode negative values as 10-byte two's complement varints.
        const int64_t v = static_cast<int64_t>(varint());
        if (v < INT32_MIN || v > INT32_MAX) fail("{}: int32 field out of range ({}) in {}", source_, v, what_);
        return static_cast<int32_t>(v);
    }

private:
    const uint8_t* take(uint64_t n) {
        if (n > static_cast<uint64_t>(end_ - p_)) {
            fail("{}: truncated {} (a field needs {} bytes, {} left)", source_, what_, n, end_ - p_);
        }
        const uint8_t* at = p_;
        p_ += n;
        return at;
    }

    const uint8_t* p_;
    const uint8_t* end_;
    const std::string& source_;
    std::string what_;
};

spm_piece parse_piece(const uint8_t* begin, const uint8_t* end, const std::string& source, size_t index) {
    proto_reader r(begin, end, source, fmt::format("piece {}", index));
    spm_piece piece;
    uint32_t field, wire;
    while (r.next_field(field, wire)) {
        if (field == piece_text) {
            r.expect(wire, wire_bytes, field);
            const auto [b, e] = r.bytes();
            piece.piece.assign(reinterpret_cast<const char*>(b), static_cast<size_t>(e - b));
        } else if (field == piece_score) {
            r.expect(wire, wire_fixed32, field);
            const uint32_t bits = r.fixed32();
            std::memcpy(&piece.score, &bits, 4);
        } else if (field == piece_type) {
            r.expect(wire, wire_varint, field);
            const int32_t t = r.int32_value();
            if (t < 1 || t > 6) fail("{}: piece {} has unknown type {}", source, index, t);
            piece.type = static_cast<spm_piece_type>(t);
        } else {
            r.skip(wire, field);
        }
    }
    return piece;
}

void parse_trainer_spec(const uint8_t* begin, const uint8_t* end, const std::string& source, spm_model& m) {
    proto_reader r(begin, end, source, "trainer_spec");
    uint32_t field, wire;
    while (r.next_field(field, wire)) {
        int32_t* id = nullptr;
        switch (field) {
            case trainer_unk_id: id = &m.unk_id; break;
            case trainer_bos_id: id = &m.bos_id; break;
            case trainer_eos_id: id = &m.eos_id; break;
            case trainer_pad_id: id = &m.pad_id; break;
            default: break;
        }
        if (id) {
            r.expect(wire, wire_varint, field);
            *id = r.int32_value();
        } else if (field == trainer_model_type) {
            r.expect(wire, wire_varint, field);
            const int32_t t = r.int32_value();
            if (t < 1 || t > 4) fail("{}: trainer_spec has unknown model_type {}", source, t);
            m.model_type = static_cast<spm_model_type>(t);
        } else {
            r.skip(wire, field);
        }
    }
}

void parse_normalizer_spec(const uint8_t* begin, const uint8_t* end, const std::string& source, spm_model& m) {
    proto_reader r(begin, end, source, "normalizer_spec");
    uint32_t field, wire;
    while (r.next_field(field, wire)) {
        if (field == normalizer_add_dummy_prefix) {
            r.expect(wire, wire_varint, field);
            m.add_dummy_prefix = r.varint() != 0;
        } else {
            r.skip(wire, field);
        }
    }
}

}  // namespace

spm_model spm_parse(const uint8_t* data, size_t size, const std::string& source) {
    spm_model m;
    proto_reader r(data, data + size, source, "sentencepiece ModelProto");
    uint32_t field, wire;
    while (r.next_field(field, wire)) {
        if (field == model_pieces) {
            r.expect(wire, wire_bytes, field);
            const auto [b, e] = r.bytes();
            m.pieces.push_back(parse_piece(b, e, source, m.pieces.size()));
        } else if (field == model_trainer_spec) {
            r.expect(wire, wire_bytes, field);
            const auto [b, e] = r.bytes();
            parse_trainer_spec(b, e, source, m);
        } else if (field == model_normalizer_spec) {
            r.expect(wire, wire_bytes, field);
            const auto [b, e] = r.bytes();
            parse_normalizer_spec(b, e, source, m);
        } else {
            r.skip(wire, field);
        }
    }
    if (m.pieces.empty()) fail("{}: sentencepiece model has no pieces", source);
    const int64_t n = static_cast<int64_t>(m.pieces.size());
    const struct {
        const char* name;
        int32_t id;
    } ids[] = {{"unk_id", m.unk_id}, {"bos_id", m.bos_id}, {"eos_id", m.eos_id}, {"pad_id", m.pad_id}};
    for (const auto& s : ids) {
        if (s.id < -1 || s.id >= n) fail("{}: trainer_spec {} = {} is outside the {} pieces", source, s.name, s.id, n);
    }
    return m;
}

spm_model spm_load(const std::string& path) {
    const auto f = mapped_file::open(path);
    return spm_parse(f->data(), f->size(), path);
}

}  // namespace kiln

// Streams token pieces to a FILE, holding back an incomplete UTF-8 sequence
// until its last byte arrives (a character may be split over byte tokens), so
// a terminal never shows half a character.
#pragma once

#include <cstdio>
#include <string>

namespace kiln::cli {

class utf8_stream {
public:
    utf8_stream(FILE* f, bool enabled) : f_(f), enabled_(enabled) {}
    ~utf8_stream() { flush(); }

    void write(const std::string& piece) {
        if (!enabled_) return;
        pending_ += piece;
        const size_t keep = incomplete_tail(pending_);
        if (pending_.size() > keep) {
            std::fwrite(pending_.data(), 1, pending_.size() - keep, f_);
            std::fflush(f_);
            pending_.erase(0, pending_.size() - keep);
        }
    }
    void flush() {
        if (!enabled_ || pending_.empty()) return;
        std::fwrite(pending_.data(), 1, pending_.size(), f_);
        std::fflush(f_);
        pending_.clear();
    }

private:
    // Bytes at the end of s that start a multi-byte sequence not yet complete.
    static size_t incomplete_tail(const std::string& s) {
        const size_t n = s.size();
        for (size_t back = 1; back <= 3 && back <= n; ++back) {
            const auto c = static_cast<unsigned char>(s[n - back]);
            if ((c & 0xC0) == 0x80) continue;  // continuation byte: look further back
            size_t need = 1;
            if ((c & 0xE0) == 0xC0) need = 2;
            else if ((c & 0xF0) == 0xE0) need = 3;
            else if ((c & 0xF8) == 0xF0) need = 4;
            return need > back ? back : 0;
        }
        return 0;
    }

    FILE* f_;
    bool enabled_;
    std::string pending_;
};

}  // namespace kiln::cli

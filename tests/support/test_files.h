// File and error helpers the tests share: writing fixture bytes, reading the
// references' .npy arrays, and checking that a call fails with one kiln::error
// line naming what is wrong.
#pragma once

#include <doctest/doctest.h>

#include <cstddef>
#include <string>
#include <vector>

#include "core/error.h"

namespace kiln::test {

// Writes (replaces) the file; REQUIREs that the write succeeded.
void write_file(const std::string& path, const void* data, size_t n);
void write_file(const std::string& path, const std::string& bytes);

// A 2-D little-endian float32 .npy array in C order (the format the reference scripts save).
std::vector<float> read_npy_f32(const std::string& path, size_t& rows, size_t& cols);

// The message of the kiln::error f throws, or "" when it throws none.
template <class F>
std::string error_of(F&& f) {
    try {
        f();
    } catch (const error& e) {
        return e.what();
    }
    return "";
}

// Runs f, which must throw a kiln::error of one line containing every one of `parts`.
template <class F>
void check_error(F&& f, const std::vector<std::string>& parts) {
    const std::string msg = error_of(f);
    CAPTURE(msg);
    REQUIRE_MESSAGE(!msg.empty(), "expected a kiln::error containing " << (parts.empty() ? "" : parts.front()));
    CHECK(msg.find('\n') == std::string::npos);
    for (const auto& p : parts) CHECK_MESSAGE(msg.find(p) != std::string::npos, msg, " lacks: ", p);
}

}  // namespace kiln::test

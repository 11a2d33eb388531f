// Reading a whole text file given on the command line (perplexity, calibration, tokenize -f).
#pragma once

#include <fstream>
#include <sstream>
#include <string>

#include "core/error.h"

namespace kiln::cli {

// The file's bytes, possibly none; kiln::error naming the file when it is missing or unreadable.
inline std::string read_file_bytes(const std::string& path, const char* what) {
    std::ifstream f(path, std::ios::binary);
    if (!f) fail("{}: cannot open the {} (no such file or not readable)", path, what);
    std::ostringstream ss;
    ss << f.rdbuf();
    if (f.bad()) fail("{}: read error in the {}", path, what);
    return ss.str();
}

// The file's bytes; kiln::error naming the file when it is missing, unreadable or only whitespace.
inline std::string read_text_file(const std::string& path, const char* what) {
    std::string s = read_file_bytes(path, what);
    if (s.find_first_not_of(" \t\r\n") == std::string::npos) fail("{}: the {} is empty", path, what);
    return s;
}

}  // namespace kiln::cli

#include "support/test_files.h"

#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>

#include "support/test_paths.h"

namespace kiln::test {

void write_file(const std::string& path, const void* data, size_t n) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(static_cast<const char*>(data), static_cast<std::streamsize>(n));
    REQUIRE(out.good());
}

void write_file(const std::string& path, const std::string& bytes) { write_file(path, bytes.data(), bytes.size()); }

std::vector<float> read_npy_f32(const std::string& path, size_t& rows, size_t& cols) {
    const std::string b = read_text(path);
    REQUIRE(b.compare(0, 6, "\x93NUMPY") == 0);
    const size_t header_len = static_cast<uint8_t>(b[8]) | (static_cast<size_t>(static_cast<uint8_t>(b[9])) << 8);
    const std::string header = b.substr(10, header_len);
    REQUIRE(header.find("'<f4'") != std::string::npos);
    REQUIRE(header.find("'fortran_order': False") != std::string::npos);
    const size_t lp = header.find("'shape': (");
    REQUIRE(lp != std::string::npos);
    std::istringstream shape(header.substr(lp + 10));
    char comma;
    shape >> rows >> comma >> cols;
    std::vector<float> v(rows * cols);
    REQUIRE(b.size() >= 10 + header_len + v.size() * 4);
    std::memcpy(v.data(), b.data() + 10 + header_len, v.size() * 4);
    return v;
}

}  // namespace kiln::test

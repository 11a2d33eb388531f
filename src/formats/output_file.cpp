#include "formats/output_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/error.h"

namespace kiln {

void output_write_all(int fd, const void* p, size_t n, uint64_t offset, const std::string& dest) {
    const auto* b = static_cast<const uint8_t*>(p);
    while (n > 0) {
        const ssize_t k = ::pwrite(fd, b, n, static_cast<off_t>(offset));
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) fail("{}: write failed: {}", dest, std::strerror(errno));
        b += k;
        n -= static_cast<size_t>(k);
        offset += static_cast<uint64_t>(k);
    }
}

const void* output_tensor_bytes(const source_tensor& t, std::vector<uint8_t>& staging) {
    if (t.data) return t.data;
    staging.resize(t.n_bytes());
    t.load(staging.data());
    return staging.data();
}

void output_write_atomic(const std::string& path, const std::function<void(int fd)>& write) {
    namespace fs = std::filesystem;
    const fs::path dest(path);
    const fs::path dir = dest.has_parent_path() ? dest.parent_path() : fs::path(".");
    if (!fs::is_directory(dir)) fail("{}: output directory {} does not exist", path, dir.string());
    std::string tmp = (dir / ("." + dest.filename().string() + ".tmp.XXXXXX")).string();
    const int fd = ::mkstemp(tmp.data());
    if (fd < 0) fail("{}: cannot create a temporary file in {}: {}", path, dir.string(), std::strerror(errno));
    try {
        write(fd);
        if (::fsync(fd) != 0) fail("{}: fsync failed: {}", path, std::strerror(errno));
        ::fchmod(fd, 0644);
        ::close(fd);
    } catch (...) {
        ::close(fd);
        ::unlink(tmp.c_str());
        throw;
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        const int err = errno;
        ::unlink(tmp.c_str());
        fail("{}: cannot rename the finished file into place: {}", path, std::strerror(err));
    }
}

}  // namespace kiln

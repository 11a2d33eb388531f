#include "core/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "core/error.h"

namespace kiln {

std::shared_ptr<mapped_file> mapped_file::open(const std::string& path, bool use_mmap) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) fail("{}: cannot open: {}", path, std::strerror(errno));
    if (S_ISDIR(st.st_mode)) fail("{}: is a directory, expected a file", path);
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail("{}: cannot open: {}", path, std::strerror(errno));
    return from_fd(fd, path, use_mmap);
}

std::shared_ptr<mapped_file> mapped_file::from_fd(int fd, const std::string& display_name, bool use_mmap) {
    std::shared_ptr<mapped_file> f(new mapped_file());
    f->name_ = display_name;
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        ::close(fd);
        fail("{}: cannot stat: {}", display_name, std::strerror(errno));
    }
    f->size_ = static_cast<size_t>(st.st_size);
    if (f->size_ == 0) {
        ::close(fd);
        fail("{}: file is empty", display_name);
    }
    if (use_mmap) {
        void* p = ::mmap(nullptr, f->size_, PROT_READ, MAP_SHARED, fd, 0);
        if (p != MAP_FAILED) {
            f->data_ = static_cast<const uint8_t*>(p);
            f->mapped_ = true;
            ::close(fd);
            return f;
        }
    }
    // Read into 64-byte aligned memory so tensor data stays aligned as in a mapping.
    f->heap_ = std::aligned_alloc(64, (f->size_ + 63) / 64 * 64);
    if (!f->heap_) {
        ::close(fd);
        fail("{}: cannot allocate {} bytes to read the file", display_name, f->size_);
    }
    size_t done = 0;
    while (done < f->size_) {
        const ssize_t n = ::pread(fd, static_cast<char*>(f->heap_) + done, f->size_ - done, static_cast<off_t>(done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            ::close(fd);
            fail("{}: read failed after {} of {} bytes", display_name, done, f->size_);
        }
        done += static_cast<size_t>(n);
    }
    ::close(fd);
    f->data_ = static_cast<const uint8_t*>(f->heap_);
    return f;
}

mapped_file::~mapped_file() {
    if (mapped_) ::munmap(const_cast<uint8_t*>(data_), size_);
    std::free(heap_);
}

}  // namespace kiln

#include "core/progress.h"

#include <unistd.h>

#include <cstdio>

namespace kiln {

progress_bar::progress_bar(std::string label, uint64_t total, bool enabled)
    : label_(std::move(label)), total_(total), active_(enabled && total > 0 && isatty(STDERR_FILENO)) {}

progress_bar::~progress_bar() { finish(); }

void progress_bar::update(uint64_t done) {
    if (!active_) return;
    const int permille = static_cast<int>(done >= total_ ? 1000 : done * 1000 / total_);
    if (permille == last_permille_) return;
    last_permille_ = permille;
    constexpr int width = 40;
    const int filled = permille * width / 1000;
    std::string bar(static_cast<size_t>(filled), '#');
    bar.resize(width, '.');
    std::fprintf(stderr, "\r%s [%s] %5.1f%%", label_.c_str(), bar.c_str(), permille / 10.0);
    std::fflush(stderr);
}

void progress_bar::finish() {
    if (!active_) return;
    update(total_);
    std::fputc('\n', stderr);
    active_ = false;
}

}  // namespace kiln

// A one-line progress bar on stderr, drawn only when stderr is a terminal
// (so logs and tests stay clean).
#pragma once

#include <cstdint>
#include <string>

namespace kiln {

class progress_bar {
public:
    progress_bar(std::string label, uint64_t total, bool enabled = true);
    ~progress_bar();
    void update(uint64_t done);
    void finish();

private:
    std::string label_;
    uint64_t total_;
    bool active_;
    int last_permille_ = -1;
};

}  // namespace kiln

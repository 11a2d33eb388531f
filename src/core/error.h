// kiln reports every user-facing failure as a kiln::error whose message is one
// line naming the file, key or tensor at fault; the CLI prints it and exits 1.
#pragma once

#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace kiln {

class error : public std::runtime_error {
public:
    explicit error(const std::string& msg) : std::runtime_error(msg) {}
};

template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> f, Args&&... args) {
    throw error(fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace kiln

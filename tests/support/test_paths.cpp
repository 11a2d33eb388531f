#include "support/test_paths.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace kiln::test {

namespace fs = std::filesystem;

namespace {

std::string dir_from_env(const char* var, const char* fallback_rel) {
    if (const char* v = std::getenv(var); v && *v) return fs::is_directory(v) ? std::string(v) : std::string();
    const fs::path p = fs::path(KILN_SOURCE_DIR) / fallback_rel;
    return fs::is_directory(p) ? fs::weakly_canonical(p).string() : std::string();
}

}  // namespace

std::string models_dir() { return dir_from_env("KILN_MODELS", "../shared/models"); }
std::string refs_dir() { return dir_from_env("KILN_REFS", "../shared/refs"); }
std::string source_dir() { return KILN_SOURCE_DIR; }
std::string kiln_binary() { return KILN_BINARY; }

std::string temp_dir() {
    static std::string dir = [] {
        std::string tmpl = (fs::temp_directory_path() / "kiln-test-XXXXXX").string();
        if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
        return tmpl;
    }();
    return dir;
}

bool file_exists(const std::string& path) { return fs::exists(path); }

std::string read_text(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw std::runtime_error("cannot read " + path);
    std::ostringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

}  // namespace kiln::test

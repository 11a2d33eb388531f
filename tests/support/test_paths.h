// Where tests find models and reference outputs. Models come from the mirror
// directory $KILN_MODELS (default ../shared/models when it exists), refs from
// $KILN_REFS (default ../shared/refs). Tests that need a file that is absent
// are skipped with a message, never failed.
#pragma once

#include <string>

namespace kiln::test {

std::string models_dir();          // "" when not available
std::string refs_dir();            // "" when not available
std::string source_dir();          // the repository root
std::string kiln_binary();         // path of the built kiln CLI
std::string temp_dir();            // a fresh directory for this test process
bool file_exists(const std::string& path);
std::string read_text(const std::string& path);

}  // namespace kiln::test

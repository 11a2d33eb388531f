// Writes a source_model as a KILN file. Files are written to a temporary file
// in the destination directory and renamed into place only when complete, so
// a failure or interruption never leaves a half-written model behind.
#pragma once

#include <string>

#include "formats/source_model.h"

namespace kiln {

struct kiln_write_options {
    bool progress = false;  // a progress bar on stderr (shown only when stderr is a terminal)
};

void kiln_write_file(const source_model& m, const std::string& path, const kiln_write_options& opt = {});

// Writes into an anonymous in-memory file and returns its descriptor (for running a
// non-KILN model directly: it is converted in memory, then loaded like any KILN file).
int kiln_write_memfd(const source_model& m, const std::string& name);

}  // namespace kiln

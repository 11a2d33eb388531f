#include "formats/source_model.h"

#include <cstring>

#include "core/error.h"

namespace kiln {

void source_tensor::read_into(void* dst) const {
    if (data) {
        std::memcpy(dst, data, n_bytes());
    } else if (load) {
        load(dst);
    } else {
        fail("tensor '{}' has no data", name);
    }
}

const source_tensor* source_model::find(const std::string& name) const {
    for (const auto& t : tensors) {
        if (t.name == name) return &t;
    }
    return nullptr;
}

}  // namespace kiln

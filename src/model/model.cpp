#include "model/model.h"

#include "arch/cpu_dispatch.h"
#include "core/error.h"
#include "model/arch.h"

namespace kiln {

namespace {

// Every graph builder; adding an architecture is a file arch_<name>.cpp and an entry here.
const arch_def* const all_archs[] = {&arch_llama, &arch_qwen2, &arch_qwen3, &arch_gemma2};

}  // namespace

const arch_def* arch_find(const std::string& name) {
    for (const arch_def* a : all_archs) {
        if (name == a->name) return a;
    }
    return nullptr;
}

std::string arch_list() {
    std::string s;
    for (const arch_def* a : all_archs) s += (s.empty() ? "" : ", ") + std::string(a->name);
    return s;
}

const tensor* model_bind(const kiln_file& file, const std::string& name, std::initializer_list<int64_t> ne) {
    const tensor* t = file.find(name);
    if (!t) fail("{}: tensor '{}' is missing", file.name(), name);
    bool ok = t->n_dims == static_cast<int>(ne.size());
    int d = 0;
    std::string want = "[";
    for (int64_t x : ne) {
        if (d) want += ", ";
        want += std::to_string(x);
        if (ok && t->ne[d] != x) ok = false;
        ++d;
    }
    want += "]";
    if (!ok) fail("{}: tensor '{}' has shape {}, expected {}", file.name(), name, tensor_shape_str(*t), want);
    if (t->n_dims == 1 && t->type != dtype::f32) {
        fail("{}: tensor '{}' is {}, 1-D tensors must be f32", file.name(), name, dtype_name(t->type));
    }
    return t;
}

std::shared_ptr<model> model_from_file(std::shared_ptr<kiln_file> file) {
    // Pick the kernel table now (CPUID, $KILN_ISA): a bad KILN_ISA is reported when the model loads,
    // before a command prints anything, not at the first op.
    cpu_kernels_get();
    auto m = std::make_shared<model>();
    if (!file->meta().has("model.arch")) {
        fail("{}: metadata key 'model.arch' is missing (a vocabulary-only file cannot be run)", file->name());
    }
    m->hp = hparams_from_metadata(file->meta(), file->name());
    m->arch = arch_find(m->hp.arch);
    if (!m->arch) {
        fail("{}: unsupported architecture '{}' (supported: {})", file->name(), m->hp.arch, arch_list());
    }
    m->file = std::move(file);
    m->arch->bind(*m);
    return m;
}

}  // namespace kiln

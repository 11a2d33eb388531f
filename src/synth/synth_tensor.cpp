#include "synth/synth_tensor.h"

#include <cmath>
#include <vector>

#include "core/convert_row.h"
#include "core/error.h"
#include "quant/recipe.h"

namespace kiln {

namespace {

uint64_t mix64(uint64_t x) {  // splitmix64's finalizer: a bijective avalanche of 64 bits
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

}  // namespace

uint64_t synth_stream(uint64_t seed, const std::string& name) {
    uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a over the name, then mixed with the seed
    for (unsigned char c : name) h = (h ^ c) * 0x100000001b3ull;
    return mix64(h ^ mix64(seed));
}

float synth_normal(uint64_t stream, uint64_t index) {
    const uint64_t r = mix64(stream + index * 0xd1b54a32d192ed03ull);
    const uint32_t sum = static_cast<uint32_t>(r & 0xffff) + static_cast<uint32_t>((r >> 16) & 0xffff) +
                         static_cast<uint32_t>((r >> 32) & 0xffff) + static_cast<uint32_t>(r >> 48);
    // Sum of 4 uniforms on [0, 65536): mean 4 * 32767.5, variance 4 * (65536^2 - 1) / 12.
    constexpr double mean = 4 * 32767.5;
    const double inv_sd = 1.0 / std::sqrt(4.0 * (65536.0 * 65536.0 - 1.0) / 12.0);
    return static_cast<float>((static_cast<double>(sum) - mean) * inv_sd);
}

dtype synth_generation_type(dtype t) { return dtype_info(t).quantized ? dtype::f32 : t; }

void synth_apply_type(source_model& m, dtype t, bool plain_layout, const std::function<void(const std::string&)>& note) {
    if (!dtype_info(t).quantized) return;
    quant_recipe_options ro;
    switch (t) {
        case dtype::q8_0: ro.scheme = quant_scheme::q8; break;
        case dtype::q4_0: ro.scheme = quant_scheme::q4; break;
        case dtype::q4_k: ro.scheme = quant_scheme::q4k; break;
        case dtype::q6_k: ro.scheme = quant_scheme::q6k; break;
        case dtype::q5_0: ro.scheme = quant_scheme::q5_0; break;
        case dtype::q5_1: ro.scheme = quant_scheme::q5_1; break;
        default: fail("--type {}: no quantization recipe for this type", dtype_name(t));
    }
    ro.note = note;
    recipe_apply(m, ro);
    if (!plain_layout) recipe_pack(m);
}

source_tensor synth_tensor(const std::string& name, int n_dims, int64_t ne0, int64_t ne1, dtype t, synth_row_fn row_fn) {
    source_tensor s;
    s.name = name;
    s.n_dims = n_dims;
    s.ne[0] = ne0;
    s.ne[1] = n_dims >= 2 ? ne1 : 1;
    s.type = n_dims == 1 ? dtype::f32 : t;
    if (dtype_info(s.type).quantized) fail("tensor '{}': synth_tensor makes float tensors, not {}", name, dtype_name(s.type));
    const int bs = dtype_info(s.type).block_size;
    if (ne0 % bs != 0) {
        fail("tensor '{}': row length {} is not a multiple of the {} block size {}", name, ne0, dtype_name(s.type), bs);
    }
    const dtype type = s.type;
    const int64_t rows = s.ne[1];
    s.load = [type, ne0, rows, row_fn](void* dst) {
        const size_t row_bytes = dtype_row_bytes(type, ne0);
        auto* out = static_cast<uint8_t*>(dst);
        // Threads only where there is work for them: a parallel region per small tensor costs more
        // than it saves (and stalls when another process holds a core).
#pragma omp parallel if (rows * ne0 >= (int64_t(1) << 18))
        {
            std::vector<float> tmp(type == dtype::f32 ? 0 : static_cast<size_t>(ne0));
#pragma omp for schedule(static)
            for (int64_t r = 0; r < rows; ++r) {
                if (type == dtype::f32) {
                    row_fn(r, reinterpret_cast<float*>(out + static_cast<size_t>(r) * row_bytes));
                } else {
                    row_fn(r, tmp.data());
                    row_from_f32(type, tmp.data(), out + static_cast<size_t>(r) * row_bytes, ne0);
                }
            }
        }
    };
    return s;
}

}  // namespace kiln

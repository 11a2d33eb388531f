// source_cast: the --dtype step of `kiln convert`.
#include <vector>

#include "core/convert_row.h"
#include "core/error.h"
#include "formats/source_model.h"
#include "quant/pack.h"
#include "quant/quantize.h"

namespace kiln {

namespace {

// Wraps `src` so that reading it yields its rows converted to `target`.
source_tensor cast_tensor(const source_tensor& src, dtype target) {
    source_tensor out = src;
    out.type = target;
    out.layout = tensor_layout::plain;
    out.data = nullptr;
    out.load = [src, target](void* dst) {
        std::vector<uint8_t> raw(src.n_bytes());
        src.read_into(raw.data());
        const int64_t n = src.ne[0];
        const int64_t rows = src.n_elements() / n;
        const size_t in_row = dtype_row_bytes(src.type, n);
        if (src.layout == tensor_layout::rows8) {  // unpack the kernels' interleaved rows first
            std::vector<uint8_t> plain(in_row * static_cast<size_t>(rows));
            for (int64_t r = 0; r < rows; ++r) {
                quant_unpack_row_rows8(src.type, raw.data(), rows, n, r, plain.data() + r * in_row);
            }
            raw.swap(plain);
        }
        const size_t out_row = dtype_row_bytes(target, n);
        std::vector<float> tmp(static_cast<size_t>(n));
        for (int64_t r = 0; r < rows; ++r) {
            dequantize_row(src.type, raw.data() + r * in_row, tmp.data(), n);
            row_from_f32(target, tmp.data(), static_cast<uint8_t*>(dst) + r * out_row, n);
        }
    };
    return out;
}

}  // namespace

void source_cast(source_model& m, dtype target) {
    if (dtype_info(target).quantized) {
        fail("--dtype {} is not a float type (use f32, f16 or bf16; quantization is `kiln quantize`)",
             dtype_name(target));
    }
    for (auto& t : m.tensors) {
        const dtype want = t.n_dims >= 2 ? target : dtype::f32;
        if (t.type != want) t = cast_tensor(t, want);
    }
}

}  // namespace kiln

#include "quant/recipe.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <utility>
#include <vector>

#include "core/convert_row.h"
#include "core/error.h"
#include "ops/ops.h"
#include "quant/imatrix.h"
#include "quant/pack.h"
#include "quant/quantize.h"

namespace kiln {

bool quant_scheme_from_name(std::string_view name, quant_scheme& out) {
    if (name == "q8" || name == "q8_0") { out = quant_scheme::q8; return true; }
    if (name == "q4" || name == "q4_0") { out = quant_scheme::q4; return true; }
    if (name == "q4k" || name == "q4_k") { out = quant_scheme::q4k; return true; }
    if (name == "q6k" || name == "q6_k") { out = quant_scheme::q6k; return true; }
    if (name == "q5_0") { out = quant_scheme::q5_0; return true; }
    if (name == "q5_1") { out = quant_scheme::q5_1; return true; }
    return false;
}

const char* quant_scheme_name(quant_scheme s) {
    switch (s) {
        case quant_scheme::q8: return "q8";
        case quant_scheme::q4: return "q4";
        case quant_scheme::q4k: return "q4k";
        case quant_scheme::q6k: return "q6k";
        case quant_scheme::q5_0: return "q5_0";
        case quant_scheme::q5_1: return "q5_1";
    }
    return "?";
}

namespace {

dtype scheme_type(quant_scheme s) {
    switch (s) {
        case quant_scheme::q8: return dtype::q8_0;
        case quant_scheme::q4: return dtype::q4_0;
        case quant_scheme::q4k: return dtype::q4_k;
        case quant_scheme::q6k: return dtype::q6_k;
        case quant_scheme::q5_0: return dtype::q5_0;
        case quant_scheme::q5_1: return dtype::q5_1;
    }
    return dtype::q8_0;
}

bool fits(dtype t, int64_t k) { return k % dtype_info(t).block_size == 0; }

// The first of `want`, q4_1 (for q4_k), f16 that the row length allows. q4_k's fallback is q4_1, not
// q4_0: its per-block minimum keeps most of what q4_k's sub-block mins buy (llama.cpp falls back to
// Q5_0 there), at 5.0 bits per weight instead of 4.5 (docs/QUANTIZE.md).
tensor_choice fit_or_fallback(dtype want, int64_t k) {
    if (fits(want, k)) return {want, ""};
    if (want == dtype::q4_k && fits(dtype::q4_1, k)) {
        return {dtype::q4_1, fmt::format("row length {} is not a multiple of {}: q4_1", k, qk_k)};
    }
    if (want == dtype::q6_k && fits(dtype::q8_0, k)) {  // the next finer type, not a coarser one
        return {dtype::q8_0, fmt::format("row length {} is not a multiple of {}: q8_0", k, qk_k)};
    }
    if (want == dtype::q4_k || want == dtype::q6_k) {
        return {dtype::f16, fmt::format("row length {} is not a multiple of {} or {}: kept f16", k, qk_k, qk4_1)};
    }
    return {dtype::f16, fmt::format("row length {} is not a multiple of {}: kept f16", k, dtype_info(want).block_size)};
}

// The bytes of src in the plain layout (a rows8 source is unpacked).
std::vector<uint8_t> plain_bytes(const source_tensor& src) {
    std::vector<uint8_t> raw(src.n_bytes());
    src.read_into(raw.data());
    if (src.layout == tensor_layout::plain) return raw;
    const int64_t k = src.ne[0], rows = src.n_elements() / k;
    const size_t rb = dtype_row_bytes(src.type, k);
    std::vector<uint8_t> out(rb * static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r) quant_unpack_row_rows8(src.type, raw.data(), rows, k, r, out.data() + r * rb);
    return out;
}

// Lazily quantized form of `src`: the bytes are produced when the writer asks for them.
source_tensor quantized_tensor(const source_tensor& src, dtype target, const std::vector<float>* importance) {
    source_tensor out = src;
    out.type = target;
    out.data = nullptr;
    std::shared_ptr<const std::vector<float>> imp;
    if (importance) imp = std::make_shared<const std::vector<float>>(*importance);
    out.layout = tensor_layout::plain;
    out.load = [src, target, imp](void* dst) {
        const std::vector<uint8_t> raw = plain_bytes(src);
        const int64_t k = src.ne[0];
        const int64_t rows = src.n_elements() / k;
        const size_t in_row = dtype_row_bytes(src.type, k), out_row = dtype_row_bytes(target, k);
        const float* w = imp ? imp->data() : nullptr;
        const auto* in = raw.data();
        auto* o = static_cast<uint8_t*>(dst);
        const int nt = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads_get(), rows / 8)));
        std::string first_error;  // an exception must not leave an OpenMP region
#pragma omp parallel num_threads(nt)
        {
            std::vector<float> tmp(static_cast<size_t>(k));
#pragma omp for schedule(dynamic, 8)
            for (int64_t r = 0; r < rows; ++r) {
                try {
                    dequantize_row(src.type, in + r * in_row, tmp.data(), k);
                    for (int64_t j = 0; j < k; ++j) {
                        if (!std::isfinite(tmp[j])) fail("row {} column {} is not a finite number", r, j);
                    }
                    if (dtype_info(target).quantized) {
                        quantize_rows(target, tmp.data(), 1, k, o + r * out_row, w);
                    } else {
                        row_from_f32(target, tmp.data(), o + r * out_row, k);  // f32/f16/bf16: round to nearest
                    }
                } catch (const std::exception& e) {
#pragma omp critical(kiln_quantize_error)
                    if (first_error.empty()) first_error = e.what();
                }
            }
        }
        if (!first_error.empty()) fail("quantizing {} to {}: {}", src.name, dtype_name(target), first_error);
    };
    return out;
}

}  // namespace

tensor_choice recipe_choose(const quant_recipe_options& o, const source_tensor& t, bool tied_output) {
    if (t.n_dims < 2) return {dtype::f32, ""};
    const int64_t k = t.ne[0];
    const bool is_output = t.name == "output.weight" || (tied_output && t.name == "token_embd.weight");
    if (is_output) {
        if (o.output_f16) return {dtype::f16, "output projection: f16 (--keep-output f16)"};
        if (o.scheme != quant_scheme::q8) {
            tensor_choice c = fit_or_fallback(dtype::q8_0, k);
            if (c.why.empty()) c.why = "output projection: q8_0";
            return c;
        }
    }
    return fit_or_fallback(scheme_type(o.scheme), k);
}

void recipe_apply(source_model& m, const quant_recipe_options& o) {
    const bool tied = m.meta.get_bool("model.tied_output", false) && !m.find("output.weight");
    std::vector<std::pair<std::string, std::vector<std::string>>> notes;  // reason -> tensors, in order
    for (auto& t : m.tensors) {
        const tensor_choice c = recipe_choose(o, t, tied);
        if (t.type == c.type) continue;  // unchanged (and lossless for an already-quantized tensor)
        if (dtype_info(t.type).quantized && !o.allow_requantize) {
            fail("{} is already quantized ({}); quantizing it to {} would lose quality again: quantize from the "
                 "f32/f16 model (or pass --allow-requantize)",
                 t.name, dtype_name(t.type), dtype_name(c.type));
        }
        if (!c.why.empty()) {
            auto it = std::find_if(notes.begin(), notes.end(), [&](const auto& n) { return n.first == c.why; });
            if (it == notes.end()) it = notes.insert(notes.end(), {c.why, {}});
            it->second.push_back(t.name);
        }
        const std::vector<float>* imp = nullptr;
        if (o.importance && dtype_info(c.type).quantized) {
            imp = o.importance->importance(t.name);
            if (imp && static_cast<int64_t>(imp->size()) != t.ne[0]) imp = nullptr;
        }
        t = quantized_tensor(t, c.type, imp);
    }
    // one line per decision, not per tensor (a large model has hundreds)
    for (const auto& [why, names] : notes) {
        if (!o.note) break;
        std::string list = names[0];
        for (size_t i = 1; i < std::min<size_t>(names.size(), 3); ++i) list += ", " + names[i];
        if (names.size() > 3) list += fmt::format(" and {} more", names.size() - 3);
        o.note(fmt::format("{}: {}", list, why));
    }
}

void recipe_pack(source_model& m) {
    for (auto& t : m.tensors) {
        if (t.n_dims < 2 || t.layout != tensor_layout::plain || !quant_has_rows8(t.type)) continue;
        if (t.ne[0] % dtype_info(t.type).block_size != 0) continue;
        source_tensor packed = t;
        packed.layout = tensor_layout::rows8;
        packed.data = nullptr;
        packed.load = [src = t](void* dst) {
            std::vector<uint8_t> plain(src.n_bytes());
            src.read_into(plain.data());
            quant_pack_rows8(src.type, plain.data(), src.n_elements() / src.ne[0], src.ne[0], dst);
        };
        t = std::move(packed);
    }
}

}  // namespace kiln

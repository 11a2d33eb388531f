// kiln::ref: the scalar reference of every op, written to be obviously right
// rather than fast. It is the oracle the tests hold kiln::ops to, so sums and
// transcendental functions run in double, and each result is rounded to f32 once.
#include <algorithm>
#include <cstdint>
#include <cmath>
#include <limits>
#include <vector>

#include "core/convert_row.h"
#include "ops/ops.h"
#include "ops/ops_check.h"
#include "quant/pack.h"

namespace kiln::ref {

namespace {

// Row r of a 2-D tensor as f32, whatever its layout (rows8 rows are unpacked to plain blocks first).
void tensor_row_f32(const tensor& t, int64_t r, float* out, std::vector<uint8_t>& scratch) {
    if (t.layout == tensor_layout::rows8) {
        scratch.resize(t.row_bytes());
        quant_unpack_row_rows8(t.type, t.data, t.ne[1], t.ne[0], r, scratch.data());
        row_to_f32(t.type, scratch.data(), out, t.ne[0]);
    } else {
        row_to_f32(t.type, t.row(r), out, t.ne[0]);
    }
}

}  // namespace

void get_rows(const tensor& table, const int32_t* ids, int64_t n_ids, float* out) {
    ops_check::get_rows(table, ids, n_ids);
    const int64_t n_cols = table.ne[0];
    std::vector<uint8_t> scratch;
    for (int64_t i = 0; i < n_ids; ++i) tensor_row_f32(table, ids[i], out + i * n_cols, scratch);
}

void rms_norm(const float* x, const float* w, float* out, int64_t n_rows, int64_t n, float eps) {
    ops_check::rms_norm(n_rows, n);
    for (int64_t r = 0; r < n_rows; ++r) {
        const float* xr = x + r * n;
        float* o = out + r * n;
        double sum = 0.0;
        for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(xr[i]) * xr[i];
        const double scale = 1.0 / std::sqrt(sum / static_cast<double>(n) + eps);
        for (int64_t i = 0; i < n; ++i) o[i] = static_cast<float>(xr[i] * scale * (w ? w[i] : 1.0f));
    }
}

void rope(float* x, int64_t n_tokens, int n_heads, int head_dim, const int32_t* pos, const rope_params& p) {
    ops_check::rope(n_tokens, n_heads, head_dim, p);
    const int n_pairs = p.n_rot / 2;
    for (int64_t t = 0; t < n_tokens; ++t) {
        for (int h = 0; h < n_heads; ++h) {
            float* v = x + (t * n_heads + h) * head_dim;
            for (int i = 0; i < n_pairs; ++i) {
                double freq = std::pow(static_cast<double>(p.theta), -2.0 * i / p.n_rot);
                if (p.freq_factors) freq /= p.freq_factors[i];
                const double angle = static_cast<double>(pos[t]) * p.freq_scale * freq;
                const double c = std::cos(angle), s = std::sin(angle);
                const int i0 = p.pairing == rope_pairing::interleaved ? 2 * i : i;
                const int i1 = p.pairing == rope_pairing::interleaved ? 2 * i + 1 : i + n_pairs;
                const double x0 = v[i0], x1 = v[i1];
                v[i0] = static_cast<float>(x0 * c - x1 * s);
                v[i1] = static_cast<float>(x0 * s + x1 * c);
            }
        }
    }
}

void softmax(float* x, int64_t n) {
    ops_check::length("softmax", n);
    double m = -std::numeric_limits<double>::infinity();
    for (int64_t i = 0; i < n; ++i) m = std::max(m, static_cast<double>(x[i]));
    if (m == -std::numeric_limits<double>::infinity()) {  // no finite entry: all zero, not NaN
        for (int64_t i = 0; i < n; ++i) x[i] = 0.0f;
        return;
    }
    std::vector<double> e(static_cast<size_t>(n));
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) sum += e[i] = std::exp(x[i] - m);
    for (int64_t i = 0; i < n; ++i) x[i] = static_cast<float>(e[i] / sum);
}

void silu(float* x, int64_t n) {
    ops_check::length("silu", n);
    for (int64_t i = 0; i < n; ++i) x[i] = static_cast<float>(x[i] / (1.0 + std::exp(-static_cast<double>(x[i]))));
}

void swiglu(const float* gate, const float* up, float* out, int64_t n) {
    ops_check::length("swiglu", n);
    for (int64_t i = 0; i < n; ++i) {
        const double g = gate[i];
        out[i] = static_cast<float>(g / (1.0 + std::exp(-g)) * up[i]);
    }
}

void add(const float* a, const float* b, float* out, int64_t n) {
    ops_check::length("add", n);
    for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

void add_bias(float* x, const float* bias, int64_t n_rows, int64_t n) {
    ops_check::add_bias(n_rows, n);
    for (int64_t r = 0; r < n_rows; ++r) {
        for (int64_t i = 0; i < n; ++i) x[r * n + i] += bias[i];
    }
}

void geglu(const float* gate, const float* up, float* out, int64_t n) {
    ops_check::length("geglu", n);
    const double k = 0.79788456080286535588;  // sqrt(2 / pi)
    for (int64_t i = 0; i < n; ++i) {
        const double g = gate[i];
        out[i] = static_cast<float>(0.5 * g * (1.0 + std::tanh(k * (g + 0.044715 * g * g * g))) * up[i]);
    }
}

void softcap(float* x, int64_t n, float cap) {
    ops_check::softcap(n, cap);
    for (int64_t i = 0; i < n; ++i) x[i] = static_cast<float>(cap * std::tanh(static_cast<double>(x[i]) / cap));
}

void mul(const float* a, const float* b, float* out, int64_t n) {
    ops_check::length("mul", n);
    for (int64_t i = 0; i < n; ++i) out[i] = a[i] * b[i];
}

void matmul(const tensor& w, const float* x, int64_t n_tokens, float* y) {
    ops_check::matrix_2d("matmul", w);
    ops_check::length("matmul", n_tokens);
    const int64_t k = w.ne[0], n_out = w.ne[1];
    std::vector<float> row(static_cast<size_t>(k));
    std::vector<uint8_t> scratch;
    for (int64_t r = 0; r < n_out; ++r) {
        tensor_row_f32(w, r, row.data(), scratch);
        for (int64_t t = 0; t < n_tokens; ++t) {
            const float* xt = x + t * k;
            double sum = 0.0;
            for (int64_t i = 0; i < k; ++i) sum += static_cast<double>(row[i]) * xt[i];
            y[t * n_out + r] = static_cast<float>(sum);
        }
    }
}

void attention(const float* q, int64_t n_tokens, const int32_t* pos, const float* k_cache, const float* v_cache,
               int64_t n_kv, const attention_params& p, float* out) {
    ops_check::attention(n_tokens, pos, n_kv, p);
    const int64_t hd = p.head_dim;
    const int64_t q_stride = p.n_head * hd, kv_stride = p.n_head_kv * hd;
    const int group = p.n_head / p.n_head_kv;  // query heads per KV head
    std::vector<double> score, acc(static_cast<size_t>(hd));
    for (int64_t t = 0; t < n_tokens; ++t) {
        const int64_t n_ctx = static_cast<int64_t>(pos[t]) + 1;  // causal: cache rows 0..pos[t]
        // sliding window: rows pos[t] - window + 1 .. pos[t]
        const int64_t first = p.window > 0 ? std::max<int64_t>(0, n_ctx - p.window) : 0;
        score.assign(static_cast<size_t>(n_ctx), 0.0);
        for (int h = 0; h < p.n_head; ++h) {
            const float* qh = q + t * q_stride + h * hd;
            const int64_t kv_off = static_cast<int64_t>(h / group) * hd;
            double m = -std::numeric_limits<double>::infinity();
            for (int64_t j = first; j < n_ctx; ++j) {
                const float* kj = k_cache + j * kv_stride + kv_off;
                double s = 0.0;
                for (int64_t d = 0; d < hd; ++d) s += static_cast<double>(qh[d]) * kj[d];
                score[j] = s * p.scale;
                if (p.softcap > 0.0f) score[j] = p.softcap * std::tanh(score[j] / p.softcap);
                m = std::max(m, score[j]);
            }
            double sum = 0.0;
            for (int64_t j = first; j < n_ctx; ++j) sum += score[j] = std::exp(score[j] - m);
            std::fill(acc.begin(), acc.end(), 0.0);
            for (int64_t j = first; j < n_ctx; ++j) {
                const float* vj = v_cache + j * kv_stride + kv_off;
                for (int64_t d = 0; d < hd; ++d) acc[d] += score[j] / sum * vj[d];
            }
            float* o = out + t * q_stride + h * hd;
            for (int64_t d = 0; d < hd; ++d) o[d] = static_cast<float>(acc[d]);
        }
    }
}

}  // namespace kiln::ref

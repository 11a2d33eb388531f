// Reference quantizers: f32 rows into q8_0, q4_0, q4_1, q5_0, q5_1, q4_k and q6_k blocks (GGUF block layouts).
//
// Every quantizer minimizes the (importance-)weighted squared error of its block instead of taking
// the max-abs scale as it comes: the scale candidates always include the max-abs one, so the chosen
// block is never worse than plain rounding under the weighted error. Scales are rounded to fp16
// before the quants are chosen, so the error that is minimized is the error the file will have.
#include "quant/quantize.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/convert_row.h"
#include "core/error.h"
#include "core/fp16.h"

namespace kiln {

namespace {

float fp16_round(float v) { return fp16_to_f32(fp16_from_f32(v)); }

int clamp_int(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

struct weighting {
    const float* importance = nullptr;
    float floor = 0.0f;
    float sigma2 = 0.0f;  // mean square of the row
};

// Per-column weights of one block. The error of a weight matters in proportion to its activation's
// mean square (the importance), but measured on stories260K the plain diagonal statistics overstate
// single columns: their square root did better, as did weighting each weight by sqrt(sigma2 + x^2)
// (sigma2 the row's mean square), which spends precision on the large weights that dominate the
// products. Importance is floored so a column never seen in calibration still counts.
void block_weights(const weighting& wt, const float* x, int64_t col0, int n, float* w) {
    for (int j = 0; j < n; ++j) {
        const float shape = std::sqrt(wt.sigma2 + x[j] * x[j]);
        w[j] = wt.importance ? std::sqrt(std::max(wt.importance[col0 + j], wt.floor)) * shape : shape;
    }
}

// ---- symmetric types (q8_0, q4_0): w = d * q, q in [qmin, qmax] ----

// Weighted error of the block for scale d (fp16-exact); q receives the codes.
float sym_quantize(const float* x, const float* w, int n, float d, int qmin, int qmax, int* q) {
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    float err = 0.0f;
    for (int j = 0; j < n; ++j) {
        q[j] = clamp_int(static_cast<int>(std::nearbyint(x[j] * id)), qmin, qmax);
        const float e = x[j] - d * static_cast<float>(q[j]);
        err += w[j] * e * e;
    }
    return err;
}

// Best fp16 scale for a symmetric block: each candidate scale, then its least-squares refinement
// given the codes it produced. divisors: the candidates are d = vmax / divisor, vmax the element of
// largest magnitude (signed, so a negative divisor maps it to the negative end of the range).
float sym_best_scale(const float* x, const float* w, int n, int qmin, int qmax, const float* divisors,
                     int n_div, int* q) {
    float vmax = 0.0f;
    for (int j = 0; j < n; ++j) {
        if (std::fabs(x[j]) > std::fabs(vmax)) vmax = x[j];
    }
    if (vmax == 0.0f) {
        std::fill(q, q + n, 0);
        return 0.0f;
    }
    int tmp[qk_k];
    float best_d = 0.0f, best_err = INFINITY;
    auto consider = [&](float d) {
        d = fp16_round(d);
        if (d == 0.0f || !std::isfinite(d)) return;
        const float err = sym_quantize(x, w, n, d, qmin, qmax, tmp);
        if (err < best_err) {
            best_err = err;
            best_d = d;
            std::copy(tmp, tmp + n, q);
        }
    };
    for (int c = 0; c < n_div; ++c) {
        const float d0 = vmax / divisors[c];
        consider(d0);
        // least squares for d given the codes of d0: d = sum w x q / sum w q^2
        sym_quantize(x, w, n, fp16_round(d0), qmin, qmax, tmp);
        double sxq = 0, sqq = 0;
        for (int j = 0; j < n; ++j) {
            sxq += static_cast<double>(w[j]) * x[j] * tmp[j];
            sqq += static_cast<double>(w[j]) * tmp[j] * tmp[j];
        }
        if (sqq > 0) consider(static_cast<float>(sxq / sqq));
    }
    return best_d;
}

void quantize_q8_0(const float* src, int64_t k, block_q8_0* out, const weighting& wt) {
    // The max-abs scale first (the classic q8_0), then slightly smaller scales that trade a clipped
    // extreme for finer steps everywhere else.
    static const float divisors[] = {127.0f, 127.5f, 128.0f, 126.5f, 126.0f};
    float w[qk8_0];
    int q[qk8_0];
    for (int64_t b = 0; b < k / qk8_0; ++b) {
        const float* x = src + b * qk8_0;
        block_weights(wt, x, b * qk8_0, qk8_0, w);
        const float d = sym_best_scale(x, w, qk8_0, -127, 127, divisors, 5, q);
        out[b].d = fp16_from_f32(d);
        for (int j = 0; j < qk8_0; ++j) out[b].qs[j] = static_cast<int8_t>(q[j]);
    }
}

void quantize_q4_0(const float* src, int64_t k, block_q4_0* out, const weighting& wt) {
    // llama.cpp's q4_0 takes d = vmax / -8 only. We also try the neighbourhood of that scale and the
    // mirror image (vmax at +7), each followed by a least-squares refit of d.
    static const float divisors[] = {-8.0f,  -7.75f, -7.5f,  -7.25f, -7.0f, -6.75f, -6.5f, -8.25f,
                                     -8.5f,  7.0f,   7.25f,  7.5f,   6.75f, 6.5f,   -6.25f, -6.0f};
    float w[qk4_0];
    int q[qk4_0];
    for (int64_t b = 0; b < k / qk4_0; ++b) {
        const float* x = src + b * qk4_0;
        block_weights(wt, x, b * qk4_0, qk4_0, w);
        const float d = sym_best_scale(x, w, qk4_0, -8, 7, divisors, 16, q);
        out[b].d = fp16_from_f32(d);
        for (int j = 0; j < qk4_0 / 2; ++j) {
            out[b].qs[j] = static_cast<uint8_t>((q[j] + 8) | ((q[j + qk4_0 / 2] + 8) << 4));
        }
    }
}

// q5_0: the q4_0 search over the 5-bit range [-16, 15]; the 5th bits go to qh (bit j: element j).
void quantize_q5_0(const float* src, int64_t k, block_q5_0* out, const weighting& wt) {
    static const float divisors[] = {-16.0f, -15.75f, -15.5f, -15.25f, -15.0f, -14.5f, -14.0f, -16.5f,
                                     15.0f,  15.25f,  15.5f,  14.75f,  14.5f,  14.0f, -13.5f, -13.0f};
    float w[qk5_0];
    int q[qk5_0];
    for (int64_t b = 0; b < k / qk5_0; ++b) {
        const float* x = src + b * qk5_0;
        block_weights(wt, x, b * qk5_0, qk5_0, w);
        const float d = sym_best_scale(x, w, qk5_0, -16, 15, divisors, 16, q);
        out[b].d = fp16_from_f32(d);
        uint32_t qh = 0;
        for (int j = 0; j < qk5_0; ++j) qh |= static_cast<uint32_t>((q[j] + 16) >> 4) << j;
        for (int i = 0; i < 4; ++i) out[b].qh[i] = static_cast<uint8_t>(qh >> (8 * i));
        for (int j = 0; j < qk5_0 / 2; ++j) {
            out[b].qs[j] = static_cast<uint8_t>(((q[j] + 16) & 15) | (((q[j + qk5_0 / 2] + 16) & 15) << 4));
        }
    }
}

// ---- q4_1 and q5_1: w = d * q + m, q in 0..qmax (15 or 31), d and m fp16 ----

// Weighted error of a q4_1 / q5_1 block of 32 for fp16-exact (d, m); q receives the codes.
float q4_1_codes(const float* x, const float* w, float d, float m, int* q, int qmax = 15) {
    const float id = d > 0.0f ? 1.0f / d : 0.0f;
    float err = 0.0f;
    for (int j = 0; j < qk4_1; ++j) {
        q[j] = clamp_int(static_cast<int>(std::nearbyint((x[j] - m) * id)), 0, qmax);
        const float e = d * static_cast<float>(q[j]) + m - x[j];
        err += w[j] * e * e;
    }
    return err;
}

// The classic min/max block (d = (max - min) / 15, m = min, llama.cpp's Q4_1) is the first
// candidate; then a grid of scales spanning the range, each followed by a weighted least-squares fit
// of (d, m) to the codes it produced and, with d and m rounded to fp16, the codes chosen again and
// the fit repeated once. The block with the lowest weighted error is kept. q receives the codes
// (0..qmax), d and m the fp16 scale and minimum.
void quantize_min_block(const float* x, const float* w, int qmax, uint16_t& d_out, uint16_t& m_out, int* q) {
    float xmin = x[0], xmax = x[0];
    for (int j = 1; j < qk4_1; ++j) {
        xmin = std::min(xmin, x[j]);
        xmax = std::max(xmax, x[j]);
    }
    int tmp[qk4_1];
    float best_d = 0.0f, best_m = fp16_round(xmin);
    float best_err = q4_1_codes(x, w, best_d, best_m, q, qmax);
    auto consider = [&](float d, float m) {
        d = fp16_round(d);
        m = fp16_round(m);
        if (!(d > 0.0f) || !std::isfinite(d) || !std::isfinite(m)) return false;
        const float err = q4_1_codes(x, w, d, m, tmp, qmax);
        if (err < best_err) {
            best_err = err;
            best_d = d;
            best_m = m;
            std::copy(tmp, tmp + qk4_1, q);
        }
        return true;
    };
    // minimize sum w (d q + m - x)^2 over (d, m) for the codes c
    auto fit = [&](const int* c, float& d, float& m) {
        double sw = 0, sq = 0, sqq = 0, sx = 0, sxq = 0;
        for (int j = 0; j < qk4_1; ++j) {
            sw += w[j];
            sq += static_cast<double>(w[j]) * c[j];
            sqq += static_cast<double>(w[j]) * c[j] * c[j];
            sx += static_cast<double>(w[j]) * x[j];
            sxq += static_cast<double>(w[j]) * x[j] * c[j];
        }
        const double det = sw * sqq - sq * sq;
        if (!(det > 0)) return false;
        d = static_cast<float>((sw * sxq - sq * sx) / det);
        m = static_cast<float>((sqq * sx - sq * sxq) / det);
        return true;
    };
    const float fq = static_cast<float>(qmax);
    const float grid_step = qmax == 15 ? 0.1f : 0.2f;  // the grid spans the same relative range
    if (!(xmax > xmin)) {
        std::fill(q, q + qk4_1, 0);
    } else {
        consider((xmax - xmin) / fq, xmin);
        for (int step = -12; step <= 12; ++step) {
            const float iscale = (fq + grid_step * static_cast<float>(step)) / (xmax - xmin);
            int c[qk4_1];
            for (int j = 0; j < qk4_1; ++j) {
                c[j] = clamp_int(static_cast<int>(std::nearbyint(iscale * (x[j] - xmin))), 0, qmax);
            }
            float d, m;
            if (!fit(c, d, m) || !consider(d, m)) continue;
            // the codes of the rounded (d, m) may differ from c: fit once more to those
            q4_1_codes(x, w, fp16_round(d), fp16_round(m), c, qmax);
            if (fit(c, d, m)) consider(d, m);
        }
    }
    d_out = fp16_from_f32(best_d);
    m_out = fp16_from_f32(best_m);
}

void quantize_q4_1(const float* src, int64_t k, block_q4_1* out, const weighting& wt) {
    float w[qk4_1];
    int q[qk4_1];
    for (int64_t b = 0; b < k / qk4_1; ++b) {
        block_weights(wt, src + b * qk4_1, b * qk4_1, qk4_1, w);
        quantize_min_block(src + b * qk4_1, w, 15, out[b].d, out[b].m, q);
        for (int j = 0; j < qk4_1 / 2; ++j) out[b].qs[j] = static_cast<uint8_t>(q[j] | (q[j + qk4_1 / 2] << 4));
    }
}

// q5_1: the q4_1 search over codes 0..31; the 5th bits go to qh (bit j: element j).
void quantize_q5_1(const float* src, int64_t k, block_q5_1* out, const weighting& wt) {
    float w[qk5_1];
    int q[qk5_1];
    for (int64_t b = 0; b < k / qk5_1; ++b) {
        block_weights(wt, src + b * qk5_1, b * qk5_1, qk5_1, w);
        quantize_min_block(src + b * qk5_1, w, 31, out[b].d, out[b].m, q);
        uint32_t qh = 0;
        for (int j = 0; j < qk5_1; ++j) qh |= static_cast<uint32_t>(q[j] >> 4) << j;
        for (int i = 0; i < 4; ++i) out[b].qh[i] = static_cast<uint8_t>(qh >> (8 * i));
        for (int j = 0; j < qk5_1 / 2; ++j) out[b].qs[j] = static_cast<uint8_t>((q[j] & 15) | ((q[j + qk5_1 / 2] & 15) << 4));
    }
}

// ---- q4_k: w = a_j * q - b_j per sub-block j of 32, q in 0..15, a_j = d * sc_j, b_j = dmin * m_j ----

constexpr int k_sub = 32;
constexpr int k_nsub = qk_k / k_sub;

// Best (a >= 0, b >= 0) for one sub-block with w = a * q - b: a grid of scales spanning the block's
// range, each followed by a weighted least-squares fit of (a, b) to the codes it produced.
void q4k_fit_sub(const float* x, const float* w, float& a_out, float& b_out) {
    float xmin = x[0], xmax = x[0];
    for (int j = 1; j < k_sub; ++j) {
        xmin = std::min(xmin, x[j]);
        xmax = std::max(xmax, x[j]);
    }
    if (xmin > 0) xmin = 0;  // the min is stored as a non-negative offset: w = a q - b, b >= 0
    if (xmax <= xmin) {
        a_out = 0.0f;
        b_out = -xmin;
        return;
    }
    double sw = 0, sx = 0;
    for (int j = 0; j < k_sub; ++j) {
        sw += w[j];
        sx += static_cast<double>(w[j]) * x[j];
    }
    auto error_of = [&](float a, float m) {  // m = -b (the offset as an additive minimum)
        const float ia = a > 0 ? 1.0f / a : 0.0f;
        float err = 0.0f;
        for (int j = 0; j < k_sub; ++j) {
            const int q = clamp_int(static_cast<int>(std::nearbyint((x[j] - m) * ia)), 0, 15);
            const float e = a * q + m - x[j];
            err += w[j] * e * e;
        }
        return err;
    };
    float best_a = (xmax - xmin) / 15.0f, best_m = xmin;
    float best_err = error_of(best_a, best_m);
    for (int step = -10; step <= 10; ++step) {
        const float iscale = (15.0f + 0.1f * static_cast<float>(step)) / (xmax - xmin);
        int q[k_sub];
        double sq = 0, sqq = 0, sxq = 0;
        for (int j = 0; j < k_sub; ++j) {
            q[j] = clamp_int(static_cast<int>(std::nearbyint(iscale * (x[j] - xmin))), 0, 15);
            sq += static_cast<double>(w[j]) * q[j];
            sqq += static_cast<double>(w[j]) * q[j] * q[j];
            sxq += static_cast<double>(w[j]) * x[j] * q[j];
        }
        // minimize sum w (a q + m - x)^2 over a, m
        const double det = sw * sqq - sq * sq;
        if (det <= 0) continue;
        double a = (sw * sxq - sq * sx) / det;
        double m = (sqq * sx - sq * sxq) / det;
        if (m > 0) {  // the minimum must stay <= 0: refit a alone with m = 0
            m = 0;
            a = sqq > 0 ? sxq / sqq : 0;
        }
        if (a <= 0) continue;
        const float err = error_of(static_cast<float>(a), static_cast<float>(m));
        if (err < best_err) {
            best_err = err;
            best_a = static_cast<float>(a);
            best_m = static_cast<float>(m);
        }
    }
    a_out = best_a;
    b_out = -best_m;
}

// GGUF's packing of 8 six-bit scales and 8 six-bit mins into 12 bytes.
void q4k_pack_scales(const int* sc, const int* mn, uint8_t* out) {
    for (int j = 0; j < 4; ++j) {
        out[j] = static_cast<uint8_t>(sc[j] | ((sc[j + 4] >> 4) << 6));
        out[j + 4] = static_cast<uint8_t>(mn[j] | ((mn[j + 4] >> 4) << 6));
        out[j + 8] = static_cast<uint8_t>((sc[j + 4] & 15) | ((mn[j + 4] & 15) << 4));
    }
}

void q4k_unpack_scale(const uint8_t* s, int j, int& sc, int& mn) {
    if (j < 4) {
        sc = s[j] & 63;
        mn = s[j + 4] & 63;
    } else {
        sc = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4);
        mn = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

// The codes and weighted error of a whole super-block for given fp16-exact d, dmin and 6-bit sc/mn.
float q4k_codes(const float* x, const float* w, float d, float dmin, const int* sc, const int* mn, int* q) {
    float err = 0.0f;
    for (int s = 0; s < k_nsub; ++s) {
        const float a = d * static_cast<float>(sc[s]), b = dmin * static_cast<float>(mn[s]);
        const float ia = a > 0 ? 1.0f / a : 0.0f;
        for (int j = s * k_sub; j < (s + 1) * k_sub; ++j) {
            q[j] = clamp_int(static_cast<int>(std::nearbyint((x[j] + b) * ia)), 0, 15);
            const float e = a * q[j] - b - x[j];
            err += w[j] * e * e;
        }
    }
    return err;
}

// Sub-block error for given a, b (the codes re-chosen).
float q4k_sub_error(const float* x, const float* w, float a, float b) {
    const float ia = a > 0 ? 1.0f / a : 0.0f;
    float err = 0.0f;
    for (int j = 0; j < k_sub; ++j) {
        const int q = clamp_int(static_cast<int>(std::nearbyint((x[j] + b) * ia)), 0, 15);
        const float e = a * q - b - x[j];
        err += w[j] * e * e;
    }
    return err;
}

void quantize_q4_k_block(const float* x, const float* w, block_q4_k& out) {
    float a[k_nsub], b[k_nsub];
    float amax = 0.0f, bmax = 0.0f;
    for (int s = 0; s < k_nsub; ++s) {
        q4k_fit_sub(x + s * k_sub, w + s * k_sub, a[s], b[s]);
        amax = std::max(amax, a[s]);
        bmax = std::max(bmax, b[s]);
    }
    float d = fp16_round(amax / 63.0f), dmin = fp16_round(bmax / 63.0f);
    int sc[k_nsub], mn[k_nsub], q[qk_k];
    auto pick_sub_codes = [&](int s) {
        // the 6-bit pair nearest the fitted one, then the best of its neighbours under the true error
        const int sc0 = d > 0 ? clamp_int(static_cast<int>(std::nearbyint(a[s] / d)), 0, 63) : 0;
        const int mn0 = dmin > 0 ? clamp_int(static_cast<int>(std::nearbyint(b[s] / dmin)), 0, 63) : 0;
        float best = INFINITY;
        for (int ds = -1; ds <= 1; ++ds) {
            for (int dm = -1; dm <= 1; ++dm) {
                const int cs = clamp_int(sc0 + ds, 0, 63), cm = clamp_int(mn0 + dm, 0, 63);
                const float e = q4k_sub_error(x + s * k_sub, w + s * k_sub, d * cs, dmin * cm);
                if (e < best) {
                    best = e;
                    sc[s] = cs;
                    mn[s] = cm;
                }
            }
        }
    };
    for (int s = 0; s < k_nsub; ++s) pick_sub_codes(s);
    float best_err = q4k_codes(x, w, d, dmin, sc, mn, q);

    // Refit the two super-block scales by least squares with the codes fixed
    // (x ~ d * (sc q) - dmin * mn), then re-pick the sub-block codes; keep what lowers the error.
    for (int iter = 0; iter < 2; ++iter) {
        double suu = 0, suv = 0, svv = 0, sxu = 0, sxv = 0;
        for (int j = 0; j < qk_k; ++j) {
            const double u = static_cast<double>(sc[j / k_sub]) * q[j], v = -static_cast<double>(mn[j / k_sub]);
            suu += w[j] * u * u;
            suv += w[j] * u * v;
            svv += w[j] * v * v;
            sxu += w[j] * x[j] * u;
            sxv += w[j] * x[j] * v;
        }
        double nd, ndmin;
        const double det = suu * svv - suv * suv;
        if (svv > 0 && det > 1e-30 * suu * svv) {
            nd = (sxu * svv - sxv * suv) / det;
            ndmin = (suu * sxv - suv * sxu) / det;
        } else {
            nd = suu > 0 ? sxu / suu : 0;
            ndmin = dmin;
        }
        if (!(nd > 0) || ndmin < 0) break;
        const float cd = fp16_round(static_cast<float>(nd)), cdmin = fp16_round(static_cast<float>(ndmin));
        int csc[k_nsub], cmn[k_nsub], cq[qk_k];
        std::copy(sc, sc + k_nsub, csc);
        std::copy(mn, mn + k_nsub, cmn);
        const float od = d, odmin = dmin;
        d = cd;
        dmin = cdmin;
        for (int s = 0; s < k_nsub; ++s) pick_sub_codes(s);
        const float err = q4k_codes(x, w, d, dmin, sc, mn, cq);
        if (err < best_err) {
            best_err = err;
            std::copy(cq, cq + qk_k, q);
        } else {
            d = od;
            dmin = odmin;
            std::copy(csc, csc + k_nsub, sc);
            std::copy(cmn, cmn + k_nsub, mn);
            break;
        }
    }

    out.d = fp16_from_f32(d);
    out.dmin = fp16_from_f32(dmin);
    q4k_pack_scales(sc, mn, out.scales);
    for (int c = 0; c < 4; ++c) {  // bytes 32c..32c+31: sub-block 2c low nibbles, 2c+1 high
        for (int l = 0; l < 32; ++l) {
            out.qs[c * 32 + l] = static_cast<uint8_t>(q[c * 64 + l] | (q[c * 64 + 32 + l] << 4));
        }
    }
}

void quantize_q4_k(const float* src, int64_t k, block_q4_k* out, const weighting& wt) {
    float w[qk_k];
    for (int64_t b = 0; b < k / qk_k; ++b) {
        block_weights(wt, src + b * qk_k, b * qk_k, qk_k, w);
        quantize_q4_k_block(src + b * qk_k, w, out[b]);
    }
}

// ---- q6_k: w = (d * sc_j) * q per sub-block j of 16, q in -32..31, sc_j int8, d fp16 ----

constexpr int k_sub6 = 16;
constexpr int k_nsub6 = qk_k / k_sub6;

// Codes and weighted error of one sub-block for the effective scale a = d * sc.
float q6k_sub_codes(const float* x, const float* w, float a, int* q) {
    const float ia = a != 0.0f ? 1.0f / a : 0.0f;
    float err = 0.0f;
    for (int j = 0; j < k_sub6; ++j) {
        q[j] = clamp_int(static_cast<int>(std::nearbyint(x[j] * ia)), -32, 31);
        const float e = a * static_cast<float>(q[j]) - x[j];
        err += w[j] * e * e;
    }
    return err;
}

// The unrestricted best scale of a sub-block: candidates around max-abs / 32 (both signs, as the
// code range -32..31 is asymmetric), each refined by least squares given its codes.
float q6k_fit_sub(const float* x, const float* w) {
    float vmax = 0.0f;
    for (int j = 0; j < k_sub6; ++j) {
        if (std::fabs(x[j]) > std::fabs(vmax)) vmax = x[j];
    }
    if (vmax == 0.0f) return 0.0f;
    int q[k_sub6];
    float best_a = vmax / -32.0f, best_err = q6k_sub_codes(x, w, best_a, q);
    for (int step = -4; step <= 4; ++step) {
        for (float base : {-32.0f, 31.0f}) {
            const float a0 = vmax / (base + 0.25f * static_cast<float>(step) * (base < 0 ? -1.0f : 1.0f));
            const float e0 = q6k_sub_codes(x, w, a0, q);
            if (e0 < best_err) {
                best_err = e0;
                best_a = a0;
            }
            double sxq = 0, sqq = 0;
            for (int j = 0; j < k_sub6; ++j) {
                sxq += static_cast<double>(w[j]) * x[j] * q[j];
                sqq += static_cast<double>(w[j]) * q[j] * q[j];
            }
            if (sqq <= 0) continue;
            const float a1 = static_cast<float>(sxq / sqq);
            const float e1 = q6k_sub_codes(x, w, a1, q);
            if (e1 < best_err) {
                best_err = e1;
                best_a = a1;
            }
        }
    }
    return best_a;
}

// Codes and weighted error of a super-block for an fp16-exact d and int8 scales.
float q6k_codes(const float* x, const float* w, float d, const int* sc, int* q) {
    float err = 0.0f;
    for (int s = 0; s < k_nsub6; ++s) {
        err += q6k_sub_codes(x + s * k_sub6, w + s * k_sub6, d * static_cast<float>(sc[s]), q + s * k_sub6);
    }
    return err;
}

void quantize_q6_k_block(const float* x, const float* w, block_q6_k& out) {
    float a[k_nsub6];
    float amax = 0.0f;
    for (int s = 0; s < k_nsub6; ++s) {
        a[s] = q6k_fit_sub(x + s * k_sub6, w + s * k_sub6);
        amax = std::max(amax, std::fabs(a[s]));
    }
    float d = fp16_round(amax / 127.0f);
    int sc[k_nsub6], q[qk_k], tmp[k_sub6];
    // the int8 scale nearest the fitted one, then the best of its neighbours under the true error
    auto pick_scales = [&]() {
        for (int s = 0; s < k_nsub6; ++s) {
            const int s0 = d > 0 ? clamp_int(static_cast<int>(std::nearbyint(a[s] / d)), -128, 127) : 0;
            float best = INFINITY;
            for (int ds = -1; ds <= 1; ++ds) {
                const int c = clamp_int(s0 + ds, -128, 127);
                const float e = q6k_sub_codes(x + s * k_sub6, w + s * k_sub6, d * static_cast<float>(c), tmp);
                if (e < best) {
                    best = e;
                    sc[s] = c;
                }
            }
        }
    };
    pick_scales();
    float best_err = q6k_codes(x, w, d, sc, q);
    // Refit d by least squares with the codes and scales fixed (x ~ d * (sc q)), re-pick the scales,
    // keep what lowers the error.
    for (int iter = 0; iter < 2 && d > 0; ++iter) {
        double suu = 0, sxu = 0;
        for (int j = 0; j < qk_k; ++j) {
            const double u = static_cast<double>(sc[j / k_sub6]) * q[j];
            suu += w[j] * u * u;
            sxu += w[j] * x[j] * u;
        }
        if (!(suu > 0)) break;
        const float nd = fp16_round(static_cast<float>(sxu / suu));
        if (!(nd > 0) || !std::isfinite(nd)) break;
        int osc[k_nsub6], cq[qk_k];
        std::copy(sc, sc + k_nsub6, osc);
        const float od = d;
        d = nd;
        pick_scales();
        const float err = q6k_codes(x, w, d, sc, cq);
        if (err < best_err) {
            best_err = err;
            std::copy(cq, cq + qk_k, q);
        } else {
            d = od;
            std::copy(osc, osc + k_nsub6, sc);
            break;
        }
    }
    out.d = fp16_from_f32(d);
    std::memset(out.ql, 0, sizeof(out.ql));
    std::memset(out.qh, 0, sizeof(out.qh));
    for (int s = 0; s < k_nsub6; ++s) out.scales[s] = static_cast<int8_t>(sc[s]);
    for (int e = 0; e < qk_k; ++e) {  // GGUF's split of the code u = q + 32 (core/dtype.h)
        const int u = q[e] + 32, h = e / 128, i = (e % 128) / 32, l = e % 32;
        out.ql[64 * h + 32 * (i % 2) + l] |= static_cast<uint8_t>((u & 15) << (i >= 2 ? 4 : 0));
        out.qh[32 * h + l] |= static_cast<uint8_t>((u >> 4) << (2 * i));
    }
}

void quantize_q6_k(const float* src, int64_t k, block_q6_k* out, const weighting& wt) {
    float w[qk_k];
    for (int64_t b = 0; b < k / qk_k; ++b) {
        block_weights(wt, src + b * qk_k, b * qk_k, qk_k, w);
        quantize_q6_k_block(src + b * qk_k, w, out[b]);
    }
}

// Importance floor: 1e-4 of the mean importance, so an unseen column still counts a little.
float importance_floor(const float* importance, int64_t k) {
    if (!importance) return 0.0f;
    double s = 0;
    for (int64_t j = 0; j < k; ++j) {
        if (!(importance[j] >= 0) || !std::isfinite(importance[j])) {
            fail("quantize: importance value {} at column {} is not a finite non-negative number", importance[j], j);
        }
        s += importance[j];
    }
    const double mean = s / static_cast<double>(k);
    return mean > 0 ? static_cast<float>(mean * 1e-4) : 1.0f;
}

}  // namespace

void quantize_rows(dtype t, const float* src, int64_t n_rows, int64_t k, void* dst, const float* importance) {
    const auto& tr = dtype_info(t);
    if (k % tr.block_size != 0) {
        fail("quantize: row length {} is not a multiple of the {} block size {}", k, tr.name, tr.block_size);
    }
    weighting wt;
    wt.importance = importance;
    wt.floor = importance_floor(importance, k);
    const size_t row_bytes = dtype_row_bytes(t, k);
    for (int64_t r = 0; r < n_rows; ++r) {
        const float* x = src + r * k;
        for (int64_t j = 0; j < k; ++j) {
            if (!std::isfinite(x[j])) fail("quantize: row {} column {} is not a finite number", r, j);
        }
        void* out = static_cast<uint8_t*>(dst) + static_cast<size_t>(r) * row_bytes;
        double ss = 0;
        for (int64_t j = 0; j < k; ++j) ss += static_cast<double>(x[j]) * x[j];
        wt.sigma2 = static_cast<float>(ss / static_cast<double>(k));
        switch (t) {
            case dtype::q8_0: quantize_q8_0(x, k, static_cast<block_q8_0*>(out), wt); break;
            case dtype::q4_0: quantize_q4_0(x, k, static_cast<block_q4_0*>(out), wt); break;
            case dtype::q4_1: quantize_q4_1(x, k, static_cast<block_q4_1*>(out), wt); break;
            case dtype::q5_0: quantize_q5_0(x, k, static_cast<block_q5_0*>(out), wt); break;
            case dtype::q5_1: quantize_q5_1(x, k, static_cast<block_q5_1*>(out), wt); break;
            case dtype::q4_k: quantize_q4_k(x, k, static_cast<block_q4_k*>(out), wt); break;
            case dtype::q6_k: quantize_q6_k(x, k, static_cast<block_q6_k*>(out), wt); break;
            default: fail("quantize: {} is not a quantized type", tr.name);
        }
    }
}

void dequantize_row(dtype t, const void* src, float* dst, int64_t k) {
    const auto& tr = dtype_info(t);
    if (k % tr.block_size != 0) {
        fail("dequantize: row length {} is not a multiple of the {} block size {}", k, tr.name, tr.block_size);
    }
    switch (t) {
        case dtype::f32: std::memcpy(dst, src, static_cast<size_t>(k) * 4); return;
        case dtype::f16:
            for (int64_t i = 0; i < k; ++i) dst[i] = fp16_to_f32(static_cast<const uint16_t*>(src)[i]);
            return;
        case dtype::bf16:
            for (int64_t i = 0; i < k; ++i) dst[i] = bf16_to_f32(static_cast<const uint16_t*>(src)[i]);
            return;
        case dtype::q8_0: {
            const auto* b = static_cast<const block_q8_0*>(src);
            for (int64_t i = 0; i < k / qk8_0; ++i) {
                const float d = fp16_to_f32(b[i].d);
                for (int j = 0; j < qk8_0; ++j) dst[i * qk8_0 + j] = d * static_cast<float>(b[i].qs[j]);
            }
            return;
        }
        case dtype::q4_0: {
            const auto* b = static_cast<const block_q4_0*>(src);
            for (int64_t i = 0; i < k / qk4_0; ++i) {
                const float d = fp16_to_f32(b[i].d);
                for (int j = 0; j < qk4_0 / 2; ++j) {
                    dst[i * qk4_0 + j] = d * static_cast<float>((b[i].qs[j] & 15) - 8);
                    dst[i * qk4_0 + j + qk4_0 / 2] = d * static_cast<float>((b[i].qs[j] >> 4) - 8);
                }
            }
            return;
        }
        case dtype::q4_1: {
            const auto* b = static_cast<const block_q4_1*>(src);
            for (int64_t i = 0; i < k / qk4_1; ++i) {
                const float d = fp16_to_f32(b[i].d), m = fp16_to_f32(b[i].m);
                for (int j = 0; j < qk4_1 / 2; ++j) {
                    dst[i * qk4_1 + j] = d * static_cast<float>(b[i].qs[j] & 15) + m;
                    dst[i * qk4_1 + j + qk4_1 / 2] = d * static_cast<float>(b[i].qs[j] >> 4) + m;
                }
            }
            return;
        }
        case dtype::q5_0:
        case dtype::q5_1: row_to_f32(t, src, dst, k); return;
        case dtype::q4_k: {
            const auto* b = static_cast<const block_q4_k*>(src);
            for (int64_t i = 0; i < k / qk_k; ++i) {
                const float d = fp16_to_f32(b[i].d), dmin = fp16_to_f32(b[i].dmin);
                float* y = dst + i * qk_k;
                for (int c = 0; c < 4; ++c) {
                    int sc0, mn0, sc1, mn1;
                    q4k_unpack_scale(b[i].scales, 2 * c, sc0, mn0);
                    q4k_unpack_scale(b[i].scales, 2 * c + 1, sc1, mn1);
                    const float a0 = d * sc0, b0 = dmin * mn0, a1 = d * sc1, b1 = dmin * mn1;
                    const uint8_t* qs = b[i].qs + c * 32;
                    for (int l = 0; l < 32; ++l) {
                        y[c * 64 + l] = a0 * static_cast<float>(qs[l] & 15) - b0;
                        y[c * 64 + 32 + l] = a1 * static_cast<float>(qs[l] >> 4) - b1;
                    }
                }
            }
            return;
        }
        case dtype::q6_k: {
            const auto* b = static_cast<const block_q6_k*>(src);
            for (int64_t i = 0; i < k / qk_k; ++i) {
                const float d = fp16_to_f32(b[i].d);
                for (int e = 0; e < qk_k; ++e) {
                    const int h = e / 128, quarter = (e % 128) / 32, l = e % 32;
                    const int lo = (b[i].ql[64 * h + 32 * (quarter % 2) + l] >> (quarter >= 2 ? 4 : 0)) & 15;
                    const int hi = (b[i].qh[32 * h + l] >> (2 * quarter)) & 3;
                    dst[i * qk_k + e] = d * static_cast<float>(b[i].scales[e / 16]) * static_cast<float>((lo | hi << 4) - 32);
                }
            }
            return;
        }
    }
    fail("dequantize: unknown type {}", static_cast<uint32_t>(t));
}

}  // namespace kiln

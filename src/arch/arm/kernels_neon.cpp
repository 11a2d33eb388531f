// NEON (ASIMD) kernels, which every AArch64 CPU can run: the shared kernel bodies with 4-float
// vectors, and the rows8 integer kernels (arch/arm/qgemm_neon.inc) with a widening multiply as the
// dot step, for Armv8.0 cores without dotprod (Cortex-A53/A72: Raspberry Pi 3/4, Graviton 1).
// Compiled for baseline Armv8-A; reached through cpu_kernels_for(cpu_isa::neon).
#include <arm_neon.h>

#include <cstdint>

#include "arch/cpu_dispatch.h"
#include "core/dtype.h"

namespace kiln {

namespace {

#include "arch/arm/neon_primitives.inc"
#include "arch/kernels_generic.inc"

// smull + sadalp: the 16 bytes of w (4 rows x 4) times the activation chunk repeated 4 times, as
// int16 products (|q| <= 128 times |x| <= 127 fits), added pairwise into int32: lanes (row 0, row 0,
// row 1, row 1) and (row 2, row 2, row 3, row 3); iacc_sum folds the pairs.
struct iacc {
    int32x4_t r01, r23;
};
inline iacc iacc_zero() { return {vdupq_n_s32(0), vdupq_n_s32(0)}; }
inline int32x4_t iacc_sum(const iacc& a) { return vpaddq_s32(a.r01, a.r23); }

// Activation chunk c (0..7) in all four 32-bit lanes; lanes must be constants, hence the switch.
inline int8x16_t chunk_bcast(const int8x16_t* x, int c) {
    const int32x4_t lo = vreinterpretq_s32_s8(x[0]), hi = vreinterpretq_s32_s8(x[1]);
    switch (c) {
        case 0: return vreinterpretq_s8_s32(vdupq_laneq_s32(lo, 0));
        case 1: return vreinterpretq_s8_s32(vdupq_laneq_s32(lo, 1));
        case 2: return vreinterpretq_s8_s32(vdupq_laneq_s32(lo, 2));
        case 3: return vreinterpretq_s8_s32(vdupq_laneq_s32(lo, 3));
        case 4: return vreinterpretq_s8_s32(vdupq_laneq_s32(hi, 0));
        case 5: return vreinterpretq_s8_s32(vdupq_laneq_s32(hi, 1));
        case 6: return vreinterpretq_s8_s32(vdupq_laneq_s32(hi, 2));
        default: return vreinterpretq_s8_s32(vdupq_laneq_s32(hi, 3));
    }
}

inline void iacc_dot(iacc& a, int8x16_t w, const int8x16_t* x, int c) {
    const int8x16_t xb = chunk_bcast(x, c);
    a.r01 = vpadalq_s16(a.r01, vmull_s8(vget_low_s8(w), vget_low_s8(xb)));
    a.r23 = vpadalq_s16(a.r23, vmull_high_s8(w, xb));
}

// Twice the int32 accumulators of the sdot version: 2 tokens per tile keep them in registers.
constexpr int qgemm_tokens = 2;
constexpr int qgemm_tokens_q4k = 1;

#include "arch/arm/qgemm_neon.inc"

constexpr cpu_kernels table_neon() {
    cpu_kernels t = kernel_table("neon", cpu_isa::neon);
    t.quantize_act = &quantize_act_neon;
    t.qgemm_q8_0x8 = &qgemm<block_q8_0x8, qk8_0>;
    t.qgemm_q4_0x8 = &qgemm<block_q4_0x8, qk4_0>;
    t.qgemm_q4_kx8 = &qgemm<block_q4_kx8, qk_k>;
    t.qgemm_q4_1x8 = &qgemm<block_q4_1x8, qk4_1>;
    t.qgemm_q5_0x8 = &qgemm<block_q5_0x8, qk5_0>;
    t.qgemm_q5_1x8 = &qgemm<block_q5_1x8, qk5_1>;
    t.qgemm_q6_kx8 = &qgemm<block_q6_kx8, qk_k>;
    return t;
}

}  // namespace

const cpu_kernels& cpu_kernels_table_neon() {
    static constexpr cpu_kernels table = table_neon();
    return table;
}

}  // namespace kiln

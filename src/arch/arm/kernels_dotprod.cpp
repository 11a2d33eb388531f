// NEON + Armv8.2 dotprod kernels (Cortex-A55/A76 and later, Neoverse N1, Apple M1, Graviton 2):
// the NEON float kernels, plus integer kernels for the rows8 weight layouts built on sdot.
// Compiled with -march=armv8.2-a+dotprod; reached through cpu_kernels_for(cpu_isa::neon_dotprod)
// after HWCAP has reported ASIMDDP.
//
// The integer kernels are arch/arm/qgemm_neon.inc with sdot (vdotq_laneq_s32) as the dot step:
// int32 lane r of vdotq_laneq_s32(acc, w, x, lane) adds row r's 4-byte chunk of w times activation
// chunk `lane` of x.
#include <arm_neon.h>

#include <cstdint>

#include "arch/cpu_dispatch.h"
#include "core/dtype.h"

namespace kiln {

namespace {

#include "arch/arm/neon_primitives.inc"
#include "arch/kernels_generic.inc"

// sdot: one instruction per 16 bytes of weights (4 rows x 4 bytes against one activation chunk).
using iacc = int32x4_t;
inline iacc iacc_zero() { return vdupq_n_s32(0); }
inline int32x4_t iacc_sum(const iacc& a) { return a; }
// Lanes must be constants, hence the switch the compiler folds away (c is a constant after unrolling).
inline void iacc_dot(iacc& a, int8x16_t w, const int8x16_t* x, int c) {
    switch (c) {
        case 0: a = vdotq_laneq_s32(a, w, x[0], 0); break;
        case 1: a = vdotq_laneq_s32(a, w, x[0], 1); break;
        case 2: a = vdotq_laneq_s32(a, w, x[0], 2); break;
        case 3: a = vdotq_laneq_s32(a, w, x[0], 3); break;
        case 4: a = vdotq_laneq_s32(a, w, x[1], 0); break;
        case 5: a = vdotq_laneq_s32(a, w, x[1], 1); break;
        case 6: a = vdotq_laneq_s32(a, w, x[1], 2); break;
        default: a = vdotq_laneq_s32(a, w, x[1], 3); break;
    }
}
// 4 tokens x 2 halves = 8 int32 and 8 f32 accumulators, 8 activation registers and the weights fit
// the 32 q registers.
constexpr int qgemm_tokens = 4;
constexpr int qgemm_tokens_q4k = 2;

#include "arch/arm/qgemm_neon.inc"

// The shared float bodies, with the integer kernels above for rows8 weights.
constexpr cpu_kernels table_neon_dotprod() {
    cpu_kernels t = kernel_table("neon_dotprod", cpu_isa::neon_dotprod);
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

const cpu_kernels& cpu_kernels_table_neon_dotprod() {
    static constexpr cpu_kernels table = table_neon_dotprod();
    return table;
}

}  // namespace kiln

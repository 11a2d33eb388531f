// An xbyak JIT of the hottest integer microkernel, for measurement against the intrinsics version
// (docs/KERNELS.md): the q4_0x8 tile of 2 row groups x 4 tokens, specialised for K (the block count
// and every stride are immediates). Same instruction sequence as tile<q4_0x8, 2, 4> in
// src/arch/x86/qgemm_avx512.cpp; the accumulators (both halves) are stored to out[g * 4 + t][16].
#pragma once

#include <xbyak/xbyak.h>

#include <cstdint>

#include "core/dtype.h"

namespace kiln::bench {

class q4_0_tile_jit : public Xbyak::CodeGenerator {
public:
    using fn = void (*)(const block_q4_0x8* w, const block_q8_act* act, float* out);

    explicit q4_0_tile_jit(int64_t nb) : Xbyak::CodeGenerator(4096 * 4) {
        using namespace Xbyak;
        const int gs = static_cast<int>(nb * sizeof(block_q4_0x8));  // group stride
        const int as = static_cast<int>(nb * sizeof(block_q8_act));  // token stride
        const Reg64 w = rdi, act = rsi, out = rdx, n = rcx, tmp = rax;
        auto acc = [](int g, int t) { return Zmm(g * 4 + t); };
        auto wv = [](int g, int p) { return Zmm(8 + g * 4 + p); };
        const Zmm dw[2] = {zmm16, zmm17}, s[2] = {zmm18, zmm19};
        const Zmm x = zmm20, xp = zmm21, bias = zmm22, dx = zmm23, t0 = zmm24, sc = zmm25, m0f = zmm30;
        const Zmm idx[4] = {zmm26, zmm27, zmm28, zmm29};

        for (int g = 0; g < 2; ++g)
            for (int t = 0; t < 4; ++t) vpxord(acc(g, t), acc(g, t), acc(g, t));
        mov(tmp.cvt32(), 0x0f0f0f0f);
        vpbroadcastd(m0f, tmp.cvt32());
        // idx[p]: lanes 0-7 = 2p, lanes 8-15 = 2p + 1
        mov(tmp.cvt32(), 0x00ff);
        kmovw(k1, tmp.cvt32());
        for (int p = 0; p < 4; ++p) {
            mov(tmp.cvt32(), 2 * p + 1);
            vpbroadcastd(idx[p], tmp.cvt32());
            mov(tmp.cvt32(), 2 * p);
            vpbroadcastd(idx[p] | k1, tmp.cvt32());
        }
        mov(n, nb);
        Label loop;
        L(loop);
        for (int g = 0; g < 2; ++g) {
            vmovdqu64(t0, ptr[w + g * gs + 16]);
            vmovdqu64(sc, ptr[w + g * gs + 16 + 64]);
            vpandd(wv(g, 0), t0, m0f);
            vpandd(wv(g, 1), sc, m0f);
            vpsrlw(t0, t0, 4);
            vpsrlw(sc, sc, 4);
            vpandd(wv(g, 2), t0, m0f);
            vpandd(wv(g, 3), sc, m0f);
            vbroadcasti32x4(Ymm(dw[g].getIdx()), ptr[w + g * gs]);
            vcvtph2ps(dw[g], Ymm(dw[g].getIdx()));
        }
        for (int t = 0; t < 4; ++t) {
            vmovdqu32(Ymm(x.getIdx()), ptr[act + t * as + 8]);
            vpxord(s[0], s[0], s[0]);
            vpxord(s[1], s[1], s[1]);
            for (int p = 0; p < 4; ++p) {
                vpermd(xp, idx[p], x);
                for (int g = 0; g < 2; ++g) vpdpbusd(s[g], wv(g, p), xp);
            }
            vpbroadcastd(bias, ptr[act + t * as + 4]);
            vpslld(bias, bias, 3);
            vbroadcastss(dx, ptr[act + t * as]);
            for (int g = 0; g < 2; ++g) {
                vpsubd(s[g] | k1, s[g], bias);
                vcvtdq2ps(s[g], s[g]);
                vmulps(sc, dw[g], dx);
                vfmadd231ps(acc(g, t), s[g], sc);
            }
        }
        add(w, static_cast<int>(sizeof(block_q4_0x8)));
        add(act, static_cast<int>(sizeof(block_q8_act)));
        dec(n);
        jnz(loop, T_NEAR);
        for (int g = 0; g < 2; ++g)
            for (int t = 0; t < 4; ++t) vmovups(ptr[out + (g * 4 + t) * 64], acc(g, t));
        vzeroupper();
        ret();
    }
    fn get() const { return getCode<fn>(); }
};

}  // namespace kiln::bench

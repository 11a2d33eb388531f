// CPUID feature detection and the one place that decides which kernel table runs.
// Compiled with baseline flags on every platform: no intrinsics here, and the
// x86 CPUID code sits behind the single platform #if below.
#include "arch/cpu_dispatch.h"

#include <atomic>
#include <cstdlib>

#include "core/error.h"

#if defined(__x86_64__) || defined(_M_X64)
#define KILN_ARCH_X86 1
#include <cpuid.h>
#elif defined(__aarch64__) && defined(__linux__)
#define KILN_ARCH_ARM64 1
#include <sys/auxv.h>
#endif

namespace kiln {

namespace {

#if KILN_ARCH_X86
// XCR0: which register states the OS saves on a context switch. Without it the
// instructions exist but using the registers would corrupt other processes' state.
uint64_t xcr0_read() {
    uint32_t lo = 0, hi = 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (static_cast<uint64_t>(hi) << 32) | lo;
}

cpu_feature_flags features_detect() {
    cpu_feature_flags f;
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return f;
    const unsigned max_leaf = a;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
    const bool osxsave = (c >> 27) & 1u;
    const bool avx = (c >> 28) & 1u;
    const bool fma = (c >> 12) & 1u;
    const bool f16c = (c >> 29) & 1u;
    if (!osxsave || !avx) return f;
    const uint64_t xcr0 = xcr0_read();
    const bool os_ymm = (xcr0 & 0x6u) == 0x6u;     // SSE + AVX state
    const bool os_zmm = (xcr0 & 0xe6u) == 0xe6u;   // + opmask, ZMM0-15 upper halves, ZMM16-31
    if (!os_ymm) return f;
    f.fma = fma;
    f.f16c = f16c;
    if (max_leaf < 7) return f;
    __cpuid_count(7, 0, a, b, c, d);
    const unsigned max_sub7 = a;
    f.avx2 = (b >> 5) & 1u;
    if (os_zmm) {
        f.avx512f = (b >> 16) & 1u;
        f.avx512dq = (b >> 17) & 1u;
        f.avx512bw = (b >> 30) & 1u;
        f.avx512vl = (b >> 31) & 1u;
        f.avx512_vnni = (c >> 11) & 1u;
        if (max_sub7 >= 1) {
            __cpuid_count(7, 1, a, b, c, d);
            f.avx512_bf16 = (a >> 5) & 1u;
        }
    }
    return f;
}
#elif KILN_ARCH_ARM64
// The kernel tells user space which AArch64 features it may use (bit numbers from the Linux
// uapi <asm/hwcap.h>, spelled out so an old sysroot's header does not matter).
cpu_feature_flags features_detect() {
    cpu_feature_flags f;
    const unsigned long hw = getauxval(AT_HWCAP), hw2 = getauxval(AT_HWCAP2);
    f.neon = (hw >> 1) & 1u;                                  // HWCAP_ASIMD
    f.fp16 = ((hw >> 9) & 1u) && ((hw >> 10) & 1u);           // HWCAP_FPHP, HWCAP_ASIMDHP
    f.dotprod = (hw >> 20) & 1u;                              // HWCAP_ASIMDDP
    f.i8mm = (hw2 >> 13) & 1u;                                // HWCAP2_I8MM
    return f;
}
#else
cpu_feature_flags features_detect() { return {}; }
#endif

// The decision tree, one test per level, highest first.
bool isa_supported(const cpu_feature_flags& f, cpu_isa isa) {
    switch (isa) {
        case cpu_isa::scalar:
            return true;
        case cpu_isa::avx2:
            // Intel Haswell (2013) and later, AMD Zen 1 and later (also Excavator).
            return f.avx2 && f.fma && f.f16c;
        case cpu_isa::avx512:
            // The AVX-512 translation unit is built with VNNI and BF16 enabled, so it needs all of
            // them: AMD Zen 4/5, Intel Cooper Lake, Sapphire Rapids and later Xeons. Skylake-X,
            // Cascade Lake and Ice Lake (AVX-512 without BF16) take the AVX2 table.
            return isa_supported(f, cpu_isa::avx2) && f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq &&
                   f.avx512_vnni && f.avx512_bf16;
        case cpu_isa::neon:
            return f.neon;
        case cpu_isa::neon_dotprod:
            // Cortex-A55/A75/A76 and later, Neoverse N1/V1, Apple M1 and later, Graviton 2 and later.
            return f.neon && f.dotprod;
    }
    return false;
}

const cpu_kernels& table_of(cpu_isa isa) {
    switch (isa) {
        case cpu_isa::scalar: return cpu_kernels_table_scalar();
#if KILN_ARCH_X86
        case cpu_isa::avx2: return cpu_kernels_table_avx2();
        case cpu_isa::avx512: return cpu_kernels_table_avx512();
#elif KILN_ARCH_ARM64
        case cpu_isa::neon: return cpu_kernels_table_neon();
        case cpu_isa::neon_dotprod: return cpu_kernels_table_neon_dotprod();
#endif
        default: break;
    }
    fail("kernels: ISA level {} is not built for this platform", cpu_isa_name(isa));
}

std::atomic<const cpu_kernels*> g_active{nullptr};

}  // namespace

const cpu_feature_flags& cpu_features() {
    static const cpu_feature_flags f = features_detect();
    return f;
}

std::string cpu_features_str() {
    const cpu_feature_flags& f = cpu_features();
    const std::pair<bool, const char*> named[] = {
        {f.avx2, "avx2"},         {f.fma, "fma"},           {f.f16c, "f16c"},
        {f.avx512f, "avx512f"},   {f.avx512bw, "avx512bw"}, {f.avx512vl, "avx512vl"},
        {f.avx512dq, "avx512dq"}, {f.avx512_vnni, "avx512_vnni"}, {f.avx512_bf16, "avx512_bf16"},
        {f.neon, "neon"},         {f.dotprod, "dotprod"},   {f.fp16, "fp16"},
        {f.i8mm, "i8mm"},
    };
    std::string s;
    for (const auto& [present, name] : named) {
        if (!present) continue;
        if (!s.empty()) s += ' ';
        s += name;
    }
    return s.empty() ? "none" : s;
}

const char* cpu_isa_name(cpu_isa isa) {
    switch (isa) {
        case cpu_isa::scalar: return "scalar";
        case cpu_isa::avx2: return "avx2";
        case cpu_isa::avx512: return "avx512";
        case cpu_isa::neon: return "neon";
        case cpu_isa::neon_dotprod: return "neon_dotprod";
    }
    return "unknown";
}

cpu_isa cpu_isa_parse(std::string_view name) {
    for (cpu_isa isa : {cpu_isa::scalar, cpu_isa::avx2, cpu_isa::avx512, cpu_isa::neon, cpu_isa::neon_dotprod}) {
        if (name == cpu_isa_name(isa)) return isa;
    }
    fail("KILN_ISA={}: unknown kernel level (expected scalar, avx2, avx512, neon or neon_dotprod)", name);
}

std::vector<cpu_isa> cpu_isa_supported() {
    std::vector<cpu_isa> out;
#if KILN_ARCH_X86
    for (cpu_isa isa : {cpu_isa::scalar, cpu_isa::avx2, cpu_isa::avx512}) {
        if (isa_supported(cpu_features(), isa)) out.push_back(isa);
    }
#elif KILN_ARCH_ARM64
    for (cpu_isa isa : {cpu_isa::scalar, cpu_isa::neon, cpu_isa::neon_dotprod}) {
        if (isa_supported(cpu_features(), isa)) out.push_back(isa);
    }
#else
    out.push_back(cpu_isa::scalar);
#endif
    return out;
}

cpu_isa cpu_isa_best() { return cpu_isa_supported().back(); }

cpu_isa cpu_isa_choose(const char* kiln_isa_env) {
    if (kiln_isa_env == nullptr || *kiln_isa_env == '\0' || std::string_view(kiln_isa_env) == "auto") {
        return cpu_isa_best();
    }
    const cpu_isa wanted = cpu_isa_parse(kiln_isa_env);
    for (cpu_isa isa : cpu_isa_supported()) {
        if (isa == wanted) return wanted;
    }
    fail("KILN_ISA={}: this CPU does not support it (features: {}; best level: {})", kiln_isa_env,
         cpu_features_str(), cpu_isa_name(cpu_isa_best()));
}

const cpu_kernels& cpu_kernels_for(cpu_isa isa) {
    for (cpu_isa s : cpu_isa_supported()) {
        if (s == isa) return table_of(isa);
    }
    fail("kernels: this CPU cannot run the {} kernels (features: {})", cpu_isa_name(isa), cpu_features_str());
}

const cpu_kernels& cpu_kernels_get() {
    const cpu_kernels* k = g_active.load(std::memory_order_acquire);
    if (k == nullptr) {
        // Racing first calls compute the same answer; a bad KILN_ISA throws every time it is asked.
        k = &cpu_kernels_for(cpu_isa_choose(std::getenv("KILN_ISA")));
        g_active.store(k, std::memory_order_release);
    }
    return *k;
}

void cpu_kernels_select(cpu_isa isa) { g_active.store(&cpu_kernels_for(isa), std::memory_order_release); }

}  // namespace kiln

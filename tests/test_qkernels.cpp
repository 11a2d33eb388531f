// The rows8 layout and the integer kernels: packing round trips, the file reader's layout checks,
// activation quantization, and every integer kernel at every level this CPU runs against the
// scalar reference (the kernel table's scalar entries), over awkward shapes: row counts that are
// not multiples of 8, k of one block, 1..33 tokens. Then ops::matmul on rows8 against the exact
// f32 reference (the only difference being the int8 activations), thread-count independence and
// get_rows on a packed table.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "arch/cpu_dispatch.h"
#include "core/convert_row.h"
#include "core/error.h"
#include "core/tensor.h"
#include "formats/checksum.h"
#include "formats/kiln_format.h"
#include "formats/kiln_reader.h"
#include "formats/kiln_writer.h"
#include "ops/ops.h"
#include "quant/pack.h"
#include "quant/quantize.h"
#include "support/test_files.h"
#include "support/test_numeric.h"
#include "support/test_paths.h"

using namespace kiln;
using kiln::test::error_of;
using kiln::test::for_each_isa;
using kiln::test::nmse;
using kiln::test::random_vec;
using kiln::test::threads_guard;

namespace {

const dtype k_types[] = {dtype::q8_0, dtype::q4_0, dtype::q4_1, dtype::q5_0, dtype::q5_1, dtype::q4_k, dtype::q6_k};

int block_of(dtype t) { return dtype_info(t).block_size; }

qgemm_fn qgemm_of(const cpu_kernels& k, dtype t) {
    switch (t) {
        case dtype::q8_0: return k.qgemm_q8_0x8;
        case dtype::q4_0: return k.qgemm_q4_0x8;
        case dtype::q4_1: return k.qgemm_q4_1x8;
        case dtype::q5_0: return k.qgemm_q5_0x8;
        case dtype::q5_1: return k.qgemm_q5_1x8;
        case dtype::q6_k: return k.qgemm_q6_kx8;
        default: return k.qgemm_q4_kx8;
    }
}

// A [rows, k] matrix of type t, plain and packed, from random values with some structure (a few
// rows scaled up, one zero row) so scales vary across rows and blocks.
struct qmatrix {
    dtype type;
    int64_t k, rows;
    std::vector<float> values;
    std::vector<uint8_t> plain, packed;
    qmatrix(dtype t, int64_t k_, int64_t rows_, uint32_t seed) : type(t), k(k_), rows(rows_) {
        values = random_vec(static_cast<size_t>(k * rows), seed);
        for (int64_t r = 0; r < rows; ++r) {
            const float s = r % 5 == 1 ? 8.0f : (r % 7 == 3 ? 0.05f : 1.0f);
            for (int64_t i = 0; i < k; ++i) values[r * k + i] *= s;
        }
        if (rows > 2) std::fill(values.begin() + 2 * k, values.begin() + 3 * k, 0.0f);
        plain.resize(dtype_row_bytes(t, k) * static_cast<size_t>(rows));
        quantize_rows(t, values.data(), rows, k, plain.data(), nullptr);
        packed.resize(quant_rows8_bytes(t, rows, k));
        quant_pack_rows8(t, plain.data(), rows, k, packed.data());
    }
    tensor plain_tensor() { return tensor_make_2d("w", type, k, rows, plain.data()); }
    tensor packed_tensor() {
        const int64_t ne[2] = {k, rows};
        return tensor_make("w", type, 2, ne, packed.data(), tensor_layout::rows8);
    }
};

}  // namespace

// ---- layout ---------------------------------------------------------------------------------------

TEST_CASE("rows8: byte sizes pad the rows to a multiple of 8; pack then unpack is exact") {
    CHECK(quant_has_rows8(dtype::q8_0));
    CHECK(quant_has_rows8(dtype::q4_0));
    CHECK(quant_has_rows8(dtype::q4_1));
    CHECK(quant_has_rows8(dtype::q4_k));
    CHECK(quant_has_rows8(dtype::q6_k));
    CHECK(quant_has_rows8(dtype::q5_0));
    CHECK(quant_has_rows8(dtype::q5_1));
    CHECK(quant_rows8_bytes(dtype::q5_0, 9, 64) == 16 * 2 * 22);
    CHECK(quant_rows8_bytes(dtype::q5_1, 3, 32) == 8 * 24);
    CHECK(!quant_has_rows8(dtype::f16));
    CHECK(quant_rows8_bytes(dtype::q8_0, 9, 64) == 16 * 2 * 34);
    CHECK(quant_rows8_bytes(dtype::q4_0, 8, 32) == 8 * 18);
    CHECK(quant_rows8_bytes(dtype::q4_1, 7, 64) == 8 * 2 * 20);
    CHECK(quant_rows8_bytes(dtype::q4_k, 1, 256) == 8 * 144);
    CHECK(quant_rows8_bytes(dtype::q6_k, 9, 512) == 16 * 2 * 210);
    for (dtype t : k_types) {
        for (int64_t rows : {1, 7, 8, 9, 17}) {
            for (int64_t nblocks : {1, 3}) {
                const int64_t k = nblocks * block_of(t);
                CAPTURE(dtype_name(t));
                CAPTURE(rows);
                CAPTURE(k);
                qmatrix m(t, k, rows, 11);
                tensor pt = m.packed_tensor();
                CHECK(pt.n_bytes() == m.packed.size());
                CHECK(pt.n_bytes() == static_cast<size_t>((rows + 7) / 8 * 8) * dtype_row_bytes(t, k));
                std::vector<uint8_t> row(dtype_row_bytes(t, k));
                for (int64_t r = 0; r < rows; ++r) {
                    quant_unpack_row_rows8(t, m.packed.data(), rows, k, r, row.data());
                    REQUIRE(std::memcmp(row.data(), m.plain.data() + r * row.size(), row.size()) == 0);
                }
            }
        }
    }
    // The spec's byte positions, spelled out for q8_0: chunk c of row r at (c * 8 + r) * 4, code q + 128.
    qmatrix m(dtype::q8_0, 32, 8, 3);
    const auto* blk = reinterpret_cast<const block_q8_0x8*>(m.packed.data());
    const auto* plain = reinterpret_cast<const block_q8_0*>(m.plain.data());
    for (int r = 0; r < 8; ++r) {
        CHECK(blk->d[r] == plain[r].d);
        for (int i = 0; i < 32; ++i) CHECK(blk->qs[((i / 4) * 8 + r) * 4 + i % 4] == static_cast<uint8_t>(plain[r].qs[i] + 128));
    }
    // q4_1: chunk c of row r holds the plain block's bytes 4c..4c+3; d and m per row; padding rows zero.
    qmatrix m1(dtype::q4_1, 32, 5, 4);
    const auto* blk1 = reinterpret_cast<const block_q4_1x8*>(m1.packed.data());
    const auto* plain1 = reinterpret_cast<const block_q4_1*>(m1.plain.data());
    for (int r = 0; r < 8; ++r) {
        CHECK(blk1->d[r] == (r < 5 ? plain1[r].d : 0));
        CHECK(blk1->m[r] == (r < 5 ? plain1[r].m : 0));
        for (int i = 0; i < 16; ++i) CHECK(blk1->qs[((i / 4) * 8 + r) * 4 + i % 4] == (r < 5 ? plain1[r].qs[i] : 0));
    }
    // q5_0 / q5_1: the 5-bit code of element i of row r (GGUF: low nibble of byte i % 16, 5th bit =
    // bit i of qh) from the q4_0 nibble chunks and the qh plane (bit c / 4 + c of byte r * 4 + j).
    qmatrix m50(dtype::q5_0, 32, 5, 8);
    qmatrix m51(dtype::q5_1, 32, 5, 9);
    const auto* blk50 = reinterpret_cast<const block_q5_0x8*>(m50.packed.data());
    const auto* plain50 = reinterpret_cast<const block_q5_0*>(m50.plain.data());
    const auto* blk51 = reinterpret_cast<const block_q5_1x8*>(m51.packed.data());
    const auto* plain51 = reinterpret_cast<const block_q5_1*>(m51.plain.data());
    auto gguf_code = [](const uint8_t* qs, const uint8_t* qh, int i) {
        uint32_t h = 0;
        std::memcpy(&h, qh, 4);
        return (i < 16 ? qs[i] & 15 : qs[i - 16] >> 4) | static_cast<int>((h >> i) & 1) << 4;
    };
    auto rows8_code = [](const uint8_t* qs, const uint8_t* qh, int r, int i) {
        const int c = (i % 16) / 4, j = i % 4;
        const int byte = qs[(c * 8 + r) * 4 + j], plane = qh[r * 4 + j];
        return i < 16 ? (byte & 15) | ((plane >> c) & 1) << 4 : (byte >> 4) | ((plane >> (4 + c)) & 1) << 4;
    };
    int n_high = 0;
    for (int r = 0; r < 8; ++r) {
        CHECK(blk50->d[r] == (r < 5 ? plain50[r].d : 0));
        CHECK(blk51->d[r] == (r < 5 ? plain51[r].d : 0));
        CHECK(blk51->m[r] == (r < 5 ? plain51[r].m : 0));
        for (int i = 0; i < 32; ++i) {
            const int w50 = r < 5 ? gguf_code(plain50[r].qs, plain50[r].qh, i) : 0;
            const int w51 = r < 5 ? gguf_code(plain51[r].qs, plain51[r].qh, i) : 0;
            REQUIRE(rows8_code(blk50->qs, blk50->qh, r, i) == w50);
            REQUIRE(rows8_code(blk51->qs, blk51->qh, r, i) == w51);
            n_high += (w50 >> 4) + (w51 >> 4);
        }
    }
    CHECK(n_high > 20);  // the 5th bits are exercised
    // q6_k: element e of row r, code u = q + 32, from GGUF's ql / qh split into the two rows8 planes.
    qmatrix m6(dtype::q6_k, 256, 3, 6);
    const auto* blk6 = reinterpret_cast<const block_q6_kx8*>(m6.packed.data());
    const auto* plain6 = reinterpret_cast<const block_q6_k*>(m6.plain.data());
    for (int r = 0; r < 8; ++r) {
        CHECK(blk6->d[r] == (r < 3 ? plain6[r].d : 0));
        for (int j = 0; j < 16; ++j) CHECK(blk6->scales[j * 8 + r] == (r < 3 ? plain6[r].scales[j] : 0));
        for (int e = 0; e < 256; ++e) {
            int want = 0;
            if (r < 3) {
                const int h = e / 128, i = (e % 128) / 32, l = e % 32;
                want = ((plain6[r].ql[64 * h + 32 * (i % 2) + l] >> (i >= 2 ? 4 : 0)) & 15) |
                       ((plain6[r].qh[32 * h + l] >> (2 * i)) & 3) << 4;
            }
            const int at = ((e % 32) / 4 * 8 + r) * 4 + e % 4;
            const int lo = (blk6->ql[(e / 64) * 256 + at] >> ((e / 32) % 2 * 4)) & 15;
            const int hi = (blk6->qh[(e / 128) * 256 + at] >> ((e % 128) / 32 * 2)) & 3;
            REQUIRE((lo | hi << 4) == want);
        }
    }
    // Groups go in pairs whose blocks alternate; a lone last group keeps its blocks together
    // (docs/FORMAT.md): 20 rows = groups 0, 1 (a pair) and 2 (lone), 3 blocks per row.
    CHECK(rows8_group_first(0, 3, 3) == 0);
    CHECK(rows8_group_first(1, 3, 3) == 1);
    CHECK(rows8_group_stride(1, 3) == 2);
    CHECK(rows8_group_first(2, 3, 3) == 6);
    CHECK(rows8_group_stride(2, 3) == 1);
    CHECK(rows8_group_first(2, 3, 4) == 6);
    CHECK(rows8_group_first(3, 3, 4) == 7);
    {
        qmatrix p(dtype::q8_0, 96, 20, 3);
        const auto* blocks = reinterpret_cast<const block_q8_0x8*>(p.packed.data());
        const auto* plain_blocks = reinterpret_cast<const block_q8_0*>(p.plain.data());
        const int at[3][3] = {{0, 2, 4}, {1, 3, 5}, {6, 7, 8}};  // [group][block] -> group block
        for (int g = 0; g < 3; ++g)
            for (int b = 0; b < 3; ++b)
                for (int r = 0; r < 8 && g * 8 + r < 20; ++r) CHECK(blocks[at[g][b]].d[r] == plain_blocks[(g * 8 + r) * 3 + b].d);
    }

    std::vector<uint8_t> out(64);
    CHECK_THROWS_AS(quant_pack_rows8(dtype::f16, m.plain.data(), 1, 32, out.data()), kiln::error);
    CHECK_THROWS_AS(quant_pack_rows8(dtype::q8_0, m.plain.data(), 1, 48, out.data()), kiln::error);
    CHECK_THROWS_AS(quant_unpack_row_rows8(dtype::q8_0, m.packed.data(), 8, 32, 8, out.data()), kiln::error);
}

TEST_CASE("rows8: the writer records the layout, the reader checks it per type and shape") {
    qmatrix m(dtype::q4_0, 64, 11, 5);
    source_model sm;
    source_tensor t;
    t.name = "w";
    t.type = dtype::q4_0;
    t.n_dims = 2;
    t.ne[0] = 64;
    t.ne[1] = 11;
    t.layout = tensor_layout::rows8;
    t.data = m.packed.data();
    sm.tensors.push_back(t);
    const std::string path = kiln::test::temp_dir() + "/rows8.kiln";
    kiln_write_file(sm, path);
    {
        auto f = kiln_file::open(path);
        const tensor& w = f->get("w");
        CHECK(w.layout == tensor_layout::rows8);
        CHECK(w.n_bytes() == m.packed.size());
        CHECK(std::memcmp(w.data, m.packed.data(), m.packed.size()) == 0);
        f->verify();
    }
    std::ifstream in(path, std::ios::binary);
    const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    kiln_header h;
    std::memcpy(&h, bytes.data(), sizeof(h));
    const size_t fixed = h.dir_offset + 4 + 1;  // after the one-byte name "w"
    auto patched = [&](size_t at, uint32_t v) {
        std::vector<uint8_t> b = bytes;
        std::memcpy(b.data() + at, &v, 4);
        kiln_header hh;
        std::memcpy(&hh, b.data(), sizeof(hh));
        hh.index_checksum = checksum_kiln64(b.data() + hh.meta_offset, hh.data_offset - hh.meta_offset);
        std::memcpy(b.data(), &hh, sizeof(hh));
        const std::string p = kiln::test::temp_dir() + "/patched.kiln";
        std::ofstream out(p, std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
        out.close();
        return error_of([&] { kiln_file::open(p); });
    };
    CHECK(patched(fixed + 4, 7).find("unsupported layout 7") != std::string::npos);
    // layout 1: rows8 as kiln wrote it before groups were paired; the bytes would be misread
    CHECK(patched(fixed + 4, 1).find("first rows8 arrangement (layout 1)") != std::string::npos);
    CHECK(patched(fixed, static_cast<uint32_t>(dtype::bf16)).find("layout rows8, which type bf16 does not have") !=
          std::string::npos);
    CHECK(patched(fixed + 8, 3).find("rows8 but 3 dimensions") != std::string::npos);
    // Plain q4_0 of 11 rows is 3 rows shorter than the padded rows8 bytes.
    CHECK(patched(fixed + 4, 0).find("shape needs") != std::string::npos);

    source_model bad = sm;
    bad.tensors[0].type = dtype::f16;
    CHECK(error_of([&] { kiln_write_file(bad, kiln::test::temp_dir() + "/bad.kiln"); }).find("layout rows8 needs") !=
          std::string::npos);
}

// ---- activation quantization and kernels ------------------------------------------------------------

TEST_CASE("activation quantization: every level gives the reference's blocks bit for bit") {
    const int64_t k = 32 * 9;
    auto x = random_vec(static_cast<size_t>(k), 21, -3.0f, 3.0f);
    std::fill(x.begin() + 32, x.begin() + 64, 0.0f);             // a zero block
    std::fill(x.begin() + 64, x.begin() + 96, 1e-35f);           // below the floor: zeros
    for (int i = 96; i < 128; ++i) x[i] = (i % 2 ? 0.5f : -0.5f) * (i - 96) / 31.0f;  // exact halves
    x[200] = 1e4f;                                              // one outlier dominates its block
    std::vector<block_q8_act> want(static_cast<size_t>(k / 32)), got(want.size());
    cpu_kernels_for(cpu_isa::scalar).quantize_act(x.data(), k, want.data());
    CHECK(want[1].d == 0.0f);
    CHECK(want[2].d == 0.0f);
    for (size_t b = 0; b < want.size(); ++b) {
        int sum = 0;
        for (int j = 0; j < 32; ++j) {
            sum += want[b].qs[j];
            CHECK(std::abs(want[b].qs[j]) <= 127);
            CHECK(std::fabs(want[b].d * want[b].qs[j] - x[b * 32 + j]) <= want[b].d * 0.5f + 1e-30f);
        }
        CHECK(sum == want[b].sum);
    }
    for_each_isa([&](cpu_isa) {
        cpu_kernels_get().quantize_act(x.data(), k, got.data());
        CHECK(std::memcmp(got.data(), want.data(), want.size() * sizeof(block_q8_act)) == 0);
    });
}

TEST_CASE("integer kernels: every type and level against the scalar reference, awkward shapes") {
    const cpu_kernels& ref = cpu_kernels_for(cpu_isa::scalar);
    for (dtype t : k_types) {
        const std::vector<int64_t> ks = block_of(t) == 32 ? std::vector<int64_t>{32, 96, 512} : std::vector<int64_t>{256, 768};
        for (int64_t k : ks) {
            for (int64_t rows : {1, 7, 8, 9, 24, 40, 57}) {
                qmatrix m(t, k, rows, static_cast<uint32_t>(k + rows));
                for (int64_t n_tok : {1, 2, 3, 4, 5, 8, 9, 16, 17, 33}) {
                    if (rows > 24 && n_tok % 2 == 0 && n_tok > 4) continue;  // keep the test quick
                    CAPTURE(dtype_name(t));
                    CAPTURE(k);
                    CAPTURE(rows);
                    CAPTURE(n_tok);
                    const auto x = random_vec(static_cast<size_t>(k * n_tok), 7 + static_cast<uint32_t>(n_tok), -2.0f, 2.0f);
                    std::vector<block_q8_act> act(static_cast<size_t>(n_tok * k / 32));
                    for (int64_t i = 0; i < n_tok; ++i) ref.quantize_act(x.data() + i * k, k, act.data() + i * (k / 32));
                    const int64_t y_stride = rows + 3;  // outputs past each token's rows must stay untouched
                    std::vector<float> want(static_cast<size_t>(n_tok * y_stride), -7.0f), got(want.size());
                    const qgemm_fn f_ref = qgemm_of(ref, t);
                    f_ref(m.packed.data(), rows, k, act.data(), n_tok, want.data(), y_stride);
                    for_each_isa([&](cpu_isa isa) {
                        const cpu_kernels& kk = cpu_kernels_for(isa);
                        const qgemm_fn f = qgemm_of(kk, t);
                        if (isa != cpu_isa::scalar) CHECK((f != f_ref));  // every SIMD level has its own kernel
                        std::fill(got.begin(), got.end(), -7.0f);
                        f(m.packed.data(), rows, k, act.data(), n_tok, got.data(), y_stride);
                        // Same int32 block sums; only the f32 scaling and summation order differ.
                        CHECK(nmse(got, want) < 1e-11);
                        for (int64_t i = 0; i < n_tok; ++i)
                            for (int64_t r = rows; r < y_stride; ++r) REQUIRE(got[i * y_stride + r] == -7.0f);
                    });
                }
            }
        }
    }
}

// Speculative verification evaluates a batch where plain decoding evaluates one token at a time;
// greedy decoding gives the same tokens both ways only if a token's outputs do not depend on the
// batch around it. The integer kernels promise that bit for bit at every level.
TEST_CASE("integer kernels: a token in a batch gets the bits it gets alone") {
    const int64_t k = 512, n_act = k / 32;
    for (dtype t : k_types) {
        for (int64_t rows : {8, 40, 57}) {
            qmatrix m(t, k, rows, static_cast<uint32_t>(rows * 3 + 1));
            for (int64_t n_tok : {3, 9}) {  // the pair tiles take 4 or fewer tokens another way
                const auto x = random_vec(static_cast<size_t>(k * n_tok), 11, -2.0f, 2.0f);
                for_each_isa([&](cpu_isa isa) {
                    const std::string level = cpu_isa_name(isa), type = dtype_name(t);
                    CAPTURE(level);
                    CAPTURE(type);
                    CAPTURE(rows);
                    CAPTURE(n_tok);
                    const cpu_kernels& kk = cpu_kernels_for(isa);
                    std::vector<block_q8_act> act(static_cast<size_t>(n_tok * n_act));
                    for (int64_t i = 0; i < n_tok; ++i) kk.quantize_act(x.data() + i * k, k, act.data() + i * n_act);
                    std::vector<float> batch(static_cast<size_t>(n_tok * rows)), alone(batch.size());
                    const qgemm_fn f = qgemm_of(kk, t);
                    f(m.packed.data(), rows, k, act.data(), n_tok, batch.data(), rows);
                    for (int64_t i = 0; i < n_tok; ++i) {
                        f(m.packed.data(), rows, k, act.data() + i * n_act, 1, alone.data() + i * rows, rows);
                    }
                    CHECK(std::memcmp(batch.data(), alone.data(), batch.size() * sizeof(float)) == 0);
                });
            }
        }
    }
}

TEST_CASE("matmul on rows8: int8 activations stay within a per-type bound of the exact f32 product") {
    // Normalized squared error of int8 activations (a step of max|x| / 127 per block of 32) for
    // uniform random data: about 1e-5; the bound leaves room for the weights' own spread.
    const double bound = 2e-4;
    for (dtype t : k_types) {
        const int64_t k = block_of(t) == 32 ? 160 : 512;
        for (int64_t rows : {5, 16, 67}) {
            qmatrix m(t, k, rows, 3);
            tensor plain = m.plain_tensor(), packed = m.packed_tensor();
            for (int64_t n_tok : {1, 3, 16, 20}) {
                CAPTURE(dtype_name(t));
                CAPTURE(rows);
                CAPTURE(n_tok);
                const auto x = random_vec(static_cast<size_t>(k * n_tok), 9);
                std::vector<float> exact(static_cast<size_t>(n_tok * rows)), plain_f32(exact.size()), got(exact.size()),
                    ref_packed(exact.size());
                ref::matmul(plain, x.data(), n_tok, exact.data());
                ref::matmul(packed, x.data(), n_tok, ref_packed.data());
                CHECK(ref_packed == exact);  // the reference unpacks rows8 exactly
                for_each_isa([&](cpu_isa) {
                    ops::matmul(plain, x.data(), n_tok, plain_f32.data());  // the exact f32 path
                    CHECK(nmse(plain_f32, exact) < 1e-12);
                    ops::matmul(packed, x.data(), n_tok, got.data());
                    const double e = nmse(got, exact);
                    CHECK(e < bound);
                    CHECK(e > 0.0);  // it really ran the integer path
                });
            }
        }
    }
}

TEST_CASE("matmul on rows8: 1 and 2 threads agree bit for bit; get_rows unpacks the tied table") {
    threads_guard guard;
    for (dtype t : k_types) {
        const int64_t k = block_of(t) == 32 ? 512 : 1024;
        qmatrix m(t, k, 203, 17);
        tensor packed = m.packed_tensor(), plain = m.plain_tensor();
        for (int64_t n_tok : {1, 7, 40}) {
            const auto x = random_vec(static_cast<size_t>(k * n_tok), 19);
            std::vector<float> one(static_cast<size_t>(n_tok * 203)), two(one.size());
            for_each_isa([&](cpu_isa) {
                threads_set(1);
                ops::matmul(packed, x.data(), n_tok, one.data());
                threads_set(2);
                ops::matmul(packed, x.data(), n_tok, two.data());
                CHECK(one == two);
            });
        }
        const std::vector<int32_t> ids = {0, 202, 7, 8, 9, 100};
        std::vector<float> want(ids.size() * k), got(want.size()), got_ref(want.size());
        ref::get_rows(plain, ids.data(), static_cast<int64_t>(ids.size()), want.data());
        ref::get_rows(packed, ids.data(), static_cast<int64_t>(ids.size()), got_ref.data());
        CHECK(got_ref == want);
        for_each_isa([&](cpu_isa) {
            ops::get_rows(packed, ids.data(), static_cast<int64_t>(ids.size()), got.data());
            CHECK(got == want);
        });
        const int32_t bad = 203;
        CHECK_THROWS_AS(ops::get_rows(packed, &bad, 1, got.data()), kiln::error);
    }
}

TEST_CASE("plain q4_k, q4_1, q5_0, q5_1 and q6_k run the exact f32 path at every level") {
    for (dtype t : {dtype::q4_k, dtype::q4_1, dtype::q5_0, dtype::q5_1, dtype::q6_k}) {
        CAPTURE(dtype_name(t));
        qmatrix m(t, 512, 13, 23);
        tensor w = m.plain_tensor();
        for (int64_t n_tok : {1, 5}) {
            const auto x = random_vec(static_cast<size_t>(512 * n_tok), 29);
            std::vector<float> want(static_cast<size_t>(13 * n_tok)), got(want.size());
            ref::matmul(w, x.data(), n_tok, want.data());
            for_each_isa([&](cpu_isa) {
                ops::matmul(w, x.data(), n_tok, got.data());
                CHECK(nmse(got, want) < 1e-12);
            });
        }
        std::vector<float> a(512), b(512);
        row_to_f32(t, m.plain.data(), a.data(), 512);
        dequantize_row(t, m.plain.data(), b.data(), 512);
        CHECK(a == b);
        const int32_t id = 4;
        std::vector<float> want(512), got(512);
        ref::get_rows(w, &id, 1, want.data());
        for_each_isa([&](cpu_isa) {
            ops::get_rows(w, &id, 1, got.data());
            CHECK(got == want);
        });
    }
}

TEST_CASE("bf16 x bf16 dot kernels: every level against the reference; rounding to bf16 is to nearest even") {
    const cpu_kernels& ref_k = cpu_kernels_for(cpu_isa::scalar);
    const float vals[] = {1.0f, 1.00390625f /* 1 + 2^-8: a tie, stays 1 */, 1.01171875f /* 1 + 3 * 2^-8: a tie, up */,
                          -2.5f, 0.0f, 3.0e38f};
    uint16_t h[6];
    ref_k.round_bf16(vals, h, 6);
    CHECK(h[0] == 0x3f80);
    CHECK(h[1] == 0x3f80);
    CHECK(h[2] == 0x3f82);
    CHECK(h[3] == 0xc020);
    CHECK(h[4] == 0);
    for (int64_t k : {1, 31, 32, 33, 100, 512}) {
        for (int64_t rows : {1, 5, 9}) {
            for (int64_t n_tok : {1, 2, 4, 7}) {
                CAPTURE(k);
                CAPTURE(rows);
                CAPTURE(n_tok);
                const auto wf = random_vec(static_cast<size_t>(k * rows), 31);
                const auto x = random_vec(static_cast<size_t>(k * n_tok), 37);
                std::vector<uint16_t> wb(wf.size()), xb(x.size()), xb2(x.size());
                ref_k.round_bf16(wf.data(), wb.data(), static_cast<int64_t>(wf.size()));
                ref_k.round_bf16(x.data(), xb.data(), static_cast<int64_t>(x.size()));
                std::vector<float> want(static_cast<size_t>(rows * n_tok)), got(want.size());
                ref_k.gemm_bf16_dot(wb.data(), static_cast<size_t>(k) * 2, rows, xb.data(), k, n_tok, k, want.data(), rows);
                for_each_isa([&](cpu_isa isa) {
                    const cpu_kernels& kk = cpu_kernels_for(isa);
                    kk.round_bf16(x.data(), xb2.data(), static_cast<int64_t>(x.size()));
                    CHECK(xb2 == xb);
                    kk.gemm_bf16_dot(wb.data(), static_cast<size_t>(k) * 2, rows, xb.data(), k, n_tok, k, got.data(), rows);
                    CHECK(nmse(got, want) < 1e-11);
                });
            }
        }
    }
}

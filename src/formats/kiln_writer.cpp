#include "formats/kiln_writer.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "core/error.h"
#include "core/progress.h"
#include "formats/checksum.h"
#include "formats/kiln_format.h"
#include "formats/output_file.h"
#include "quant/pack.h"

namespace kiln {

namespace {

std::vector<uint8_t> serialize_metadata(const metadata& m) {
    byte_writer w;
    w.u64(m.size());
    for (const auto& [key, value] : m.items()) {  // std::map: sorted by key, as the format requires
        w.u32(static_cast<uint32_t>(key.size()));
        w.raw(key.data(), key.size());
        const meta_kind kind = meta_kind_of(value);
        w.u8(static_cast<uint8_t>(kind));
        switch (kind) {
            case meta_kind::int64: w.i64(std::get<int64_t>(value)); break;
            case meta_kind::float64: w.f64(std::get<double>(value)); break;
            case meta_kind::boolean: w.u8(std::get<bool>(value) ? 1 : 0); break;
            case meta_kind::string: w.str(std::get<std::string>(value)); break;
            case meta_kind::int32_array: {
                const auto& a = std::get<std::vector<int32_t>>(value);
                w.u64(a.size());
                w.raw(a.data(), a.size() * 4);
                break;
            }
            case meta_kind::float32_array: {
                const auto& a = std::get<std::vector<float>>(value);
                w.u64(a.size());
                w.raw(a.data(), a.size() * 4);
                break;
            }
            case meta_kind::string_array: {
                const auto& a = std::get<std::vector<std::string>>(value);
                w.u64(a.size());
                for (const auto& s : a) w.str(s);
                break;
            }
        }
    }
    return w.buf;
}

void check_source(const source_model& m) {
    for (const auto& t : m.tensors) {
        if (t.n_dims < 1 || t.n_dims > 4) fail("tensor '{}' has {} dimensions (1..4 supported)", t.name, t.n_dims);
        const int bs = dtype_info(t.type).block_size;
        if (t.ne[0] % bs != 0) {
            fail("tensor '{}': row length {} is not a multiple of the {} block size {}", t.name, t.ne[0],
                 dtype_name(t.type), bs);
        }
        if (!t.data && !t.load) fail("tensor '{}' has no data", t.name);
        if (t.layout == tensor_layout::rows8 && (!quant_has_rows8(t.type) || t.n_dims != 2)) {
            fail("tensor '{}': layout rows8 needs a 2-D q8_0, q4_0, q4_1, q5_0, q5_1, q4_k or q6_k matrix, not {} {}-D", t.name,
                 dtype_name(t.type), t.n_dims);
        }
        if (tensor_layout_name(static_cast<uint32_t>(t.layout)) == nullptr) {
            fail("tensor '{}' has unknown layout {}", t.name, static_cast<uint32_t>(t.layout));
        }
    }
}

// Lays out and writes the whole file to fd. Tensor data first (so checksums are
// known), then the index and the header.
void write_to_fd(const source_model& m, int fd, const std::string& dest, bool progress) {
    check_source(m);
    const std::vector<uint8_t> meta_bytes = serialize_metadata(m.meta);

    uint64_t dir_size = 0;
    for (const auto& t : m.tensors) dir_size += 4 + t.name.size() + kiln_dir_entry_fixed_bytes;

    kiln_header h {};
    std::memcpy(h.magic, kiln_magic, 4);
    h.version = kiln_version;
    h.alignment = kiln_alignment;
    h.meta_offset = sizeof(kiln_header);
    h.meta_size = meta_bytes.size();
    h.dir_offset = h.meta_offset + h.meta_size;
    h.dir_size = dir_size;
    h.n_tensors = m.tensors.size();
    h.data_offset = align_up(h.dir_offset + h.dir_size, kiln_alignment);

    uint64_t total = 0;
    for (const auto& t : m.tensors) total += t.n_bytes();
    progress_bar bar("writing " + std::filesystem::path(dest).filename().string(), total, progress);

    byte_writer dir;
    uint64_t offset = h.data_offset;
    uint64_t done = 0;
    std::vector<uint8_t> staging;
    static const uint8_t zeros[kiln_alignment] = {};
    for (const auto& t : m.tensors) {
        const uint64_t n = t.n_bytes();
        const void* bytes = output_tensor_bytes(t, staging);
        const uint64_t sum = checksum_kiln64(bytes, n);
        output_write_all(fd, bytes, n, offset, dest);
        const uint64_t end = offset + n;
        const uint64_t padded = align_up(end, kiln_alignment);
        if (padded > end) output_write_all(fd, zeros, padded - end, end, dest);

        dir.u32(static_cast<uint32_t>(t.name.size()));
        dir.raw(t.name.data(), t.name.size());
        dir.u32(static_cast<uint32_t>(t.type));
        dir.u32(static_cast<uint32_t>(t.layout));
        dir.u32(static_cast<uint32_t>(t.n_dims));
        for (int i = 0; i < 4; ++i) dir.u64(static_cast<uint64_t>(t.ne[i]));
        dir.u64(offset);
        dir.u64(n);
        dir.u64(sum);

        offset = padded;
        done += n;
        bar.update(done);
    }
    if (m.tensors.empty()) {
        // keep data_offset inside the file
        const uint64_t pad = h.data_offset - (h.dir_offset + h.dir_size);
        if (pad > 0) output_write_all(fd, zeros, pad, h.dir_offset + h.dir_size, dest);
    }
    h.data_size = offset - h.data_offset;
    h.file_size = offset;

    std::vector<uint8_t> index(meta_bytes);
    index.insert(index.end(), dir.buf.begin(), dir.buf.end());
    index.resize(h.data_offset - h.meta_offset, 0);
    h.index_checksum = checksum_kiln64(index.data(), index.size());
    output_write_all(fd, index.data(), index.size(), h.meta_offset, dest);
    output_write_all(fd, &h, sizeof(h), 0, dest);
    if (::ftruncate(fd, static_cast<off_t>(h.file_size)) != 0) fail("{}: truncate failed", dest);
    bar.finish();
}

}  // namespace

void kiln_write_file(const source_model& m, const std::string& path, const kiln_write_options& opt) {
    output_write_atomic(path, [&](int fd) { write_to_fd(m, fd, path, opt.progress); });
}

int kiln_write_memfd(const source_model& m, const std::string& name) {
    const int fd = ::memfd_create("kiln-model", MFD_CLOEXEC);
    if (fd < 0) fail("{}: cannot create an in-memory file: {}", name, std::strerror(errno));
    try {
        write_to_fd(m, fd, name, false);
    } catch (...) {
        ::close(fd);
        throw;
    }
    return fd;
}

}  // namespace kiln

// The definitions of <sib/data/file_bytes.hpp>: whole-file reads through zlib.
// Included by that header, or with SIB_COMPILED_LIB compiled once into sib::compiled
// (src/compiled.cpp); see core/config.hpp.
#pragma once
#include <sib/data/file_bytes.hpp>
#include <zlib.h>
#include <algorithm>
#include <new>

SIB_BEGIN_NAMESPACE
namespace data {

SIB_INLINE std::vector<std::uint8_t> read_file_bytes(const std::string& path, const char* what) {
    std::error_code ec;
    require(std::filesystem::is_regular_file(path, ec), what, ": ", path, " not found");
    gzFile f = gzopen(path.c_str(), "rb");
    require(f != nullptr, what, ": cannot open ", path);
    gzbuffer(f, 1u << 18);
    std::vector<std::uint8_t> out;
    // A plain file's size is its content's; a gzip file grows on decompression, so read in chunks.
    const auto file_size = std::filesystem::file_size(path, ec);
    out.reserve(ec ? 0 : static_cast<std::size_t>(file_size));
    // Reads of the plain size first (most files are plain), then growing to 1 MiB: a small file
    // costs a small buffer, which matters when a fuzzer reads millions of them.
    std::size_t chunk = std::clamp<std::size_t>(ec ? 0 : static_cast<std::size_t>(file_size) + 1, 4096, 1u << 20);
    for (;; chunk = std::min<std::size_t>(2 * chunk, 1u << 20)) {
        const std::size_t at = out.size();
        try {
            out.resize(at + chunk);
        } catch (const std::bad_alloc&) {
            gzclose(f);
            throw out_of_memory(sib::detail::concat(what, ": ", path, ": cannot hold more than its first ", at,
                                               " bytes in memory (out of memory)"));
        }
        const int got = gzread(f, out.data() + at, static_cast<unsigned>(chunk));
        if (got < 0) {
            int code = 0;
            const std::string msg = gzerror(f, &code);
            gzclose(f);
            fail(what, ": cannot read ", path, ": ", msg);
        }
        out.resize(at + static_cast<std::size_t>(got));
        if (got == 0) break;
    }
    // gzread stops quietly at a gzip stream cut short; gzclose_r reports it as Z_BUF_ERROR.
    const int rc = gzclose_r(f);
    require(rc == Z_OK, what, ": ", path, " is a truncated or corrupt gzip file");
    return out;
}

}  // namespace data
SIB_END_NAMESPACE

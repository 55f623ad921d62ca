// Reading files for the loaders, with errors that name the file and say why (errno's text), as
// every sib::io message does.
#pragma once
#include <sib/core/config.hpp>
#include <sib/core/error.hpp>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <new>
#include <string>
#include <system_error>
#include <vector>

SIB_BEGIN_NAMESPACE
namespace io {
namespace detail {

inline std::string errno_text(int e) { return std::generic_category().message(e); }

struct file_closer {
    void operator()(std::FILE* f) const { std::fclose(f); }
};
using file_handle = std::unique_ptr<std::FILE, file_closer>;

inline file_handle open_for_reading(const std::filesystem::path& path) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) fail(path.string(), ": cannot open (", errno_text(errno), ")");
    return file_handle(f);
}

// Also refuses folders, which fopen opens on Linux.
inline std::size_t file_size_of(const std::filesystem::path& path) {
    std::error_code ec;
    const auto n = std::filesystem::file_size(path, ec);
    if (ec) fail(path.string(), ": cannot read (", ec.message(), ")");
    return static_cast<std::size_t>(n);
}

inline void read_exactly(std::FILE* f, void* dst, std::size_t n, const std::string& path) {
    if (n && std::fread(dst, 1, n, f) != n)
        fail(path, ": read failed (", std::ferror(f) ? "I/O error" : "unexpected end of file", ")");
}

inline std::vector<std::byte> read_file_bytes(const std::filesystem::path& path) {
    auto f = open_for_reading(path);
    const std::size_t n = file_size_of(path);
    std::vector<std::byte> bytes;
    try {
        bytes.resize(n);
    } catch (const std::bad_alloc&) {
        throw out_of_memory(sib::detail::concat(path.string(), ": cannot hold its ", n, " bytes in memory (out of memory)"));
    }
    read_exactly(f.get(), bytes.data(), bytes.size(), path.string());
    return bytes;
}

}  // namespace detail
}  // namespace io
SIB_END_NAMESPACE

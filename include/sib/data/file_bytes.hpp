// Whole-file reads for the dataset loaders. zlib's gzread passes plain files through unchanged, so
// every loader reads `x.gz` and `x` alike.
#pragma once
#include <sib/core/config.hpp>
#include <sib/core/error.hpp>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

SIB_BEGIN_NAMESPACE
namespace data {

// The (decompressed) content of `path`. `what` names the format in messages ("IDX", "CIFAR").
SIB_INLINE std::vector<std::uint8_t> read_file_bytes(const std::string& path, const char* what);

}  // namespace data
SIB_END_NAMESPACE

#if !defined(SIB_COMPILED_LIB)
#include <sib/data/file_bytes_inl.hpp>
#endif

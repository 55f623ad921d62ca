// IDX files (the MNIST / Fashion-MNIST format, gzip or not) and the Fashion-MNIST loader.
// Format: bytes 0,0, an element-type code, the rank; then each dimension as a big-endian uint32;
// then the elements in row-major order. Only unsigned bytes (code 0x08) occur in image datasets.
#pragma once
#include <sib/core/config.hpp>
#include <sib/core/error.hpp>
#include <sib/core/shape.hpp>
#include <sib/backend/cpu/cpu.hpp>
#include <sib/core/tensor.hpp>
#include <sib/data/dataset.hpp>
#include <sib/data/file_bytes.hpp>
#include <sib/data/foreground_mask.hpp>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

SIB_BEGIN_NAMESPACE
namespace data {

struct idx_array {
    sib::shape dims;
    std::vector<std::uint8_t> values;  // row-major, dims.numel() of them
};

SIB_INLINE idx_array read_idx(const std::string& path);

// Images from an IDX file [N,H,W] (or [N,C,H,W]) scaled to [0,1] by /255, labels from an IDX file
// [N]. With `masks`, each image gets its foreground mask (nonzero pixels dilated by one, see
// foreground_mask.hpp): right for objects on a black background, as in (Fashion-)MNIST.
SIB_INLINE in_memory_dataset load_idx_dataset(const std::string& images_path,
                                              const std::string& labels_path, int num_classes,
                                              bool masks, std::vector<std::string> class_names = {});

SIB_INLINE const std::vector<std::string>& fashion_mnist_classes();

inline constexpr const char* fashion_mnist_default_dir = "/usr/share/datasets/fashion-mnist";

// The train (60000) or test (10000) split of Fashion-MNIST: images [N,1,28,28] in [0,1], labels,
// and foreground masks. Reads `<prefix>-images-idx3-ubyte.gz` (or the file without .gz).
SIB_INLINE in_memory_dataset load_fashion_mnist(const std::string& dir = fashion_mnist_default_dir,
                                                bool train = true);

}  // namespace data
SIB_END_NAMESPACE

#if !defined(SIB_COMPILED_LIB)
#include <sib/data/idx_inl.hpp>
#endif

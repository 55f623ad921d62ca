// CIFAR-10 and CIFAR-100 in their binary version: fixed-size records of label byte(s) followed by
// 3072 bytes, the red, green and blue 32x32 planes in row-major order (so a record is [3,32,32]).
#pragma once
#include <sib/core/config.hpp>
#include <sib/core/error.hpp>
#include <sib/backend/cpu/cpu.hpp>
#include <sib/core/tensor.hpp>
#include <sib/data/dataset.hpp>
#include <sib/data/file_bytes.hpp>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

SIB_BEGIN_NAMESPACE
namespace data {

// Records of `label_bytes` label bytes (1 for CIFAR-10; 2, coarse then fine, for CIFAR-100) and an
// image, from every file in order. The label used is byte `label_index` of the record. Images are
// scaled to [0,1]; there are no masks.
inline in_memory_dataset load_cifar_binary(const std::vector<std::string>& files, int label_bytes,
                                           int label_index, int num_classes,
                                           std::vector<std::string> class_names = {}) {
    require(label_bytes >= 1 && label_index >= 0 && label_index < label_bytes,
            "CIFAR: label byte ", label_index, " does not exist in records with ", label_bytes,
            " label byte", label_bytes > 1 ? "s" : "");
    require(!files.empty(), "CIFAR: no files given");
    constexpr index_t image_bytes = 3 * 32 * 32;
    const index_t record = label_bytes + image_bytes;
    std::vector<std::vector<std::uint8_t>> contents;
    index_t n = 0;
    for (const auto& f : files) {
        contents.push_back(read_file_bytes(f, "CIFAR"));
        const index_t size = static_cast<index_t>(contents.back().size());
        require(size > 0 && size % record == 0, "CIFAR: ", f, " has ", size,
                " bytes, not a whole number of ", record, "-byte records (", label_bytes,
                " label byte", label_bytes > 1 ? "s" : "", " + 3072 image bytes)");
        n += size / record;
    }
    in_memory_dataset::image_tensor images({n, 3, 32, 32});
    in_memory_dataset::label_tensor labels({n});
    index_t at = 0;
    for (std::size_t fi = 0; fi < files.size(); ++fi) {
        const std::uint8_t* src = contents[fi].data();
        const index_t count = static_cast<index_t>(contents[fi].size()) / record;
        for (index_t r = 0; r < count; ++r) {
            const std::uint8_t* rec = src + r * record;
            const std::int64_t y = rec[label_index];
            require(y < num_classes, "CIFAR: ", files[fi], ": label ", y, " of record ", r,
                    " is out of range for ", num_classes, " classes");
            labels.data()[at + r] = y;
        }
        float* dst = images.data() + at * image_bytes;
        cpu::parallel_for(count * image_bytes, [=](index_t i) {
            const index_t r = i / image_bytes, k = i % image_bytes;
            dst[i] = static_cast<float>(src[r * record + label_bytes + k]) / 255.0f;
        });
        at += count;
    }
    return in_memory_dataset(std::move(images), std::move(labels), num_classes, {},
                             std::move(class_names));
}

namespace detail {
// One name per non-empty line, as in batches.meta.txt; empty if the file is absent.
inline std::vector<std::string> read_name_lines(const std::filesystem::path& p) {
    std::vector<std::string> names;
    std::ifstream in(p);
    for (std::string line; std::getline(in, line);) {
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
        if (!line.empty()) names.push_back(line);
    }
    return names;
}
}  // namespace detail

// `dir` is the extracted cifar-10-batches-bin folder: data_batch_1..5.bin or test_batch.bin.
inline in_memory_dataset load_cifar10(const std::string& dir, bool train = true) {
    const std::filesystem::path d(dir);
    std::vector<std::string> files;
    if (train)
        for (int i = 1; i <= 5; ++i) files.push_back((d / ("data_batch_" + std::to_string(i) + ".bin")).string());
    else
        files.push_back((d / "test_batch.bin").string());
    auto names = detail::read_name_lines(d / "batches.meta.txt");
    if (names.size() != 10)
        names = {"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};
    return load_cifar_binary(files, 1, 0, 10, std::move(names));
}

// `dir` is the extracted cifar-100-binary folder: train.bin or test.bin; fine labels (100 classes)
// unless `coarse` (20 superclasses).
inline in_memory_dataset load_cifar100(const std::string& dir, bool train = true,
                                       bool coarse = false) {
    const std::filesystem::path d(dir);
    const int k = coarse ? 20 : 100;
    auto names = detail::read_name_lines(d / (coarse ? "coarse_label_names.txt" : "fine_label_names.txt"));
    if (static_cast<int>(names.size()) != k) names.clear();
    return load_cifar_binary({(d / (train ? "train.bin" : "test.bin")).string()}, 2, coarse ? 0 : 1,
                             k, std::move(names));
}

}  // namespace data
SIB_END_NAMESPACE

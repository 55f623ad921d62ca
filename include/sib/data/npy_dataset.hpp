// A dataset saved with numpy: a folder with <split>_images.npy [N,C,H,W], <split>_labels.npy [N]
// and optionally <split>_masks.npy [N,1,H,W] (or [N,H,W]), for split "train" and "test".
// Images are kept as stored (any dtype load_npy reads, converted to float); masks become 0/1
// (nonzero = foreground).
#pragma once
#include <sib/core/config.hpp>
#include <sib/core/error.hpp>
#include <sib/backend/cpu/cpu.hpp>
#include <sib/core/tensor.hpp>
#include <sib/data/dataset.hpp>
#include <sib/io/npy.hpp>
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

SIB_BEGIN_NAMESPACE
namespace data {

// The split `train` (else "test") of the folder `dir`. num_classes 0 infers it as one more than
// the largest label of both splits present, so that train and test agree.
inline in_memory_dataset load_npy_dataset(const std::string& dir, bool train = true,
                                          int num_classes = 0) {
    namespace fs = std::filesystem;
    const std::string split = train ? "train" : "test";
    auto file = [&](const std::string& split_name, const char* what) {
        return (fs::path(dir) / (split_name + "_" + what + ".npy")).string();
    };
    const std::string images_path = file(split, "images"), labels_path = file(split, "labels"),
                      masks_path = file(split, "masks");
    std::error_code ec;
    for (const auto& p : {images_path, labels_path})
        require(fs::is_regular_file(p, ec), "npy dataset: ", p, " not found");

    auto images = io::load_npy<float>(images_path);
    require(images.rank() == 4, "npy dataset: ", images_path, " must hold images [N,C,H,W], found ",
            images.shape().str());
    const index_t n = images.dim(0), h = images.dim(2), w = images.dim(3);

    const std::vector<std::int64_t> labels = io::load_labels(labels_path);
    require(static_cast<index_t>(labels.size()) == n, "npy dataset: ", labels_path, " has ",
            labels.size(), " labels, ", images_path, " has ", n, " images");
    for (std::size_t i = 0; i < labels.size(); ++i)
        require(labels[i] >= 0, "npy dataset: ", labels_path, ": label ", labels[i], " of image ", i,
                " is negative");
    if (num_classes <= 0) {
        std::int64_t top = -1;
        for (const std::string& s : {std::string("train"), std::string("test")}) {
            const std::string p = file(s, "labels");
            const std::vector<std::int64_t> l = p == labels_path ? labels
                                                : fs::is_regular_file(p, ec) ? io::load_labels(p)
                                                                             : std::vector<std::int64_t>{};
            for (auto v : l) top = std::max(top, v);
        }
        num_classes = static_cast<int>(top + 1);
        require(num_classes > 0, "npy dataset: ", labels_path, " has no labels to count classes from");
    }
    for (std::size_t i = 0; i < labels.size(); ++i)
        require(labels[i] < num_classes, "npy dataset: ", labels_path, ": label ", labels[i],
                " of image ", i, " is out of range for ", num_classes, " classes");
    in_memory_dataset::label_tensor label_tensor({n}, labels);

    in_memory_dataset::image_tensor masks;
    if (fs::exists(masks_path, ec)) {
        masks = io::load_npy<float>(masks_path);
        const sib::shape want{n, 1, h, w};
        if (masks.shape() == sib::shape{n, h, w}) masks.reshape(want);
        require(masks.shape() == want, "npy dataset: ", masks_path, " holds ", masks.shape().str(),
                ", which does not match images ", images.shape().str(), "; masks must be ",
                want.str());
        float* pm = masks.data();
        cpu::parallel_for(masks.size(), [=](index_t i) { pm[i] = pm[i] != 0.0f ? 1.0f : 0.0f; });
    }
    return in_memory_dataset(std::move(images), std::move(label_tensor), num_classes,
                             std::move(masks));
}

}  // namespace data
SIB_END_NAMESPACE

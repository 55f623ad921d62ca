// Opens a dataset folder by what it holds, so `sib train --data DIR` needs no format flag:
//   train_images.npy ...          -> .npy dataset (train_/test_ images, labels, optional masks)
//   train-images-idx3-ubyte[.gz]  -> IDX (MNIST / Fashion-MNIST layout; masks from nonzero pixels)
//   data_batch_1.bin              -> CIFAR-10 binary batches
//   train/<class>/*.png           -> image folders (train/, test/, optional masks/train, masks/test)
// open_photo_folders reads the same image-folder layout as photo folders instead: any image size,
// decoded when a batch needs it, torchvision's transforms (sib train --image-size).
#pragma once
#include <sib/data/benchmarks.hpp>
#include <sib/data/cifar.hpp>
#include <sib/data/idx.hpp>
#include <sib/data/image_folder.hpp>
#include <sib/data/npy_dataset.hpp>
#include <sib/data/photo_folder.hpp>
#include <filesystem>
#include <optional>

SIB_BEGIN_NAMESPACE
namespace data {

struct split_pair {
    in_memory_dataset train, test;
};

// The first n samples of d (all when n is 0 or at least its size).
inline in_memory_dataset take_first(const in_memory_dataset& d, index_t n) {
    if (n <= 0 || n >= d.size()) return d;
    auto head = [n](const auto& t) {
        sib::shape s = t.shape();
        s[0] = n;
        std::decay_t<decltype(t)> out(s);
        cpu::copy(out.size(), t.data(), out.data());
        return out;
    };
    return in_memory_dataset(head(d.images()), head(d.labels()), d.num_classes(),
                             d.has_masks() ? head(d.masks()) : in_memory_dataset::image_tensor{},
                             d.class_names());
}

inline split_pair open_dataset_folder(const std::string& dir) {
    namespace fs = std::filesystem;
    const fs::path d(dir);
    require(fs::is_directory(d), "data: ", dir, " is not a folder");
    auto has = [&](const char* name) { return fs::exists(d / name); };
    if (has("train_images.npy")) return {load_npy_dataset(dir, true), load_npy_dataset(dir, false)};
    if (has("train-images-idx3-ubyte") || has("train-images-idx3-ubyte.gz"))
        return {load_fashion_mnist(dir, true), load_fashion_mnist(dir, false)};
    if (has("data_batch_1.bin")) return {load_cifar10(dir, true), load_cifar10(dir, false)};
    if (fs::is_directory(d / "train")) {
        image_folder_options tr, te;
        if (fs::is_directory(d / "masks" / "train")) tr.mask_root = (d / "masks" / "train").string();
        if (fs::is_directory(d / "masks" / "test")) te.mask_root = (d / "masks" / "test").string();
        split_pair p{load_image_folder((d / "train").string(), tr), {}};
        if (fs::is_directory(d / "test")) p.test = load_image_folder((d / "test").string(), te);
        return p;
    }
    fail("data: ", dir, " holds no dataset sib can read (expected train_images.npy, "
         "train-images-idx3-ubyte[.gz], data_batch_1.bin or a train/ image folder)");
}

// DIR/train with the training transform (opt.train is set) and, when DIR/test exists, DIR/test with
// the evaluation transform; masks from DIR/masks/train and DIR/masks/test where those exist.
struct photo_split {
    photo_folder train;
    std::optional<photo_folder> test;
    index_t bad_image_count() const { return train.bad_image_count() + (test ? test->bad_image_count() : 0); }
};

namespace detail {
// DIR/<name> with the training or the evaluation transform, and DIR/masks/<name> when it exists.
inline photo_folder photo_folder_split(const std::filesystem::path& d, const char* name, bool train,
                                       photo_folder_options opt) {
    namespace fs = std::filesystem;
    opt.train = train;
    opt.mask_root = fs::is_directory(d / "masks" / name) ? (d / "masks" / name).string() : std::string();
    return photo_folder((d / name).string(), std::move(opt));
}
}  // namespace detail

inline photo_split open_photo_folders(const std::string& dir, photo_folder_options opt) {
    namespace fs = std::filesystem;
    const fs::path d(dir);
    require(fs::is_directory(d), "data: ", dir, " is not a folder");
    require(fs::is_directory(d / "train"), "data: ", dir, " has no train/ folder (photo folders are DIR/train/<class>/<image>, "
            "optionally DIR/test/<class>/<image>)");
    photo_split p{detail::photo_folder_split(d, "train", true, opt), std::nullopt};
    if (fs::is_directory(d / "test")) p.test.emplace(detail::photo_folder_split(d, "test", false, opt));
    return p;
}

// DIR/test alone, with the evaluation transform and DIR/masks/test's masks where they exist: the
// images sib explain and sib eval look at (the training folder is not listed).
inline photo_folder open_photo_test_folder(const std::string& dir, photo_folder_options opt) {
    namespace fs = std::filesystem;
    const fs::path d(dir);
    require(fs::is_directory(d / "test"), "data: ", dir, " has no test/ folder to explain (photo folders are "
            "DIR/train/<class>/<image> and DIR/test/<class>/<image>)");
    return detail::photo_folder_split(d, "test", false, std::move(opt));
}

}  // namespace data
SIB_END_NAMESPACE

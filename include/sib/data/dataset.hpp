// What a dataset is to sib: indexed images with labels and, for localisation benchmarks, binary
// foreground masks. Images live on the host as float (loaders decode files there); the batch
// loader moves them to the backend.
#pragma once
#include <sib/core/config.hpp>
#include <sib/core/error.hpp>
#include <sib/core/finite.hpp>
#include <sib/core/shape.hpp>
#include <sib/backend/cpu/cpu.hpp>
#include <sib/core/tensor.hpp>
#include <algorithm>
#include <atomic>
#include <concepts>
#include <cstdint>
#include <exception>
#include <string>
#include <utility>
#include <vector>

SIB_BEGIN_NAMESPACE
namespace data {

// image(i, out) writes C*H*W floats in [C,H,W] order, values as stored (e.g. [0,1]); mask(i, out)
// writes H*W floats, 1 on the foreground and 0 elsewhere, and may only be called when has_masks().
// The const accessors must be safe to call from several threads at once: the batch loader fills a
// batch in parallel.
template <class D>
concept dataset = requires(const D& d, index_t i, float* out) {
    { d.size() } -> std::convertible_to<index_t>;
    { d.image_shape() } -> std::same_as<sib::shape>;
    { d.num_classes() } -> std::convertible_to<int>;
    { d.has_masks() } -> std::convertible_to<bool>;
    d.image(i, out);
    { d.label(i) } -> std::convertible_to<std::int64_t>;
    d.mask(i, out);
};

// The random stream of sample `index` in `epoch` of a run seeded with `seed` (splitmix64's
// finaliser, three times): what the batch loader hands an augmenting dataset for each sample.
inline std::uint64_t sample_key(std::uint64_t seed, std::uint64_t epoch, std::uint64_t index) {
    const auto mix = [](std::uint64_t z) {
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    };
    std::uint64_t z = mix(seed + 0x9e3779b97f4a7c15ULL);
    z = mix(z ^ (epoch + 1) * 0xd1b54a32d192ed03ULL);
    return mix(z ^ (index + 1) * 0x9e3779b97f4a7c15ULL);
}

// A dataset that draws its own augmentation (a photo folder's RandomResizedCrop and flip):
// sample(i, key, image, mask) writes sample i as image(i, ...) and mask(i, ...) would, transformed
// with the random stream seeded by `key` (either pointer may be null), and returns its label. The
// batch loader calls it with key = sample_key(seed, epoch, i), so that a sample depends on
// (seed, epoch, index) only, never on the thread or batch that decodes it.
template <class D>
concept augmenting_dataset = dataset<D> && requires(const D& d, index_t i, std::uint64_t key, float* out) {
    { d.sample(i, key, out, out) } -> std::convertible_to<std::int64_t>;
};

// A dataset whose values cannot hold NaN or infinity (8-bit pixels, normalised by a positive std)
// says so, and require_finite_images does not decode it to check.
template <class D>
concept finite_dataset = dataset<D> && requires(const D& d) {
    { d.finite_by_construction() } -> std::convertible_to<bool>;
};

// Everything in host memory: images [N,C,H,W], labels [N] in [0, num_classes), masks [N,1,H,W] or
// a default-constructed tensor. Most loaders and every benchmark generator produce one.
class in_memory_dataset {
public:
    using image_tensor = tensor<float, cpu>;
    using label_tensor = tensor<std::int64_t, cpu>;

    in_memory_dataset() = default;
    in_memory_dataset(image_tensor images, label_tensor labels, int num_classes,
                      image_tensor masks = {}, std::vector<std::string> class_names = {})
        : images_(std::move(images)),
          labels_(std::move(labels)),
          masks_(std::move(masks)),
          class_names_(std::move(class_names)),
          num_classes_(num_classes) {
        validate();
    }

    index_t size() const { return images_.rank() == 4 ? images_.dim(0) : 0; }
    sib::shape image_shape() const {
        return images_.rank() == 4 ? sib::shape{images_.dim(1), images_.dim(2), images_.dim(3)}
                                   : sib::shape{};
    }
    int num_classes() const { return num_classes_; }
    // No masks is an empty tensor, as a default-constructed one is.
    bool has_masks() const { return masks_.size() != 0; }

    void image(index_t i, float* out) const {
        check_index(i);
        cpu::copy(sample_numel(), image_data(i), out);
    }
    std::int64_t label(index_t i) const {
        check_index(i);
        return labels_.data()[i];
    }
    void mask(index_t i, float* out) const {
        check_index(i);
        require(has_masks(), "in_memory_dataset: mask(", i, ") asked of a dataset without masks");
        cpu::copy(pixels(), mask_data(i), out);
    }

    // Zero-copy views, for generators and tests that read many images.
    const float* image_data(index_t i) const { return images_.data() + i * sample_numel(); }
    const float* mask_data(index_t i) const { return masks_.data() + i * pixels(); }

    const image_tensor& images() const { return images_; }
    const label_tensor& labels() const { return labels_; }
    const image_tensor& masks() const { return masks_; }
    // Empty, or one name per class (e.g. the folder names of an image folder).
    const std::vector<std::string>& class_names() const { return class_names_; }

private:
    index_t sample_numel() const { return images_.dim(1) * images_.dim(2) * images_.dim(3); }
    index_t pixels() const { return images_.dim(2) * images_.dim(3); }

    void check_index(index_t i) const {
        require(i >= 0 && i < size(), "in_memory_dataset: index ", i, " out of range for ", size(),
                " images");
    }

    void validate() const {
        require(images_.rank() == 4, "in_memory_dataset: images must be [N,C,H,W], got ",
                images_.shape().str());
        const index_t n = images_.dim(0);
        require(labels_.rank() == 1 && labels_.dim(0) == n, "in_memory_dataset: labels ",
                labels_.shape().str(), " do not match images ", images_.shape().str());
        require(num_classes_ > 0, "in_memory_dataset: num_classes must be positive, got ",
                num_classes_);
        const std::int64_t* pl = labels_.data();
        for (index_t i = 0; i < n; ++i)
            require(pl[i] >= 0 && pl[i] < num_classes_, "in_memory_dataset: label ", pl[i],
                    " of image ", i, " is out of range for ", num_classes_, " classes");
        if (has_masks()) {
            const sib::shape want{n, 1, images_.dim(2), images_.dim(3)};
            require(masks_.shape() == want, "in_memory_dataset: masks ", masks_.shape().str(),
                    " do not match images ", images_.shape().str(), " (want ", want.str(), ")");
        }
        require(class_names_.empty() || static_cast<index_t>(class_names_.size()) == num_classes_,
                "in_memory_dataset: ", class_names_.size(), " class names for ", num_classes_,
                " classes");
    }

    image_tensor images_;
    label_tensor labels_;
    image_tensor masks_;
    std::vector<std::string> class_names_;
    int num_classes_ = 0;
};

static_assert(dataset<in_memory_dataset>);

// Fails naming the first image, and the value's [C,H,W] index in it, that holds a NaN or an
// infinity: "training data: image 17 holds nan at [0,3,5]". `what` names the data in the message.
// A finite_dataset is trusted (a folder of 100,000 photos is not decoded for this).
template <dataset D>
void require_finite_images(const D& d, const std::string& what) {
    if constexpr (finite_dataset<D>)
        if (d.finite_by_construction()) return;
    const sib::shape s = d.image_shape();
    const index_t numel = s.numel();
    std::vector<float> one(static_cast<std::size_t>(numel));
    for (index_t i = 0; i < d.size(); ++i) {
        d.image(i, one.data());
        if (const auto bad = first_non_finite(one.data(), numel))
            fail(what, ": image ", i, " holds ", non_finite_name(one[static_cast<std::size_t>(*bad)]), " at ",
                 multi_index(s, *bad));
    }
}

// Copies any dataset into memory (e.g. to generate a benchmark from a folder once); with a limit > 0
// only its first `limit` images (a few photos of a large folder to explain).
template <dataset D>
in_memory_dataset to_in_memory(const D& d, std::vector<std::string> class_names = {}, index_t limit = 0) {
    const sib::shape s = d.image_shape();
    require(s.rank() == 3, "to_in_memory: image_shape must be [C,H,W], got ", s.str());
    const index_t n = limit > 0 ? std::min(limit, d.size()) : d.size(), numel = s.numel(), pixels = s[1] * s[2];
    in_memory_dataset::image_tensor images({n, s[0], s[1], s[2]});
    in_memory_dataset::label_tensor labels({n});
    in_memory_dataset::image_tensor masks;
    if (d.has_masks()) masks.resize({n, 1, s[1], s[2]});
    // Decoding (an image folder) dominates, so in parallel; an exception must not leave an
    // OpenMP region, so the first one is carried out and rethrown.
    float* pi = images.data();
    float* pm = masks.data();
    std::int64_t* pl = labels.data();
    const bool with_masks = d.has_masks();
    std::atomic<bool> failed{false};
    std::exception_ptr error;
    cpu::parallel_for(
        n,
        [&](index_t i) {
            if (failed.load()) return;
            try {
                d.image(i, pi + i * numel);
                pl[i] = d.label(i);
                if (with_masks) d.mask(i, pm + i * pixels);
            } catch (...) {
                if (!failed.exchange(true)) error = std::current_exception();
            }
        },
        numel * 16);
    if (error) std::rethrow_exception(error);
    return in_memory_dataset(std::move(images), std::move(labels), d.num_classes(),
                             std::move(masks), std::move(class_names));
}

}  // namespace data
SIB_END_NAMESPACE

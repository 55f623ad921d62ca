// VGG-11 and VGG-16 with BatchNorm as torchvision builds them (torchvision/models/vgg.py,
// vgg11_bn, vgg16_bn), as compile-time models with torchvision's state-dict keys:
//   features    per entry of the configuration: Conv2d 3x3 pad 1 (with bias), BatchNorm2d, ReLU, or
//               MaxPool2d(2, 2); numbered as nn.Sequential numbers them ("features.0.weight",
//               "features.1.running_mean")
//   avgpool     AdaptiveAvgPool2d((7, 7)), then flatten
//   classifier  Linear(512*7*7, 4096), ReLU, Dropout, Linear(4096, 4096), ReLU, Dropout,
//               Linear(4096, num_classes) ("classifier.0.weight" ... "classifier.6.bias")
// The small-input variant (32x32 data, as the CIFAR VGGs) keeps the features and replaces the head
// by AdaptiveAvgPool2d(1), flatten and one Linear(512, num_classes) named "classifier".
// Dropout masks are drawn from `dropout_seed` (the trainer reseeds them every step). `width` scales
// the features' channels by width/64 (torchvision's is 64: channels 64..512; 4 gives 4..32), and the
// classifier's input with them; the 4096-wide hidden layers stay.
#pragma once
#include <sib/layers/adaptive_avg_pool2d.hpp>
#include <sib/layers/batch_norm2d.hpp>
#include <sib/layers/conv2d.hpp>
#include <sib/layers/dropout.hpp>
#include <sib/layers/flatten.hpp>
#include <sib/layers/linear.hpp>
#include <sib/layers/max_pool2d.hpp>
#include <sib/layers/named.hpp>
#include <sib/layers/relu.hpp>
#include <sib/layers/sequential.hpp>
#include <sib/models/init.hpp>
#include <sib/models/variant.hpp>
#include <cstdint>
#include <string>
#include <tuple>
#include <utility>

SIB_BEGIN_NAMESPACE
namespace models {

struct vgg_options {
    index_t num_classes = 1000;
    index_t in_channels = 3;
    index_t width = 64;  // channels of the first block (64, 128, 256, 512 scale as width/64)
    double dropout = 0.5;
    std::uint64_t dropout_seed = 0;
};

namespace detail {

// torchvision's configurations: channels, 0 for a max-pool.
inline constexpr int vgg11_config[] = {64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0};
inline constexpr int vgg16_config[] = {64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0};

inline std::string feature_name(int index) { return "features." + std::to_string(index); }

// The children of `features` from entry I of Config on, `index` the nn.Sequential index of the first
// and `in` its channels; a configuration's channels c become c / 64 * width.
template <const auto& Config, std::size_t I, class T, class B>
auto features_from(int index, index_t in, index_t width) {
    constexpr std::size_t n = std::size(Config);
    if constexpr (I == n) {
        return std::tuple<>{};
    } else if constexpr (Config[I] == 0) {
        return std::tuple_cat(std::make_tuple(nn::named(feature_name(index), nn::max_pool2d<T, B>(2, 2))),
                              features_from<Config, I + 1, T, B>(index + 1, in, width));
    } else {
        const index_t out = Config[I] / 64 * width;
        return std::tuple_cat(std::make_tuple(nn::named(feature_name(index), nn::conv2d<T, B>(in, out, 3, 1, 1)),
                                              nn::named(feature_name(index + 1), nn::batch_norm2d<T, B>(out)),
                                              nn::named(feature_name(index + 2), nn::relu<T, B>{})),
                              features_from<Config, I + 1, T, B>(index + 3, out, width));
    }
}

template <class T, class B, variant V>
auto vgg_head(const vgg_options& o) {
    using nn::named;
    const index_t features = 8 * o.width;  // the last block's channels: 512 at torchvision's width
    if constexpr (V == variant::torchvision)
        return std::make_tuple(named("avgpool", nn::adaptive_avg_pool2d<T, B>(7)), named("flatten", nn::flatten<T, B>{}),
                               named("classifier.0", nn::linear<T, B>(features * 7 * 7, 4096)),
                               named("classifier.1", nn::relu<T, B>{}),
                               named("classifier.2", nn::dropout<T, B>(o.dropout, o.dropout_seed)),
                               named("classifier.3", nn::linear<T, B>(4096, 4096)),
                               named("classifier.4", nn::relu<T, B>{}),
                               named("classifier.5", nn::dropout<T, B>(o.dropout, o.dropout_seed + 1)),
                               named("classifier.6", nn::linear<T, B>(4096, o.num_classes)));
    else
        return std::make_tuple(named("avgpool", nn::adaptive_avg_pool2d<T, B>(1)), named("flatten", nn::flatten<T, B>{}),
                               named("classifier", nn::linear<T, B>(features, o.num_classes)));
}

template <const auto& Config, class T, class B, variant V>
auto vgg_chain(const vgg_options& o) {
    require(o.num_classes > 0, "vgg: num_classes must be positive, got ", o.num_classes);
    require(o.in_channels > 0, "vgg: in_channels must be positive, got ", o.in_channels);
    require(o.width > 0, "vgg: width must be positive, got ", o.width);
    auto layers = std::tuple_cat(features_from<Config, 0, T, B>(0, o.in_channels, o.width), vgg_head<T, B, V>(o));
    return std::apply([](auto&&... l) { return nn::sequential(std::move(l)...); }, std::move(layers));
}

template <const auto& Config, class T, class B, variant V>
using vgg_chain_t = decltype(vgg_chain<Config, T, B, V>(vgg_options{}));

}  // namespace detail

template <const auto& Config, class T, class B = cpu, variant V = variant::torchvision>
class vgg : public detail::vgg_chain_t<Config, T, B, V> {
    using chain = detail::vgg_chain_t<Config, T, B, V>;

public:
    explicit vgg(vgg_options o = {}) : chain(detail::vgg_chain<Config, T, B, V>(o)), options_(o) {}

    const vgg_options& options() const { return options_; }
    // torchvision's initialisation (models/init.hpp); optim::pytorch_default calls it.
    void reset_parameters(rng& r) { torchvision_init(*this, r, init_scheme::vgg); }

private:
    vgg_options options_;
};

template <class T, class B = cpu, variant V = variant::torchvision>
using vgg11_bn = vgg<detail::vgg11_config, T, B, V>;
template <class T, class B = cpu, variant V = variant::torchvision>
using vgg16_bn = vgg<detail::vgg16_config, T, B, V>;

// The small-input variants: one Linear(512, num_classes) after global average pooling.
template <class T, class B = cpu>
using vgg11_bn_small = vgg11_bn<T, B, variant::small_input>;
template <class T, class B = cpu>
using vgg16_bn_small = vgg16_bn<T, B, variant::small_input>;

}  // namespace models
SIB_END_NAMESPACE

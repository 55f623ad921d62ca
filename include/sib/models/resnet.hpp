// ResNet-18/34/50 as torchvision builds them (torchvision/models/resnet.py), as compile-time models:
// a flat nn::sequential whose children carry torchvision's attribute paths (nn::named), so the
// state dict has torchvision's keys in torchvision's order (conv1.weight, bn1.running_mean,
// layer1.0.conv1.weight, layer1.0.downsample.0.weight, fc.bias; num_batches_tracked through
// for_each_counter).
//
//   stem     conv1 7x7/2 pad 3 (no bias), bn1, relu, maxpool 3x3/2 pad 1
//            small-input variant (32x32 data): conv1 3x3/1 pad 1, bn1, relu, no max-pool
//   stages   layer1..layer4 of BasicBlock (expansion 1) or Bottleneck (expansion 4) blocks, planes
//            64, 128, 256, 512 (options.width times 1, 2, 4, 8), stride 1, 2, 2, 2 in the first
//            block of a stage. A block is
//            nn::branch_sum (main branch + shortcut) followed by its ReLU ("layer1.0.relu"):
//              BasicBlock  conv1 3x3/stride, bn1, relu, conv2 3x3, bn2
//              Bottleneck  conv1 1x1, bn1, relu, conv2 3x3/stride, bn2, relu, conv3 1x1, bn3
//            (stride in the 3x3 convolution, torchvision's "ResNet V1.5"); the shortcut is the
//            identity or, where the stride or the channel count changes, `downsample`: a 1x1
//            convolution with the stride (no bias) and a BatchNorm2d.
//   head     avgpool (adaptive, 1x1), flatten (torch.flatten in forward: no module in torchvision, no
//            parameters; named for find_module), fc
//
// The block's inner layers are chains of their own (branch_sum runs the sweeps on them); the
// network is flat, so the sweeps visit each block once. reset_parameters(rng&) draws torchvision's
// initialisation (models/init.hpp), which optim::pytorch_default and the trainer call.
#pragma once
#include <sib/layers/adaptive_avg_pool2d.hpp>
#include <sib/layers/batch_norm2d.hpp>
#include <sib/layers/branch_sum.hpp>
#include <sib/layers/conv2d.hpp>
#include <sib/layers/flatten.hpp>
#include <sib/layers/linear.hpp>
#include <sib/layers/max_pool2d.hpp>
#include <sib/layers/named.hpp>
#include <sib/layers/relu.hpp>
#include <sib/layers/sequential.hpp>
#include <sib/models/init.hpp>
#include <sib/models/variant.hpp>
#include <string>
#include <tuple>
#include <utility>

SIB_BEGIN_NAMESPACE
namespace models {

struct resnet_options {
    index_t num_classes = 1000;
    index_t in_channels = 3;
    // Channels of the stem and of layer1's blocks (planes w, 2w, 4w, 8w in layer1..layer4).
    // torchvision's is 64; a narrower network of the same shape is cheap to test and to try.
    index_t width = 64;
};

namespace detail {

inline std::string block_name(int stage, int block) {
    return "layer" + std::to_string(stage) + "." + std::to_string(block);
}

// A 3x3 convolution with padding 1 and a 1x1 convolution, both without bias (torchvision's conv3x3,
// conv1x1).
template <class T, class B>
nn::conv2d<T, B> conv3x3(index_t in, index_t out, index_t stride) {
    return nn::conv2d<T, B>(in, out, 3, stride, 1, false);
}
template <class T, class B>
nn::conv2d<T, B> conv1x1(index_t in, index_t out, index_t stride) {
    return nn::conv2d<T, B>(in, out, 1, stride, 0, false);
}

template <class T, class B>
auto downsample(index_t in, index_t out, index_t stride) {
    return nn::sequential(conv1x1<T, B>(in, out, stride), nn::batch_norm2d<T, B>(out));
}

// BasicBlock's and Bottleneck's main branches.
struct basic {
    static constexpr index_t expansion = 1;
    template <class T, class B>
    static auto main(index_t in, index_t planes, index_t stride) {
        using nn::named;
        return nn::sequential(named("conv1", conv3x3<T, B>(in, planes, stride)), named("bn1", nn::batch_norm2d<T, B>(planes)),
                              named("relu", nn::relu<T, B>{}), named("conv2", conv3x3<T, B>(planes, planes, 1)),
                              named("bn2", nn::batch_norm2d<T, B>(planes)));
    }
};
struct bottleneck {
    static constexpr index_t expansion = 4;
    template <class T, class B>
    static auto main(index_t in, index_t planes, index_t stride) {
        using nn::named;
        const index_t width = planes;  // base_width 64, groups 1
        return nn::sequential(named("conv1", conv1x1<T, B>(in, width, 1)), named("bn1", nn::batch_norm2d<T, B>(width)),
                              named("relu", nn::relu<T, B>{}), named("conv2", conv3x3<T, B>(width, width, stride)),
                              named("bn2", nn::batch_norm2d<T, B>(width)), named("relu", nn::relu<T, B>{}),
                              named("conv3", conv1x1<T, B>(width, planes * expansion, 1)),
                              named("bn3", nn::batch_norm2d<T, B>(planes * expansion)));
    }
};

// One block and its ReLU, as two children of the flat chain. Projection is torchvision's
// `stride != 1 or inplanes != planes * expansion`, known when the network's type is written.
template <class Kind, bool Projection, class T, class B>
auto block(int stage, int index, index_t in, index_t planes, index_t stride) {
    const std::string name = block_name(stage, index);
    if constexpr (Projection) {
        return std::make_tuple(
            nn::named(name, nn::branch_sum(Kind::template main<T, B>(in, planes, stride),
                                           downsample<T, B>(in, planes * Kind::expansion, stride),
                                           nn::branch_names{.main = "", .shortcut = "downsample"})),
            nn::named(name + ".relu", nn::relu<T, B>{}));
    } else {
        return std::make_tuple(nn::named(name, nn::branch_sum(Kind::template main<T, B>(in, planes, stride))),
                               nn::named(name + ".relu", nn::relu<T, B>{}));
    }
}

// A stage of `Blocks` blocks; the first one projects when `Projection`.
template <class Kind, int Blocks, bool Projection, class T, class B>
auto stage(int stage_index, index_t in, index_t planes, index_t stride) {
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
        return std::tuple_cat(block<Kind, Projection, T, B>(stage_index, 0, in, planes, stride),
                              block<Kind, false, T, B>(stage_index, static_cast<int>(I) + 1, planes * Kind::expansion,
                                                       planes, 1)...);
    }(std::make_index_sequence<Blocks - 1>{});
}

template <class T, class B, variant V>
auto stem_layers(const resnet_options& o) {
    using nn::named;
    if constexpr (V == variant::torchvision)
        return std::make_tuple(named("conv1", nn::conv2d<T, B>(o.in_channels, o.width, 7, 2, 3, false)),
                               named("bn1", nn::batch_norm2d<T, B>(o.width)), named("relu", nn::relu<T, B>{}),
                               named("maxpool", nn::max_pool2d<T, B>(3, 2, 1)));
    else
        return std::make_tuple(named("conv1", conv3x3<T, B>(o.in_channels, o.width, 1)),
                               named("bn1", nn::batch_norm2d<T, B>(o.width)), named("relu", nn::relu<T, B>{}));
}

// The whole chain for blocks per stage L1..L4.
template <class Kind, int L1, int L2, int L3, int L4, class T, class B, variant V>
auto resnet_chain(const resnet_options& o) {
    require(o.num_classes > 0, "resnet: num_classes must be positive, got ", o.num_classes);
    require(o.in_channels > 0, "resnet: in_channels must be positive, got ", o.in_channels);
    require(o.width > 0, "resnet: width must be positive, got ", o.width);
    constexpr index_t e = Kind::expansion;
    const index_t w = o.width;
    auto layers = std::tuple_cat(
        stem_layers<T, B, V>(o),
        stage<Kind, L1, (e != 1), T, B>(1, w, w, 1),  // layer1 projects only when the channels grow
        stage<Kind, L2, true, T, B>(2, w * e, 2 * w, 2), stage<Kind, L3, true, T, B>(3, 2 * w * e, 4 * w, 2),
        stage<Kind, L4, true, T, B>(4, 4 * w * e, 8 * w, 2),
        std::make_tuple(nn::named("avgpool", nn::adaptive_avg_pool2d<T, B>(1)), nn::named("flatten", nn::flatten<T, B>{}),
                        nn::named("fc", nn::linear<T, B>(8 * w * e, o.num_classes))));
    return std::apply([](auto&&... l) { return nn::sequential(std::move(l)...); }, std::move(layers));
}

template <class Kind, int L1, int L2, int L3, int L4, class T, class B, variant V>
using resnet_chain_t = decltype(resnet_chain<Kind, L1, L2, L3, L4, T, B, V>(resnet_options{}));

}  // namespace detail

// A ResNet: the flat chain plus torchvision's initialisation. Kind is detail::basic or
// detail::bottleneck, L1..L4 the blocks per stage.
template <class Kind, int L1, int L2, int L3, int L4, class T, class B = cpu, variant V = variant::torchvision>
class resnet : public detail::resnet_chain_t<Kind, L1, L2, L3, L4, T, B, V> {
    using chain = detail::resnet_chain_t<Kind, L1, L2, L3, L4, T, B, V>;

public:
    static constexpr index_t expansion = Kind::expansion;
    explicit resnet(resnet_options o = {})
        : chain(detail::resnet_chain<Kind, L1, L2, L3, L4, T, B, V>(o)), options_(o) {}

    const resnet_options& options() const { return options_; }
    // torchvision's initialisation (models/init.hpp); optim::pytorch_default calls it.
    void reset_parameters(rng& r) { torchvision_init(*this, r, init_scheme::resnet); }

private:
    resnet_options options_;
};

template <class T, class B = cpu, variant V = variant::torchvision>
using resnet18 = resnet<detail::basic, 2, 2, 2, 2, T, B, V>;
template <class T, class B = cpu, variant V = variant::torchvision>
using resnet34 = resnet<detail::basic, 3, 4, 6, 3, T, B, V>;
template <class T, class B = cpu, variant V = variant::torchvision>
using resnet50 = resnet<detail::bottleneck, 3, 4, 6, 3, T, B, V>;

// The small-input variants: 3x3/1 stem, no max-pool.
template <class T, class B = cpu>
using resnet18_small = resnet18<T, B, variant::small_input>;
template <class T, class B = cpu>
using resnet34_small = resnet34<T, B, variant::small_input>;
template <class T, class B = cpu>
using resnet50_small = resnet50<T, B, variant::small_input>;

}  // namespace models
SIB_END_NAMESPACE

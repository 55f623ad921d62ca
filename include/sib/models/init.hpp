// torchvision's initialisation of its ResNets and VGGs, as distributions (sib's generator is not
// PyTorch's, so the numbers differ; the laws are the same):
//   ResNet: Conv2d kaiming_normal_(mode="fan_out", nonlinearity="relu"), BatchNorm weight 1 bias 0,
//           Linear its PyTorch default (U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias).
//   VGG:    Conv2d as ResNet with bias 0, BatchNorm weight 1 bias 0, Linear N(0, 0.01) bias 0.
// Layers are reached through for_each_layer, the layers inside blocks included.
#pragma once
#include <sib/core/rng.hpp>
#include <sib/optim/init.hpp>
#include <sib/layers/batch_norm2d.hpp>
#include <sib/layers/conv2d.hpp>
#include <sib/layers/linear.hpp>
#include <cmath>
#include <concepts>
#include <vector>

SIB_BEGIN_NAMESPACE
namespace models {

enum class init_scheme { resnet, vgg };

namespace detail {
using optim::detail::fill_normal;

template <class L>
void init_layer(L& l, rng& r, init_scheme scheme) {
    using T = typename L::value_type;
    using B = typename L::backend;
    if constexpr (requires { l.for_each_layer([](auto&, int) {}); }) {
        l.for_each_layer([&](auto& inner, int) { init_layer(inner, r, scheme); });
    } else if constexpr (std::derived_from<L, nn::conv2d<T, B>>) {
        // kaiming_normal_, fan_out, ReLU gain sqrt(2).
        const double fan_out = static_cast<double>(l.weight.size() / l.weight.dim(1));
        fill_normal(l.weight, r, std::sqrt(2.0 / fan_out));
        if (l.has_bias()) l.bias.zero();
    } else if constexpr (std::derived_from<L, nn::batch_norm2d<T, B>>) {
        l.reset_parameters();
    } else if constexpr (std::derived_from<L, nn::linear<T, B>>) {
        if (scheme == init_scheme::resnet) {
            l.reset_parameters(r);
        } else {
            fill_normal(l.weight, r, 0.01);
            if (l.has_bias()) l.bias.zero();
        }
    }
}
}  // namespace detail

// Draws every parameter of `m` (a model or a layer) as torchvision initialises `scheme`'s networks.
template <class M>
void torchvision_init(M& m, rng& r, init_scheme scheme) {
    detail::init_layer(m, r, scheme);
}

}  // namespace models
SIB_END_NAMESPACE

// Parameter initialisation of a whole model (or a single layer). Containers are walked through
// for_each_layer(f(layer, index)), so nested models (residual blocks) are reached too.
//   pytorch_default: each layer's own reset_parameters(rng&), i.e. what a fresh PyTorch module has.
//   kaiming_normal:  He initialisation (fan_in, ReLU gain sqrt(2), bias zero) of every layer whose
//                    weight has rank >= 2 (conv, linear), as torch.nn.init.kaiming_normal_; other
//                    layers (norms with rank-1 weights) get their PyTorch default.
#pragma once
#include <sib/backend/cpu/cpu.hpp>
#include <sib/core/concepts.hpp>
#include <sib/core/config.hpp>
#include <sib/core/rng.hpp>
#include <sib/core/tensor.hpp>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <vector>

SIB_BEGIN_NAMESPACE
namespace optim {

namespace detail {
template <class L>
concept resettable = requires(L& l, rng& r) { l.reset_parameters(r); };

template <class L>
concept layer_container = requires(L& l) { l.for_each_layer(sib::detail::layer_visitor{}); };

template <class L>
concept has_weight_tensor = requires(L& l) {
    { l.weight.rank() } -> std::convertible_to<int>;
    l.weight.data();
};

template <class Tn>
void fill_normal(Tn& t, rng& r, double stddev) {
    using T = typename Tn::value_type;
    std::vector<T> v(static_cast<std::size_t>(t.size()));
    for (auto& e : v) e = static_cast<T>(r.normal(0.0, stddev));
    Tn::backend::from_host(t.size(), v.data(), t.data());
}
}  // namespace detail

template <class L>
void pytorch_default(L& layer_or_model, rng& r) {
    if constexpr (detail::resettable<L>)
        layer_or_model.reset_parameters(r);
    else if constexpr (detail::layer_container<L>)
        layer_or_model.for_each_layer([&r](auto& child, int) { pytorch_default(child, r); });
}

template <class L>
void kaiming_normal(L& layer_or_model, rng& r) {
    if constexpr (detail::has_weight_tensor<L>) {
        auto& w = layer_or_model.weight;
        if (w.rank() < 2) {
            pytorch_default(layer_or_model, r);
            return;
        }
        if (w.size() == 0) return;
        const double fan_in = static_cast<double>(w.size() / w.dim(0));
        detail::fill_normal(w, r, std::sqrt(2.0) / std::sqrt(fan_in));
        if constexpr (requires { layer_or_model.bias.zero(); }) layer_or_model.bias.zero();
    } else if constexpr (detail::layer_container<L>) {
        layer_or_model.for_each_layer([&r](auto& child, int) { kaiming_normal(child, r); });
    } else {
        pytorch_default(layer_or_model, r);
    }
}

}  // namespace optim
SIB_END_NAMESPACE

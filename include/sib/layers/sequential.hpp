// Sequential<A, B, C>: a flat, compile-time chain of layers. Variadic rather than nested so that
// visiting the layers is one fold expression and parameter names are PyTorch's ("0.weight").
#pragma once
#include <sib/layers/layer.hpp>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

SIB_BEGIN_NAMESPACE
namespace nn {

namespace detail {
// Calls f(name, value, grad) with the name prefixed by "<index>.".
template <class F>
struct prefixed_visitor {
    F& f;
    int index;
    template <class Tn>
    void operator()(std::string_view name, Tn& value, Tn* grad) const {
        std::string full = std::to_string(index);
        full += '.';
        full += name;
        f(std::string_view(full), value, grad);
    }
};

template <class L>
void set_layer_training(L& l, bool on) {
    if constexpr (requires { l.set_training(on); })
        l.set_training(on);
    else if constexpr (requires { l.training = on; })
        l.training = on;
}
}  // namespace detail

template <class... Ls>
class sequential {
    static_assert(sizeof...(Ls) > 0, "sib::nn::sequential needs at least one layer");
    static_assert((check_layer<Ls>() && ...));
    using first = std::tuple_element_t<0, std::tuple<Ls...>>;
    static_assert((std::is_same_v<typename Ls::value_type, typename first::value_type> && ...),
                  "sib::nn::sequential: every layer must have the same value_type");
    static_assert((std::is_same_v<typename Ls::backend, typename first::backend> && ...),
                  "sib::nn::sequential: every layer must have the same backend");

public:
    using value_type = typename first::value_type;
    using backend = typename first::backend;
    using tensor_type = tensor<value_type, backend>;
    static constexpr int size = static_cast<int>(sizeof...(Ls));

    explicit sequential(Ls... layers) : layers_(std::move(layers)...) {}

    int num_layers() const { return size; }

    template <std::size_t I>
    auto& layer() {
        return std::get<I>(layers_);
    }
    template <std::size_t I>
    const auto& layer() const {
        return std::get<I>(layers_);
    }

    // f(layer, index) in order, and in reverse order.
    template <class F>
    void for_each_layer(F&& f) {
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            (f(std::get<I>(layers_), static_cast<int>(I)), ...);
        }(std::index_sequence_for<Ls...>{});
    }
    template <class F>
    void for_each_layer_reverse(F&& f) {
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            (f(std::get<size - 1 - I>(layers_), static_cast<int>(size - 1 - I)), ...);
        }(std::index_sequence_for<Ls...>{});
    }

    template <class F>
    void for_each_parameter(F&& f) {
        for_each_layer([&](auto& l, int i) { l.for_each_parameter(detail::prefixed_visitor<F>{f, i}); });
    }

    sib::shape output_shape(sib::shape s) const {
        std::apply([&](const auto&... l) { ((s = l.output_shape(s)), ...); }, layers_);
        return s;
    }

    void set_training(bool on) {
        for_each_layer([&](auto& l, int) { detail::set_layer_training(l, on); });
    }

private:
    std::tuple<Ls...> layers_;
};

template <class... Ls>
sequential(Ls...) -> sequential<Ls...>;

}  // namespace nn
SIB_END_NAMESPACE

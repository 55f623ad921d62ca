// Sequential<A, B, C>: a flat, compile-time chain of layers. Variadic rather than nested so that
// visiting the layers is one fold expression. Parameter names are PyTorch's: "<child>.<name>", the
// child being its index ("0.weight", as nn.Sequential) or, for a layer wrapped in nn::named, its
// name ("conv1.weight", "layer1.0.conv1.weight", as a torchvision module's attributes).
#pragma once
#include <sib/layers/layer.hpp>
#include <charconv>
#include <string>
#include <string_view>
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

// Calls f(name, rest...) with the name prefixed by "<prefix>." (nothing when the prefix is empty):
// parameters (name, value, grad) and counters (name, index_t&) alike. The dotted name is composed on
// the stack (torchvision's longest, "layer4.1.downsample.0.running_mean", is 34 characters), so an
// optimizer step over a deep model allocates nothing; a name longer than the buffer goes to the heap.
template <class F>
struct named_prefix_visitor {
    F& f;
    std::string_view prefix;
    template <class... A>
    void operator()(std::string_view name, A&&... rest) const {
        if (prefix.empty()) {
            f(name, std::forward<A>(rest)...);
            return;
        }
        const std::size_t size = prefix.size() + 1 + name.size();
        char text[256];
        if (size <= sizeof text) {
            prefix.copy(text, prefix.size());
            text[prefix.size()] = '.';
            name.copy(text + prefix.size() + 1, name.size());
            f(std::string_view(text, size), std::forward<A>(rest)...);
            return;
        }
        std::string full(prefix);
        full += '.';
        full += name;
        f(std::string_view(full), std::forward<A>(rest)...);
    }
};

// A child's name in a parameter prefix without allocating: the layer's own name (a view of it), or
// its index written into the object. Not copyable: the view may point into the object itself.
class child_prefix {
public:
    child_prefix(std::string_view name, int index) {
        if (!name.empty()) {
            view_ = name;
            return;
        }
        const auto end = std::to_chars(digits_, digits_ + sizeof digits_, index).ptr;
        view_ = std::string_view(digits_, static_cast<std::size_t>(end - digits_));
    }
    child_prefix(const child_prefix&) = delete;
    child_prefix& operator=(const child_prefix&) = delete;
    std::string_view view() const { return view_; }

private:
    char digits_[12];
    std::string_view view_;
};

// A layer that carries its own name (nn::named), which a container uses instead of its index.
template <class L>
concept has_module_name = requires(const L& l) {
    { l.module_name() } -> std::convertible_to<std::string_view>;
};

// The prefix of a child's parameters in a container: its name, or its index.
template <class L>
std::string_view own_name(const L& l) {
    if constexpr (has_module_name<L>)
        return l.module_name();
    else
        return {};
}
template <class L>
std::string child_name(const L& l, int index) {
    return std::string(child_prefix(own_name(l), index).view());
}

// f(name, index_t&) for every integer buffer (BatchNorm's num_batches_tracked) of a layer or model
// that has any; nothing for one that has none.
struct counter_visitor {
    void operator()(std::string_view, index_t&) const {}
};
template <class L>
concept has_counters = requires(L& l) { l.for_each_counter(counter_visitor{}); };

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
        for_each_layer([&](auto& l, int i) {
            const detail::child_prefix prefix(detail::own_name(l), i);
            l.for_each_parameter(detail::named_prefix_visitor<F>{f, prefix.view()});
        });
    }

    // f(name, index_t&) for the integer buffers (num_batches_tracked), named as the parameters.
    template <class F>
    void for_each_counter(F&& f) {
        for_each_layer([&](auto& l, int i) {
            if constexpr (detail::has_counters<std::decay_t<decltype(l)>>) {
                const detail::child_prefix prefix(detail::own_name(l), i);
                l.for_each_counter(detail::named_prefix_visitor<F>{f, prefix.view()});
            }
        });
    }

    // Whether any layer has a mixed or a curvature term (what a composite layer holding this chain
    // declares).
    static constexpr bool any_mixed = (Ls::has_mixed || ...);
    static constexpr bool any_curvature = (Ls::has_curvature || ...);

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

// What every layer shares: its tensor type, the no-op rules of layers without parameters or
// curvature, and the compile-time check that names a missing rule.
#pragma once
#include <sib/backend/cpu/cpu.hpp>
#include <sib/core/concepts.hpp>
#include <sib/core/rng.hpp>
#include <sib/core/tensor.hpp>
#include <vector>

SIB_BEGIN_NAMESPACE
namespace nn {

template <class T, class B>
struct layer_base {
    using value_type = T;
    using backend = B;
    using tensor_type = tensor<T, B>;

    // t ~ U(-bound, bound), drawn on the host in element order and uploaded once (PyTorch's default
    // initialisation of convolution and linear weights draws the same way).
    static void fill_uniform(tensor_type& t, rng& r, double bound) {
        std::vector<T> v(static_cast<std::size_t>(t.size()));
        for (auto& e : v) e = static_cast<T>(r.uniform(-bound, bound));
        B::from_host(t.size(), v.data(), t.data());
    }
};

// For layers without parameters: their parameter rules contribute nothing.
struct no_parameters {
    static constexpr bool has_mixed = false;
    template <class Tn>
    void param_vjp(const Tn&, const Tn&, const Tn&) {}
    template <class Tn>
    void mixed(const Tn&, const Tn&, const Tn&, const Tn&) {}
    template <class F>
    void for_each_parameter(F&&) {}
};

// For layers whose Jacobian does not depend on the input (linear or piecewise linear maps).
struct no_curvature {
    static constexpr bool has_curvature = false;
    template <class Tn>
    void curvature(const Tn&, const Tn&, const Tn&, const Tn&, Tn&) {}
};

// A layer that maps a shape to itself.
struct same_shape {
    sib::shape output_shape(const sib::shape& in) const { return in; }
};

}  // namespace nn

// One readable line per missing rule; use as static_assert(check_layer<L>()).
template <class L>
consteval bool check_layer() {
    static_assert(layer_types<L>, "sib layer: missing value_type, backend or tensor_type (derive from nn::layer_base<T, B>)");
    static_assert(layer_backend<L>, "sib layer: its backend lacks a primitive that layers call (see the concept sib::backend)");
    static_assert(has_shape_rule<L>, "sib layer: missing shape rule  sib::shape output_shape(const sib::shape&) const");
    static_assert(has_forward_rule<L>, "sib layer: missing forward rule  void forward(const tensor& x, tensor& y)");
    static_assert(has_vjp_rule<L>, "sib layer: missing vjp rule  void vjp(const tensor& x, const tensor& y, const tensor& gy, tensor& gx)");
    static_assert(has_param_vjp_rule<L>, "sib layer: missing parameter vjp rule  void param_vjp(const tensor& x, const tensor& y, const tensor& gy)");
    static_assert(has_jvp_rule<L>, "sib layer: missing jvp rule  void jvp(const tensor& x, const tensor& y, const tensor& tx, tensor& ty)");
    static_assert(has_mixed_rule<L>, "sib layer: missing mixed rule  void mixed(x, y, tx, gy) and static constexpr bool has_mixed");
    static_assert(has_curvature_rule<L>, "sib layer: missing curvature rule  void curvature(x, y, tx, gy, ax) and static constexpr bool has_curvature");
    static_assert(has_parameters<L>, "sib layer: missing  template <class F> void for_each_parameter(F&& f)");
    return true;
}

SIB_END_NAMESPACE

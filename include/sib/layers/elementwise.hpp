// The rules every elementwise activation y = sigma(x) shares. J is diagonal, so vjp and jvp scale
// by sigma'(x) and the curvature term is sigma''(x) * tx * gy (docs/second-order.md table); an activation only
// supplies sigma, sigma' and sigma'' as a small copyable function object. The kernels capture that
// object by value, so a device backend runs the same code.
#pragma once
#include <sib/layers/layer.hpp>
#include <concepts>

SIB_BEGIN_NAMESPACE
namespace nn {

// What an activation's function object F<T> provides (all const, SIB_HD):
//   T value(T x)        sigma(x)
//   T slope(T x, T y)   sigma'(x); y = sigma(x) is passed so stable forms can use it
//   T bend(T x, T y)    sigma''(x); only called when has_curvature
//   static constexpr bool has_curvature; static constexpr index_t cost (work per element, for
//   the parallel threshold)
template <class F, class T>
concept elementwise_function = requires(const F& f, T x) {
    { f.value(x) } -> std::convertible_to<T>;
    { f.slope(x, x) } -> std::convertible_to<T>;
    { F::has_curvature } -> std::convertible_to<bool>;
    { F::cost } -> std::convertible_to<index_t>;
} && (!F::has_curvature || requires(const F& f, T x) {
    { f.bend(x, x) } -> std::convertible_to<T>;
});

template <class T, class B, class F>
    requires elementwise_function<F, T>
struct elementwise_activation : layer_base<T, B>, no_parameters, same_shape {
    using tensor_type = tensor<T, B>;
    static constexpr bool has_curvature = F::has_curvature;

    F function{};

    elementwise_activation() = default;
    explicit elementwise_activation(const F& f) : function(f) {}

    void forward(const tensor_type& x, tensor_type& y) {
        const F f = function;
        const T* px = x.data();
        T* py = y.data();
        B::parallel_for(x.size(), [=] SIB_HD(index_t i) { py[i] = f.value(px[i]); }, F::cost);
    }

    void vjp(const tensor_type& x, const tensor_type& y, const tensor_type& gy, tensor_type& gx) {
        scale_by_slope(x, y, gy, gx);
    }

    // J is diagonal, so J tx is the same product as J^T gy.
    void jvp(const tensor_type& x, const tensor_type& y, const tensor_type& tx, tensor_type& ty) {
        scale_by_slope(x, y, tx, ty);
    }

    // d/dx_i <tx, sigma'(x) gy> = sigma''(x_i) tx_i gy_i.
    void curvature(const tensor_type& x, const tensor_type& y, const tensor_type& tx,
                   const tensor_type& gy, tensor_type& ax) {
        if constexpr (F::has_curvature) {
            const F f = function;
            const T* px = x.data();
            const T* py = y.data();
            const T* pt = tx.data();
            const T* pg = gy.data();
            T* pa = ax.data();
            B::parallel_for(
                x.size(), [=] SIB_HD(index_t i) { pa[i] += f.bend(px[i], py[i]) * pt[i] * pg[i]; },
                F::cost);
        }
    }

SIB_KERNELS:
    void scale_by_slope(const tensor_type& x, const tensor_type& y, const tensor_type& v,
                        tensor_type& out) const {
        const F f = function;
        const T* px = x.data();
        const T* py = y.data();
        const T* pv = v.data();
        T* po = out.data();
        B::parallel_for(x.size(), [=] SIB_HD(index_t i) { po[i] = f.slope(px[i], py[i]) * pv[i]; },
                        F::cost);
    }
};

}  // namespace nn
SIB_END_NAMESPACE

// ReLU: piecewise linear, so no curvature; the derivative at 0 is 0 as in PyTorch.
#pragma once
#include <sib/layers/layer.hpp>

SIB_BEGIN_NAMESPACE
namespace nn {

template <class T, class B = cpu>
struct relu : layer_base<T, B>, no_parameters, no_curvature, same_shape {
    using tensor_type = tensor<T, B>;
    // x and y may be one tensor: the rules gate on x > 0, which is y > 0 (core/concepts.hpp).
    static constexpr bool may_overwrite_input = true;

    void forward(const tensor_type& x, tensor_type& y) {
        const T* px = x.data();
        T* py = y.data();
        B::parallel_for(x.size(), [=] SIB_HD(index_t i) { py[i] = px[i] > T(0) ? px[i] : T(0); });
    }
    void vjp(const tensor_type& x, const tensor_type&, const tensor_type& gy, tensor_type& gx) {
        gate(x, gy, gx);
    }
    void jvp(const tensor_type& x, const tensor_type&, const tensor_type& tx, tensor_type& ty) {
        gate(x, tx, ty);
    }

SIB_KERNELS:
    static void gate(const tensor_type& x, const tensor_type& v, tensor_type& out) {
        const T* px = x.data();
        const T* pv = v.data();
        T* po = out.data();
        // v is read unconditionally, so the select vectorises.
        B::parallel_for(x.size(), [=] SIB_HD(index_t i) {
            const T v = pv[i];
            po[i] = px[i] > T(0) ? v : T(0);
        });
    }
};

}  // namespace nn
SIB_END_NAMESPACE

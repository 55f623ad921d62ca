// Flatten: [N, ...] -> [N, prod(...)]; memory order is unchanged, so every rule is a copy.
#pragma once
#include <sib/layers/layer.hpp>

SIB_BEGIN_NAMESPACE
namespace nn {

template <class T, class B = cpu>
struct flatten : layer_base<T, B>, no_parameters, no_curvature {
    using tensor_type = tensor<T, B>;

    sib::shape output_shape(const sib::shape& in) const {
        if (in.rank() < 1) fail("Flatten: expects a batch dimension, got ", in.str());
        return {in[0], in.sample_numel()};
    }
    void forward(const tensor_type& x, tensor_type& y) { B::copy(x.size(), x.data(), y.data()); }
    void vjp(const tensor_type&, const tensor_type&, const tensor_type& gy, tensor_type& gx) {
        B::copy(gy.size(), gy.data(), gx.data());
    }
    void jvp(const tensor_type&, const tensor_type&, const tensor_type& tx, tensor_type& ty) {
        B::copy(tx.size(), tx.data(), ty.data());
    }
};

}  // namespace nn
SIB_END_NAMESPACE

// Linear: y = x W^T + b on [N, in] -> [N, out]; PyTorch's layout (weight [out, in]).
#pragma once
#include <sib/layers/layer.hpp>
#include <cmath>

SIB_BEGIN_NAMESPACE
namespace nn {

template <class T, class B = cpu>
class linear : public layer_base<T, B>, public no_curvature {
public:
    using tensor_type = tensor<T, B>;
    static constexpr bool has_mixed = true;
    static constexpr bool vjp_is_product = true;  // core/concepts.hpp

    tensor_type weight, bias, weight_grad, bias_grad;

    linear(index_t in_features, index_t out_features, bool with_bias = true)
        : in_(in_features), out_(out_features), with_bias_(with_bias) {
        require(in_features > 0 && out_features > 0, "Linear: features must be positive, got (",
                in_features, ", ", out_features, ")");
        weight.resize({out_, in_});
        weight.zero();
        weight_grad.resize({out_, in_});
        weight_grad.zero();
        if (with_bias_) {
            bias.resize({out_});
            bias.zero();
            bias_grad.resize({out_});
            bias_grad.zero();
        }
    }

    index_t in_features() const { return in_; }
    index_t out_features() const { return out_; }
    bool has_bias() const { return with_bias_; }

    // Runs every step: the message is only built on failure (no allocation otherwise).
    sib::shape output_shape(const sib::shape& in) const {
        if (in.rank() != 2 || in[1] != in_)
            fail("Linear(", in_, ",", out_, "): expects input [N,", in_, "], got ", in.str());
        return {in[0], out_};
    }

    // PyTorch's default: U(-1/sqrt(in), 1/sqrt(in)) for weight and bias.
    void reset_parameters(rng& r) {
        const double bound = 1.0 / std::sqrt(static_cast<double>(in_));
        this->fill_uniform(weight, r, bound);
        if (with_bias_) this->fill_uniform(bias, r, bound);
    }

    void forward(const tensor_type& x, tensor_type& y) {
        const index_t n = x.dim(0);
        B::gemm(false, true, n, out_, in_, T(1), x.data(), in_, weight.data(), in_, T(0), y.data(), out_);
        if (with_bias_) {
            T* py = y.data();
            const T* pb = bias.data();
            const index_t o = out_;
            B::parallel_for(n * o, [=] SIB_HD(index_t i) { py[i] += pb[i % o]; });
        }
    }

    void vjp(const tensor_type&, const tensor_type&, const tensor_type& gy, tensor_type& gx) {
        B::gemm(false, false, gy.dim(0), in_, out_, T(1), gy.data(), out_, weight.data(), in_, T(0),
                gx.data(), in_);
    }

    void param_vjp(const tensor_type& x, const tensor_type&, const tensor_type& gy) {
        accumulate_weight_grad(x, gy);
        if (with_bias_) {
            const index_t n = gy.dim(0), o = out_;
            const T* pg = gy.data();
            T* pb = bias_grad.data();
            B::parallel_for(o, [=] SIB_HD(index_t j) {
                T s = 0;
                for (index_t i = 0; i < n; ++i) s += pg[i * o + j];
                pb[j] += s;
            }, n);
        }
    }

    void jvp(const tensor_type&, const tensor_type&, const tensor_type& tx, tensor_type& ty) {
        B::gemm(false, true, tx.dim(0), out_, in_, T(1), tx.data(), in_, weight.data(), in_, T(0),
                ty.data(), out_);
    }

    // d/dW <tx, W^T gy> = gy^T tx; the bias does not enter J.
    void mixed(const tensor_type&, const tensor_type&, const tensor_type& tx, const tensor_type& gy) {
        accumulate_weight_grad(tx, gy);
    }

    template <class F>
    void for_each_parameter(F&& f) {
        f("weight", weight, &weight_grad);
        if (with_bias_) f("bias", bias, &bias_grad);
    }

private:
    void accumulate_weight_grad(const tensor_type& a, const tensor_type& gy) {
        B::gemm(true, false, out_, in_, gy.dim(0), T(1), gy.data(), out_, a.data(), in_, T(1),
                weight_grad.data(), in_);
    }

    index_t in_, out_;
    bool with_bias_;
};

}  // namespace nn
SIB_END_NAMESPACE

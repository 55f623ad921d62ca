// residual<Ls...>: y = x + f(x), f a Sequential of Ls..., as a layer (a ResNet block's skip
// connection). Its rules run the sweeps on the inner chain:
//   vjp        gx = gy + J_f^T gy                     (inner decoder sweep)
//   jvp        ty = tx + J_f tx                       (inner tangent sweep)
//   param_vjp  inner backward sweep from gy
//   mixed      d/dtheta <tx, J_f^T gy>: every inner layer's mixed term, plus the inner curvature
//              terms carried back to the parameters (inner tangent + backward sweeps)
//   curvature  d/dx <tx, J_f^T gy>: the same sweeps, keeping the gradient at the block's input
// mixed and curvature each run the inner sweeps (so each rule stands alone); a fused variant would
// save one inner pass per block.
#pragma once
#include <sib/layers/sequential.hpp>
#include <sib/autodiff/sweeps.hpp>

SIB_BEGIN_NAMESPACE
namespace nn {

template <class... Ls>
class residual : public layer_base<typename sequential<Ls...>::value_type, typename sequential<Ls...>::backend> {
public:
    using inner_type = sequential<Ls...>;
    using T = typename inner_type::value_type;
    using B = typename inner_type::backend;
    using tensor_type = tensor<T, B>;
    static constexpr bool has_mixed = true;
    static constexpr bool has_curvature = true;

    explicit residual(Ls... layers) : inner_(std::move(layers)...) {}

    inner_type& inner() { return inner_; }

    sib::shape output_shape(const sib::shape& in) const {
        const sib::shape out = inner_.output_shape(in);
        require(out == in, "residual: the inner layers map ", in.str(), " to ", out.str(),
                "; a skip connection needs the same shape");
        return out;
    }

    void forward(const tensor_type& x, tensor_type& y) {
        const auto& f = autodiff::forward_sweep(inner_, ws_, x);
        add(x, f, y);
    }

    void vjp(const tensor_type&, const tensor_type&, const tensor_type& gy, tensor_type& gx) {
        const auto& g = inner_vjp(gy);
        add(gy, g, gx);
    }

    void param_vjp(const tensor_type&, const tensor_type&, const tensor_type& gy) {
        autodiff::backward_sweep(inner_, ws_, gy);
    }

    void jvp(const tensor_type&, const tensor_type&, const tensor_type& tx, tensor_type& ty) {
        const auto& t = autodiff::tangent_sweep(inner_, ws_, tx, {.input_gradient = false, .parameters = false});
        add(tx, t, ty);
    }

    void mixed(const tensor_type&, const tensor_type&, const tensor_type& tx, const tensor_type& gy) {
        second_order(tx, gy, {.input_gradient = false, .parameters = true});
    }

    void curvature(const tensor_type&, const tensor_type&, const tensor_type& tx, const tensor_type& gy,
                   tensor_type& ax) {
        second_order(tx, gy, {.input_gradient = true, .parameters = false});
        const T* pa = ws_.adjoint.data();
        T* po = ax.data();
        B::parallel_for(ax.size(), [=] SIB_HD(index_t i) { po[i] += pa[i]; });
    }

    template <class F>
    void for_each_parameter(F&& f) {
        inner_.for_each_parameter(f);
    }
    template <class F>
    void for_each_layer(F&& f) {
        inner_.for_each_layer(f);
    }
    void set_training(bool on) { inner_.set_training(on); }

SIB_KERNELS:
    // g_0 of the inner chain for a seed gy at its output (the activations are the last forward's).
    const tensor_type& inner_vjp(const tensor_type& gy) {
        auto& seed = ws_.seed();
        seed.resize(gy.shape());
        B::copy(gy.size(), gy.data(), seed.data());
        return autodiff::decoder_sweep(inner_, ws_);
    }

    // The inner chain's decoder sweep from gy, its tangent sweep from tx, and the backward sweep of
    // the curvature terms from a zero adjoint at the output.
    void second_order(const tensor_type& tx, const tensor_type& gy, autodiff::sweep_options opt) {
        inner_vjp(gy);
        autodiff::tangent_sweep(inner_, ws_, tx, opt);
        zero_.resize(gy.shape());
        zero_.zero();
        autodiff::backward_sweep(inner_, ws_, zero_, opt);
    }

    static void add(const tensor_type& a, const tensor_type& b, tensor_type& out) {
        const T* pa = a.data();
        const T* pb = b.data();
        T* po = out.data();
        B::parallel_for(a.size(), [=] SIB_HD(index_t i) { po[i] = pa[i] + pb[i]; });
    }

private:
    inner_type inner_;
    autodiff::sweep_workspace<T, B> ws_;
    tensor_type zero_;
};

template <class... Ls>
residual(Ls...) -> residual<Ls...>;

}  // namespace nn
SIB_END_NAMESPACE

// Input x gradient (Shrikumar et al. 2016): sum_c x*g, g = d z_t / d x; with keep_channels x*g
// per channel (Captum's InputXGradient).
#pragma once
#include <sib/explain/saliency.hpp>

SIB_BEGIN_NAMESPACE
namespace explain {

// out = sum_c a*g, or a*g per channel; a = x - x0 for a scalar reference x0.
template <class T, class B>
void product_over_channels(const tensor<T, B>& x, T x0, const tensor<T, B>& g, bool keep_channels,
                           tensor<T, B>& out) {
    const index_t n = x.dim(0), c = x.dim(1), hw = x.dim(2) * x.dim(3);
    const T* px = x.data();
    const T* pg = g.data();
    if (keep_channels) {
        out.resize(x.shape());
        T* po = out.data();
        B::parallel_for(x.size(), [=] SIB_HD(index_t i) { po[i] = (px[i] - x0) * pg[i]; });
        return;
    }
    out.resize({n, x.dim(2), x.dim(3)});
    T* po = out.data();
    B::parallel_for(n * hw, [=] SIB_HD(index_t i) {
        const index_t base = (i / hw) * c * hw + i % hw;
        T s = 0;
        for (index_t k = 0; k < c; ++k) s += (px[base + k * hw] - x0) * pg[base + k * hw];
        po[i] = s;
    }, c);
}

template <model M>
void input_x_gradient(M& m, const model_tensor<M>& x, const model_labels<M>& labels, model_tensor<M>& out,
                      const gradient_options& opt = {}, model_workspace<M>* workspace = nullptr) {
    using T = typename M::value_type;
    model_workspace<M> local;
    auto& ws = workspace ? *workspace : local;
    eval_mode_scope guard(m);
    const auto& g = input_gradient(m, ws, x, labels, opt.target, "input_x_gradient");
    product_over_channels(x, T(0), g, opt.keep_channels, out);
}

}  // namespace explain
SIB_END_NAMESPACE

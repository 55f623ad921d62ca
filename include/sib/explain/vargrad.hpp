// VarGrad (Adebayo et al. 2018): the variance over n noisy draws of the gradient itself,
// Var_e[g(x + e)] per element (the population variance, E[g^2] - E[g]^2, as Captum's NoiseTunnel
// with nt_type='vargrad' over Saliency(abs=False)); the spatial map is its maximum over channels,
// saliency's reduction (the variance is already non-negative). The noise is SmoothGrad's: same
// options, same draws for a seed. Accumulated with Welford's update, so a noise-free VarGrad is
// exactly 0.
#pragma once
#include <sib/explain/smoothgrad.hpp>

SIB_BEGIN_NAMESPACE
namespace explain {

using vargrad_options = smoothgrad_options;

template <model M>
void vargrad(M& m, const model_tensor<M>& x, const model_labels<M>& labels, model_tensor<M>& out,
             const vargrad_options& opt = {}, model_workspace<M>* workspace = nullptr) {
    using T = typename M::value_type;
    using B = typename M::backend;
    model_workspace<M> local;
    auto& ws = workspace ? *workspace : local;
    eval_mode_scope guard(m);
    for_each_noisy_gradient(m, ws, x, labels, opt, "vargrad", [&](const model_tensor<M>& g, int k) {
        if (k == 0) {
            ws.mean.resize(x.shape());
            ws.mean.zero();
            ws.m2.resize(x.shape());
            ws.m2.zero();
        }
        const T count = static_cast<T>(k + 1);
        const T* pg = g.data();
        T* pm = ws.mean.data();
        T* p2 = ws.m2.data();
        B::parallel_for(g.size(), [=] SIB_HD(index_t i) { running_update(pg[i], count, pm[i], p2 + i); });
    });
    T* pv = ws.m2.data();
    const T inv_n = T(1) / static_cast<T>(opt.samples);
    B::parallel_for(ws.m2.size(), [=] SIB_HD(index_t i) { pv[i] *= inv_n; });
    if (opt.keep_channels) {
        out.resize(x.shape());
        B::copy(out.size(), ws.m2.data(), out.data());
    } else {
        max_abs_over_channels(ws.m2, out);
    }
}

}  // namespace explain
SIB_END_NAMESPACE

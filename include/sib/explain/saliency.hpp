// Saliency (Simonyan et al. 2014): max_c |g|, g = d z_t / d x; with keep_channels |g| per channel
// (Captum's Saliency with abs=True).
#pragma once
#include <sib/explain/eval_mode.hpp>
#include <sib/explain/gradients.hpp>

SIB_BEGIN_NAMESPACE
namespace explain {

struct gradient_options {
    target_mode target = target_mode::label;
    bool keep_channels = false;  // [B,C,H,W] instead of the spatial map [B,H,W]
};

// out[b,h,w] = max_c |g[b,c,h,w]|.
template <class T, class B>
void max_abs_over_channels(const tensor<T, B>& g, tensor<T, B>& out) {
    const index_t n = g.dim(0), c = g.dim(1), hw = g.dim(2) * g.dim(3);
    out.resize({n, g.dim(2), g.dim(3)});
    const T* pg = g.data();
    T* po = out.data();
    B::parallel_for(n * hw, [=] SIB_HD(index_t i) {
        const T* v = pg + (i / hw) * c * hw + i % hw;
        T m = v[0] < T(0) ? -v[0] : v[0];
        for (index_t k = 1; k < c; ++k) {
            const T a = v[k * hw] < T(0) ? -v[k * hw] : v[k * hw];
            m = a > m ? a : m;
        }
        po[i] = m;
    }, c);
}

template <class T, class B>
void abs_values(const tensor<T, B>& g, tensor<T, B>& out) {
    out.resize(g.shape());
    const T* pg = g.data();
    T* po = out.data();
    B::parallel_for(g.size(), [=] SIB_HD(index_t i) { po[i] = pg[i] < T(0) ? -pg[i] : pg[i]; });
}

// |g| reduced as the options ask.
template <class T, class B>
void saliency_of_gradient(const tensor<T, B>& g, bool keep_channels, tensor<T, B>& out) {
    if (keep_channels)
        abs_values(g, out);
    else
        max_abs_over_channels(g, out);
}

template <model M>
void saliency(M& m, const model_tensor<M>& x, const model_labels<M>& labels, model_tensor<M>& out,
              const gradient_options& opt = {}, model_workspace<M>* workspace = nullptr) {
    model_workspace<M> local;
    auto& ws = workspace ? *workspace : local;
    eval_mode_scope guard(m);
    saliency_of_gradient(input_gradient(m, ws, x, labels, opt.target, "saliency"), opt.keep_channels, out);
}

}  // namespace explain
SIB_END_NAMESPACE

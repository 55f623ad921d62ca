// Grad-CAM++ (Chattopadhay et al. 2018) in the gradient form pytorch-grad-cam uses:
// relu(sum_k w_k A_k), w_k = sum_ij alpha_kij relu(G_kij),
// alpha = G^2 / (2 G^2 + (sum_ab A_kab) G^3), and alpha = 0 where that denominator is 0 (docs/explanations.md;
// no epsilon, so alpha is exact elsewhere; pytorch-grad-cam adds 1e-6 and zeroes alpha where
// G = 0, which agrees wherever its epsilon is negligible).
#pragma once
#include <sib/explain/gradcam.hpp>

SIB_BEGIN_NAMESPACE
namespace explain {

template <class T, class B>
void gradcam_pp_weights(const tensor<T, B>& a, const tensor<T, B>& g, tensor<T, B>& w) {
    per_channel(a, g, w, [] SIB_HD(const T* ak, const T* gk, index_t hw) {
        T sum_a = 0;
        for (index_t i = 0; i < hw; ++i) sum_a += ak[i];
        T s = 0;
        for (index_t i = 0; i < hw; ++i) {
            const T g2 = gk[i] * gk[i];
            const T den = 2 * g2 + sum_a * g2 * gk[i];
            const T alpha = den != T(0) ? g2 / den : T(0);
            s += alpha * (gk[i] > T(0) ? gk[i] : T(0));
        }
        return s;
    });
}

template <model M>
void gradcam_pp(M& m, const model_tensor<M>& x, const model_labels<M>& labels, model_tensor<M>& out,
                const cam_options& opt = {}, model_workspace<M>* workspace = nullptr) {
    model_workspace<M> local;
    auto& ws = workspace ? *workspace : local;
    eval_mode_scope guard(m);
    const auto l = static_cast<std::size_t>(cam_activation_and_gradient(m, ws, x, labels, opt, "gradcam_pp"));
    const auto& a = ws.sweeps.activations[l + 1];
    gradcam_pp_weights(a, ws.sweeps.decoded[l + 1], ws.weights);
    channel_weighted_sum(a, ws.weights, ws.cam);
    relu_and_upsample(ws.cam, x.dim(2), x.dim(3), out);
}

}  // namespace explain
SIB_END_NAMESPACE

// XGrad-CAM (Fu et al. 2020), as pytorch-grad-cam defines it: relu(sum_k w_k A_k) with
// w_k = sum_ij G_kij A_kij / (sum_ij A_kij + 1e-7).
#pragma once
#include <sib/explain/gradcam.hpp>

SIB_BEGIN_NAMESPACE
namespace explain {

template <class T, class B>
void xgradcam_weights(const tensor<T, B>& a, const tensor<T, B>& g, tensor<T, B>& w) {
    per_channel(a, g, w, [] SIB_HD(const T* ak, const T* gk, index_t hw) {
        T sum_a = 0;
        for (index_t i = 0; i < hw; ++i) sum_a += ak[i];
        const T den = sum_a + static_cast<T>(1e-7);
        T s = 0;
        for (index_t i = 0; i < hw; ++i) s += gk[i] * ak[i] / den;
        return s;
    });
}

template <model M>
void xgradcam(M& m, const model_tensor<M>& x, const model_labels<M>& labels, model_tensor<M>& out,
              const cam_options& opt = {}, model_workspace<M>* workspace = nullptr) {
    model_workspace<M> local;
    auto& ws = workspace ? *workspace : local;
    eval_mode_scope guard(m);
    const auto l = static_cast<std::size_t>(cam_activation_and_gradient(m, ws, x, labels, opt, "xgradcam"));
    const auto& a = ws.sweeps.activations[l + 1];
    xgradcam_weights(a, ws.sweeps.decoded[l + 1], ws.weights);
    channel_weighted_sum(a, ws.weights, ws.cam);
    relu_and_upsample(ws.cam, x.dim(2), x.dim(3), out);
}

}  // namespace explain
SIB_END_NAMESPACE

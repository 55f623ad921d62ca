// LayerCAM (Jiang et al. 2021), as pytorch-grad-cam defines it: relu(sum_k relu(G_k) * A_k), a
// weight per element instead of per channel.
#pragma once
#include <sib/explain/gradcam.hpp>

SIB_BEGIN_NAMESPACE
namespace explain {

template <model M>
void layercam(M& m, const model_tensor<M>& x, const model_labels<M>& labels, model_tensor<M>& out,
              const cam_options& opt = {}, model_workspace<M>* workspace = nullptr) {
    using T = typename M::value_type;
    model_workspace<M> local;
    auto& ws = workspace ? *workspace : local;
    eval_mode_scope guard(m);
    const auto l = static_cast<std::size_t>(cam_activation_and_gradient(m, ws, x, labels, opt, "layercam"));
    elementwise_channel_sum(ws.sweeps.activations[l + 1], ws.sweeps.decoded[l + 1], ws.cam,
                            [] SIB_HD(T a, T g) { return (g > T(0) ? g : T(0)) * a; });
    relu_and_upsample(ws.cam, x.dim(2), x.dim(3), out);
}

}  // namespace explain
SIB_END_NAMESPACE

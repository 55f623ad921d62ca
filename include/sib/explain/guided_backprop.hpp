// Guided backpropagation (Springenberg et al. 2015): the decoder sweep of d z_t / d x in which
// every ReLU passes back only positive gradients, and only where its input was positive:
// gx = [x > 0] * max(gy, 0) (Captum's GuidedBackprop, which overrides ReLU modules only; other
// activations keep their ordinary backward). The spatial map is saliency's reduction max_c |.|;
// keep_channels gives the signed map per channel, as Captum returns it.
#pragma once
#include <sib/explain/saliency.hpp>
#include <sib/layers/relu.hpp>
#include <type_traits>

SIB_BEGIN_NAMESPACE
namespace explain {

// decoder_sweep with the guided rule at nn::relu layers; returns the guided input gradient.
template <model M>
const model_tensor<M>& guided_decoder_sweep(M& m, autodiff::sweep_workspace<typename M::value_type, typename M::backend>& ws) {
    using T = typename M::value_type;
    using B = typename M::backend;
    m.for_each_layer_reverse([&](auto& layer, int i) {
        using L = std::decay_t<decltype(layer)>;
        const auto k = static_cast<std::size_t>(i);
        const auto& x = ws.activations[k];
        ws.decoded[k].resize(x.shape());
        if constexpr (std::is_same_v<L, nn::relu<T, B>>) {
            const T* px = x.data();
            const T* pg = ws.decoded[k + 1].data();
            T* po = ws.decoded[k].data();
            B::parallel_for(x.size(), [=] SIB_HD(index_t j) {
                po[j] = px[j] > T(0) && pg[j] > T(0) ? pg[j] : T(0);
            });
        } else {
            layer.vjp(x, ws.activations[k + 1], ws.decoded[k + 1], ws.decoded[k]);
        }
    });
    return ws.decoded.front();
}

template <model M>
void guided_backprop(M& m, const model_tensor<M>& x, const model_labels<M>& labels, model_tensor<M>& out,
                     const gradient_options& opt = {}, model_workspace<M>* workspace = nullptr) {
    using B = typename M::backend;
    const char* method = "guided_backprop";
    model_workspace<M> local;
    auto& ws = workspace ? *workspace : local;
    eval_mode_scope guard(m);
    check_input(method, x, labels, opt.target);
    forward_select_and_seed(m, ws, x, labels, opt.target, method);
    const auto& g = guided_decoder_sweep(m, ws.sweeps);
    if (opt.keep_channels) {
        out.resize(g.shape());
        B::copy(g.size(), g.data(), out.data());
    } else {
        max_abs_over_channels(g, out);
    }
}

}  // namespace explain
SIB_END_NAMESPACE

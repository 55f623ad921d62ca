// Why an objective does what it does, measured on a fixed probe batch: each term's share of the
// parameter gradient, the terms' values, and how well the density mask M (computed from R) covers
// the object. The trainer logs these after every epoch when asked (train_options::diagnose), so a
// study can test readings such as "the mask follows R, so S-IB sharpens what the model already
// attends to" rather than assume them.
//
//   grad_norm[t]   ||d (weighted, shaped term t) / d theta||_2 over all parameters: the size of
//                  term t's pull on the weights (what the optimizer adds up)
//   values[t]      the term's value on the probe batch
//   mask_iou       mean over images of IoU({M > 0.5}, {ground truth > 0.5}); M from R by the
//                  objective's mask when it is a density mask, else by the default density mask
//
// The model runs in evaluation mode (BatchNorm on running statistics: the probe changes no
// statistic, and no dropout mask is drawn) and the gradients are zeroed after, so training
// with diagnostics follows the same path as without, bit for bit.
#pragma once
#include <sib/autodiff/step.hpp>
#include <sib/explain/eval_mode.hpp>
#include <sib/loss/term_values.hpp>
#include <sib/masks/density_mask.hpp>
#include <cmath>
#include <type_traits>

SIB_BEGIN_NAMESPACE
namespace train {

struct probe_diagnostics {
    loss::term_values grad_norm;  // per term
    loss::term_values values;     // per term
    double mask_iou = NAN;        // NaN without ground-truth masks
};

// Mean over images of the IoU of {m > 0.5} and {truth > 0.5}, both [N,1,H,W] (or [N,H,W]); images
// where both sets are empty are left out (NaN if all are).
template <class T, class B>
double mean_mask_iou(const tensor<T, B>& m, const tensor<T, B>& truth) {
    require(m.size() == truth.size() && m.rank() >= 1 && m.dim(0) == truth.dim(0), "mask IoU: masks ",
            m.shape().str(), " and ground truth ", truth.shape().str(), " differ in size");
    const auto a = m.to_vector(), b = truth.to_vector();
    const index_t n = m.dim(0), per = n > 0 ? m.size() / n : 0;
    double sum = 0;
    index_t counted = 0;
    for (index_t i = 0; i < n; ++i) {
        index_t both = 0, either = 0;
        for (index_t k = i * per; k < (i + 1) * per; ++k) {
            const bool p = a[static_cast<std::size_t>(k)] > T(0.5), q = b[static_cast<std::size_t>(k)] > T(0.5);
            both += p && q;
            either += p || q;
        }
        if (either == 0) continue;
        sum += static_cast<double>(both) / static_cast<double>(either);
        ++counted;
    }
    return counted ? sum / static_cast<double>(counted) : NAN;
}

namespace detail {
template <class M>
double gradient_norm(M& m) {
    using T = typename M::value_type;
    double s = 0;
    m.for_each_parameter([&](std::string_view, tensor<T, typename M::backend>&, tensor<T, typename M::backend>* g) {
        if (!g) return;
        for (const T v : g->to_vector()) s += static_cast<double>(v) * static_cast<double>(v);
    });
    return std::sqrt(s);
}
template <class M>
void zero_gradients(M& m) {
    using T = typename M::value_type;
    m.for_each_parameter([](std::string_view, tensor<T, typename M::backend>&, tensor<T, typename M::backend>* g) {
        if (g) g->zero();
    });
}
template <class Mask>
inline constexpr bool is_density_mask_v = false;
template <class T, class B>
inline constexpr bool is_density_mask_v<masks::density_mask<T, B>> = true;
}  // namespace detail

// The diagnostics of `objective` (a train::objective) on the probe images x [N,C,H,W] with labels
// y, and `truth` [N,1,H,W] (the data's foreground masks) or nullptr.
template <model M, class Objective>
probe_diagnostics diagnose(M& m, Objective& objective, const tensor<typename M::value_type, typename M::backend>& x,
                           const labels_tensor<typename M::backend>& y,
                           const tensor<typename M::value_type, typename M::backend>* truth) {
    using T = typename M::value_type;
    using B = typename M::backend;
    explain::eval_mode_scope<M> eval(m);
    autodiff::step_workspace<T, B> ws;
    probe_diagnostics out;
    const tensor<T, B>* annotation = loss::needs_annotation_v<typename Objective::expression_type> ? truth : nullptr;
    detail::zero_gradients(m);
    out.values = autodiff::objective_step(m, ws, x, y, objective.expression, objective.mask, objective.decoder,
                                          annotation).terms;
    // Each term alone: the backward runs from the terms reporting that name only.
    for (const auto& [name, value] : out.values) {
        detail::zero_gradients(m);
        ws.context.only_term = name;
        autodiff::objective_step(m, ws, x, y, objective.expression, objective.mask, objective.decoder, annotation);
        out.grad_norm.add(name, detail::gradient_norm(m));
    }
    ws.context.only_term = {};
    detail::zero_gradients(m);
    if (truth && truth->size() != 0) {
        // R of the objective's decoder, M of its density mask (or the default one).
        auto& sw = ws.sweeps;
        const auto& z = autodiff::forward_sweep(m, sw, x);
        sw.seed().resize(z.shape());
        objective.decoder.seed(z, y, sw.seed());
        const auto& R = autodiff::decoder_sweep(m, sw);
        tensor<T, B> mask;
        if constexpr (detail::is_density_mask_v<std::decay_t<decltype(objective.mask)>>) {
            auto density = objective.mask;
            density.forward(R, mask);
        } else {
            masks::density_mask<T, B> density;
            density.forward(R, mask);
        }
        out.mask_iou = mean_mask_iou(mask, *truth);
    }
    return out;
}

}  // namespace train
SIB_END_NAMESPACE

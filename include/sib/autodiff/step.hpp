// One objective step: the value of the loss and the gradient of every parameter, accumulated into
// the layers' gradient tensors (call the optimizer's zero_grad between steps, as in PyTorch).
#pragma once
#include <sib/decoders/softmax_energy.hpp>
#include <sib/loss/context.hpp>
#include <sib/loss/cross_entropy.hpp>
#include <sib/autodiff/sweeps.hpp>

SIB_BEGIN_NAMESPACE
namespace autodiff {

// The objective's value and the named values of its terms (terms["ce"], terms["fg"], ...).
template <class T>
struct step_values {
    T total;
    loss::term_values terms;
};

template <class T, class B = cpu>
struct step_workspace {
    sweep_workspace<T, B> sweeps;
    loss::loss_context<T, B> context;
    tensor<T, B> mask;
};

// Runs forward, and when the expression reads the explanation, the decoder, the mask (only if a
// term reads it), the term VJPs, the tangent sweep and the decoder's Hessian-vector product; then
// the backward sweep. `annotation` (the data's foreground masks) is for terms that read ground
// truth, such as RRR. `mask` is not touched by expressions that do not read it (masks::none).
// A ReLU after a layer whose rules ignore its output (BatchNorm, a residual block) writes over
// that output (sweep_workspace::relu_in_place): ws.sweeps holds the activations the rules need,
// not every layer's output; an explanation runs its own forward.
template <model M, loss::loss_term E, class Mask, class D = decoders::softmax_energy>
step_values<typename M::value_type> objective_step(
    M& m, step_workspace<typename M::value_type, typename M::backend>& ws,
    const tensor<typename M::value_type, typename M::backend>& x,
    const labels_tensor<typename M::backend>& y, E& expression,
    Mask& mask, const D& decoder = {},
    const tensor<typename M::value_type, typename M::backend>* annotation = nullptr) {
    using T = typename M::value_type;
    auto& sw = ws.sweeps;
    auto& ctx = ws.context;
    sw.relu_in_place = true;  // only the step's own sweeps read its activations
    const auto& z = forward_sweep(m, sw, x);
    if (z.rank() != 2) fail("objective: the model must output logits [N,K], got ", z.shape().str());
    require(y.size() == z.dim(0), "objective: ", y.size(), " labels for a batch of ", z.dim(0));

    ctx.begin(sw.input(), z, y);
    ctx.annotation = annotation;
    ctx.zbar.resize(z.shape());
    ctx.zbar.zero();
    if constexpr (E::needs_explanation) {
        sw.seed().resize(z.shape());
        decoder.seed(z, y, sw.seed());
        const auto& R = decoder_sweep(m, sw);
        ctx.R = &R;
        ctx.Rbar.resize(R.shape());
        ctx.Rbar.zero();
        if constexpr (loss::reads_mask_v<E>) {
            mask.forward(R, ws.mask);
            ctx.M = &ws.mask;
            ctx.Mbar.resize(ws.mask.shape());
            ctx.Mbar.zero();
        }
    }
    const T total = static_cast<T>(expression.forward(ctx));
    expression.backward(ctx, 1.0);
    if constexpr (E::needs_explanation) {
        if constexpr (loss::reads_mask_v<E>) mask.vjp(ctx.Mbar, ctx.Rbar);
        const auto& tz = tangent_sweep(m, sw, ctx.Rbar);
        decoder.hvp(z, y, tz, ctx.zbar);
    }
    backward_sweep(m, sw, ctx.zbar);
    step_values<T> out{total, {}};
    expression.report(out.terms);
    return out;
}

}  // namespace autodiff
SIB_END_NAMESPACE

// The four sweeps of an S-IB step over any model (docs/second-order.md, "Differentiating through the
// decoder"): forward, decoder (R = J^T s), tangent (jvp + mixed + curvature from t_0 = dL/dR) and
// backward (parameter gradients from zbar). They keep no graph: each layer's rules read the stored
// activations, so a step costs about six forward passes and the buffers are reused every step.
#pragma once
#include <sib/backend/cpu/cpu.hpp>
#include <sib/core/concepts.hpp>
#include <sib/core/tensor.hpp>
#include <type_traits>
#include <vector>

SIB_BEGIN_NAMESPACE
namespace autodiff {

// What the tangent and backward sweeps compute beyond a model's needs. A composite layer (residual)
// runs them on its inner chain and needs the gradient with respect to its own input (the tangent
// sweep keeps layer 0's curvature, the backward sweep computes abar_0 into ws.adjoint), and for its
// curvature rule the input gradient without touching parameter gradients. Its jvp rule needs the
// tangent alone: `curvature = false` stores no curvature term, which a later backward sweep on the
// same workspace (the block's param_vjp) would otherwise add in.
struct sweep_options {
    bool input_gradient = false;
    bool parameters = true;
    bool curvature = true;
    // Whether layers that can keep their curvature for their own backward rule (blocks) do, where
    // parameters and curvature are on (has_kept_curvature_rule). A block's separate and fused rules
    // turn it off on their inner sweeps, so that they give the same bits as each other.
    bool kept_by_layers = true;
};

template <class T, class B = cpu>
struct sweep_workspace {
    std::vector<tensor<T, B>> activations;  // a_0 = x, ..., a_L = z
    std::vector<tensor<T, B>> decoded;      // g_0 = R, ..., g_L = s
    std::vector<tensor<T, B>> curvature;    // curvature[l]: d/da_l of layer l+1's <t, J^T g>
    // Which curvature[l] hold a contribution this step: held_here, or kept_by_layer where layer l+1
    // keeps its own for its backward rule (core/concepts.hpp, has_kept_curvature_rule).
    std::vector<char> has_curvature;
    static constexpr char held_here = 1, kept_by_layer = 2;
    tensor<T, B> tangent, tangent_next;     // t_{l-1}, t_l
    tensor<T, B> adjoint, adjoint_next;     // abar_l, abar_{l-1}
    // a_0 where it is not stored here (then activations[0] stays empty): a block's branches read the
    // block's input from the tensor the block's rules are given (the outer chain's stored one)
    // instead of a copy of it (layers/branch_sum.hpp). Set before every sweep that reads it.
    const tensor<T, B>* borrowed_input = nullptr;
    // g_L where it is not stored in seed(): a block's branches read the seed of their decoder sweep
    // from the gradient the block's rule is given instead of a copy of it. Set by the rule that
    // borrows it and cleared when that rule ends.
    const tensor<T, B>* borrowed_seed = nullptr;
    // Whether a ReLU after a layer whose rules do not read its output (BatchNorm, a residual block)
    // runs in place (core/concepts.hpp, may_overwrite_input): a_{k+1} then lives in a_k's buffer,
    // a_k's own value is gone, and activations[k + 1] stays empty; the sweeps read a_k through
    // activation(). Off by default, as explanations read a layer's output by index; a training step
    // (objective_step) and a block's branches, whose activations only their own sweeps read, turn
    // it on.
    bool relu_in_place = false;
    std::vector<char> in_place;  // in_place[k]: a_k is stored in a_{k-1}'s buffer

    void prepare(int layers) {
        activations.resize(static_cast<std::size_t>(layers) + 1);
        decoded.resize(static_cast<std::size_t>(layers) + 1);
        curvature.resize(static_cast<std::size_t>(layers));
        has_curvature.assign(static_cast<std::size_t>(layers), 0);
        in_place.assign(static_cast<std::size_t>(layers) + 1, 0);
    }
    // a_k, which the sweeps read through here (a_0 may be borrowed, a_k may be in a_{k-1}'s buffer).
    const tensor<T, B>& activation(std::size_t k) const {
        if (k < in_place.size() && in_place[k]) --k;
        return k == 0 && borrowed_input ? *borrowed_input : activations[k];
    }
    const tensor<T, B>& input() const { return activation(0); }
    const tensor<T, B>& logits() const { return activation(activations.size() - 1); }
    // decoded may be longer than the layers when a branch leases it (layers/branch_sum.hpp).
    tensor<T, B>& seed() { return decoded[activations.size() - 1]; }
    // g_k, which the sweeps read through here (g_L may be borrowed).
    const tensor<T, B>& gradient(std::size_t k) const {
        return borrowed_seed && k + 1 == activations.size() ? *borrowed_seed : decoded[k];
    }
    const tensor<T, B>& explanation() const { return decoded.front(); }
};

// a_l = f_l(a_{l-1}); returns the logits. With borrow_input, a_0 is x itself (ws.borrowed_input),
// which must then outlive the sweeps that read it, else a copy.
template <model M>
const tensor<typename M::value_type, typename M::backend>& forward_sweep(
    M& m, sweep_workspace<typename M::value_type, typename M::backend>& ws,
    const tensor<typename M::value_type, typename M::backend>& x, bool borrow_input = false) {
    using B = typename M::backend;
    ws.prepare(m.num_layers());
    if (borrow_input) {
        ws.borrowed_input = &x;
    } else {
        ws.borrowed_input = nullptr;
        ws.activations[0].resize(x.shape());
        B::copy(x.size(), x.data(), ws.activations[0].data());
    }
    bool previous_ignores_output = false;  // whether the previous layer's rules ignore its output
    m.for_each_layer([&](auto& layer, int i) {
        using L = std::decay_t<decltype(layer)>;
        const auto k = static_cast<std::size_t>(i);
        const bool in_place = may_overwrite_input<L> && ws.relu_in_place && previous_ignores_output;
        previous_ignores_output = rules_ignore_output<L>;
        ws.in_place[k + 1] = in_place;
        if (in_place) {  // a_k is the previous layer's own buffer (that layer is never in place)
            auto& a = ws.activations[k];
            layer.forward(a, a);
            if (ws.activations[k + 1].size() != 0) ws.activations[k + 1] = tensor<typename M::value_type, B>();
            return;
        }
        const auto& in = ws.activation(k);
        auto& out = ws.activations[k + 1];
        out.resize(layer.output_shape(in.shape()));
        layer.forward(in, out);
    });
    return ws.logits();
}

// g_{l-1} = J_l^T g_l from the seed in ws.seed(); returns R = g_0.
template <model M>
const tensor<typename M::value_type, typename M::backend>& decoder_sweep(
    M& m, sweep_workspace<typename M::value_type, typename M::backend>& ws) {
    m.for_each_layer_reverse([&](auto& layer, int i) {
        const auto k = static_cast<std::size_t>(i);
        ws.decoded[k].resize(ws.activation(k).shape());
        layer.vjp(ws.activation(k), ws.activation(k + 1), ws.gradient(k + 1), ws.decoded[k]);
    });
    return ws.explanation();
}

// From t_0 = rbar: accumulates every layer's mixed term into its parameter gradients, stores its
// curvature term for the backward sweep, and returns t_L (the tangent at the logits).
template <model M>
const tensor<typename M::value_type, typename M::backend>& tangent_sweep(
    M& m, sweep_workspace<typename M::value_type, typename M::backend>& ws,
    const tensor<typename M::value_type, typename M::backend>& rbar, sweep_options opt = {}) {
    using B = typename M::backend;
    // The first layer reads rbar where it is (t points at the tangent at the layer's input), unless
    // rbar is the buffer that layer writes.
    const tensor<typename M::value_type, B>* t = &rbar;
    if (&rbar == &ws.tangent_next || m.num_layers() == 0) {
        ws.tangent.resize(rbar.shape());
        B::copy(rbar.size(), rbar.data(), ws.tangent.data());
        t = &ws.tangent;
    }
    m.for_each_layer([&](auto& layer, int i) {
        using L = std::decay_t<decltype(layer)>;
        const auto k = static_cast<std::size_t>(i);
        const auto& x = ws.activation(k);
        const auto& y = ws.activation(k + 1);
        const auto& gy = ws.gradient(k + 1);
        const auto& tx = *t;
        t = &ws.tangent;  // after this layer, its output (swapped into ws.tangent)
        ws.tangent_next.resize(y.shape());
        if constexpr (has_kept_curvature_rule<L>) {
            // The backward sweep that follows runs with the same options (a step's does); its call of
            // backward_with_kept_curvature carries the curvature on, layer 0's included.
            if (L::has_curvature && opt.curvature && opt.parameters && opt.kept_by_layers) {
                layer.tangent_keeping_curvature(x, y, tx, gy, ws.tangent_next);
                ws.has_curvature[k] = ws.kept_by_layer;
                std::swap(ws.tangent, ws.tangent_next);
                return;
            }
        }
        // Layer 0's curvature would flow into the input, which has no parameters.
        const bool keep_curvature = L::has_curvature && opt.curvature && (i > 0 || opt.input_gradient);
        if (keep_curvature) {
            ws.curvature[k].resize(x.shape());
            ws.curvature[k].zero();
            ws.has_curvature[k] = ws.held_here;
        }
        if constexpr (has_fused_tangent_rule<L>) {
            layer.fused_tangent(x, y, tx, gy, ws.tangent_next, keep_curvature ? &ws.curvature[k] : nullptr,
                                L::has_mixed && opt.parameters);
        } else {
            if constexpr (L::has_mixed)
                if (opt.parameters) layer.mixed(x, y, tx, gy);
            if constexpr (L::has_curvature)
                if (keep_curvature) layer.curvature(x, y, tx, gy, ws.curvature[k]);
            layer.jvp(x, y, tx, ws.tangent_next);
        }
        std::swap(ws.tangent, ws.tangent_next);
    });
    return ws.tangent;
}

namespace detail {
// a += c elementwise. A function of its own because nvcc rejects device lambdas inside the generic
// lambdas that visit layers.
template <class B, class T>
void add_into(index_t n, T* a, const T* c) {
    B::parallel_for(n, [=] SIB_HD(index_t j) { a[j] += c[j]; });
}
}  // namespace detail

// From abar_L = zbar: accumulates param_vjp of every layer, adding the stored curvature terms.
template <model M>
void backward_sweep(M& m, sweep_workspace<typename M::value_type, typename M::backend>& ws,
                    const tensor<typename M::value_type, typename M::backend>& zbar, sweep_options opt = {}) {
    using B = typename M::backend;
    // The last layer reads zbar where it is (a points at the adjoint at the layer's output), unless
    // zbar is the buffer that layer writes; ws.adjoint holds zbar itself only if no layer wrote it.
    const tensor<typename M::value_type, B>* a = &zbar;
    if (&zbar == &ws.adjoint_next) {
        ws.adjoint.resize(zbar.shape());
        B::copy(zbar.size(), zbar.data(), ws.adjoint.data());
        a = &ws.adjoint;
    }
    m.for_each_layer_reverse([&](auto& layer, int i) {
        const auto k = static_cast<std::size_t>(i);
        const auto& x = ws.activation(k);
        const auto& y = ws.activation(k + 1);
        const auto& gy = *a;
        using L = std::decay_t<decltype(layer)>;
        const bool input_gradient = i > 0 || opt.input_gradient;
        const char curvature = ws.has_curvature[k];
        ws.has_curvature[k] = 0;
        if (input_gradient) {
            ws.adjoint_next.resize(x.shape());
            a = &ws.adjoint;  // after this layer, its input gradient (swapped into ws.adjoint)
        }
        if constexpr (has_kept_curvature_rule<L>) {
            if (curvature == ws.kept_by_layer) {
                layer.backward_with_kept_curvature(x, y, gy, input_gradient ? &ws.adjoint_next : nullptr,
                                                   opt.parameters);
                if (input_gradient) std::swap(ws.adjoint, ws.adjoint_next);
                return;
            }
        }
        if (!input_gradient) {
            if (opt.parameters) layer.param_vjp(x, y, gy);
            return;
        }
        if constexpr (has_fused_backward_rule<L>) {
            if (opt.parameters) layer.fused_backward(x, y, gy, ws.adjoint_next);
            else layer.vjp(x, y, gy, ws.adjoint_next);
        } else {
            if (opt.parameters) layer.param_vjp(x, y, gy);
            layer.vjp(x, y, gy, ws.adjoint_next);
        }
        if (curvature == ws.held_here) detail::add_into<B>(x.size(), ws.adjoint_next.data(), ws.curvature[k].data());
        std::swap(ws.adjoint, ws.adjoint_next);
    });
    if (a == &zbar) {  // no layer wrote an input gradient: ws.adjoint is zbar, as before any layer
        ws.adjoint.resize(zbar.shape());
        B::copy(zbar.size(), zbar.data(), ws.adjoint.data());
    }
}

}  // namespace autodiff
SIB_END_NAMESPACE

// The interfaces of sib, one concept per idea. Each is split into named requirements so that a type
// missing one fails with a line that names what is missing (see check_layer in layers/layer.hpp).
#pragma once
#include <sib/core/config.hpp>
#include <sib/core/shape.hpp>
#include <sib/core/tensor.hpp>
#include <concepts>
#include <string_view>
#include <type_traits>

SIB_BEGIN_NAMESPACE

// ---- backend ---------------------------------------------------------------------------------
namespace detail {
struct index_functor {
    void operator()(index_t) const {}
};
struct index_value_functor {
    double operator()(index_t) const { return 0; }
};
}  // namespace detail

// Every primitive a layer, mask, estimator, loss or optimizer calls on its backend B, so that a
// backend missing one fails here, in one line, not deep inside a layer. Optional: gemm_batched
// (backend/gemm_batched.hpp falls back to one gemm per product) and a constant `nested_primitives`
// (parallel_for items may call primitives; layers then fuse per-sample work).
template <class B>
concept backend = requires(index_t n, float* p, const float* cp, index_t* perm) {
    typename B::template buffer<float>;
    { B::host_accessible } -> std::convertible_to<bool>;
    { B::concurrency() } -> std::convertible_to<index_t>;
    B::parallel_for(n, detail::index_functor{});
    B::parallel_for(n, detail::index_functor{}, n);  // with a cost per item
    { B::reduce_sum(n, detail::index_value_functor{}) } -> std::convertible_to<double>;
    B::gemm(false, false, n, n, n, 1.0f, cp, n, cp, n, 0.0f, p, n);
    B::segmented_sort(cp, p, perm, n, n);
    B::copy(n, cp, p);
    B::fill(n, p, 0.0f);
    B::to_host(n, cp, p);
    B::from_host(n, cp, p);
};

// ---- layers ---------------------------------------------------------------------------------
// Rules of layer l, a_l = f(a_{l-1}; theta), in the notation of docs/second-order.md. x = a_{l-1}, y = a_l.
namespace detail {
struct parameter_visitor {
    template <class Tn>
    void operator()(std::string_view, Tn&, Tn*) const {}
};
}  // namespace detail

template <class L>
concept layer_types = requires {
    typename L::value_type;
    typename L::backend;
    typename L::tensor_type;
};

// Its backend offers every primitive (a missing one fails here, not inside a rule).
template <class L>
concept layer_backend = backend<typename L::backend>;

template <class L>
concept has_shape_rule = requires(const L& l, const sib::shape& s) {
    { l.output_shape(s) } -> std::same_as<sib::shape>;
};

// y = f(x); may cache what later rules need (argmax, batch statistics, dropout mask).
template <class L>
concept has_forward_rule = requires(L& l, const typename L::tensor_type& x, typename L::tensor_type& y) {
    l.forward(x, y);
};

// gx = J^T gy (overwrites gx).
template <class L>
concept has_vjp_rule = requires(L& l, const typename L::tensor_type& x,
                                const typename L::tensor_type& y, const typename L::tensor_type& gy,
                                typename L::tensor_type& gx) {
    l.vjp(x, y, gy, gx);
};

// dtheta += (df/dtheta)^T gy.
template <class L>
concept has_param_vjp_rule = requires(L& l, const typename L::tensor_type& x,
                                      const typename L::tensor_type& y,
                                      const typename L::tensor_type& gy) {
    l.param_vjp(x, y, gy);
};

// ty = J tx (overwrites ty).
template <class L>
concept has_jvp_rule = requires(L& l, const typename L::tensor_type& x,
                                const typename L::tensor_type& y, const typename L::tensor_type& tx,
                                typename L::tensor_type& ty) {
    l.jvp(x, y, tx, ty);
};

// dtheta += d/dtheta <tx, J^T gy>.
template <class L>
concept has_mixed_rule = requires(L& l, const typename L::tensor_type& x,
                                  const typename L::tensor_type& y,
                                  const typename L::tensor_type& tx,
                                  const typename L::tensor_type& gy) {
    l.mixed(x, y, tx, gy);
    { L::has_mixed } -> std::convertible_to<bool>;
};

// ax += d/dx <tx, J^T gy>.
template <class L>
concept has_curvature_rule = requires(L& l, const typename L::tensor_type& x,
                                      const typename L::tensor_type& y,
                                      const typename L::tensor_type& tx,
                                      const typename L::tensor_type& gy,
                                      typename L::tensor_type& ax) {
    l.curvature(x, y, tx, gy, ax);
    { L::has_curvature } -> std::convertible_to<bool>;
};

// Optional fused rules, which the sweeps (autodiff/sweeps.hpp) call instead of the separate ones
// where a layer has them: a block, whose separate rules each rerun its inner sweeps.
// ty = J tx; with `parameters`, dtheta += d/dtheta <tx, J^T gy>; with ax non-null, *ax += d/dx
// <tx, J^T gy>. The same results as jvp, mixed and curvature, in one call.
template <class L>
concept has_fused_tangent_rule = requires(L& l, const typename L::tensor_type& x, const typename L::tensor_type& y,
                                          const typename L::tensor_type& tx, const typename L::tensor_type& gy,
                                          typename L::tensor_type& ty, typename L::tensor_type* ax, bool parameters) {
    l.fused_tangent(x, y, tx, gy, ty, ax, parameters);
};

// dtheta += (df/dtheta)^T gy and gx = J^T gy: param_vjp and vjp in one call.
template <class L>
concept has_fused_backward_rule = requires(L& l, const typename L::tensor_type& x, const typename L::tensor_type& y,
                                           const typename L::tensor_type& gy, typename L::tensor_type& gx) {
    l.fused_backward(x, y, gy, gx);
};

// Optional: a layer that carries its own curvature term to its backward rule (a block, whose
// curvature is what its inner backward sweep makes of its inner layers' terms, and whose parameters
// take their share of them from the same sweep). The sweeps of a step that runs both the tangent and
// the backward sweep with parameters call tangent_keeping_curvature (ty = J tx, dtheta += the inner
// layers' own mixed terms; the inner curvature terms stay inside the layer) and later
// backward_with_kept_curvature (gx = J^T gy + the curvature term at x, when gx is non-null; with
// `parameters`, dtheta += (df/dtheta)^T gy + the inner curvature terms carried to the parameters).
// Together: fused_tangent with ax and parameters, then fused_backward, then gx += ax; one inner
// backward sweep where those run two.
template <class L>
concept has_kept_curvature_rule =
    requires(L& l, const typename L::tensor_type& x, const typename L::tensor_type& y, const typename L::tensor_type& tx,
             const typename L::tensor_type& gy, typename L::tensor_type& ty, typename L::tensor_type* gx, bool parameters) {
        l.tangent_keeping_curvature(x, y, tx, gy, ty);
        l.backward_with_kept_curvature(x, y, gy, gx, parameters);
    };

// Whether a layer's vjp is a matrix product (convolution, linear, a block's inner sweeps), as opposed
// to a pass over the elements: a block keeps the gradients such a layer's vjp gives in its decoder
// sweep, to run only the cheap vjps again in its tangent rule (layers/branch_sum.hpp).
template <class L>
inline constexpr bool vjp_is_product = requires { requires L::vjp_is_product; };

// A layer whose forward may write its output over its input, and whose rules read the same from
// either (ReLU: y > 0 exactly where x > 0); and a layer none of whose rules read its output
// (BatchNorm's and a residual block's read x and gy). Where the first follows the second, the sweeps may run it in place
// (autodiff/sweeps.hpp, sweep_workspace::relu_in_place): one stored activation instead of two.
template <class L>
inline constexpr bool may_overwrite_input = requires { requires L::may_overwrite_input; };
template <class L>
inline constexpr bool rules_ignore_output = requires { requires L::rules_ignore_output; };

// f(name, value, grad-or-null) for every parameter and buffer, in PyTorch state-dict order.
template <class L>
concept has_parameters = requires(L& l) { l.for_each_parameter(detail::parameter_visitor{}); };

template <class L>
concept layer = layer_types<L> && layer_backend<L> && has_shape_rule<L> && has_forward_rule<L> && has_vjp_rule<L> &&
                has_param_vjp_rule<L> && has_jvp_rule<L> && has_mixed_rule<L> &&
                has_curvature_rule<L> && has_parameters<L>;

// ---- models ---------------------------------------------------------------------------------
namespace detail {
struct layer_visitor {
    template <class L>
    void operator()(L&, int) const {}
};
}  // namespace detail

template <class M>
concept model = requires(M& m, const M& cm, const sib::shape& s) {
    typename M::value_type;
    typename M::backend;
    { cm.num_layers() } -> std::convertible_to<int>;
    m.for_each_layer(detail::layer_visitor{});
    m.for_each_layer_reverse(detail::layer_visitor{});
    m.for_each_parameter(detail::parameter_visitor{});
    { cm.output_shape(s) } -> std::same_as<sib::shape>;
    m.set_training(true);
};

// ---- S-IB building blocks -------------------------------------------------------------------
// A dependence measure between row sets U [B, ...] and V [B, ...] (one row per sample): its value,
// and dU, dV = gbar * d value / d(U, V), resized to the shapes of U and V and overwritten.
template <class E>
concept mi_estimator = requires(E& e, const typename E::tensor_type& u,
                                const typename E::tensor_type& v, typename E::value_type gbar,
                                typename E::tensor_type& du, typename E::tensor_type& dv) {
    typename E::backend;
    requires std::same_as<typename E::tensor_type,
                          tensor<typename E::value_type, typename E::backend>>;
    { e.value(u, v) } -> std::convertible_to<typename E::value_type>;
    e.vjp(u, v, gbar, du, dv);
};

// A differentiable mask M [B,1,H,W] of a decoded map R [B,C,H,W]: forward(R, M) resizes M and keeps
// what vjp needs; vjp(Mbar, Rbar) ADDS the gradient at the last forward's R into Rbar.
template <class X>
concept mask = requires(X& m, const typename X::tensor_type& r, typename X::tensor_type& out) {
    typename X::value_type;
    typename X::backend;
    m.forward(r, out);
    m.vjp(r, out);
};

SIB_END_NAMESPACE

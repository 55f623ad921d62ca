// branch_sum<Main, Shortcut>: y = f(x) + g(x), f and g each a sequential, as one layer: a ResNet
// block's two branches (torchvision's BasicBlock and Bottleneck: f the convolutions, g the identity
// or the `downsample` projection, a strided 1x1 convolution + BatchNorm). The ReLU after the
// addition is the next layer of the chain. Shortcut = identity_shortcut is g(x) = x (residual<Ls...>).
//
// Each rule runs the sweeps of autodiff/sweeps.hpp on each branch, with the branch's own workspace;
// both branches see the same x and gy, so every rule is the sum of the branches' (the sum is linear
// and adds no second-order term of its own):
//   vjp        gx = J_f^T gy + J_g^T gy               (decoder sweeps)
//   jvp        ty = J_f tx + J_g tx                   (tangent sweeps, no mixed or curvature terms)
//   param_vjp  backward sweeps from gy
//   mixed      d/dtheta <tx, J^T gy>: every inner mixed term, plus the inner curvature terms
//              carried back to the parameters (decoder, tangent and backward sweeps)
//   curvature  d/dx <tx, J^T gy>: the same sweeps, keeping the gradient at the block's input
// mixed and curvature each run the inner sweeps, so each rule stands alone. The sweeps call the fused
// rules instead (core/concepts.hpp): fused_tangent runs each branch's decoder, tangent and backward
// sweeps once for jvp, mixed and curvature together (the tangent sweep's result is J tx), where the
// separate rules run two decoder, three tangent and two backward sweeps; fused_backward leaves
// J^T gy at the branch's input from the backward sweep of param_vjp, where vjp would run a decoder
// sweep again. On a ResNet block that is 9 instead of 14 products per convolution in an S-IB step.
//
// Parameter names: the main branch's as its sequential names them, prefixed by names.main when that
// is not empty; then the shortcut's, prefixed by names.shortcut ("downsample" gives torchvision's
// "downsample.0.weight"; the default "shortcut" is the name CIFAR ResNets use).
//
// A branch is any chain the sweeps run (a model: nn::sequential, or the run-time nn::spec_sequence
// of a spec's Residual item). A run-time chain cannot say at compile time whether it has mixed or
// curvature terms (its any_mixed and any_curvature are true); its has_mixed_terms() and
// has_curvature_terms() say so at run time, and the rules skip the inner sweeps that would add
// nothing, as the compile-time flags do for a sequential.
#pragma once
#include <sib/autodiff/sweeps.hpp>
#include <sib/layers/sequential.hpp>
#include <string>
#include <type_traits>
#include <utility>

SIB_BEGIN_NAMESPACE
namespace nn {

// The shortcut g(x) = x.
struct identity_shortcut {};

struct branch_names {
    std::string main;
    std::string shortcut = "shortcut";
};

namespace detail {

// One branch: a sequential, run by the sweeps with a workspace of its own. Each member returns the
// branch's contribution to the block's result.
template <class Seq>
class sweep_branch {
public:
    using T = typename Seq::value_type;
    using B = typename Seq::backend;
    using tensor_type = tensor<T, B>;
    static constexpr bool has_mixed = Seq::any_mixed || Seq::any_curvature;
    static constexpr bool has_curvature = Seq::any_curvature;

    explicit sweep_branch(Seq s) : seq(std::move(s)) {}

    // Whether the chain has mixed (or curvature, which the mixed rule carries to the parameters) and
    // curvature terms: the compile-time flags, or the run-time chain's answer.
    bool has_mixed_terms() const {
        if constexpr (requires { seq.has_mixed_terms(); })
            return seq.has_mixed_terms() || seq.has_curvature_terms();
        else
            return has_mixed;
    }
    bool has_curvature_terms() const {
        if constexpr (requires { seq.has_curvature_terms(); })
            return seq.has_curvature_terms();
        else
            return has_curvature;
    }

    sib::shape output_shape(const sib::shape& in) const { return seq.output_shape(in); }
    const tensor_type& forward(const tensor_type& x) { return autodiff::forward_sweep(seq, ws_, x); }

    // g_0 of the chain for a seed gy at its output (the activations are the last forward's).
    const tensor_type& vjp(const tensor_type& gy) {
        auto& seed = ws_.seed();
        seed.resize(gy.shape());
        B::copy(gy.size(), gy.data(), seed.data());
        return autodiff::decoder_sweep(seq, ws_);
    }
    void param_vjp(const tensor_type& gy) { autodiff::backward_sweep(seq, ws_, gy); }
    const tensor_type& jvp(const tensor_type& tx) {
        return autodiff::tangent_sweep(seq, ws_, tx, {.input_gradient = false, .parameters = false, .curvature = false});
    }
    // The decoder sweep from gy, the tangent sweep from tx and the backward sweep of the curvature
    // terms from a zero adjoint at the output; with opt.input_gradient the gradient at the branch's
    // input is left in adjoint().
    void second_order(const tensor_type& tx, const tensor_type& gy, autodiff::sweep_options opt) {
        vjp(gy);
        autodiff::tangent_sweep(seq, ws_, tx, opt);
        zero_.resize(gy.shape());
        zero_.zero();
        autodiff::backward_sweep(seq, ws_, zero_, opt);
    }
    const tensor_type& adjoint() const { return ws_.adjoint; }

    // J tx, with the parameters' mixed terms (parameters) and the curvature at the branch's input
    // left in adjoint() (input_gradient), from one pass of each inner sweep.
    const tensor_type& fused_tangent(const tensor_type& tx, const tensor_type& gy, bool input_gradient, bool parameters) {
        const bool mixed = parameters && has_mixed_terms(), curvature = input_gradient && has_curvature_terms();
        if (!mixed && !curvature) return jvp(tx);
        second_order(tx, gy, {.input_gradient = curvature, .parameters = mixed});
        return ws_.tangent;  // the tangent sweep's result; the backward sweep leaves it alone
    }
    // param_vjp(gy), and J^T gy from the same backward sweep.
    const tensor_type& fused_backward(const tensor_type& gy) {
        autodiff::backward_sweep(seq, ws_, gy, {.input_gradient = true, .parameters = true});
        return ws_.adjoint;
    }

    Seq seq;

private:
    autodiff::sweep_workspace<T, B> ws_;
    tensor_type zero_;
};

// g(x) = x: every contribution is its argument, and it has no parameters or second-order terms.
template <class T, class B>
struct identity_branch {
    using tensor_type = tensor<T, B>;
    static constexpr bool has_mixed = false;
    static constexpr bool has_curvature = false;
    static constexpr bool is_identity = true;
    bool has_mixed_terms() const { return false; }
    bool has_curvature_terms() const { return false; }

    sib::shape output_shape(const sib::shape& in) const { return in; }
    const tensor_type& forward(const tensor_type& x) { return x; }
    const tensor_type& vjp(const tensor_type& gy) { return gy; }
    void param_vjp(const tensor_type&) {}
    const tensor_type& jvp(const tensor_type& tx) { return tx; }
    void second_order(const tensor_type&, const tensor_type&, autodiff::sweep_options) {}
    const tensor_type& fused_tangent(const tensor_type& tx, const tensor_type&, bool, bool) { return tx; }
    const tensor_type& fused_backward(const tensor_type& gy) { return gy; }
};

template <class Main, class Shortcut>
struct branch_of {
    static_assert(std::is_same_v<typename Shortcut::value_type, typename Main::value_type> &&
                      std::is_same_v<typename Shortcut::backend, typename Main::backend>,
                  "sib::nn::branch_sum: both branches must have the same value_type and backend");
    using type = sweep_branch<Shortcut>;
};
template <class Main>
struct branch_of<Main, identity_shortcut> {
    using type = identity_branch<typename Main::value_type, typename Main::backend>;
};

}  // namespace detail

template <class Main, class Shortcut = identity_shortcut>
class branch_sum : public layer_base<typename Main::value_type, typename Main::backend> {
    static constexpr bool identity = std::is_same_v<Shortcut, identity_shortcut>;
    using main_branch = detail::sweep_branch<Main>;
    using shortcut_branch = typename detail::branch_of<Main, Shortcut>::type;

public:
    using T = typename Main::value_type;
    using B = typename Main::backend;
    using tensor_type = tensor<T, B>;
    static constexpr bool has_mixed = main_branch::has_mixed || shortcut_branch::has_mixed;
    static constexpr bool has_curvature = main_branch::has_curvature || shortcut_branch::has_curvature;

    explicit branch_sum(Main main, branch_names names = {})
        requires identity
        : main_(std::move(main)), names_(std::move(names)) {}
    branch_sum(Main main, Shortcut shortcut, branch_names names = {})
        requires(!identity)
        : main_(std::move(main)), shortcut_(std::move(shortcut)), names_(std::move(names)) {}

    Main& main() { return main_.seq; }
    const Main& main() const { return main_.seq; }
    Shortcut& shortcut()
        requires(!identity)
    {
        return shortcut_.seq;
    }
    const branch_names& names() const { return names_; }

    sib::shape output_shape(const sib::shape& in) const {
        const sib::shape out = main_.output_shape(in);
        if constexpr (identity) {
            if (out != in)
                fail("residual: the inner layers map ", in.str(), " to ", out.str(),
                     "; a skip connection needs the same shape");
        } else {
            const sib::shape sc = shortcut_.output_shape(in);
            if (out != sc)
                fail("branch_sum: the main branch maps ", in.str(), " to ", out.str(), " but the shortcut to ",
                     sc.str(), "; the two must agree");
        }
        return out;
    }

    void forward(const tensor_type& x, tensor_type& y) {
        const auto& f = main_.forward(x);
        add(f, shortcut_.forward(x), y);
    }

    void vjp(const tensor_type&, const tensor_type&, const tensor_type& gy, tensor_type& gx) {
        const auto& a = main_.vjp(gy);
        add(a, shortcut_.vjp(gy), gx);
    }

    void param_vjp(const tensor_type&, const tensor_type&, const tensor_type& gy) {
        main_.param_vjp(gy);
        shortcut_.param_vjp(gy);
    }

    void jvp(const tensor_type&, const tensor_type&, const tensor_type& tx, tensor_type& ty) {
        const auto& a = main_.jvp(tx);
        add(a, shortcut_.jvp(tx), ty);
    }

    void mixed(const tensor_type&, const tensor_type&, const tensor_type& tx, const tensor_type& gy) {
        if constexpr (main_branch::has_mixed)
            if (main_.has_mixed_terms()) main_.second_order(tx, gy, {.input_gradient = false, .parameters = true});
        if constexpr (shortcut_branch::has_mixed)
            if (shortcut_.has_mixed_terms())
                shortcut_.second_order(tx, gy, {.input_gradient = false, .parameters = true});
    }

    void curvature(const tensor_type&, const tensor_type&, const tensor_type& tx, const tensor_type& gy,
                   tensor_type& ax) {
        if constexpr (main_branch::has_curvature) {
            if (main_.has_curvature_terms()) {
                main_.second_order(tx, gy, {.input_gradient = true, .parameters = false});
                add_into(main_.adjoint(), ax);
            }
        }
        if constexpr (shortcut_branch::has_curvature) {
            if (shortcut_.has_curvature_terms()) {
                shortcut_.second_order(tx, gy, {.input_gradient = true, .parameters = false});
                add_into(shortcut_.adjoint(), ax);
            }
        }
    }

    // jvp, mixed (with parameters) and curvature (into *ax, where ax is not null) in one call.
    void fused_tangent(const tensor_type&, const tensor_type&, const tensor_type& tx, const tensor_type& gy,
                       tensor_type& ty, tensor_type* ax, bool parameters) {
        const auto& a = main_.fused_tangent(tx, gy, ax != nullptr, parameters);
        if constexpr (main_branch::has_curvature)
            if (ax && main_.has_curvature_terms()) add_into(main_.adjoint(), *ax);
        const auto& b = shortcut_.fused_tangent(tx, gy, ax != nullptr, parameters);
        if constexpr (shortcut_branch::has_curvature)
            if (ax && shortcut_.has_curvature_terms()) add_into(shortcut_.adjoint(), *ax);
        add(a, b, ty);
    }

    // param_vjp and vjp in one call.
    void fused_backward(const tensor_type&, const tensor_type&, const tensor_type& gy, tensor_type& gx) {
        const auto& a = main_.fused_backward(gy);
        add(a, shortcut_.fused_backward(gy), gx);
    }

    // At run time, whether the rules above add anything (a block of run-time chains; for
    // sequentials, the compile-time has_mixed and has_curvature).
    bool has_mixed_terms() const { return main_.has_mixed_terms() || shortcut_.has_mixed_terms(); }
    bool has_curvature_terms() const { return main_.has_curvature_terms() || shortcut_.has_curvature_terms(); }

    template <class F>
    void for_each_parameter(F&& f) {
        main_.seq.for_each_parameter(detail::named_prefix_visitor<F>{f, names_.main});
        if constexpr (!identity) shortcut_.seq.for_each_parameter(detail::named_prefix_visitor<F>{f, names_.shortcut});
    }
    template <class F>
    void for_each_counter(F&& f) {
        main_.seq.for_each_counter(detail::named_prefix_visitor<F>{f, names_.main});
        if constexpr (!identity) shortcut_.seq.for_each_counter(detail::named_prefix_visitor<F>{f, names_.shortcut});
    }
    // The main branch's layers, then the shortcut's (numbered on after the main branch's).
    template <class F>
    void for_each_layer(F&& f) {
        main_.seq.for_each_layer(f);
        if constexpr (!identity) {
            const int after = main_.seq.num_layers();
            shortcut_.seq.for_each_layer([&](auto& l, int i) { f(l, i + after); });
        }
    }
    void set_training(bool on) {
        main_.seq.set_training(on);
        if constexpr (!identity) shortcut_.seq.set_training(on);
    }

SIB_KERNELS:
    static void add(const tensor_type& a, const tensor_type& b, tensor_type& out) {
        const T* pa = a.data();
        const T* pb = b.data();
        T* po = out.data();
        B::parallel_for(a.size(), [=] SIB_HD(index_t i) { po[i] = pa[i] + pb[i]; });
    }
    static void add_into(const tensor_type& a, tensor_type& out) {
        const T* pa = a.data();
        T* po = out.data();
        B::parallel_for(out.size(), [=] SIB_HD(index_t i) { po[i] += pa[i]; });
    }

private:
    main_branch main_;
    shortcut_branch shortcut_;
    branch_names names_;
};

template <class Main>
branch_sum(Main) -> branch_sum<Main>;
template <class Main>
branch_sum(Main, branch_names) -> branch_sum<Main>;
template <class Main, class Shortcut>
branch_sum(Main, Shortcut, branch_names) -> branch_sum<Main, Shortcut>;
template <class Main, class Shortcut>
branch_sum(Main, Shortcut) -> branch_sum<Main, Shortcut>;

}  // namespace nn
SIB_END_NAMESPACE

// branch_sum<Main, Shortcut>: y = f(x) + g(x), f and g each a sequential, as one layer: a ResNet
// block's two branches (torchvision's BasicBlock and Bottleneck: f the convolutions, g the identity
// or the `downsample` projection, a strided 1x1 convolution + BatchNorm). The ReLU after the
// addition is the next layer of the chain. Shortcut = identity_shortcut is g(x) = x (residual<Ls...>).
//
// Each rule runs the sweeps of autodiff/sweeps.hpp on each branch (see "Memory" below for their
// buffers); both branches see the same x and gy, so every rule is the sum of the branches' (the sum
// is linear and adds no second-order term of its own):
//   vjp        gx = J_f^T gy + J_g^T gy               (decoder sweeps)
//   jvp        ty = J_f tx + J_g tx                   (tangent sweeps, no mixed or curvature terms)
//   param_vjp  backward sweeps from gy
//   mixed      d/dtheta <tx, J^T gy>: every inner mixed term, plus the inner curvature terms
//              carried back to the parameters (decoder, tangent and backward sweeps)
//   curvature  d/dx <tx, J^T gy>: the same sweeps, keeping the gradient at the block's input
// mixed and curvature each run the inner sweeps, so each rule stands alone. The sweeps call fused
// rules instead (core/concepts.hpp): fused_tangent runs each branch's decoder, tangent and backward
// sweeps once for jvp, mixed and curvature together (the tangent sweep's result is J tx), where the
// separate rules run two decoder, three tangent and two backward sweeps; fused_backward leaves
// J^T gy at the branch's input from the backward sweep of param_vjp, where vjp would run a decoder
// sweep again. In a step, whose tangent sweep is followed by a backward sweep, they call
// tangent_keeping_curvature and backward_with_kept_curvature: the inner curvature terms wait in the
// branch for the backward sweep from gy, which carries them to the parameters and to the block's
// input with gy itself (the sweeps are linear in what they carry), where fused_tangent ran a
// backward sweep of its own from a zero adjoint. The tangent rule reads the gradients the decoder
// sweep's inner products gave (kept by vjp) and runs only the elementwise vjps again. On a ResNet
// block that is 6 products per convolution in an S-IB step, as in a flat chain (forward, decoder,
// jvp, mixed, weight gradient, input gradient), against 9 with fused_tangent and 14 with the
// separate rules.
//
// Memory: a branch keeps its forward activations from forward to the step's end, its curvature
// terms from the tangent rule to the backward rule and its products' decoded gradients from vjp to
// the tangent rule, but what its other sweeps write (decoded gradients, tangents, adjoints) is dead
// once a rule has returned and its result has been read. On host threads those buffers are leased,
// for the length of one rule, from a per-thread pool shared by every branch, so a network holds
// about one block's worth of them (one per nesting level) instead of one per block. The block
// therefore reads each branch's result before it calls the other branch. A device backend keeps
// them per branch.
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
#include <algorithm>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

SIB_BEGIN_NAMESPACE
namespace nn {

// The shortcut g(x) = x.
struct identity_shortcut {};

struct branch_names {
    std::string main;
    std::string shortcut = "shortcut";
};

namespace detail {

// What a branch's sweeps other than forward write, but for the curvature terms: dead once a rule
// has returned and been read.
template <class T, class B>
struct transient_buffers {
    std::vector<tensor<T, B>> decoded;
    tensor<T, B> tangent, tangent_next, adjoint, adjoint_next, zero;

    // Exchanges these buffers with the workspace's (and the branch's zero tensor).
    void swap_with(autodiff::sweep_workspace<T, B>& ws, tensor<T, B>& z) {
        std::swap(decoded, ws.decoded);
        std::swap(tangent, ws.tangent);
        std::swap(tangent_next, ws.tangent_next);
        std::swap(adjoint, ws.adjoint);
        std::swap(adjoint_next, ws.adjoint_next);
        std::swap(zero, z);
    }
};

// The calling thread's free transient buffers: a rule takes one set and gives it back when it
// returns, so there are as many sets as rules run nested (a block's branch inside a block's
// branch), and they grow to the largest branch's needs and stay allocated.
template <class T, class B>
std::vector<std::unique_ptr<transient_buffers<T, B>>>& transient_pool() {
    static thread_local std::vector<std::unique_ptr<transient_buffers<T, B>>> pool;
    return pool;
}

// One branch: a sequential, run by the sweeps with a workspace of its own. Each member returns the
// branch's contribution to the block's result, valid until the next call of a branch's rule.
template <class Seq>
class sweep_branch {
public:
    using T = typename Seq::value_type;
    using B = typename Seq::backend;
    using tensor_type = tensor<T, B>;
    static constexpr bool has_mixed = Seq::any_mixed || Seq::any_curvature;
    static constexpr bool has_curvature = Seq::any_curvature;

    // Only this branch's sweeps read its activations: a ReLU after a BatchNorm runs in place.
    explicit sweep_branch(Seq s) : seq(std::move(s)) { ws_.relu_in_place = true; }

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
    // The chain reads its input from x itself, here and in every later rule (use_input), not from a
    // copy: the block's input is stored where the block's rules are given it.
    const tensor_type& forward(const tensor_type& x) {
        kept_for_ = nullptr;
        return autodiff::forward_sweep(seq, ws_, x, true);
    }
    // The input of the last forward, as the block's rule that runs next was given it.
    void use_input(const tensor_type& x) { ws_.borrowed_input = &x; }

    // g_0 of the chain for a seed gy at its output (the activations are the last forward's). The
    // inner gradients the tangent rule reads are kept for it (keep_decoded).
    const tensor_type& vjp(const tensor_type& gy) {
        lease l(*this);
        decode(gy);
        keep_decoded(gy);
        return l.decoded_input();
    }
    void param_vjp(const tensor_type& gy) {
        lease l(*this);
        autodiff::backward_sweep(seq, ws_, gy);
    }
    const tensor_type& jvp(const tensor_type& tx) {
        lease l(*this);
        autodiff::tangent_sweep(seq, ws_, tx, {.input_gradient = false, .parameters = false, .curvature = false});
        return l.tangent();
    }
    // The decoder sweep from gy, the tangent sweep from tx and the backward sweep of the curvature
    // terms from a zero adjoint at the output; with opt.input_gradient the gradient at the branch's
    // input is returned.
    const tensor_type& second_order(const tensor_type& tx, const tensor_type& gy, autodiff::sweep_options opt) {
        lease l(*this);
        run_second_order(tx, gy, opt);
        return l.adjoint();
    }

    // J tx, with the parameters' mixed terms (parameters) and the curvature at the branch's input
    // added into *ax (when ax is not null), from one pass of each inner sweep.
    const tensor_type& fused_tangent(const tensor_type& tx, const tensor_type& gy, tensor_type* ax, bool parameters) {
        const bool mixed = parameters && has_mixed_terms(), curvature = ax && has_curvature_terms();
        lease l(*this);
        if (!mixed && !curvature) {
            autodiff::tangent_sweep(seq, ws_, tx, {.input_gradient = false, .parameters = false, .curvature = false});
        } else {
            run_second_order(tx, gy, {.input_gradient = curvature, .parameters = mixed});
            if (curvature) autodiff::detail::add_into<B>(ax->size(), ax->data(), ws_.adjoint.data());
        }
        return l.tangent();  // the tangent sweep's result; the backward sweep leaves it alone
    }
    // param_vjp(gy), and J^T gy from the same backward sweep.
    const tensor_type& fused_backward(const tensor_type& gy) {
        lease l(*this);
        autodiff::backward_sweep(seq, ws_, gy, {.input_gradient = true, .parameters = true});
        return l.adjoint();
    }

    // J tx and the inner layers' own mixed terms; the inner curvature terms stay in this branch's
    // workspace (layer 0's too) for backward_with_kept_curvature.
    const tensor_type& tangent_keeping_curvature(const tensor_type& tx, const tensor_type& gy) {
        const bool mixed = has_mixed_terms(), curvature = has_curvature_terms();
        lease l(*this);
        if (!mixed && !curvature) {
            autodiff::tangent_sweep(seq, ws_, tx, {.input_gradient = false, .parameters = false, .curvature = false});
            return l.tangent();
        }
        const bool kept = kept_for_ != nullptr && kept_for_ == gy.data();
        if (kept)
            redecode_from_kept(gy);
        else
            decode(gy);
        autodiff::tangent_sweep(seq, ws_, tx, {.input_gradient = true, .parameters = mixed});
        if (kept) swap_kept_decoded();  // back, before the lease hands the leased ones on
        return l.tangent();
    }
    // The backward sweep from gy, which adds the kept curvature terms on its way: the parameters'
    // gradients (with `parameters`) and, with `input_gradient`, J^T gy + the curvature at the
    // branch's input, returned.
    const tensor_type& backward_with_kept_curvature(const tensor_type& gy, bool input_gradient, bool parameters) {
        lease l(*this);
        autodiff::backward_sweep(seq, ws_, gy, {.input_gradient = input_gradient, .parameters = parameters});
        return l.adjoint();
    }

    Seq seq;

private:
    // Host backends: the buffers of one transient_pool set while it lives, given back (with what
    // the rule left in them) when it ends. The rule's result stays readable until the set is leased
    // again, i.e. until the next rule of any branch on this thread.
    static constexpr bool pooled = requires { requires B::nested_primitives; };
    class lease {
    public:
        explicit lease(sweep_branch& b) : b_(b) {
            if constexpr (pooled) {
                auto& pool = transient_pool<T, B>();
                if (pool.empty()) {
                    set_ = std::make_unique<transient_buffers<T, B>>();
                } else {
                    set_ = std::move(pool.back());
                    pool.pop_back();
                }
                set_->swap_with(b_.ws_, b_.zero_);
                // The sweeps index decoded by layer; the seed and the explanation are found through
                // the activations' count, so a longer vector is fine.
                const std::size_t layers = std::max<std::size_t>(b_.ws_.activations.size(), 1) - 1;
                if (b_.ws_.decoded.size() < layers + 1) b_.ws_.decoded.resize(layers + 1);
            }
        }
        ~lease() {
            b_.ws_.borrowed_seed = nullptr;
            if constexpr (pooled) {
                set_->swap_with(b_.ws_, b_.zero_);
                transient_pool<T, B>().push_back(std::move(set_));
            }
        }
        lease(const lease&) = delete;
        lease& operator=(const lease&) = delete;

        // Where the rule's results are once the lease has ended. Swapping two tensors swaps their
        // buffers, so a tensor result is in the set's tensor of that name; swapping two vectors
        // swaps their arrays, so an element of decoded stays where it is (in the array the set
        // gets back): the reference the workspace gives now.
        const tensor_type& tangent() const { return pooled ? set_->tangent : b_.ws_.tangent; }
        const tensor_type& adjoint() const { return pooled ? set_->adjoint : b_.ws_.adjoint; }
        const tensor_type& decoded_input() const { return b_.ws_.decoded.front(); }

    private:
        sweep_branch& b_;
        std::unique_ptr<transient_buffers<T, B>> set_;
    };

    // The decoder sweep reads its seed from gy itself, which outlives the rule (the outer sweep's
    // gradient), not from a copy; the lease that ends the rule clears it. A chain without layers
    // returns its seed as g_0 (decoded[0]): that one is copied.
    void set_seed(const tensor_type& gy) {
        if (seq.num_layers() > 0) {
            ws_.borrowed_seed = &gy;
            return;
        }
        auto& seed = ws_.seed();
        seed.resize(gy.shape());
        B::copy(gy.size(), gy.data(), seed.data());
    }
    const tensor_type& decode(const tensor_type& gy) {
        set_seed(gy);
        return autodiff::decoder_sweep(seq, ws_);
    }
    // The backward sweep carries the curvature terms alone; without any it would add zeros.
    // Inner blocks run their fused rules here, not the kept pair (sweep_options::kept_by_layers), so
    // that the separate and fused rules add the same terms in the same order.
    void run_second_order(const tensor_type& tx, const tensor_type& gy, autodiff::sweep_options opt) {
        decode(gy);
        opt.kept_by_layers = false;
        autodiff::tangent_sweep(seq, ws_, tx, opt);
        if (!has_curvature_terms()) return;
        zero_.resize(gy.shape());
        zero_.zero();
        autodiff::backward_sweep(seq, ws_, zero_, opt);
    }

    // The inner gradients a vjp that is a product gives (core/concepts.hpp, vjp_is_product): g at the
    // input of each such inner layer but the first (the tangent sweep reads g_1 .. g_L, not g_0).
    template <class F>
    void for_each_product_gradient(F&& f) {
        seq.for_each_layer([&](auto& layer, int k) {
            using L = std::decay_t<decltype(layer)>;
            if constexpr (vjp_is_product<L>)
                if (k > 0) f(static_cast<std::size_t>(k));
        });
    }
    // After the decoder sweep of vjp: copies, out of the leased buffers, of the gradients the inner
    // products gave, for the gy they came from (identified by its storage). A step's tangent sweep
    // hands the block the same gy its decoder sweep did (ws.decoded[k + 1], unchanged between the
    // two), and the tangent rule then runs only the elementwise vjps again (redecode_from_kept): no
    // product. Any other gy, or a forward in between, and the tangent rule decodes in full. Only the
    // products' gradients are kept, not every layer's (a ResNet block's convolution outputs and
    // BatchNorm outputs), which would hold two to five times the memory for two cheap passes.
    void keep_decoded(const tensor_type& gy) {
        kept_for_ = nullptr;
        if (!has_mixed_terms()) return;
        if (kept_decoded_.size() < ws_.decoded.size()) kept_decoded_.resize(ws_.decoded.size());
        for_each_product_gradient([&](std::size_t j) {
            const auto& d = ws_.decoded[j];
            kept_decoded_[j].resize(d.shape());
            B::copy(d.size(), d.data(), kept_decoded_[j].data());
        });
        kept_for_ = gy.data();
    }
    // The decoder sweep from gy down to g_1, each product's gradient taken from the kept ones (left
    // swapped into the workspace: swap_kept_decoded puts them back). The same operations on the same
    // values as decode, so the same bits.
    void redecode_from_kept(const tensor_type& gy) {
        set_seed(gy);
        seq.for_each_layer_reverse([&](auto& layer, int i) {
            if (i == 0) return;
            using L = std::decay_t<decltype(layer)>;
            const auto k = static_cast<std::size_t>(i);
            if constexpr (vjp_is_product<L>) {
                std::swap(ws_.decoded[k], kept_decoded_[k]);
            } else {
                ws_.decoded[k].resize(ws_.activation(k).shape());
                layer.vjp(ws_.activation(k), ws_.activation(k + 1), ws_.gradient(k + 1), ws_.decoded[k]);
            }
        });
    }
    void swap_kept_decoded() {
        for_each_product_gradient([&](std::size_t j) { std::swap(ws_.decoded[j], kept_decoded_[j]); });
    }

    autodiff::sweep_workspace<T, B> ws_;
    tensor_type zero_;
    std::vector<tensor_type> kept_decoded_;
    const T* kept_for_ = nullptr;  // gy.data() of the vjp whose gradients are kept; null: none
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
    void use_input(const tensor_type&) {}
    const tensor_type& vjp(const tensor_type& gy) { return gy; }
    void param_vjp(const tensor_type&) {}
    const tensor_type& jvp(const tensor_type& tx) { return tx; }
    const tensor_type& fused_tangent(const tensor_type& tx, const tensor_type&, tensor_type*, bool) { return tx; }
    const tensor_type& fused_backward(const tensor_type& gy) { return gy; }
    const tensor_type& tangent_keeping_curvature(const tensor_type& tx, const tensor_type&) { return tx; }
    const tensor_type& backward_with_kept_curvature(const tensor_type& gy, bool, bool) { return gy; }
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
    static constexpr bool vjp_is_product = true;  // its inner sweeps (core/concepts.hpp)
    static constexpr bool rules_ignore_output = true;  // they read x (the branches' input) and gy
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

    void vjp(const tensor_type& x, const tensor_type&, const tensor_type& gy, tensor_type& gx) {
        use_input(x);
        sum_of([&]() -> const tensor_type& { return main_.vjp(gy); },
               [&]() -> const tensor_type& { return shortcut_.vjp(gy); }, gx);
    }

    void param_vjp(const tensor_type& x, const tensor_type&, const tensor_type& gy) {
        use_input(x);
        main_.param_vjp(gy);
        shortcut_.param_vjp(gy);
    }

    void jvp(const tensor_type& x, const tensor_type&, const tensor_type& tx, tensor_type& ty) {
        use_input(x);
        sum_of([&]() -> const tensor_type& { return main_.jvp(tx); },
               [&]() -> const tensor_type& { return shortcut_.jvp(tx); }, ty);
    }

    void mixed(const tensor_type& x, const tensor_type&, const tensor_type& tx, const tensor_type& gy) {
        use_input(x);
        if constexpr (main_branch::has_mixed)
            if (main_.has_mixed_terms()) main_.second_order(tx, gy, {.input_gradient = false, .parameters = true});
        if constexpr (shortcut_branch::has_mixed)
            if (shortcut_.has_mixed_terms())
                shortcut_.second_order(tx, gy, {.input_gradient = false, .parameters = true});
    }

    void curvature(const tensor_type& x, const tensor_type&, const tensor_type& tx, const tensor_type& gy,
                   tensor_type& ax) {
        use_input(x);
        if constexpr (main_branch::has_curvature)
            if (main_.has_curvature_terms())
                add_into(main_.second_order(tx, gy, {.input_gradient = true, .parameters = false}), ax);
        if constexpr (shortcut_branch::has_curvature)
            if (shortcut_.has_curvature_terms())
                add_into(shortcut_.second_order(tx, gy, {.input_gradient = true, .parameters = false}), ax);
    }

    // jvp, mixed (with parameters) and curvature (into *ax, where ax is not null) in one call.
    void fused_tangent(const tensor_type& x, const tensor_type&, const tensor_type& tx, const tensor_type& gy,
                       tensor_type& ty, tensor_type* ax, bool parameters) {
        use_input(x);
        sum_of([&]() -> const tensor_type& { return main_.fused_tangent(tx, gy, ax, parameters); },
               [&]() -> const tensor_type& { return shortcut_.fused_tangent(tx, gy, ax, parameters); }, ty);
    }

    // param_vjp and vjp in one call.
    void fused_backward(const tensor_type& x, const tensor_type&, const tensor_type& gy, tensor_type& gx) {
        use_input(x);
        sum_of([&]() -> const tensor_type& { return main_.fused_backward(gy); },
               [&]() -> const tensor_type& { return shortcut_.fused_backward(gy); }, gx);
    }

    // jvp and the inner layers' own mixed terms, the inner curvature terms kept in the branches for
    // backward_with_kept_curvature (core/concepts.hpp, has_kept_curvature_rule; the sweeps call both).
    void tangent_keeping_curvature(const tensor_type& x, const tensor_type&, const tensor_type& tx, const tensor_type& gy,
                                   tensor_type& ty) {
        use_input(x);
        sum_of([&]() -> const tensor_type& { return main_.tangent_keeping_curvature(tx, gy); },
               [&]() -> const tensor_type& { return shortcut_.tangent_keeping_curvature(tx, gy); }, ty);
    }
    // param_vjp (with parameters) and *gx = J^T gy (where gx is not null), each with the kept
    // curvature terms carried on.
    void backward_with_kept_curvature(const tensor_type& x, const tensor_type&, const tensor_type& gy, tensor_type* gx,
                                      bool parameters) {
        use_input(x);
        if (gx) {
            sum_of([&]() -> const tensor_type& { return main_.backward_with_kept_curvature(gy, true, parameters); },
                   [&]() -> const tensor_type& { return shortcut_.backward_with_kept_curvature(gy, true, parameters); },
                   *gx);
        } else {
            main_.backward_with_kept_curvature(gy, false, parameters);
            shortcut_.backward_with_kept_curvature(gy, false, parameters);
        }
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
    // Every rule is given the block's input x as the last forward was: the branches read it there.
    void use_input(const tensor_type& x) {
        main_.use_input(x);
        shortcut_.use_input(x);
    }
    // out = main() + shortcut(), each the result of one branch's rule. A branch's result lasts until
    // the next branch rule runs (sweep_branch), so with two sweeping branches the main branch's is
    // copied into out before the shortcut's rule runs.
    template <class MainRule, class ShortcutRule>
    static void sum_of(MainRule main_rule, ShortcutRule shortcut_rule, tensor_type& out) {
        if constexpr (identity) {
            add(main_rule(), shortcut_rule(), out);
        } else {
            copy_into(main_rule(), out);
            add_into(shortcut_rule(), out);
        }
    }
    static void copy_into(const tensor_type& a, tensor_type& out) { B::copy(a.size(), a.data(), out.data()); }
    static void add(const tensor_type& a, const tensor_type& b, tensor_type& out) {
        const T* pa = a.data();
        const T* pb = b.data();
        T* po = out.data();
        B::parallel_for(a.size(), [=] SIB_HD(index_t i) { po[i] = pa[i] + pb[i]; });
    }
    static void add_into(const tensor_type& a, tensor_type& out) {
        autodiff::detail::add_into<B>(out.size(), out.data(), a.data());
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

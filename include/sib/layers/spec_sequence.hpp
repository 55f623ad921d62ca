// A run-time chain of layers, built from parsed spec items (layers/spec.hpp's grammar): each node
// holds a layer kind of the registry (layers/registry.hpp) in a closed std::variant, the same types
// as the compile-time sequential, so one implementation serves both; a spec's Residual item is one
// more alternative, nn::branch_sum over two run-time chains, so blocks run by branch_sum's rules,
// as in the compile-time models, and nest. The whole model, with named models and their
// initialisation, is models::spec_model (models/spec_model.hpp).
//
// Parameter names follow PyTorch: "<child>.<name>", the child being its module name where the spec
// gives one ("fc.weight", "layer1.0.conv1.weight") and its index otherwise ("0.weight", as
// nn.Sequential), so a named model's state dict has torchvision's keys.
#pragma once
#include <sib/core/rng.hpp>
#include <sib/layers/branch_sum.hpp>
#include <sib/layers/registry.hpp>
#include <sib/layers/sequential.hpp>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

SIB_BEGIN_NAMESPACE
namespace nn {

namespace detail {
// A non-owning reference to a callable of signature R(A...). A run-time chain visits its parameters
// through one: a block's chains are visited by the block with the visitor wrapped in a name prefix,
// and the chain's own visit would wrap it again, a type without end; visiting through this one type
// closes the recursion (one indirect call per tensor, not per element).
template <class Sig>
class function_ref;
template <class R, class... A>
class function_ref<R(A...)> {
public:
    template <class F>
    function_ref(F& f)  // NOLINT: implicit, as std::function_ref
        : object_(const_cast<void*>(static_cast<const void*>(&f))),
          call_([](void* o, A... a) -> R { return (*static_cast<F*>(o))(std::forward<A>(a)...); }) {}
    R operator()(A... a) const { return call_(object_, std::forward<A>(a)...); }

private:
    void* object_;
    R (*call_)(void*, A...);
};
}  // namespace detail

template <class T, class B>
class spec_sequence;
template <class T, class B>
struct spec_node;

// A spec's Residual item: y = f(x) + x, and y = f(x) + g(x) with a shortcut chain.
template <class T, class B = cpu>
using spec_residual = branch_sum<spec_sequence<T, B>>;
template <class T, class B = cpu>
using spec_projection = branch_sum<spec_sequence<T, B>, spec_sequence<T, B>>;

// What a node of a run-time chain holds: a registered layer or a block.
template <class T, class B = cpu>
using spec_layer = layer_registry::variant_with<T, B, spec_residual<T, B>, spec_projection<T, B>>;

template <class T, class B>
class spec_sequence {
public:
    using value_type = T;
    using backend = B;
    using tensor_type = tensor<T, B>;
    // What a block (branch_sum) asks of its chains at compile time: a run-time chain may hold any
    // layer. has_mixed_terms() and has_curvature_terms() answer at run time.
    static constexpr bool any_mixed = true;
    static constexpr bool any_curvature = true;

    spec_sequence() = default;
    explicit spec_sequence(const std::vector<layer_spec>& items) {
        for (const auto& item : items) {
            try {  // a layer too large for memory is named: "layer 2 (Linear(...)): tensor [...]: cannot allocate N bytes"
                nodes_.push_back({make(item), item.module, label_of(item)});
            } catch (const out_of_memory& e) {
                throw out_of_memory(sib::detail::concat("layer ", nodes_.size(), " (", label_of(item), "): ", e.what()));
            }
        }
    }

    int num_layers() const { return static_cast<int>(nodes_.size()); }
    spec_layer<T, B>& layer(int i) { return node(i).layer; }
    const spec_layer<T, B>& layer(int i) const { return node(i).layer; }
    // "Linear(3136,10)", "fc: Linear(512,10)", "layer1.0: Residual": the item as messages name it.
    const std::string& layer_text(int i) const { return node(i).text; }
    // The child's name in parameter names and module paths: its module name, or its index.
    std::string module_name(int i) const { return std::string(nn::detail::child_prefix(node(i).name, i).view()); }

    template <class F>
    void for_each_layer(F&& f) {
        for (int i = 0; i < num_layers(); ++i) std::visit([&](auto& l) { f(l, i); }, node(i).layer);
    }
    template <class F>
    void for_each_layer_reverse(F&& f) {
        for (int i = num_layers() - 1; i >= 0; --i) std::visit([&](auto& l) { f(l, i); }, node(i).layer);
    }
    using parameter_visitor = detail::function_ref<void(std::string_view, tensor_type&, tensor_type*)>;
    using counter_visitor = detail::function_ref<void(std::string_view, index_t&)>;

    template <class F>
    void for_each_parameter(F&& f) {
        visit_parameters(parameter_visitor(f));
    }
    // f(name, index_t&) for the integer buffers (num_batches_tracked), named as the parameters.
    template <class F>
    void for_each_counter(F&& f) {
        visit_counters(counter_visitor(f));
    }

    // Names the layer whose input does not fit, so a spec that mismatches the data is one line.
    sib::shape output_shape(sib::shape s) const {
        for (int i = 0; i < num_layers(); ++i) {
            try {
                s = std::visit([&](const auto& l) { return l.output_shape(s); }, node(i).layer);
            } catch (const error& e) {
                fail("layer ", i, " (", node(i).text, "): ", e.what());
            }
        }
        return s;
    }

    void set_training(bool on) {
        for_each_layer([&](auto& l, int) { nn::detail::set_layer_training(l, on); });
    }

    // Whether any layer has a mixed or a curvature term (blocks: whether their rules add one).
    bool has_mixed_terms() const { return any_node([](const auto& l) { return flag_of(l, true); }); }
    bool has_curvature_terms() const { return any_node([](const auto& l) { return flag_of(l, false); }); }

private:
    void visit_parameters(parameter_visitor f) {
        for_each_layer([&](auto& l, int i) {
            const nn::detail::child_prefix prefix(node(i).name, i);
            l.for_each_parameter(nn::detail::named_prefix_visitor<parameter_visitor>{f, prefix.view()});
        });
    }
    void visit_counters(counter_visitor f) {
        for_each_layer([&](auto& l, int i) {
            if constexpr (nn::detail::has_counters<std::decay_t<decltype(l)>>) {
                const nn::detail::child_prefix prefix(node(i).name, i);
                l.for_each_counter(nn::detail::named_prefix_visitor<counter_visitor>{f, prefix.view()});
            }
        });
    }

    static spec_layer<T, B> make(const layer_spec& item) {
        if (item.name != residual_item) return layer_registry::make<T, B, spec_layer<T, B>>(item);
        const auto& b = item.branches;
        branch_names names{.main = b[0].module, .shortcut = "shortcut"};
        if (b.size() == 1) return spec_residual<T, B>(spec_sequence(b[0].items), std::move(names));
        if (!b[1].module.empty()) names.shortcut = b[1].module;
        return spec_projection<T, B>(spec_sequence(b[0].items), spec_sequence(b[1].items), std::move(names));
    }
    static std::string label_of(const layer_spec& item) {
        const std::string text = item.name == residual_item ? std::string(residual_item) : item.text;
        return item.module.empty() ? text : item.module + ": " + text;
    }
    template <class L>
    static bool flag_of(const L& l, bool mixed) {
        if constexpr (requires { l.has_mixed_terms(); })
            return mixed ? l.has_mixed_terms() : l.has_curvature_terms();
        else
            return mixed ? L::has_mixed : L::has_curvature;
    }
    template <class P>
    bool any_node(P&& p) const {
        for (const auto& n : nodes_)
            if (std::visit(p, n.layer)) return true;
        return false;
    }
    spec_node<T, B>& node(int i) { return nodes_[static_cast<std::size_t>(i)]; }
    const spec_node<T, B>& node(int i) const { return nodes_[static_cast<std::size_t>(i)]; }

    std::vector<spec_node<T, B>> nodes_;
};

template <class T, class B>
struct spec_node {
    spec_layer<T, B> layer;
    std::string name;  // the module name; empty: its index names it
    std::string text;  // for messages
};

}  // namespace nn
SIB_END_NAMESPACE

// What an optimizer is: it updates any model that lists its parameters through
// for_each_parameter(f(name, value, grad-or-null)), and exposes its whole state by name so that a
// checkpoint can save and restore it bit for bit.
#pragma once
#include <sib/backend/cpu/cpu.hpp>
#include <sib/core/concepts.hpp>
#include <sib/core/config.hpp>
#include <sib/core/tensor.hpp>
#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>

SIB_BEGIN_NAMESPACE
namespace optim {

namespace detail {
// The least a model must offer an optimizer; used only to state the concept.
template <class T, class B>
struct parameter_owner_archetype {
    template <class F>
    void for_each_parameter(F&& f);
};

template <class T, class B>
struct state_visitor {
    void operator()(std::string, tensor<T, B>&) const {}
};
template <class T, class B>
struct const_state_visitor {
    void operator()(std::string, const tensor<T, B>&) const {}
};
}  // namespace detail

// Sets every gradient to zero (PyTorch's zero_grad(set_to_none=False)); buffers have no gradient.
template <class M>
    requires has_parameters<M>
void zero_grad(M& model) {
    model.for_each_parameter([](std::string_view, auto&, auto* grad) {
        if (grad) grad->zero();
    });
}

// o.step(m) updates the parameters of m from their gradients. State tensors are created on the
// first step (or by init_state, so that a checkpoint has tensors to load into) and reported by
// for_each_state as "optim.<parameter name>.<state name>"; the step count is a plain integer.
template <class O, class M>
concept optimizer_for = requires(O& o, const O& co, M& m, double lr, std::int64_t n,
                                 detail::state_visitor<typename O::value_type, typename O::backend> v,
                                 detail::const_state_visitor<typename O::value_type, typename O::backend> cv) {
    typename O::value_type;
    typename O::backend;
    o.step(m);
    o.zero_grad(m);
    o.init_state(m);
    o.set_lr(lr);
    { co.lr() } -> std::convertible_to<double>;
    { co.step_count() } -> std::convertible_to<std::int64_t>;
    o.set_step_count(n);
    o.for_each_state(v);
    co.for_each_state(cv);
};

template <class O>
concept optimizer = optimizer_for<O, detail::parameter_owner_archetype<typename O::value_type, typename O::backend>>;

}  // namespace optim
SIB_END_NAMESPACE

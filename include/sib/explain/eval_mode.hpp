// Explanations describe the model as it predicts, so they run it in evaluation mode (BatchNorm on
// its running statistics, Dropout the identity) and then give the caller back the mode each layer
// was in, so explaining in the middle of training changes nothing.
#pragma once
#include <sib/backend/cpu/cpu.hpp>
#include <sib/core/concepts.hpp>
#include <sib/layers/sequential.hpp>
#include <vector>

SIB_BEGIN_NAMESPACE
namespace explain {

namespace detail {
// f(leaf) for every leaf layer under l, depth first in layer order: a composite layer (one with
// for_each_layer, as residual) is entered, not visited, so the layers inside it are reached.
template <class L, class F>
void for_each_leaf_layer(L& l, F& f) {
    if constexpr (requires { l.for_each_layer(sib::detail::layer_visitor{}); })
        l.for_each_layer([&](auto& inner, int) { for_each_leaf_layer(inner, f); });
    else
        f(l);
}
}  // namespace detail

// Sets evaluation mode for its lifetime and restores every layer's own flag afterwards, the layers
// inside composite layers (residual blocks) included. Layers whose mode cannot be read (no
// `training` member) are left in evaluation mode.
template <model M>
class eval_mode_scope {
public:
    explicit eval_mode_scope(M& m) : m_(m) {
        visit([&](auto& l) {
            if constexpr (requires { static_cast<bool>(l.training); })
                saved_.push_back(l.training ? 1 : 0);
            else
                saved_.push_back(-1);
        });
        m.set_training(false);
    }
    ~eval_mode_scope() {
        std::size_t i = 0;
        visit([&](auto& l) {
            const signed char s = saved_[i++];
            if (s >= 0) nn::detail::set_layer_training(l, s == 1);
        });
    }
    eval_mode_scope(const eval_mode_scope&) = delete;
    eval_mode_scope& operator=(const eval_mode_scope&) = delete;

private:
    // f(leaf) for every leaf layer of the model, in the same order each time.
    template <class F>
    void visit(F&& f) {
        m_.for_each_layer([&](auto& l, int) { detail::for_each_leaf_layer(l, f); });
    }

    M& m_;
    std::vector<signed char> saved_;  // per leaf: 1 training, 0 evaluation, -1 no mode to restore
};

}  // namespace explain
SIB_END_NAMESPACE

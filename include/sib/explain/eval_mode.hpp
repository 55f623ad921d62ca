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

// Sets evaluation mode for its lifetime and restores every layer's own flag afterwards. Layers
// whose mode cannot be read (no `training` member) are left in evaluation mode.
template <model M>
class eval_mode_scope {
public:
    explicit eval_mode_scope(M& m) : m_(m) {
        saved_.assign(static_cast<std::size_t>(m.num_layers()), -1);
        m.for_each_layer([&](auto& l, int i) {
            if constexpr (requires { static_cast<bool>(l.training); })
                saved_[static_cast<std::size_t>(i)] = l.training ? 1 : 0;
        });
        m.set_training(false);
    }
    ~eval_mode_scope() {
        m_.for_each_layer([&](auto& l, int i) {
            const signed char s = saved_[static_cast<std::size_t>(i)];
            if (s >= 0) nn::detail::set_layer_training(l, s == 1);
        });
    }
    eval_mode_scope(const eval_mode_scope&) = delete;
    eval_mode_scope& operator=(const eval_mode_scope&) = delete;

private:
    M& m_;
    std::vector<signed char> saved_;
};

}  // namespace explain
SIB_END_NAMESPACE

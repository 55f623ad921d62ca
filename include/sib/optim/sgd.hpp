// Stochastic gradient descent exactly as torch.optim.SGD (PyTorch 1.13, single-tensor path):
//   d = g + weight_decay * p
//   buf = d on the first step, else momentum * buf + (1 - dampening) * d
//   d = nesterov ? d + momentum * buf : buf          (when momentum != 0)
//   p = p - lr * d
// The operations are applied in PyTorch's order so float64 trajectories agree to rounding.
#pragma once
#include <sib/core/config.hpp>
#include <sib/core/error.hpp>
#include <sib/backend/cpu/cpu.hpp>
#include <sib/core/tensor.hpp>
#include <sib/optim/optimizer.hpp>
#include <sib/optim/parameter_state.hpp>
#include <array>
#include <cmath>
#include <cstdint>
#include <string>

SIB_BEGIN_NAMESPACE
namespace optim {

struct sgd_options {
    double lr = NAN;  // required, as in PyTorch
    double momentum = 0;
    double dampening = 0;
    double weight_decay = 0;
    bool nesterov = false;
};

template <class T, class B = cpu>
class sgd {
public:
    using value_type = T;
    using backend = B;
    using tensor_type = tensor<T, B>;

    explicit sgd(const sgd_options& o)
        : opt_(o), state_("SGD", {"momentum_buffer"}, o.momentum != 0 ? 1 : 0) {
        require(!std::isnan(o.lr), "SGD: lr is required");
        require(o.lr >= 0, "SGD: invalid learning rate ", o.lr);
        require(o.momentum >= 0, "SGD: invalid momentum value ", o.momentum);
        require(o.weight_decay >= 0, "SGD: invalid weight_decay value ", o.weight_decay);
        require(!o.nesterov || (o.momentum > 0 && o.dampening == 0),
                "SGD: Nesterov momentum requires a momentum and zero dampening");
    }

    const sgd_options& options() const { return opt_; }
    double lr() const { return opt_.lr; }
    void set_lr(double lr) {
        require(lr >= 0, "SGD: invalid learning rate ", lr);
        opt_.lr = lr;
    }

    // Completed steps. The momentum buffer is taken as it is (not re-seeded from the gradient) once
    // this is non-zero, which is what makes a restored checkpoint continue exactly.
    std::int64_t step_count() const { return steps_; }
    void set_step_count(std::int64_t n) {
        require(n >= 0, "SGD: negative step count ", n);
        steps_ = n;
    }

    template <class M>
    void init_state(M& model) {
        state_.bind(model);
    }

    template <class M>
    void zero_grad(M& model) {
        optim::zero_grad(model);
    }

    template <class M>
    void step(M& model) {
        state_.bind(model);
        const T lr = static_cast<T>(opt_.lr);
        const T momentum = static_cast<T>(opt_.momentum);
        const T keep = static_cast<T>(1 - opt_.dampening);
        const T decay = static_cast<T>(opt_.weight_decay);
        const bool use_decay = opt_.weight_decay != 0;
        const bool use_momentum = opt_.momentum != 0;
        const bool nesterov = opt_.nesterov;
        const bool first = steps_ == 0;
        state_.for_each(model, [&](tensor_type& value, const tensor_type& grad,
                                   std::array<tensor_type, 1>& st) {
            T* p = value.data();
            const T* g = grad.data();
            T* buf = use_momentum ? st[0].data() : nullptr;
            B::parallel_for(
                value.size(),
                [=] SIB_HD(index_t i) {
                    T d = g[i];
                    if (use_decay) d = d + decay * p[i];
                    if (use_momentum) {
                        const T b = first ? d : buf[i] * momentum + keep * d;
                        buf[i] = b;
                        d = nesterov ? d + momentum * b : b;
                    }
                    p[i] = p[i] + (-lr) * d;
                },
                8);
        });
        ++steps_;
    }

    template <class F>
    void for_each_state(F&& f) {
        state_.for_each_state(f);
    }
    template <class F>
    void for_each_state(F&& f) const {
        state_.for_each_state(f);
    }

private:
    sgd_options opt_;
    parameter_state<T, B, 1> state_;
    std::int64_t steps_ = 0;
};

}  // namespace optim
SIB_END_NAMESPACE

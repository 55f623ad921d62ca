// AdamW exactly as torch.optim.AdamW (PyTorch 1.13, single-tensor path), with t the step number
// counted from 1:
//   p = p * (1 - lr * weight_decay)
//   m = beta1 * m + (1 - beta1) * g,   v = beta2 * v + (1 - beta2) * g * g
//   vmax = max(vmax, v) with amsgrad
//   p = p - lr / (1 - beta1^t) * m / (sqrt(v or vmax) / sqrt(1 - beta2^t) + eps)
// The bias corrections are computed on the host in double, as PyTorch does in Python, and the
// element operations follow PyTorch's order so float64 trajectories agree to rounding.
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

struct adamw_options {
    double lr = 1e-3;
    double beta1 = 0.9;
    double beta2 = 0.999;
    double eps = 1e-8;
    double weight_decay = 1e-2;
    bool amsgrad = false;
};

template <class T, class B = cpu>
class adamw {
public:
    using value_type = T;
    using backend = B;
    using tensor_type = tensor<T, B>;

    explicit adamw(const adamw_options& o = {})
        : opt_(o), state_("AdamW", {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}, o.amsgrad ? 3 : 2) {
        require(o.lr >= 0, "AdamW: invalid learning rate ", o.lr);
        require(o.eps >= 0, "AdamW: invalid epsilon value ", o.eps);
        require(o.beta1 >= 0 && o.beta1 < 1, "AdamW: invalid beta parameter at index 0: ", o.beta1);
        require(o.beta2 >= 0 && o.beta2 < 1, "AdamW: invalid beta parameter at index 1: ", o.beta2);
        require(o.weight_decay >= 0, "AdamW: invalid weight_decay value ", o.weight_decay);
    }

    const adamw_options& options() const { return opt_; }
    double lr() const { return opt_.lr; }
    void set_lr(double lr) {
        require(lr >= 0, "AdamW: invalid learning rate ", lr);
        opt_.lr = lr;
    }

    // Completed steps (PyTorch's state["step"], the same for every parameter here).
    std::int64_t step_count() const { return steps_; }
    void set_step_count(std::int64_t n) {
        require(n >= 0, "AdamW: negative step count ", n);
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
        const double t = static_cast<double>(steps_ + 1);
        const double correction1 = 1 - std::pow(opt_.beta1, t);
        const double correction2 = 1 - std::pow(opt_.beta2, t);
        const T shrink = static_cast<T>(1 - opt_.lr * opt_.weight_decay);
        const T beta1 = static_cast<T>(opt_.beta1), beta2 = static_cast<T>(opt_.beta2);
        const T one_minus_beta1 = static_cast<T>(1 - opt_.beta1);
        const T one_minus_beta2 = static_cast<T>(1 - opt_.beta2);
        const T neg_step_size = static_cast<T>(-(opt_.lr / correction1));
        const T correction2_sqrt = static_cast<T>(std::sqrt(correction2));
        const T eps = static_cast<T>(opt_.eps);
        const bool amsgrad = opt_.amsgrad;
        state_.for_each(model, [&](tensor_type& value, const tensor_type& grad,
                                   std::array<tensor_type, 3>& st) {
            T* p = value.data();
            const T* g = grad.data();
            T* m = st[0].data();
            T* v = st[1].data();
            T* vmax = amsgrad ? st[2].data() : nullptr;
            B::parallel_for(
                value.size(),
                [=] SIB_HD(index_t i) {
                    using std::sqrt;
                    const T gi = g[i];
                    p[i] = p[i] * shrink;
                    m[i] = m[i] * beta1 + one_minus_beta1 * gi;
                    v[i] = v[i] * beta2 + one_minus_beta2 * gi * gi;
                    T second = v[i];
                    if (amsgrad) {
                        // torch.maximum propagates NaN from either side.
                        if (!(vmax[i] >= second) && !(vmax[i] != vmax[i])) vmax[i] = second;
                        second = vmax[i];
                    }
                    const T denom = sqrt(second) / correction2_sqrt + eps;
                    p[i] = p[i] + neg_step_size * m[i] / denom;
                },
                24);
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
    adamw_options opt_;
    parameter_state<T, B, 3> state_;
    std::int64_t steps_ = 0;
};

}  // namespace optim
SIB_END_NAMESPACE

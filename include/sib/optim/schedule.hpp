// Learning-rate schedules stepped once per epoch, as torch.optim.lr_scheduler with
// scheduler.step() at the end of each epoch. Each is a closed form of the epoch index, so a run
// resumed at epoch e sets exactly the rate the uninterrupted run had (PyTorch's chained updates
// agree with these to rounding).
#pragma once
#include <sib/core/config.hpp>
#include <sib/core/error.hpp>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <variant>

SIB_BEGIN_NAMESPACE
namespace optim {

// No schedule: base_lr in every epoch (not PyTorch's ConstantLR, which scales for a while).
struct constant_schedule {
    double base_lr = 1e-3;

    double lr_at(std::int64_t) const { return base_lr; }
};

// StepLR: base_lr * gamma^floor(epoch / step_size).
struct step_schedule {
    double base_lr = 1e-3;
    std::int64_t step_size = 1;
    double gamma = 0.1;

    double lr_at(std::int64_t epoch) const {
        require(step_size > 0, "step_schedule: step_size must be positive, got ", step_size);
        require(epoch >= 0, "step_schedule: negative epoch ", epoch);
        return base_lr * std::pow(gamma, static_cast<double>(epoch / step_size));
    }
};

// CosineAnnealingLR: eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / t_max)) / 2. Past t_max
// the rate rises again (period 2 t_max), as PyTorch's does.
struct cosine_schedule {
    double base_lr = 1e-3;
    std::int64_t t_max = 1;
    double eta_min = 0;

    double lr_at(std::int64_t epoch) const {
        require(t_max > 0, "cosine_schedule: T_max must be positive, got ", t_max);
        require(epoch >= 0, "cosine_schedule: negative epoch ", epoch);
        const double phase = std::numbers::pi * static_cast<double>(epoch) / static_cast<double>(t_max);
        return eta_min + (base_lr - eta_min) * (1 + std::cos(phase)) / 2;
    }
};

// The closed set the command line chooses from at run time.
using lr_schedule = std::variant<constant_schedule, step_schedule, cosine_schedule>;

inline double lr_at(const lr_schedule& s, std::int64_t epoch) {
    require(epoch >= 0, "lr schedule: negative epoch ", epoch);
    return std::visit([epoch](const auto& x) { return x.lr_at(epoch); }, s);
}

// Sets the rate of epoch `epoch` (0-based) on an optimizer; call before the epoch's first step.
template <class O>
void apply_schedule(const lr_schedule& s, O& optimizer, std::int64_t epoch) {
    optimizer.set_lr(lr_at(s, epoch));
}

}  // namespace optim
SIB_END_NAMESPACE

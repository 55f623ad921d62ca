// Objectives and optimizers by name, for programs that choose them at run time (the command line,
// the study): the name is looked up once, here, and the trainer is instantiated for the chosen
// types. A C++ user who knows the types at compile time constructs train::trainer directly.
#pragma once
#include <sib/train/trainer.hpp>
#include <array>
#include <optional>
#include <string>
#include <string_view>

SIB_BEGIN_NAMESPACE
namespace train {

inline constexpr std::array<std::string_view, 3> objective_names{"ce", "sib", "rrr"};
inline constexpr std::array<std::string_view, 2> optimizer_names{"adamw", "sgd"};

struct run_choice {
    std::string objective = "sib";       // one of objective_names
    loss::sib_settings sib{};            // sib
    masks::density_mask_options mask{};  // sib
    double lambda_rrr = 1000;            // rrr: weight of the RRR term (Ross et al.'s lambda_1)
    std::string optimizer = "adamw";     // one of optimizer_names
    double lr = 1e-3;
    std::optional<double> weight_decay;  // default: AdamW 1e-2, SGD 0 (PyTorch's)
    double momentum = 0.9;               // SGD
    bool nesterov = false;               // SGD
};

namespace detail {
template <std::size_t N>
std::string names_list(const std::array<std::string_view, N>& names) {
    std::string s;
    for (auto n : names) s += (s.empty() ? "" : ", ") + std::string(n);
    return s;
}
}  // namespace detail

// f(objective) with the objective c names.
template <class T, class B = cpu, class F>
decltype(auto) with_objective(const run_choice& c, F&& f) {
    if (c.objective == "ce") return f(make_ce_objective<T, B>());
    if (c.objective == "sib") return f(make_sib_objective<T, B>(c.sib, c.mask));
    if (c.objective == "rrr") return f(make_rrr_objective<T, B>(c.lambda_rrr));
    fail("train: unknown objective '", c.objective, "' (known: ", detail::names_list(objective_names), ")");
}

// f(optimizer) with the optimizer c names.
template <class T, class B = cpu, class F>
decltype(auto) with_optimizer(const run_choice& c, F&& f) {
    if (c.optimizer == "adamw") {
        optim::adamw_options o;
        o.lr = c.lr;
        o.weight_decay = c.weight_decay.value_or(1e-2);
        return f(optim::adamw<T, B>(o));
    }
    if (c.optimizer == "sgd") {
        optim::sgd_options o;
        o.lr = c.lr;
        o.momentum = c.momentum;
        o.nesterov = c.nesterov;
        o.weight_decay = c.weight_decay.value_or(0.0);
        return f(optim::sgd<T, B>(o));
    }
    fail("train: unknown optimizer '", c.optimizer, "' (known: ", detail::names_list(optimizer_names), ")");
}

// f(trainer&) for the objective and optimizer c names; `options.schedule` defaults to c.lr, constant.
template <model M, class F>
decltype(auto) with_trainer(M& model, const run_choice& c, const train_options& options, const std::string& identity,
                            F&& f) {
    using T = typename M::value_type;
    using B = typename M::backend;
    return with_objective<T, B>(c, [&](auto objective) -> decltype(auto) {
        return with_optimizer<T, B>(c, [&](auto optimizer) -> decltype(auto) {
            trainer t(model, std::move(objective), std::move(optimizer), options, identity);
            return f(t);
        });
    });
}

}  // namespace train
SIB_END_NAMESPACE

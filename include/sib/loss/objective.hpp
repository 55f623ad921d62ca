// The paper's objective as a ready-made expression:
//   L = CE + lambda_bg * psi(bg) + lambda_fg * psi(-fg)
// with psi = exp (the paper's code) or identity, chosen at run time.
#pragma once
#include <sib/loss/compose.hpp>
#include <sib/loss/sib_terms.hpp>

SIB_BEGIN_NAMESPACE
namespace loss {

struct sib_settings {
    double lambda_bg = 1000.0;
    double lambda_fg = 0.01;
    loss::shaping shaping = loss::shaping::exp;
};

template <class T, class B = cpu>
auto sib_objective(const sib_settings& s = {}) {
    return ce() + s.lambda_bg * psi(s.shaping, background<T, B>()) +
           s.lambda_fg * psi(s.shaping, -foreground<T, B>());
}

template <class T, class B = cpu>
using sib_objective_t = decltype(sib_objective<T, B>());

}  // namespace loss
SIB_END_NAMESPACE

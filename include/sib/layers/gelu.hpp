// GELU, the exact form x * Phi(x) (PyTorch's default approximate='none'). Phi is computed as
// erfc(-x/sqrt 2)/2 rather than PyTorch's (1 + erf(x/sqrt 2))/2: the same function, but without
// the cancellation that leaves only absolute accuracy in the left tail. The derivatives need x,
// not y: sigma' = Phi + x phi, sigma'' = phi (2 - x^2), phi the standard normal density.
#pragma once
#include <sib/layers/elementwise.hpp>
#include <cmath>

SIB_BEGIN_NAMESPACE
namespace nn {

template <class T>
struct gelu_function {
    static constexpr bool has_curvature = true;
    static constexpr index_t cost = 16;

    static SIB_HD T cdf(T x) { return T(0.5) * std::erfc(-x * T(0.70710678118654752440)); }
    static SIB_HD T pdf(T x) { return T(0.39894228040143267794) * std::exp(T(-0.5) * x * x); }

    SIB_HD T value(T x) const { return x * cdf(x); }
    SIB_HD T slope(T x, T) const { return cdf(x) + x * pdf(x); }
    SIB_HD T bend(T x, T) const { return pdf(x) * (T(2) - x * x); }
};

template <class T, class B = cpu>
struct gelu : elementwise_activation<T, B, gelu_function<T>> {};

}  // namespace nn
SIB_END_NAMESPACE

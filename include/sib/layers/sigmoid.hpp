// Sigmoid, 1 / (1 + exp(-x)) as PyTorch computes it (no overflow: exp(-x) = inf gives 0). The
// derivatives are written in y = sigmoid(x): sigma' = y (1 - y), sigma'' = y (1 - y)(1 - 2y).
#pragma once
#include <sib/layers/elementwise.hpp>
#include <cmath>

SIB_BEGIN_NAMESPACE
namespace nn {

template <class T>
struct sigmoid_function {
    static constexpr bool has_curvature = true;
    static constexpr index_t cost = 8;

    SIB_HD T value(T x) const { return T(1) / (T(1) + std::exp(-x)); }
    SIB_HD T slope(T, T y) const { return y * (T(1) - y); }
    SIB_HD T bend(T, T y) const { return y * (T(1) - y) * (T(1) - T(2) * y); }
};

template <class T, class B = cpu>
struct sigmoid : elementwise_activation<T, B, sigmoid_function<T>> {};

}  // namespace nn
SIB_END_NAMESPACE

// Tanh. The derivatives are written in y = tanh(x), which is exact where 1 - tanh^2 is needed and
// saves a second transcendental per element.
#pragma once
#include <sib/layers/elementwise.hpp>
#include <cmath>

SIB_BEGIN_NAMESPACE
namespace nn {

template <class T>
struct tanh_function {
    static constexpr bool has_curvature = true;
    static constexpr index_t cost = 8;

    // std:: spelled out: inside sib::nn an unqualified tanh names the layer below.
    SIB_HD T value(T x) const { return std::tanh(x); }
    SIB_HD T slope(T, T y) const { return T(1) - y * y; }
    SIB_HD T bend(T, T y) const { return T(-2) * y * (T(1) - y * y); }
};

template <class T, class B = cpu>
struct tanh : elementwise_activation<T, B, tanh_function<T>> {};

}  // namespace nn
SIB_END_NAMESPACE

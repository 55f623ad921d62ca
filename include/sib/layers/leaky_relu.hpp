// LeakyReLU(negative_slope): x for x > 0, negative_slope * x otherwise (so the slope at 0 is
// negative_slope, as in PyTorch). Piecewise linear, so no curvature.
#pragma once
#include <sib/layers/elementwise.hpp>

SIB_BEGIN_NAMESPACE
namespace nn {

template <class T>
struct leaky_relu_function {
    static constexpr bool has_curvature = false;
    static constexpr index_t cost = 1;
    T negative_slope = T(0.01);

    SIB_HD T value(T x) const { return x > T(0) ? x : x * negative_slope; }
    SIB_HD T slope(T x, T) const { return x > T(0) ? T(1) : negative_slope; }
};

template <class T, class B = cpu>
struct leaky_relu : elementwise_activation<T, B, leaky_relu_function<T>> {
    explicit leaky_relu(double negative_slope = 0.01)
        : elementwise_activation<T, B, leaky_relu_function<T>>(
              leaky_relu_function<T>{static_cast<T>(negative_slope)}),
          negative_slope_(negative_slope) {}

    double negative_slope() const { return negative_slope_; }

private:
    double negative_slope_;
};

}  // namespace nn
SIB_END_NAMESPACE

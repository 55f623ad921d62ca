// Softplus(beta, threshold) with PyTorch's semantics: log1p(exp(beta x)) / beta, but x itself
// where beta x > threshold (slope 1, no curvature there), which avoids exp overflow. sigma' is
// sigmoid(beta x), computed in the form that cannot overflow for any threshold; sigma'' is
// beta sigma' (1 - sigma') and, as PyTorch's double backward, 0 from beta x = threshold on.
#pragma once
#include <sib/layers/elementwise.hpp>
#include <cmath>

SIB_BEGIN_NAMESPACE
namespace nn {

template <class T>
struct softplus_function {
    static constexpr bool has_curvature = true;
    static constexpr index_t cost = 16;
    T beta = T(1);
    T threshold = T(20);

    SIB_HD T value(T x) const {
        const T bx = x * beta;
        return bx > threshold ? x : std::log1p(std::exp(bx)) / beta;
    }
    SIB_HD T slope(T x, T) const {
        const T bx = x * beta;
        return bx > threshold ? T(1) : T(1) / (T(1) + std::exp(-bx));
    }
    SIB_HD T bend(T x, T) const {
        const T bx = x * beta;
        if (!(bx < threshold)) return T(0);
        const T s = T(1) / (T(1) + std::exp(-bx));
        return beta * s * (T(1) - s);
    }
};

template <class T, class B = cpu>
struct softplus : elementwise_activation<T, B, softplus_function<T>> {
    explicit softplus(double beta = 1.0, double threshold = 20.0)
        : elementwise_activation<T, B, softplus_function<T>>(
              softplus_function<T>{static_cast<T>(beta), static_cast<T>(threshold)}),
          beta_(beta),
          threshold_(threshold) {
        require(beta != 0.0, "Softplus: beta must be non-zero, got ", beta);
    }

    double beta() const { return beta_; }
    double threshold() const { return threshold_; }

private:
    double beta_, threshold_;
};

}  // namespace nn
SIB_END_NAMESPACE

// Linear centred kernel alignment (Kornblith et al., 2019): CKA = HSIC(K,L) / sqrt(HSIC(K,K)
// HSIC(L,L)), a normalised HSIC in [0, 1] that does not grow with the scale of U or V. With
// a = <HKH, L>, b = <HKH, K>, c = <HLH, L> (the (B-1)^2 cancels), CKA = a / sqrt(b c) and
// dCKA/dK = (HLH - (a/b) HKH) / sqrt(b c), so dU = 2 (HLH - (a/b) HKH) U / sqrt(b c).
// When a side has no spread (b or c is 0) CKA is undefined; the value and gradient are then 0, so
// one degenerate batch does not poison training with NaN.
#pragma once
#include <sib/core/config.hpp>
#include <sib/backend/cpu/cpu.hpp>
#include <sib/core/tensor.hpp>
#include <sib/mi/gram.hpp>
#include <cmath>

SIB_BEGIN_NAMESPACE
namespace mi {

// Shapes and vjp conventions as hsic_linear.
template <class T, class B = cpu>
class cka {
public:
    using value_type = T;
    using backend = B;
    using tensor_type = tensor<T, B>;

    T value(const tensor_type& u, const tensor_type& v) {
        const auto s = statistics(u, v);
        return s.degenerate() ? T(0) : static_cast<T>(s.a / std::sqrt(s.b * s.c));
    }

    void vjp(const tensor_type& u, const tensor_type& v, T gbar, tensor_type& du, tensor_type& dv) {
        gradients(u, v, gbar, du, &dv);
    }
    void vjp(const tensor_type& u, const tensor_type& v, T gbar, tensor_type& du) {
        gradients(u, v, gbar, du, nullptr);
    }

SIB_KERNELS:
    struct alignment {
        double a, b, c;
        bool degenerate() const { return !(b > 0 && c > 0); }
    };

    alignment statistics(const tensor_type& u, const tensor_type& v) {
        detail::require_row_pair("cka", u, v, 2);
        detail::gram(u, k_);
        detail::gram(v, l_);
        detail::double_center(k_, kc_, means_);
        detail::double_center(l_, lc_, means_);
        return {detail::frobenius_dot(kc_, l_), detail::frobenius_dot(kc_, k_),
                detail::frobenius_dot(lc_, l_)};
    }

    // du = 2 gbar (own_other - ratio own_centered) u / sqrt(b c), written through p_.
    void side_gradient(const tensor_type& u, const tensor_type& other_centered,
                       const tensor_type& own_centered, double ratio, double coeff,
                       tensor_type& du) {
        const index_t rows = u.dim(0), n = u.shape().sample_numel();
        p_.resize({rows, rows});
        const T* po = other_centered.data();
        const T* pw = own_centered.data();
        const T c = static_cast<T>(coeff), r = static_cast<T>(ratio);
        T* pp = p_.data();
        B::parallel_for(rows * rows, [=] SIB_HD(index_t e) { pp[e] = c * (po[e] - r * pw[e]); });
        du.resize(u.shape());
        B::gemm(false, false, rows, n, rows, T(1), p_.data(), rows, u.data(), n, T(0), du.data(), n);
    }

    void gradients(const tensor_type& u, const tensor_type& v, T gbar, tensor_type& du,
                   tensor_type* dv) {
        const auto s = statistics(u, v);
        if (s.degenerate()) {
            du.resize(u.shape());
            du.zero();
            if (dv) {
                dv->resize(v.shape());
                dv->zero();
            }
            return;
        }
        const double coeff = 2.0 * static_cast<double>(gbar) / std::sqrt(s.b * s.c);
        side_gradient(u, lc_, kc_, s.a / s.b, coeff, du);
        if (dv) side_gradient(v, kc_, lc_, s.a / s.c, coeff, *dv);
    }

private:
    tensor_type k_, l_, kc_, lc_, means_, p_;
};

}  // namespace mi
SIB_END_NAMESPACE

// Biased HSIC with linear kernels, the S-IB foreground term (docs/objective.md, "Foreground term"):
// HSIC = tr(K H L H) / (B-1)^2 with K = U U^T, L = V V^T, H = I - 1 1^T / B.
// Since H is idempotent, tr(K H L H) = <H K H, L>, and d/dK = H L H; through K = U U^T that gives
// dU = 2 (H L H) U / (B-1)^2, and symmetrically for V.
#pragma once
#include <sib/core/config.hpp>
#include <sib/backend/cpu/cpu.hpp>
#include <sib/core/tensor.hpp>
#include <sib/mi/gram.hpp>

SIB_BEGIN_NAMESPACE
namespace mi {

// Like every estimator in mi/: U [B, ...] and V [B, ...] hold one row per sample (dimensions after
// the first are flattened); vjp resizes dU (and dV) to the shapes of U (and V) and overwrites them;
// the overload without dV skips V's gradient. Gram matrices are recomputed in vjp, so value and vjp
// may be called in any order.
template <class T, class B = cpu>
class hsic_linear {
public:
    using value_type = T;
    using backend = B;
    using tensor_type = tensor<T, B>;

    T value(const tensor_type& u, const tensor_type& v) {
        detail::require_row_pair("hsic_linear", u, v, 2);
        detail::gram(u, k_);
        detail::gram(v, l_);
        detail::double_center(k_, kc_, means_);
        return static_cast<T>(detail::frobenius_dot(kc_, l_) / denominator(u.dim(0)));
    }

    void vjp(const tensor_type& u, const tensor_type& v, T gbar, tensor_type& du, tensor_type& dv) {
        gradients(u, v, gbar, du, &dv);
    }
    void vjp(const tensor_type& u, const tensor_type& v, T gbar, tensor_type& du) {
        gradients(u, v, gbar, du, nullptr);
    }

private:
    static double denominator(index_t rows) {
        const double b1 = static_cast<double>(rows - 1);
        return b1 * b1;
    }

    void gradients(const tensor_type& u, const tensor_type& v, T gbar, tensor_type& du,
                   tensor_type* dv) {
        detail::require_row_pair("hsic_linear", u, v, 2);
        const index_t rows = u.dim(0);
        const T alpha = static_cast<T>(2.0 * static_cast<double>(gbar) / denominator(rows));
        detail::gram(v, l_);
        detail::double_center(l_, lc_, means_);
        du.resize(u.shape());
        const index_t n = u.shape().sample_numel();
        B::gemm(false, false, rows, n, rows, alpha, lc_.data(), rows, u.data(), n, T(0), du.data(), n);
        if (!dv) return;
        detail::gram(u, k_);
        detail::double_center(k_, kc_, means_);
        dv->resize(v.shape());
        const index_t m = v.shape().sample_numel();
        B::gemm(false, false, rows, m, rows, alpha, kc_.data(), rows, v.data(), m, T(0), dv->data(), m);
    }

    tensor_type k_, l_, kc_, lc_, means_;
};

}  // namespace mi
SIB_END_NAMESPACE

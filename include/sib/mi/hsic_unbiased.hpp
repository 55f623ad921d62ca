// Unbiased HSIC with linear kernels (Song et al., 2012): with K~, L~ the Gram matrices with their
// diagonals set to zero,
//   HSIC_u = [tr(K~ L~) + 1'K~1 1'L~1 / ((B-1)(B-2)) - 2/(B-2) 1'K~ L~ 1] / (B (B-3)),
// which needs B >= 4. Unlike the biased estimator its expectation is 0 for independent U and V.
// Its gradient in K~ (as an unconstrained matrix) is
//   G = [L~ + 1'L~1 / ((B-1)(B-2)) 1 1' - 2/(B-2) 1 (L~1)'] / (B (B-3)),
// restricted to the off-diagonal (the diagonal of K~ is constant), and dU = (G + G') U.
#pragma once
#include <sib/core/config.hpp>
#include <sib/backend/cpu/cpu.hpp>
#include <sib/core/tensor.hpp>
#include <sib/mi/gram.hpp>

SIB_BEGIN_NAMESPACE
namespace mi {

// Shapes and vjp conventions as hsic_linear.
template <class T, class B = cpu>
class hsic_unbiased {
public:
    using value_type = T;
    using backend = B;
    using tensor_type = tensor<T, B>;
    static constexpr index_t min_rows = 4;  // the estimator divides by (n-1)(n-2)(n-3)

    T value(const tensor_type& u, const tensor_type& v) {
        detail::require_row_pair("hsic_unbiased", u, v, min_rows);
        const index_t rows = u.dim(0);
        zero_diagonal_gram(u, k_, k_row_sums_);
        zero_diagonal_gram(v, l_, l_row_sums_);
        const double trace = detail::frobenius_dot(k_, l_);
        const double sum_k = total(k_row_sums_), sum_l = total(l_row_sums_);
        const double cross = detail::frobenius_dot(k_row_sums_, l_row_sums_);
        const double b = static_cast<double>(rows);
        return static_cast<T>((trace + sum_k * sum_l / ((b - 1) * (b - 2)) - 2 * cross / (b - 2)) /
                              (b * (b - 3)));
    }

    void vjp(const tensor_type& u, const tensor_type& v, T gbar, tensor_type& du, tensor_type& dv) {
        gradients(u, v, gbar, du, &dv);
    }
    void vjp(const tensor_type& u, const tensor_type& v, T gbar, tensor_type& du) {
        gradients(u, v, gbar, du, nullptr);
    }

SIB_KERNELS:
    // k = u u' with a zero diagonal, and its row sums.
    static void zero_diagonal_gram(const tensor_type& u, tensor_type& k, tensor_type& row_sums) {
        detail::gram(u, k);
        const index_t rows = u.dim(0);
        row_sums.resize({rows});
        T* pk = k.data();
        T* ps = row_sums.data();
        B::parallel_for(rows, [=] SIB_HD(index_t i) {
            pk[i * rows + i] = T(0);
            T s = 0;
            for (index_t j = 0; j < rows; ++j) s += pk[i * rows + j];
            ps[i] = s;
        }, rows);
    }
    static double total(const tensor_type& t) {
        const T* p = t.data();
        return B::reduce_sum(t.size(), [=] SIB_HD(index_t i) { return p[i]; });
    }

    // p = gbar (G + G') for the other side's zero-diagonal Gram matrix `other`.
    static void symmetric_gradient(const tensor_type& other, const tensor_type& other_row_sums,
                                   T gbar, tensor_type& p) {
        const index_t rows = other.dim(0);
        const double b = static_cast<double>(rows);
        const T scale = static_cast<T>(2.0 * static_cast<double>(gbar) / (b * (b - 3)));
        const T ones_coeff = static_cast<T>(total(other_row_sums) / ((b - 1) * (b - 2)));
        const T cross_coeff = static_cast<T>(1.0 / (b - 2));
        p.resize(other.shape());
        const T* po = other.data();
        const T* pr = other_row_sums.data();
        T* pp = p.data();
        B::parallel_for(rows * rows, [=] SIB_HD(index_t e) {
            const index_t i = e / rows, j = e - i * rows;
            pp[e] = i == j ? T(0) : scale * (po[e] + ones_coeff - cross_coeff * (pr[i] + pr[j]));
        });
    }

    void gradients(const tensor_type& u, const tensor_type& v, T gbar, tensor_type& du,
                   tensor_type* dv) {
        detail::require_row_pair("hsic_unbiased", u, v, min_rows);
        const index_t rows = u.dim(0);
        zero_diagonal_gram(v, l_, l_row_sums_);
        symmetric_gradient(l_, l_row_sums_, gbar, p_);
        du.resize(u.shape());
        const index_t n = u.shape().sample_numel();
        B::gemm(false, false, rows, n, rows, T(1), p_.data(), rows, u.data(), n, T(0), du.data(), n);
        if (!dv) return;
        zero_diagonal_gram(u, k_, k_row_sums_);
        symmetric_gradient(k_, k_row_sums_, gbar, p_);
        dv->resize(v.shape());
        const index_t m = v.shape().sample_numel();
        B::gemm(false, false, rows, m, rows, T(1), p_.data(), rows, v.data(), m, T(0), dv->data(), m);
    }

private:
    tensor_type k_, l_, k_row_sums_, l_row_sums_, p_;
};

}  // namespace mi
SIB_END_NAMESPACE

// Biased HSIC with Gaussian kernels: K_ij = exp(-||u_i - u_j||^2 / (2 sigma_u^2)), likewise L,
// HSIC = tr(K H L H) / (B-1)^2. It sees non-linear dependence that the linear kernel misses.
//
// Bandwidth: a fixed sigma if one is given, else the median heuristic, sigma = median of the
// pairwise distances ||u_i - u_j||, i < j (the mean of the two middle ones for an even count, as
// numpy.median), recomputed on every call from the rows passed in. The VJP treats that sigma as a
// constant: it is the gradient at a fixed bandwidth equal to the current median, not the derivative
// of the median itself (which is piecewise and would couple every pair). Rows that are all equal
// have median 0; then every bandwidth gives K = 1 1', and sigma = 1 is used.
//
// Gradient: with G = dHSIC/dK = H L H / (B-1)^2 and P = G * K * (-1 / (2 sigma^2)) (element-wise),
// dU_i = 4 sum_j P_ij (u_i - u_j) = 4 ((P 1)_i u_i - (P U)_i).
#pragma once
#include <sib/core/config.hpp>
#include <sib/core/error.hpp>
#include <sib/backend/cpu/cpu.hpp>
#include <sib/core/tensor.hpp>
#include <sib/mi/gram.hpp>
#include <cmath>

SIB_BEGIN_NAMESPACE
namespace mi {

// Shapes and vjp conventions as hsic_linear.
template <class T, class B = cpu>
class hsic_rbf {
public:
    using value_type = T;
    using backend = B;
    using tensor_type = tensor<T, B>;

    // sigma <= 0: median heuristic for that side.
    explicit hsic_rbf(double sigma_u = 0, double sigma_v = 0) : fixed_u_(sigma_u), fixed_v_(sigma_v) {}

    // The bandwidths of the last value or vjp call.
    double last_sigma_u() const { return sigma_u_; }
    double last_sigma_v() const { return sigma_v_; }

    T value(const tensor_type& u, const tensor_type& v) {
        detail::require_row_pair("hsic_rbf", u, v, 2);
        sigma_u_ = kernel(u, fixed_u_, k_);
        sigma_v_ = kernel(v, fixed_v_, l_);
        detail::double_center(k_, kc_, means_);
        const double b1 = static_cast<double>(u.dim(0) - 1);
        return static_cast<T>(detail::frobenius_dot(kc_, l_) / (b1 * b1));
    }

    void vjp(const tensor_type& u, const tensor_type& v, T gbar, tensor_type& du, tensor_type& dv) {
        gradients(u, v, gbar, du, &dv);
    }
    void vjp(const tensor_type& u, const tensor_type& v, T gbar, tensor_type& du) {
        gradients(u, v, gbar, du, nullptr);
    }

SIB_KERNELS:
    // k = exp(-D / (2 sigma^2)) from the rows of u; returns sigma.
    double kernel(const tensor_type& u, double fixed_sigma, tensor_type& k) {
        const index_t rows = u.dim(0);
        detail::gram(u, gram_);
        squared_distances(gram_, k);
        const double sigma = fixed_sigma > 0 ? fixed_sigma : median_distance(k);
        const T inv = static_cast<T>(-1.0 / (2.0 * sigma * sigma));
        T* pk = k.data();
        B::parallel_for(rows * rows, [=] SIB_HD(index_t e) { pk[e] = std::exp(pk[e] * inv); });
        return sigma;
    }

    // d_ij = g_ii + g_jj - 2 g_ij, clamped at 0 against rounding, exactly 0 on the diagonal.
    static void squared_distances(const tensor_type& g, tensor_type& d) {
        const index_t rows = g.dim(0);
        d.resize(g.shape());
        const T* pg = g.data();
        T* pd = d.data();
        B::parallel_for(rows * rows, [=] SIB_HD(index_t e) {
            const index_t i = e / rows, j = e - i * rows;
            const T s = pg[i * rows + i] + pg[j * rows + j] - T(2) * pg[e];
            pd[e] = i == j || s < T(0) ? T(0) : s;
        });
    }

    // Median of sqrt(d_ij), i < j.
    double median_distance(const tensor_type& d) {
        const index_t rows = d.dim(0), pairs = rows * (rows - 1) / 2;
        pairs_.resize({1, pairs});
        sorted_.resize({1, pairs});
        perm_.resize({1, pairs});
        const T* pd = d.data();
        T* pp = pairs_.data();
        B::parallel_for(rows * rows, [=] SIB_HD(index_t e) {
            const index_t i = e / rows, j = e - i * rows;
            if (i < j) pp[i * rows - i * (i + 1) / 2 + (j - i - 1)] = std::sqrt(pd[e]);
        });
        B::segmented_sort(pairs_.data(), sorted_.data(), perm_.data(), 1, pairs);
        T middle[2];
        B::to_host(2 - pairs % 2, sorted_.data() + (pairs - 1) / 2, middle);
        const double median = pairs % 2 ? static_cast<double>(middle[0])
                                        : 0.5 * (static_cast<double>(middle[0]) + middle[1]);
        return median > 0 ? median : 1.0;
    }

    // du = 4 ((P 1) * u - P u) with P = gbar H (other) H / (B-1)^2 * k * (-1 / (2 sigma^2)).
    void side_gradient(const tensor_type& u, const tensor_type& k, double sigma,
                       const tensor_type& other_kernel, T gbar, tensor_type& du) {
        const index_t rows = u.dim(0), n = u.shape().sample_numel();
        detail::double_center(other_kernel, centered_, means_);
        const double b1 = static_cast<double>(rows - 1);
        const T scale = static_cast<T>(-static_cast<double>(gbar) / (b1 * b1 * 2 * sigma * sigma));
        p_.resize({rows, rows});
        row_sums_.resize({rows});
        const T* pc = centered_.data();
        const T* pk = k.data();
        T* pp = p_.data();
        T* ps = row_sums_.data();
        B::parallel_for(rows, [=] SIB_HD(index_t i) {
            T s = 0;
            for (index_t e = i * rows; e < (i + 1) * rows; ++e) {
                pp[e] = scale * pc[e] * pk[e];
                s += pp[e];
            }
            ps[i] = s;
        }, rows);
        du.resize(u.shape());
        B::gemm(false, false, rows, n, rows, T(1), p_.data(), rows, u.data(), n, T(0), du.data(), n);
        const T* pu = u.data();
        T* pdu = du.data();
        B::parallel_for(rows * n, [=] SIB_HD(index_t e) {
            pdu[e] = T(4) * (ps[e / n] * pu[e] - pdu[e]);
        });
    }

    void gradients(const tensor_type& u, const tensor_type& v, T gbar, tensor_type& du,
                   tensor_type* dv) {
        detail::require_row_pair("hsic_rbf", u, v, 2);
        sigma_u_ = kernel(u, fixed_u_, k_);
        sigma_v_ = kernel(v, fixed_v_, l_);
        side_gradient(u, k_, sigma_u_, l_, gbar, du);
        if (dv) side_gradient(v, l_, sigma_v_, k_, gbar, *dv);
    }

private:
    double fixed_u_, fixed_v_;
    double sigma_u_ = 0, sigma_v_ = 0;
    tensor_type gram_, k_, l_, kc_, centered_, means_, pairs_, sorted_, p_, row_sums_;
    tensor<index_t, B> perm_;
};

}  // namespace mi
SIB_END_NAMESPACE
